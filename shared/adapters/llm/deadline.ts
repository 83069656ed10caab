/**
 * One provider call's deadline, combined with the caller's signal. The two must stay
 * distinguishable: a deadline is a retryable provider failure, a caller's abort (execution
 * cancelled, worker shutting down) is not a failure of the provider at all.
 */
export interface Deadline {
  /** Aborts on whichever comes first: the deadline or the caller's signal. */
  readonly signal: AbortSignal;
  /** True when the deadline fired and the caller did not abort. */
  readonly expired: () => boolean;
}

export const startDeadline = (timeoutMs: number, callerSignal?: AbortSignal): Deadline => {
  const timeout = AbortSignal.timeout(Math.max(0, timeoutMs));
  const signal = callerSignal ? AbortSignal.any([callerSignal, timeout]) : timeout;
  return { signal, expired: () => timeout.aborted && !callerSignal?.aborted };
};

/** What a caller's abort rejects with: the signal's reason, as fetch does (an AbortError by default). */
export const abortReason = (signal: AbortSignal): unknown =>
  signal.reason ?? new DOMException('This operation was aborted', 'AbortError');
