import type * as z from 'zod/mini';
import type { ResponseHeader, ResponseSpec } from '../route.ts';

/** Response declarations the route definitions share. */

/** A JSON answer. */
export const json = (
  description: string,
  schema: z.ZodMiniType,
  headers: readonly ResponseHeader[] = ['Cache-Control'],
): ResponseSpec => ({ description, schema, headers });

/** A problem+json answer. */
export const problem = (description: string, headers?: readonly ResponseHeader[]): ResponseSpec => ({
  description,
  problem: true,
  ...(headers && { headers }),
});

/** The headers of a resource answered with its version. */
export const versioned: readonly ResponseHeader[] = ['ETag', 'Cache-Control'];
export const versionedAndDated: readonly ResponseHeader[] = ['ETag', 'Last-Modified', 'Cache-Control'];

/** The 201 of a creating POST: the resource, where it lives, and the Idempotency-Key echoed. */
export const created = (description: string, schema: z.ZodMiniType): ResponseSpec =>
  json(description, schema, ['Location', ...versionedAndDated, 'Idempotency-Key']);

/** The 200 and 202 of a starting POST (an execution, a workflow execution) and its `?wait=N`. */
export const started = (schema: z.ZodMiniType) => {
  const headers: readonly ResponseHeader[] = ['Location', ...versioned, 'Idempotency-Key'];
  return {
    200: json('Finished within ?wait=N', schema, headers),
    202: json('Accepted: queued or running', schema, headers),
  };
};
