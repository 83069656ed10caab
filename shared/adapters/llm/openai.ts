import * as z from 'zod/mini';
import { LlmError, type LlmProvider, type LlmRequest, type LlmResult } from '#domain/llm.ts';
import { estimateTokens, inputText } from './input.ts';
import { type OpenAiHttpOptions, openAiPost } from './openai-http.ts';

/** Any OpenAI-compatible chat-completions server (the transport: openai-http.ts). */
export type OpenAiProviderOptions = OpenAiHttpOptions;

const chatCompletion = z.object({
  choices: z.array(z.object({ message: z.object({ content: z.string() }) })).check(z.minLength(1)),
  usage: z.optional(z.unknown()),
});
const tokenUsage = z.object({
  prompt_tokens: z.int().check(z.nonnegative()),
  completion_tokens: z.int().check(z.nonnegative()),
});

export const createOpenAiProvider = (options: OpenAiProviderOptions): LlmProvider => {
  const post = openAiPost(options);
  return {
    name: 'openai',
    async complete(request: LlmRequest): Promise<LlmResult> {
      const { model, systemPrompt } = request;
      const userText = inputText(request.input);
      const { json, status } = await post(
        '/chat/completions',
        {
          model,
          messages: [
            ...(systemPrompt ? [{ role: 'system', content: systemPrompt }] : []),
            { role: 'user', content: userText },
          ],
          ...(request.temperature !== undefined && { temperature: request.temperature }),
          ...(request.maxTokens !== undefined && { max_tokens: request.maxTokens }),
        },
        request,
      );
      const completion = chatCompletion.safeParse(json);
      if (!completion.success) {
        throw new LlmError('openai: response has no choices[0].message.content', 'openai', true, { status });
      }
      const output = completion.data.choices[0]!.message.content;
      // Some compatible servers omit usage; an estimate beats failing a finished completion.
      const usage = tokenUsage.safeParse(completion.data.usage);
      return {
        output,
        inputTokens: usage.success
          ? usage.data.prompt_tokens
          : estimateTokens(`${systemPrompt}\n${userText}`),
        outputTokens: usage.success ? usage.data.completion_tokens : estimateTokens(output),
        provider: 'openai',
        model,
      };
    },
  };
};
