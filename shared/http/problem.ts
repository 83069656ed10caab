import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { ProblemError } from '#domain/errors.ts';

/** Seconds a client is asked to wait while a required dependency is unreachable. */
export const unavailableRetryAfterSeconds = 2;

/** Network errors of Node sockets (pg, the AWS SDK's HTTP handler) that mean "not reachable now". */
const connectionErrorCodes: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EHOSTDOWN',
  'ENETDOWN',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

/**
 * How pg and pg-pool report a connection that could not be made or was lost: plain Errors,
 * recognised by their message (node_modules/pg/lib/client.js, pg-pool/index.js).
 */
const connectionErrorMessages: readonly RegExp[] = [
  /^timeout exceeded when trying to connect$/,
  /^Connection terminated unexpectedly$/,
  /^Connection terminated due to connection timeout$/,
  /^Client has encountered a connection error and is not queryable$/,
  /^timeout expired$/,
];

const sqlState = /^[0-9A-Z]{5}$/;

/**
 * SQLSTATEs of a server that cannot serve now: class 08 (connection exception), 53 (insufficient
 * resources, 53300 too_many_connections among them) and 57P01–57P05 (shutting down, starting up).
 */
const unavailableState = (code: string): boolean =>
  code.startsWith('08') || code.startsWith('53') || /^57P0[1-5]$/.test(code);

/** Class 22, data exception: a value PostgreSQL cannot store or compare (22P05, 22021, 22008, 22003, 22P02...). */
const dataExceptionState = (code: string): boolean => code.startsWith('22');

export type ErrorKind = 'unavailable' | 'data' | undefined;

/**
 * What kind of failure an error is: a dependency unreachable, a value PostgreSQL refused, or
 * something else (ours). Follows `cause` and AggregateError's `errors` (Node's happy-eyeballs
 * connect reports one per address) a few levels deep.
 */
export const classifyError = (error: unknown, depth = 0): ErrorKind => {
  if (depth > 4 || typeof error !== 'object' || error === null) return undefined;
  const { code, message, name } = error as { code?: unknown; message?: unknown; name?: unknown };
  if (typeof code === 'string') {
    if (connectionErrorCodes.has(code)) return 'unavailable';
    if (sqlState.test(code)) {
      if (unavailableState(code)) return 'unavailable';
      if (dataExceptionState(code)) return 'data';
    }
  }
  if (typeof message === 'string' && connectionErrorMessages.some((pattern) => pattern.test(message))) {
    return 'unavailable';
  }
  // The AWS SDK's request timeout (DynamoDB idempotency records, SQS).
  if (name === 'TimeoutError') return 'unavailable';
  const nested = [
    (error as { cause?: unknown }).cause,
    ...(Array.isArray((error as { errors?: unknown }).errors) ? (error as { errors: unknown[] }).errors : []),
  ];
  for (const inner of nested) {
    const kind = classifyError(inner, depth + 1);
    if (kind) return kind;
  }
  return undefined;
};

export const serviceUnavailable = () =>
  new ProblemError(
    503,
    'service-unavailable',
    'Service Unavailable',
    'A service this request needs is unreachable for the moment; retry shortly.',
    { headers: { 'retry-after': String(unavailableRetryAfterSeconds) } },
  );

const invalidValue = (code: string) =>
  new ProblemError(
    400,
    'invalid-value',
    'Invalid value',
    `A value in the request cannot be stored or compared (SQLSTATE ${code}).`,
  );

/** The problem an error is shown as: client errors as they are, a known fault by its kind, anything else as an opaque 500. */
export const problemOf = (error: unknown): ProblemError => {
  if (error instanceof ProblemError) return error;
  const kind = classifyError(error);
  if (kind === 'unavailable') return serviceUnavailable();
  if (kind === 'data') {
    const code = (error as { code?: unknown }).code;
    return invalidValue(typeof code === 'string' ? code : '22000');
  }
  return new ProblemError(
    500,
    'internal',
    'Internal Server Error',
    'The request failed on our side; it is logged.',
  );
};

/** RFC 9457 body for any error. */
export const problemResponse = (error: unknown, instance: string): APIGatewayProxyStructuredResultV2 => {
  const problem = problemOf(error);
  const body: Record<string, unknown> = {
    type: problem.type,
    title: problem.title,
    status: problem.status,
    detail: problem.detail,
    instance,
  };
  if (problem.extra.errors) body['errors'] = problem.extra.errors;
  return {
    statusCode: problem.status,
    headers: { 'content-type': 'application/problem+json', ...problem.extra.headers },
    body: JSON.stringify(body),
  };
};
