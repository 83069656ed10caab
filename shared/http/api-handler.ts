import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import { ProblemError } from '#domain/errors.ts';
import type { AuthMode } from '#manifest';
import { config } from '#runtime/config.ts';
import { logger, metrics, metricsEnabled, metricsMiddleware } from '#runtime/observability.ts';
import { currentScope, newScope, runInScope } from '#runtime/request-scope.ts';
import { tracingMiddleware } from '#runtime/tracing.ts';
import type * as Auth from '#services/auth.ts';
import { gatePathParameters, gateQuery } from './input-gate.ts';
import { problemResponse } from './problem.ts';
import { parseQuery } from './query.ts';
import { bearerToken, parseJsonBody, requestIdOf } from './request.ts';
import { finalizeResponse } from './respond.ts';
import type { KeyOf, RouteSpec } from './route.ts';
import type { ApiRequest, ApiResponse, HandlersOf, RouteHandler } from './types.ts';
import { validateBody } from './validation.ts';

export type ApiHandler = (
  event: APIGatewayProxyEventV2,
  context: Context,
) => Promise<APIGatewayProxyStructuredResultV2>;

const takesBody = new Set(['POST', 'PUT', 'PATCH']);

/**
 * Authentication (the key lookup, with the container's cache and PostgreSQL behind it) is
 * imported by the first request that needs it: functions that never authenticate (fallback,
 * openapi) leave the database client out of their main chunk; the others import it anyway.
 */
let authModule: Promise<typeof Auth> | undefined;
const authentication = (): Promise<typeof Auth> => {
  authModule ??= import('#services/auth.ts');
  return authModule;
};
const slowRequestMs = 1_000;

const serverTiming = (): string | undefined => {
  const scope = currentScope();
  if (!scope) return undefined;
  return `db;desc="queries=${scope.queries}";dur=${scope.queryMs.toFixed(2)}, cache;desc="hits=${scope.cacheHits} misses=${scope.cacheMisses}"`;
};

/** Per-request headers and metrics, on success and on error alike. */
const requestEnvelope = (): middy.MiddlewareObj<
  APIGatewayProxyEventV2,
  APIGatewayProxyStructuredResultV2
> => {
  const started = new WeakMap<object, number>();
  const finish = (request: middy.Request<APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2>) => {
    const response = request.response;
    if (!response) return;
    const requestId = requestIdOf(request.event);
    response.headers = { ...response.headers, 'x-request-id': requestId };
    const scope = currentScope();
    if (config().serverTiming) {
      const timing = serverTiming();
      if (timing) response.headers['server-timing'] = timing;
    }
    const elapsed = performance.now() - (started.get(request) ?? performance.now());
    if (metricsEnabled()) {
      metrics.addDimension('route', request.event.routeKey);
      metrics.addMetric('Latency', 'Milliseconds', elapsed);
      if (scope) {
        metrics.addMetric('Queries', 'Count', scope.queries);
        metrics.addMetric('CacheHits', 'Count', scope.cacheHits);
        metrics.addMetric('CacheMisses', 'Count', scope.cacheMisses);
      }
    }
    if (elapsed > slowRequestMs) {
      logger.warn('slow request', {
        route: request.event.routeKey,
        ms: Math.round(elapsed),
        queries: scope?.queries,
      });
    }
  };
  return {
    before: (request) => {
      started.set(request, performance.now());
      // The request id is the correlation id: the same value as the X-Request-Id header.
      logger.setCorrelationId(requestIdOf(request.event));
      logger.appendKeys({ route: request.event.routeKey });
    },
    after: finish,
    onError: finish,
  };
};

/**
 * Every error becomes problem+json; ours are logged with their stack, the client's are not,
 * dependency faults (503) and PostgreSQL data errors (400) with their message.
 */
