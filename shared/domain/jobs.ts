import * as z from 'zod/mini';

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

/** A failure that retrying cannot fix (unknown job type, bad envelope): fail the record at once. */
export class NonRetryableError extends Error {
  override name = 'NonRetryableError';
}
