import * as z from 'zod/mini';
import { queryDocOf } from './query.ts';
import { maxBodyBytes } from './request.ts';
import type { ResponseHeader, ResponseSpec, RouteSpec } from './route.ts';
import { routes } from './routes/index.ts';
import { schemas } from './schemas.ts';

/**
 * The OpenAPI 3.1 document, generated from the route definitions (shared/http/routes/):
 * paths, parameters, bodies and every answer with its schema and headers. The answers all
 * routes share (400, 401, 404, 405, 503, and those of conditional, keyed and body-taking
 * routes) are added here by what the route declares; nothing else is written by hand.
 */

type JsonSchema = Record<string, unknown>;

const jsonSchemaOf = (schema: z.ZodMiniType, io: 'input' | 'output'): JsonSchema => {
  const { $schema: _, ...rest } = z.toJSONSchema(schema, { io, unrepresentable: 'any' }) as JsonSchema;
  return rest;
};

const retryAfter = {
  description: 'Seconds to wait before retrying',
  schema: { type: 'integer', minimum: 1 },
};

/** Every response header the API sets, declared once under components. */
const headerDocs: Record<ResponseHeader | 'X-Request-Id', { description: string; schema: JsonSchema }> = {
  ETag: {
    description: 'Strong validator of the representation (If-None-Match, If-Match)',
    schema: { type: 'string' },
  },
  Location: { description: 'The URL of the resource created', schema: { type: 'string' } },
  'Last-Modified': { description: 'When the resource last changed (HTTP date)', schema: { type: 'string' } },
  'Retry-After': retryAfter,
  Allow: { description: 'The methods the path accepts', schema: { type: 'string' } },
  'Cache-Control': { description: 'How long the answer may be reused', schema: { type: 'string' } },
  'Idempotency-Key': {
    description: 'The Idempotency-Key of the request, echoed',
    schema: { type: 'string' },
  },
  'X-Request-Id': {
    description: 'The request id (logs, traces, problem instances)',
    schema: { type: 'string' },
  },
};

const headersOf = (names: readonly (ResponseHeader | 'X-Request-Id')[]) =>
  Object.fromEntries(names.map((name) => [name, { $ref: `#/components/headers/${name}` }]));

const problem = (description: string, headers: readonly ResponseHeader[] = []) => ({
  description,
  headers: headersOf(['X-Request-Id', ...headers]),
  content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } },
});

const answer = (spec: ResponseSpec) => {
  if (spec.problem) return problem(spec.description, spec.headers);
  return {
    description: spec.description,
    headers: headersOf(['X-Request-Id', ...(spec.headers ?? [])]),
    ...(spec.schema && { content: { 'application/json': { schema: jsonSchemaOf(spec.schema, 'output') } } }),
  };
};

/** The parameters of a query schema: a `z.object` of query.ts parameters, or a pipe from one. */
const queryShape = (schema: z.ZodMiniType): Record<string, z.ZodMiniType> => {
  const def = schema._zod.def as { type: string; in?: z.ZodMiniType; shape?: Record<string, z.ZodMiniType> };
  if (def.type === 'pipe' && def.in) return queryShape(def.in);
  return def.shape ?? {};
};

/** A body limit as people say it: 256 KB, 1 MB. */
const sizeInWords = (bytes: number): string =>
  bytes % (1024 * 1024) === 0
    ? `${bytes / (1024 * 1024)} MB`
    : bytes % 1024 === 0
      ? `${bytes / 1024} KB`
      : `${bytes} bytes`;

const pathParamNames = (path: string): string[] => [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]!);

const operationId = (route: RouteSpec): string =>
  `${route.method.toLowerCase()}${route.path
    .replace(/\{(\w+)\}/g, 'By_$1')
    .replace(/[^A-Za-z0-9]+(\w)?/g, (_, c: string | undefined) => (c ?? '').toUpperCase())}`;

/** The request header of a conditional route: `read` answers 304, `write` 412. */
const conditionalHeaders = {
  read: { name: 'If-None-Match', description: 'An ETag the client holds: 304 when it is still current' },
  write: {
    name: 'If-Match',
    description: 'The ETag the change is based on: 412 when it is no longer current',
  },
} as const;

