import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { buildOpenApiDocument } from '#http/openapi.ts';
import { createRouteTable } from '#http/route-table.ts';
import { routes } from '#manifest';

/**
 * Checks a response against /openapi.json (the document the API serves, built the same way):
 * the status must be declared for the operation, the body must match the declared schema of
 * its content type (Ajv, JSON Schema 2020-12, formats checked), and each response header the
 * document tracks must be declared for that answer. `TestApi.call` runs it on every response
 * the contract suites receive, so the document cannot drift from what the API answers.
 */

type Json = Record<string, unknown>;

interface ResponseDoc {
  readonly headers?: Record<string, unknown>;
  readonly content?: Record<string, { schema: Json }>;
}

const document = buildOpenApiDocument() as unknown as {
  paths: Record<string, Record<string, { responses: Record<string, ResponseDoc | { $ref: string }> }>>;
  components: { responses: Record<string, ResponseDoc>; schemas: Record<string, Json> };
};

const ajv = new Ajv2020({ strict: false, allErrors: true });
(addFormats as unknown as (ajv: Ajv2020) => void)(ajv);
ajv.addSchema({ $id: 'openapi', components: document.components }, 'openapi');

const table = createRouteTable(routes);
const compiled = new WeakMap<object, ReturnType<typeof ajv.compile>>();

/** Schemas point at `#/components/...`: resolved against the document's components. */
const validatorOf = (schema: Json) => {
  let validate = compiled.get(schema);
  if (!validate) {
    const rewritten = JSON.parse(
      JSON.stringify(schema).replaceAll('"#/components/', '"openapi#/components/'),
    );
    validate = ajv.compile(rewritten);
    compiled.set(schema, validate);
  }
  return validate;
};

const resolve = (answer: ResponseDoc | { $ref: string } | undefined): ResponseDoc | undefined => {
  if (answer && '$ref' in answer) return document.components.responses[answer.$ref.split('/').pop()!];
  return answer;
};

/** The headers the document declares where the API sets them; others (content-type, server-timing…) are not checked. */
const trackedHeaders = [
  'ETag',
  'Location',
  'Last-Modified',
  'Retry-After',
  'Allow',
  'Cache-Control',
  'Idempotency-Key',
  'X-Request-Id',
];

/** The answer the document declares for a request, or why it declares none. */
const declaredAnswer = (method: string, path: string, status: number): ResponseDoc | string => {
  const match = table.match(method, path);
  if (match.kind === 'method-not-allowed' || (match.kind === 'not-found' && status === 405)) {
    return document.components.responses['MethodNotAllowed']!;
  }
  if (match.kind === 'not-found') {
    // No operation: only the API's problem answer (404) can describe it.
    return {
      headers: { 'X-Request-Id': {} },
      content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } },
    };
  }
  const [, template] = match.routeKey.split(' ') as [string, string];
  const operation = document.paths[template]?.[method.toLowerCase()];
  if (!operation) return `no operation ${match.routeKey}`;
  const answer = resolve(operation.responses[String(status)]);
  return answer ?? `${match.routeKey} does not declare ${status}`;
};

/** Throws when the response is not what the document says; reads a clone of the body. */
export const checkAgainstOpenApi = async (method: string, url: string, response: Response): Promise<void> => {
  if (method === 'HEAD' || method === 'OPTIONS') return;
  const path = new URL(url).pathname;
  const where = `${method} ${path} → ${response.status}`;
  const answer = declaredAnswer(method, path, response.status);
  if (typeof answer === 'string') throw new Error(`OpenAPI: ${where}: ${answer}`);
  const declared = new Set(Object.keys(answer.headers ?? {}).map((h) => h.toLowerCase()));
  for (const header of trackedHeaders) {
    if (response.headers.has(header) && !declared.has(header.toLowerCase())) {
      throw new Error(`OpenAPI: ${where}: header ${header} is not declared`);
    }
  }
  const text = await response.clone().text();
  if (text === '') return;
  const type = (response.headers.get('content-type') ?? '').split(';')[0]!.trim();
  const content = answer.content?.[type];
  if (!content) throw new Error(`OpenAPI: ${where}: content type ${type} is not declared`);
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new Error(`OpenAPI: ${where}: the body is not JSON`);
  }
  const validate = validatorOf(content.schema);
  if (!validate(body)) {
    throw new Error(`OpenAPI: ${where}: ${ajv.errorsText(validate.errors)} in ${text.slice(0, 500)}`);
  }
};
