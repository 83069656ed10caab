import type { ConverseCommand, ConverseCommandOutput } from '@aws-sdk/client-bedrock-runtime';
import { LlmError, type LlmProvider, type LlmRequest, type LlmResult } from '#domain/llm.ts';
import { abortReason, type Deadline, startDeadline } from './deadline.ts';
import { estimateTokens, inputText } from './input.ts';
import { parseRetryAfter } from './retry-after.ts';

/** What this adapter needs of a Bedrock Runtime client; tests pass a stand-in. */
export interface BedrockConverseClient {
  send(command: ConverseCommand, options?: { abortSignal?: AbortSignal }): Promise<ConverseCommandOutput>;
}

export interface BedrockProviderOptions {
  /** Default: the SDK's own (env `AWS_REGION` in Lambda). */
  readonly region?: string;
  readonly client?: BedrockConverseClient;
}

type BedrockSdk = typeof import('@aws-sdk/client-bedrock-runtime');

// The SDK is large: loaded on the first Bedrock call, by the containers that make one.
let sdk: Promise<BedrockSdk> | undefined;
export const loadBedrockSdk = (): Promise<BedrockSdk> => {
  sdk ??= import('@aws-sdk/client-bedrock-runtime').catch((error: unknown) => {
    sdk = undefined;
    throw error;
  });
  return sdk;
};

const retryableNames = new Set([
  'ThrottlingException',
  'ServiceUnavailableException',
  'InternalServerException',
  'ModelTimeoutException',
  'ModelNotReadyException',
  // Account quotas (e.g. tokens per day) that another provider can serve and time restores.
  'ServiceQuotaExceededException',
  'TimeoutError',
]);
const fatalNames = new Set(['ValidationException', 'AccessDeniedException', 'ResourceNotFoundException']);
const networkCodes = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ENETUNREACH',
]);

interface SdkErrorShape {
  name?: unknown;
  code?: unknown;
  $fault?: unknown;
  $retryable?: unknown;
  $metadata?: { httpStatusCode?: unknown };
  $response?: { headers?: Record<string, string | undefined> };
}

const isRetryable = (name: string, error: SdkErrorShape, status: number | undefined): boolean => {
  if (fatalNames.has(name)) return false;
  if (retryableNames.has(name) || error.$retryable) return true;
  if (typeof error.code === 'string' && networkCodes.has(error.code)) return true;
  if (status !== undefined) return status === 429 || status === 408 || status >= 500;
  // No status at all: the request never got an answer (connection, deserialization).
  return error.$fault !== 'client';
};

/**
 * What a failed Bedrock call throws: the caller's abort as it came, a deadline as a retryable
 * timeout, else an `LlmError` named after the SDK's error (its message may quote the request).
 */
export const bedrockFailure = (
  error: unknown,
  deadline: Deadline,
  call: { readonly timeoutMs: number; readonly signal?: AbortSignal | undefined },
): unknown => {
  if (call.signal?.aborted) return abortReason(call.signal);
  if (deadline.expired()) {
    return new LlmError(`bedrock: timed out after ${call.timeoutMs} ms`, 'bedrock', true, {
      cause: error,
    });
  }
  const shape = (typeof error === 'object' && error !== null ? error : {}) as SdkErrorShape;
  const name = typeof shape.name === 'string' ? shape.name : 'Error';
  const httpStatus = shape.$metadata?.httpStatusCode;
  const status = typeof httpStatus === 'number' ? httpStatus : undefined;
  const retryable = isRetryable(name, shape, status);
  const headers = shape.$response?.headers;
  const retryAfterMs = retryable && headers ? parseRetryAfter((h) => headers[h]) : undefined;
  // The name, not the SDK's message: the original stays available as `cause`.
  return new LlmError(`bedrock: ${name}${status ? ` (HTTP ${status})` : ''}`, 'bedrock', retryable, {
    cause: error,
    ...(status !== undefined && { status }),
    ...(retryAfterMs !== undefined && { retryAfterMs }),
  });
};

/** Amazon Bedrock through the Converse API, which speaks one message format for every model. */
/**
 * A Bedrock Runtime client made on first use (the given stand-in, in tests). One attempt: the
 * fallback chain and the job's retry are the retry policy, and SDK retries would spend a
 * throttled target's whole timeout before the chain moves on.
 */
export const bedrockRuntimeOnce = <Client>(options: {
  region?: string;
  client?: Client;
}): (() => Promise<Client>) => {
  let client: Promise<Client> | undefined;
  return () => {
    client ??= options.client
      ? Promise.resolve(options.client)
      : loadBedrockSdk().then(
          ({ BedrockRuntimeClient }) =>
            new BedrockRuntimeClient({
              maxAttempts: 1,
              ...(options.region && { region: options.region }),
            }) as unknown as Client,
        );
    return client;
  };
};

export const createBedrockProvider = (options: BedrockProviderOptions = {}): LlmProvider => {
  const clientOnce = bedrockRuntimeOnce<BedrockConverseClient>(options);

  return {
    name: 'bedrock',
    async complete(request: LlmRequest): Promise<LlmResult> {
      const { model, systemPrompt, temperature, maxTokens } = request;
      if (request.signal?.aborted) throw abortReason(request.signal);
      const [{ ConverseCommand }, bedrock] = await Promise.all([loadBedrockSdk(), clientOnce()]);
      const text = inputText(request.input);
      const command = new ConverseCommand({
        modelId: model,
        messages: [{ role: 'user', content: [{ text }] }],
        // Bedrock rejects blank text blocks.
        ...(systemPrompt && { system: [{ text: systemPrompt }] }),
        ...((temperature !== undefined || maxTokens !== undefined) && {
          inferenceConfig: {
            ...(temperature !== undefined && { temperature }),
            ...(maxTokens !== undefined && { maxTokens }),
          },
        }),
      });

      // The deadline covers the call, not loading the SDK on a cold start.
      const deadline = startDeadline(request.timeoutMs, request.signal);
      let response: ConverseCommandOutput;
      try {
        response = await bedrock.send(command, { abortSignal: deadline.signal });
      } catch (error) {
        throw bedrockFailure(error, deadline, request);
      }
      const message = response.output?.message;
      if (!message) throw new LlmError('bedrock: response has no output message', 'bedrock', true);
      const output = (message.content ?? []).map((block) => block.text ?? '').join('');
      const { inputTokens, outputTokens } = response.usage ?? {};
      return {
        output,
        inputTokens: inputTokens ?? estimateTokens(`${systemPrompt}\n${text}`),
        outputTokens: outputTokens ?? estimateTokens(output),
        provider: 'bedrock',
        model,
      };
    },
  };
};
