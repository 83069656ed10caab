import {
  LlmError,
  type LlmProvider,
  type LlmRequest,
  type LlmResult,
  type ProviderName,
  type ProviderTarget,
} from '#domain/llm.ts';
import { abortReason } from './deadline.ts';

/** One target tried: how long it took and, if it failed, why. */
export interface ChainAttempt {
  readonly provider: ProviderName;
  readonly model: string;
  readonly error?: string;
  readonly ms: number;
}

export type ChainResult = LlmResult & { readonly attempts: readonly ChainAttempt[] };

/**
 * The chain's failure: the last target's error, retryable if any target's was (a primary that
 * was only busy may answer the job's retry even if a fallback is misconfigured), with the longest
 * `retryAfterMs` any target asked for, so the job's retry waits long enough for all of them.
 */
export class LlmChainError extends LlmError {
  constructor(
    last: LlmError,
    retryable: boolean,
    retryAfterMs: number | undefined,
    readonly attempts: readonly ChainAttempt[],
  ) {
    super(last.message, last.provider, retryable, {
      cause: last,
      ...(last.options.status !== undefined && { status: last.options.status }),
      ...(retryAfterMs !== undefined && { retryAfterMs }),
    });
  }
}

type RequestWithoutTarget = Omit<LlmRequest, 'model' | 'timeoutMs'>;

/**
 * Tries the primary, then each fallback with its own model and timeout. Only retryable failures
 * (429, 5xx, timeouts, connection errors) move on; anything else is a fault of the request or
 * configuration that another provider would not fix, so it stops the chain at once. The caller's
 * abort stops everything and rejects with the signal's reason. Errors that are not `LlmError`s
 * are bugs, not provider failures: they propagate unchanged.
 */
export const completeWithFallback = async (
  targets: readonly ProviderTarget[],
  request: RequestWithoutTarget,
  providerFor: (name: ProviderName) => LlmProvider | Promise<LlmProvider>,
): Promise<ChainResult> => {
  if (targets.length === 0) throw new TypeError('completeWithFallback needs at least one target');
  const { signal } = request;
  const attempts: ChainAttempt[] = [];
  let retryAfterMs: number | undefined;
  let last: LlmError | undefined;
  let anyRetryable = false;

  for (const { provider, model, timeoutMs } of targets) {
    if (signal?.aborted) throw abortReason(signal);
    const started = performance.now();
    const elapsed = () => Math.round(performance.now() - started);
    try {
      const result = await (await providerFor(provider)).complete({ ...request, model, timeoutMs });
      attempts.push({ provider, model, ms: elapsed() });
      return { ...result, attempts };
    } catch (error) {
      if (signal?.aborted) throw abortReason(signal);
      if (!(error instanceof LlmError)) throw error;
      attempts.push({ provider, model, error: error.message, ms: elapsed() });
      const asked = error.options.retryAfterMs;
      if (asked !== undefined) retryAfterMs = Math.max(retryAfterMs ?? 0, asked);
      last = error;
      anyRetryable ||= error.retryable;
      if (!error.retryable) break;
    }
  }
  // Every target failed, or a non-retryable failure stopped the chain: either way `last` is set.
  throw new LlmChainError(last!, anyRetryable, retryAfterMs, attempts);
};