const operation = (route: RouteSpec) => {
  const parameters: unknown[] = [];
  for (const name of pathParamNames(route.path)) {
    const schema = route.params?.[name];
    parameters.push({
      name,
      in: 'path',
      required: true,
      schema: schema ? jsonSchemaOf(schema, 'input') : { type: 'string', format: 'uuid' },
    });
  }
  for (const [name, field] of Object.entries(route.query ? queryShape(route.query) : {})) {
    const doc = queryDocOf(field);
    parameters.push({
      name,
      in: 'query',
      required: false,
      schema: doc?.schema ?? { type: 'string' },
      ...(doc && { description: doc.description }),
    });
  }
  if (route.conditional) {
    const { name, description } = conditionalHeaders[route.conditional];
    parameters.push({ name, in: 'header', required: false, schema: { type: 'string' }, description });
  }
  if (route.idempotent) parameters.push({ $ref: '#/components/parameters/IdempotencyKey' });

  const responses: Record<string, unknown> = {};
  for (const [status, spec] of Object.entries(route.responses)) responses[status] = answer(spec);
  if (route.conditional === 'read') {
    // A 304 carries the validators and caching of the 200 it stands for.
    responses['304'] = {
      description: 'Not modified: the ETag in If-None-Match is current',
      headers: headersOf(['X-Request-Id', ...(route.responses[200]?.headers ?? [])]),
    };
  }
  responses['400'] = problem(
    `Malformed JSON, invalid query or path parameters, NUL or unpaired surrogates in any text, or a value PostgreSQL cannot store${route.idempotent ? '; an Idempotency-Key that is not 1–255 visible ASCII characters' : ''}`,
  );
  if (route.auth !== 'none') responses['401'] = problem('Missing or invalid API key');
  if (route.path.includes('{')) responses['404'] = problem('No such resource in this tenant');
  responses['405'] = { $ref: '#/components/responses/MethodNotAllowed' };
  if (route.idempotent) {
    const inFlight =
      'a request with this Idempotency-Key is still in flight; retry after Retry-After seconds';
    const own = route.responses[409];
    responses['409'] = problem(own ? `${own.description}; or ${inFlight}` : `Conflict: ${inFlight}`, [
      'Retry-After',
    ]);
  }
  if (route.conditional === 'write')
    responses['412'] = problem('If-Match does not match the current version');
  if (route.body) {
    // What every body-taking route answers, after what the route itself declares for the status.
    const shared = (status: number, description: string) => {
      const own = route.responses[status];
      return problem(own ? `${own.description}; or ${description}` : description, own?.headers);
    };
    responses['413'] = shared(413, `Body over ${sizeInWords(route.maxBodyBytes ?? maxBodyBytes)}`);
    responses['415'] = shared(415, 'Body is not application/json');
    responses['422'] = shared(
      422,
      'Body does not match the schema (or reuses an Idempotency-Key with another body), or breaks a limit: nesting over 64 levels, over 1,000 keys in an object or 10,000 elements in an array, __proto__/constructor/prototype keys, numbers out of range',
    );
  }
  if (route.auth !== 'none' && !responses['503']) {
    responses['503'] = problem(
      'The database or another required dependency is unreachable; retry after Retry-After seconds',
      ['Retry-After'],
    );
  }
  const sorted = Object.fromEntries(Object.entries(responses).sort(([a], [b]) => a.localeCompare(b)));
  return {
    operationId: operationId(route),
    summary: route.summary,
    ...(route.description && { description: route.description }),
    tags: [route.function],
    security: route.auth === 'none' ? [] : [{ [route.auth === 'admin' ? 'adminKey' : 'apiKey']: [] }],
    ...(parameters.length > 0 && { parameters }),
    ...(route.body && {
      requestBody: {
        required: true,
        content: { 'application/json': { schema: jsonSchemaOf(route.body, 'input') } },
      },
    }),
    responses: sorted,
  };
};

export const buildOpenApiDocument = (serverUrl?: string) => {
  const paths: Record<string, Record<string, unknown>> = {};
  const functions = new Set<string>();
  for (const route of routes as readonly RouteSpec[]) {
    paths[route.path] ??= {};
    paths[route.path]![route.method.toLowerCase()] = operation(route);
    functions.add(route.function);
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Switchyard API',
      version: '1.0.0',
      description: 'AI agent and workflow platform',
      license: { name: 'UNLICENSED', identifier: 'LicenseRef-Proprietary' },
    },
    servers: [
      {
        url: serverUrl ?? '{baseUrl}',
        description: 'The API endpoint of a deployment (the stack output), or the local runtime',
        ...(!serverUrl && { variables: { baseUrl: { default: 'http://localhost:3000' } } }),
      },
    ],
    security: [{ apiKey: [] }],
    tags: [...functions].map((name) => ({ name, description: `Routes of the ${name} function` })),
    paths,
    components: {
      schemas: { Problem: jsonSchemaOf(schemas.problemSchema, 'output') },
      headers: headerDocs,
      parameters: {
        IdempotencyKey: {
          name: 'Idempotency-Key',
          in: 'header',
          required: false,
          schema: { type: 'string', pattern: '^[\\x21-\\x7e]{1,255}$' },
          description:
            'A retry with the same key and body answers the resource the first request created (kept with it, so across crashes too); 409 while the first is in flight, 422 for another body, 400 for a key that is not 1–255 visible ASCII characters',
        },
      },
      responses: {
        MethodNotAllowed: problem('The path exists, but not with this method', ['Allow']),
      },
      securitySchemes: {
        apiKey: { type: 'http', scheme: 'bearer', description: 'Tenant API key' },
        adminKey: { type: 'http', scheme: 'bearer', description: 'Operator key (SWITCHYARD_ADMIN_KEY)' },
      },
    },
  };
};
