import type * as z from 'zod/mini';
import type { AuthMode, FunctionName, HttpMethod } from '#manifest';
import { declareBodyLimit } from './request.ts';
import { schemas } from './schemas.ts';

/**
 * One route, declared once: method, path, auth, the schemas of what it takes (path, query,
 * body) and of what it answers (per status, with headers). The API functions dispatch and
 * parse with it, the manifest's route list is the list of these, and /openapi.json is
 * generated from it. Pure data and schemas: no handler code.
 */

/** Response headers the API sets, as the OpenAPI document names them. */
export type ResponseHeader =
  | 'ETag'
  | 'Location'
  | 'Last-Modified'
  | 'Retry-After'
  | 'Allow'
  | 'Cache-Control'
  | 'Idempotency-Key';

export interface ResponseSpec {
  readonly description: string;
  /** JSON body; absent for 204/304 and problem+json answers (those use `problem`). */
  readonly schema?: z.ZodMiniType;
  /** An `application/problem+json` answer. */
  readonly problem?: true;
  readonly headers?: readonly ResponseHeader[];
}

export interface RouteSpec {
  readonly method: HttpMethod;
  /** API Gateway path template, e.g. `/v1/agents/{id}`. */
  readonly path: string;
  readonly function: FunctionName;
  readonly auth: AuthMode;
  readonly summary: string;
  /** The operation's longer description in the OpenAPI document: defaults and why they are what they are. */
  readonly description?: string;
  /** Schemas of path parameters, for the document; every `{name}` without one is a UUID. */
  readonly params?: Readonly<Record<string, z.ZodMiniType>>;
  /** The query: a `z.object` of the parameters of shared/http/query.ts. */
  readonly query?: z.ZodMiniType<Record<string, unknown>, Record<string, string | undefined>>;
  /** The JSON body, validated before the handler runs (422 with every field error). */
  readonly body?: z.ZodMiniType;
  /** The largest body it takes, in bytes (413 above); request.ts's `maxBodyBytes` (256 KB) when absent. */
  readonly maxBodyBytes?: number;
  /** `read`: If-None-Match → 304; `write`: If-Match → 412. */
  readonly conditional?: 'read' | 'write';
  /** Honours `Idempotency-Key`. */
  readonly idempotent?: true;
  /** The answers besides the ones every route shares (400, 401, 404, 503: see openapi.ts). */
  readonly responses: Readonly<Record<number, ResponseSpec>>;
}

/** The route key API Gateway sends (`GET /v1/agents/{id}`). */
export type KeyOf<R extends Pick<RouteSpec, 'method' | 'path'>> = `${R['method']} ${R['path']}`;

/**
 * The routes of one function, each stamped with it. Built by a function, handed the response
 * schemas, and called with a `@__PURE__` annotation: a bundle that reaches the route list only
 * through the manifest (the workers) leaves the routes and their schemas out.
 */
export const defineRoutes = <
  const F extends FunctionName,
  const R extends readonly Omit<RouteSpec, 'function'>[],
>(
  fn: F,
  build: (responseSchemas: typeof schemas) => R,
): { readonly [I in keyof R]: R[I] & { readonly function: F } } =>
  build(schemas).map((route) => {
    // The body parser finds a larger limit by route key (request.ts); the document, here.
    if (route.maxBodyBytes !== undefined)
      declareBodyLimit(`${route.method} ${route.path}`, route.maxBodyBytes);
    return { ...route, function: fn };
  }) as never;

type ParamNames<P extends string> = P extends `${string}{${infer N}}${infer Rest}`
  ? N | ParamNames<Rest>
  : never;

/** What a handler receives, parsed by the route's schemas. */
export interface RouteInput<R extends RouteSpec> {
  readonly params: { readonly [N in ParamNames<R['path']>]: string };
  readonly query: R['query'] extends z.ZodMiniType ? z.output<R['query']> : Record<string, never>;
  readonly body: R['body'] extends z.ZodMiniType ? z.output<R['body']> : undefined;
}
