import * as z from 'zod/mini';
import { type JobName, jobs } from '#manifest';

/**
 * The one envelope every queue message has. It carries ids, never request bodies: the
 * database holds the data, the message only says what to do with which rows.
 */
export const jobEnvelope = z.object({
  type: z.string().check(z.minLength(1), z.maxLength(100)),
  tenant_id: z.string(),
  ids: z.record(z.string(), z.string()),
  idempotency_key: z.string().check(z.minLength(1), z.maxLength(300)),
  /** W3C traceparent or X-Ray header of the request that enqueued it. */
  trace: z.optional(z.string()),
  enqueued_at: z.string(),
});
export type JobEnvelope = z.infer<typeof jobEnvelope>;

/** Job types by name (`jobTypes.executeAgent` is `'agent.execute'`), read off their declarations in the manifest. */
export const jobTypes = Object.fromEntries(Object.entries(jobs).map(([name, job]) => [name, job.type])) as {
  readonly [N in JobName]: (typeof jobs)[N]['type'];
};

export const newJob = (
  type: string,
  tenantId: string,
  ids: Record<string, string>,
  idempotencyKey: string,
  trace?: string,
): JobEnvelope => ({
  type,
  tenant_id: tenantId,
  ids,
  idempotency_key: idempotencyKey,
  ...(trace && { trace }),
  enqueued_at: new Date().toISOString(),
});

/** A failure that retrying cannot fix (unknown job type, bad envelope, 400 from a model): to the DLQ at once. */
export class NonRetryableError extends Error {
  override name = 'NonRetryableError';
}

/** Errors are retryable unless they say otherwise (`retryable: false`, or NonRetryableError). */
export const isRetryable = (error: unknown): boolean => {
  if (error instanceof NonRetryableError) return false;
  if (typeof error === 'object' && error !== null && 'retryable' in error) {
    return (error as { retryable: unknown }).retryable !== false;
  }
  return true;
};

export const retryAfterOf = (error: unknown): number | undefined => {
  if (typeof error !== 'object' || error === null) return undefined;
  const direct = (error as { retryAfterMs?: unknown }).retryAfterMs;
  if (typeof direct === 'number') return direct;
  const nested = (error as { options?: { retryAfterMs?: unknown } }).options?.retryAfterMs;
  return typeof nested === 'number' ? nested : undefined;
};
