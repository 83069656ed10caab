import type { RetryPolicy } from '#manifest';

/** What a backoff is made of: a queue's retry policy, or a workflow step's (`stepBackoff`). */
export type Backoff = Pick<RetryPolicy, 'baseDelaySeconds' | 'maxDelaySeconds'>;

/**
 * The one backoff of every retry (a message's redelivery, a step's retry message): seconds
 * until the next attempt after the `attempt`-th failed — the base delay doubled per attempt,
 * capped, with "equal jitter" (half fixed, half random) so retries of a burst spread out but
 * never come back sooner than half the backoff. A provider's Retry-After wins when it asks
 * for longer. SQS allows at most 12 hours.
 */
export const retryDelaySeconds = (
  policy: Backoff,
  attempt: number,
  options: { retryAfterMs?: number; random?: () => number } = {},
): number => {
  const exponent = Math.max(0, attempt - 1);
  const backoff = Math.min(policy.maxDelaySeconds, policy.baseDelaySeconds * 2 ** exponent);
  const random = options.random ?? Math.random;
  const jittered = backoff / 2 + (backoff / 2) * random();
  const requested = (options.retryAfterMs ?? 0) / 1000;
  return Math.min(43_200, Math.ceil(Math.max(jittered, requested)));
};

/** Whether this receive is the message's last before SQS moves it to the DLQ. */
export const isFinalAttempt = (policy: RetryPolicy, receiveCount: number): boolean =>
  receiveCount >= policy.retries + 1;
