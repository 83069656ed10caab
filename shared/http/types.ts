import type { Context } from 'aws-lambda';
import type { Principal } from '#domain/tenant.ts';
import type { KeyOf, RouteInput, RouteSpec } from './route.ts';

/** A request as route handlers see it: parsed, authenticated, nothing AWS-specific. */
export interface ApiRequest {
  readonly routeKey: string;
  readonly method: string;
  readonly path: string;
  readonly pathParameters: Readonly<Record<string, string | undefined>>;
  readonly query: Readonly<Record<string, string | undefined>>;
  /** Lower-cased names. */
  readonly headers: Readonly<Record<string, string | undefined>>;
  /** The parsed JSON body, when the route takes one. */
  readonly body: unknown;
  readonly requestId: string;
  readonly principal: Principal | undefined;
  /** The Lambda context: remaining time for idempotency records, ids for logs. */
  readonly lambdaContext: Context;
}

/** What a route handler answers; `finalizeResponse` turns it into the HTTP response. */
export interface ApiResponse {
  readonly status: number;
  readonly body?: unknown;
  readonly headers?: Readonly<Record<string, string>>;
  /** Strong validator of the representation; enables `If-None-Match` → 304. */
  readonly etag?: string;
  readonly lastModified?: Date;
  readonly cacheControl?: string;
  /** Defaults to JSON; problem responses use `application/problem+json`. */
  readonly contentType?: string;
}

export type RouteHandler = (request: ApiRequest) => Promise<ApiResponse>;

/** A route's handler: the request, and what the route's schemas parsed from it. */
export type TypedRouteHandler<R extends RouteSpec> = (
  request: ApiRequest,
  input: RouteInput<R>,
) => Promise<ApiResponse>;

/**
 * The handlers of one function's routes, by API Gateway route key (`GET /v1/agents/{id}`):
 * exactly one per route, so a missing or misspelled key fails the typecheck.
 */
export type HandlersOf<Routes extends readonly RouteSpec[]> = {
  readonly [R in Routes[number] as KeyOf<R>]: TypedRouteHandler<R>;
};

export const requirePrincipal = (request: ApiRequest): Principal => {
  if (!request.principal) throw new Error(`route ${request.routeKey} reached without a principal`);
  return request.principal;
};
