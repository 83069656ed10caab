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
