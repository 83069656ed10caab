import type { LlmRequest } from '#domain/llm.ts';

/** The error a promise rejects with; fails the test if it resolves. */
export const failureOf = async (promise: Promise<unknown>): Promise<unknown> =>
  promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (error: unknown) => error,
  );

/** An LLM request for `model`, terse system prompt, 5 s deadline, with overrides. */
export const llmRequest =
  (model: string, input: string) =>
  (overrides: Partial<LlmRequest> = {}): LlmRequest => ({
    model,
    systemPrompt: 'You are terse.',
    input,
    timeoutMs: 5_000,
    ...overrides,
  });
