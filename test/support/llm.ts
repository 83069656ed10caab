import { expect } from 'vitest';
import { LlmError, type LlmRequest } from '#domain/llm.ts';

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

/**
 * Runs a call given `timeoutMs` that the provider answers later than that: it must fail with
 * the provider's retryable timeout, no sooner than `earliestMs` and before `latestMs`.
 */
export const expectTimeout = async (
  provider: string,
  timeoutMs: number,
  call: (timeoutMs: number) => Promise<unknown>,
  { earliestMs, latestMs }: { earliestMs: number; latestMs: number },
): Promise<void> => {
  const started = performance.now();
  const error = await failureOf(call(timeoutMs));
  const ms = performance.now() - started;
  expect(error).toBeInstanceOf(LlmError);
  expect(error).toMatchObject({
    retryable: true,
    provider,
    message: `${provider}: timed out after ${timeoutMs} ms`,
  });
  expect(ms).toBeGreaterThanOrEqual(earliestMs);
  expect(ms).toBeLessThan(latestMs);
};

/**
 * Runs a call with a signal the caller aborts after `abortAfterMs`: it must reject with that
 * signal's AbortError (not an LlmError, not a timeout) before `latestMs`.
 */
export const expectCallerAbort = async (
  abortAfterMs: number,
  call: (signal: AbortSignal) => Promise<unknown>,
  latestMs: number,
): Promise<void> => {
  const controller = new AbortController();
  setTimeout(() => controller.abort(), abortAfterMs);
  const started = performance.now();
  const error = await failureOf(call(controller.signal));
  expect(error).not.toBeInstanceOf(LlmError);
  expect(error).toBe(controller.signal.reason);
  expect(error).toMatchObject({ name: 'AbortError' });
  expect(performance.now() - started).toBeLessThan(latestMs);
};
