import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { malformedJson, payloadTooLarge, unsupportedMediaType } from '#domain/errors.ts';
import { gateJsonText, gateJsonValue } from './input-gate.ts';

/** Our limit for a route that declares none; API Gateway's own is 10 MB. */
export const maxBodyBytes = 256 * 1024;

/**
 * Routes that take larger bodies (a document posted inline: 1 MB), by the route key API
 * Gateway sends. Filled by `defineRoutes` from each route's `maxBodyBytes`, so the parser
 * needs no route table: a function's bundle registers the limits of the routes it serves.
 */
const bodyLimits = new Map<string, number>();

export const declareBodyLimit = (routeKey: string, bytes: number): void => {
  bodyLimits.set(routeKey, bytes);
};

/** The most bytes a route's body may have. */
export const bodyLimitOf = (routeKey: string): number => bodyLimits.get(routeKey) ?? maxBodyBytes;

const clientRequestId = /^[A-Za-z0-9._:-]{1,128}$/;

/** The client's `X-Request-Id` when it is sane, else API Gateway's request id. */
export const requestIdOf = (event: APIGatewayProxyEventV2): string => {
  const offered = event.headers?.['x-request-id'];
  return offered && clientRequestId.test(offered) ? offered : event.requestContext.requestId;
};

const jsonMediaType = /^application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i;

/**
 * The JSON body of a request, or undefined when there is none. Size (the route's limit) is checked before
 * anything else is done with it, the media type and the nesting depth (a linear scan) before
 * parsing, and the parsed value passes the input gate (no NUL, unpaired surrogate, reserved
 * key or non-finite number) before any handler sees it.
 */
export const parseJsonBody = (event: APIGatewayProxyEventV2): unknown => {
  const raw = event.body;
  if (raw === undefined || raw === null || raw === '') return undefined;
  const text = event.isBase64Encoded ? Buffer.from(raw, 'base64').toString('utf8') : raw;
  const size = event.isBase64Encoded ? Buffer.byteLength(raw, 'base64') : Buffer.byteLength(text, 'utf8');
  const limit = bodyLimitOf(event.routeKey);
  if (size > limit) throw payloadTooLarge(limit);
  const contentType = event.headers?.['content-type'];
  if (!contentType || !jsonMediaType.test(contentType)) throw unsupportedMediaType();
  gateJsonText(text);
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (error) {
    throw malformedJson(`The body is not valid JSON: ${(error as Error).message}`);
  }
  gateJsonValue(body);
  return body;
};

/** Bearer token from the Authorization header. */
export const bearerToken = (event: APIGatewayProxyEventV2): string | undefined => {
  const header = event.headers?.['authorization'];
  if (!header) return undefined;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return match?.[1];
};