const problemErrors = (): middy.MiddlewareObj<APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2> => ({
  onError: (request) => {
    const response = problemResponse(request.error, request.event.rawPath);
    if (response.statusCode === 500) logger.error('request failed', request.error as Error);
    // A dependency down (503) or a value the input gate let through but PostgreSQL refused: not
    // the client's fault alone, so logged, with the underlying error.
    else if (!(request.error instanceof ProblemError)) {
      logger.warn('request refused on a dependency error', {
        status: response.statusCode,
        error: (request.error as Error)?.message,
        code: (request.error as { code?: unknown })?.code,
      });
    }
    request.response = response;
  },
});

/** What the dispatcher knows of one route key: who may call it and how to answer. */
interface Endpoint {
  readonly auth: AuthMode;
  readonly spec: RouteSpec | undefined;
  readonly handle: (request: ApiRequest, input: never) => Promise<ApiResponse>;
}

const wrap = (endpoints: ReadonlyMap<string, Endpoint>): ApiHandler => {
  const dispatch = async (
    event: APIGatewayProxyEventV2,
    lambdaContext: Context,
  ): Promise<APIGatewayProxyStructuredResultV2> => {
    const endpoint = endpoints.get(event.routeKey);
    if (!endpoint) throw new Error(`no handler for route ${event.routeKey}`);
    const { auth, spec } = endpoint;
    const token = bearerToken(event);
    const principal =
      auth === 'tenant' ? await (await authentication()).authenticateTenant(token) : undefined;
    if (auth === 'admin') await (await authentication()).authenticateAdmin(token);
    const method = event.requestContext.http.method;
    const query = event.queryStringParameters ?? {};
    // The input gate, after authentication (strangers do not get to spend our CPU) and before any
    // handler: path parameters (ids in their canonical spelling), the query, then the body.
    const pathParameters = event.pathParameters ? gatePathParameters(event.pathParameters) : {};
    gateQuery(query);
    const request: ApiRequest = {
      routeKey: event.routeKey,
      method,
      path: event.rawPath,
      pathParameters,
      query,
      headers: event.headers ?? {},
      body: takesBody.has(method) ? parseJsonBody(event) : undefined,
      requestId: requestIdOf(event),
      principal,
      lambdaContext,
    };
    // Then the route's own schemas: the query (400 naming every parameter), the body (422).
    const input = {
      params: pathParameters,
      query: spec?.query ? parseQuery(spec.query, query) : {},
      body: spec?.body ? validateBody(spec.body, request.body) : undefined,
    };
    const response = await endpoint.handle(request, input as never);
    return finalizeResponse(response, { method, headers: request.headers });
  };

  const wrapped = middy<APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2>(dispatch)
    .use(tracingMiddleware())
    .use(injectLambdaContext(logger, { resetKeys: true }))
    .use(metricsMiddleware())
    .use(requestEnvelope())
    .use(problemErrors());

  return (event, context) => runInScope(newScope(), () => wrapped(event, context));
};

/**
 * Builds the Lambda handler of one API function from its route definitions and one handler per
 * route: wrapped in Powertools (logs with the request id as correlation id, EMF metrics, traces),
 * problem+json errors and per-request counters. Each request is authenticated as its route
 * says, and its query and body parsed by the route's schemas before the handler sees them.
 */
export const createApiHandler = <
  const Routes extends readonly RouteSpec[],
  // A type parameter of its own, so each handler is typed by its route (its context), and no more.
  Handlers extends HandlersOf<Routes>,
>(
  routes: Routes,
  handlers: Handlers & { readonly [K in Exclude<keyof Handlers, KeyOf<Routes[number]>>]: never },
): ApiHandler => {
  const byKey = handlers as unknown as Readonly<Record<string, Endpoint['handle']>>;
  return wrap(
    new Map(
      routes.map((spec): [string, Endpoint] => {
        const key = `${spec.method} ${spec.path}`;
        const handle = byKey[key];
        if (!handle) throw new Error(`no handler for route ${key}`);
        return [key, { auth: spec.auth, spec, handle }];
      }),
    ),
  );
};

/** API Gateway's `$default` route (the fallback function): no key, no schemas. */
export const createDefaultHandler = (handle: RouteHandler): ApiHandler =>
  wrap(new Map([['$default', { auth: 'none', spec: undefined, handle }]]));
