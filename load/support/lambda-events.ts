import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';

/** An API function's handler, invoked in-process as Lambda would. */
export type ApiHandler = (
  event: APIGatewayProxyEventV2,
  context: Context,
) => Promise<APIGatewayProxyStructuredResultV2>;

/** A Lambda context good enough for in-process invocations. */
export const lambdaContext = (functionName: string, remainingMs = 25_000): Context =>
  ({ functionName, awsRequestId: 'r', getRemainingTimeInMillis: () => remainingMs }) as Context;

/** An API Gateway payload-2.0 event for a route, as the gateway builds it, with a bearer key. */
export const apiEvent = (
  key: string,
  routeKey: string,
  path: string,
  options: { body?: unknown; pathParameters?: Record<string, string>; query?: Record<string, string> } = {},
): APIGatewayProxyEventV2 =>
  ({
    version: '2.0',
    routeKey,
    rawPath: path,
    rawQueryString: new URLSearchParams(options.query).toString(),
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    requestContext: { requestId: 'req', http: { method: routeKey.split(' ')[0], path } },
    isBase64Encoded: false,
    ...(options.query && { queryStringParameters: options.query }),
    ...(options.pathParameters && { pathParameters: options.pathParameters }),
    ...(options.body !== undefined && { body: JSON.stringify(options.body) }),
  }) as unknown as APIGatewayProxyEventV2;
