import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { LlmError, type LlmProvider, type LlmRequest, type LlmResult } from '#domain/llm.ts';
import { localLlmLatencyMs } from '#runtime/config.ts';
import { abortReason } from './deadline.ts';
import { inputText } from './input.ts';

/**
 * The built-in provider for local runs and load tests: no network, no keys, and always the same
 * answer for the same model, system prompt and input. A few model names simulate failures, so
 * the fallback chain and job retries can be exercised without a real provider:
 * - `local-fail-retryable`: 503, retryable (the chain moves on; the job retries later).
 * - `local-fail-throttled`: 429, retryable, asking to retry after 1 s.
 * - `local-fail-fatal`: 400, not retryable (the execution fails at once).
 * - `local-slow-<ms>`: answers after `<ms>` milliseconds (cancellation and slow-execution paths).
 * The latency is spent before answering or failing. A latency beyond the call's `timeoutMs`
 * fails as a retryable timeout once `timeoutMs` has passed, as a real provider would.
 */
export interface LocalProviderOptions {
  /** Simulated time to answer. Default: env `SWITCHYARD_LOCAL_LLM_LATENCY_MS`, else 0. */
  readonly latencyMs?: number;
  /** Tokens counted per word. Default 1.3, about what BPE tokenizers give for English text. */
  readonly tokensPerWord?: number;
}

export const localFailureModels = {
  retryable: 'local-fail-retryable',
  throttled: 'local-fail-throttled',
  fatal: 'local-fail-fatal',
} as const;

// A Map, not an object: a model named `constructor` must not find a prototype member.
const simulatedFailures = new Map<string, () => LlmError>([
  [
    localFailureModels.retryable,
    () => new LlmError('local: simulated 503 Service Unavailable', 'local', true, { status: 503 }),
  ],
  [
    localFailureModels.throttled,
    () =>
      new LlmError('local: simulated 429 Too Many Requests', 'local', true, {
        status: 429,
        retryAfterMs: 1_000,
      }),
  ],
  [
    localFailureModels.fatal,
    () => new LlmError('local: simulated 400 Bad Request', 'local', false, { status: 400 }),
  ],
]);

/** `local-slow-<ms>`: this model alone answers after that long (at most a minute), for slow-path tests. */
const slowModel = /^local-slow-(\d{1,5})$/;
const slowModelLatency = (model: string): number | undefined => {
  const match = slowModel.exec(model);
  return match ? Math.min(60_000, Number(match[1])) : undefined;
};

const echoWords = 16;

const nonNegative = (value: number, what: string): number => {
  if (!Number.isFinite(value) || value < 0) throw new RangeError(`${what} must be a non-negative number`);
  return value;
};

const wordsOf = (text: string): string[] => text.split(/\s+/).filter(Boolean);

const wait = async (ms: number, signal: AbortSignal | undefined): Promise<void> => {
  try {
    await sleep(ms, undefined, signal ? { signal } : undefined);
  } catch (error) {
    // Node rejects with its own AbortError; surface the caller's reason, as fetch does.
    if (signal?.aborted) throw abortReason(signal);
    throw error;
  }
};

export const createLocalProvider = (options: LocalProviderOptions = {}): LlmProvider => {
  const latencyMs =
    options.latencyMs === undefined ? localLlmLatencyMs() : nonNegative(options.latencyMs, 'latencyMs');
  const tokensPerWord = options.tokensPerWord ?? 1.3;
  if (!Number.isFinite(tokensPerWord) || tokensPerWord <= 0) {
    throw new RangeError('tokensPerWord must be a positive number');
  }
  const tokens = (text: string): number => Math.max(1, Math.ceil(wordsOf(text).length * tokensPerWord));

  return {
    name: 'local',
    async complete(request: LlmRequest): Promise<LlmResult> {
      const { model, systemPrompt, signal, timeoutMs } = request;
      if (signal?.aborted) throw abortReason(signal);
      const modelLatencyMs = slowModelLatency(model) ?? latencyMs;
      const waitMs = Math.min(modelLatencyMs, timeoutMs);
      if (waitMs > 0) await wait(waitMs, signal);
      if (modelLatencyMs > timeoutMs)
        throw new LlmError(`local: timed out after ${timeoutMs} ms`, 'local', true);
      const failure = simulatedFailures.get(model);
      if (failure) throw failure();

      const text = inputText(request.input);
      const digest = createHash('sha256')
        .update(`${model}\0${systemPrompt}\0${text}`)
        .digest('hex')
        .slice(0, 12);
      const words = wordsOf(text);
      const echo = words.slice(0, echoWords).join(' ') + (words.length > echoWords ? ' …' : '');
      const output = `[local:${model}] ${digest} ${echo}`.trimEnd();
      return {
        output,
        inputTokens: tokens(`${systemPrompt} ${text}`),
        outputTokens: tokens(output),
        provider: 'local',
        model,
      };
    },
  };
};
