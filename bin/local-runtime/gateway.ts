/**
 * Local emulator of an API Gateway HTTP API (Lambda payload format 2.0) that invokes handlers in-process.
 * It reproduces what the deployed API does to requests and responses, so handlers behave the same locally.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type OutgoingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import { createRouteTable } from '#http/route-table.ts';
import { type FunctionName, fallbackFunction, functions, type RouteDef } from '#manifest';

export type ApiHandler = (
  event: APIGatewayProxyEventV2,
  context: Context,
) => Promise<APIGatewayProxyStructuredResultV2>;

export interface RequestLogEntry {
  method: string;
  path: string;
  status: number;
  ms: number;
  requestId: string;
}

export interface LocalGatewayOptions {
  port: number;
  /** Interface to listen on; defaults to 127.0.0.1. */
  host?: string;
  routes: readonly RouteDef[];
  resolveHandler: (fn: FunctionName) => Promise<ApiHandler>;
  onRequestLog?: (entry: RequestLogEntry) => void;
  /** Deployment stage for Lambda names (`switchyard-<stage>-<fn>`); default `local`. */
  stage?: string;
}

export interface LocalGateway {
  url: string;
  port: number;
  close(): Promise<void>;
}

/** HTTP API payload quota; larger requests are rejected by API Gateway before any integration runs. */
export const MAX_REQUEST_BODY_BYTES = 10 * 1024 * 1024;
/** Synchronous Lambda invocation response limit; exceeding it fails the invocation (→ 500). */
export const MAX_RESPONSE_PAYLOAD_BYTES = 6 * 1024 * 1024;

const ACCOUNT_ID = '123456789012';
const API_ID = 'local';
const REGION = process.env['AWS_REGION'] ?? 'us-east-1';

const INTERNAL_ERROR = Buffer.from('{"message":"Internal Server Error"}');
const TOO_LARGE = Buffer.from('{"message":"Request Entity Too Large"}');

// Hop-by-hop headers end at API Gateway's edge and never reach the integration.
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'te',
  'upgrade',
]);

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const pad2 = (n: number): string => (n < 10 ? `0${n}` : `${n}`);

// requestContext.time has one-second resolution, so format it once per second.
let cachedSecond = -1;
let cachedTime = '';
const requestTime = (epochMs: number): string => {
  const second = Math.floor(epochMs / 1000);
  if (second !== cachedSecond) {
    const d = new Date(second * 1000);
    cachedTime =
      `${pad2(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:` +
      `${pad2(d.getUTCHours())}:${pad2(d.getUTCMinutes())}:${pad2(d.getUTCSeconds())} +0000`;
    cachedSecond = second;
  }
  return cachedTime;
};

const randomHex = (): string => randomUUID().replaceAll('-', '');

/** API Gateway request ids are 11 random bytes in base64, e.g. `JKJaXmPLvHcESHA=`. */
const apiGatewayRequestId = (): string => Buffer.from(randomHex().slice(0, 22), 'hex').toString('base64');

const traceId = (epochMs: number): string =>
  `Root=1-${Math.floor(epochMs / 1000).toString(16)}-${randomHex().slice(0, 24)}`;

const isTextContentType = (contentType: string | undefined): boolean => {
  if (!contentType) return false;
  const semi = contentType.indexOf(';');
  const type = (semi === -1 ? contentType : contentType.slice(0, semi)).trim().toLowerCase();
  return (
    type.startsWith('text/') ||
    type === 'application/json' ||
    type === 'application/xml' ||
    type === 'application/x-www-form-urlencoded' ||
    type.endsWith('+json') ||
    type.endsWith('+xml')
  );
};

/** Query values are form-decoded ('+' is a space); malformed escapes are passed through as sent. */
const decodeQueryComponent = (value: string): string => {
  const spaced = value.includes('+') ? value.replaceAll('+', ' ') : value;
  if (!spaced.includes('%')) return spaced;
  try {
    return decodeURIComponent(spaced);
  } catch {
    return spaced;
  }
};

const parseQuery = (raw: string): Record<string, string> | undefined => {
  let params: Record<string, string> | undefined;
  for (const pair of raw.split('&')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    const key = decodeQueryComponent(eq === -1 ? pair : pair.slice(0, eq));
    const value = eq === -1 ? '' : decodeQueryComponent(pair.slice(eq + 1));
    params ??= {};
    const prev = params[key];
    params[key] = prev === undefined ? value : `${prev},${value}`;
  }
  return params;
};

/** `Host` without its port, as requestContext.domainName never carries one. */
const hostName = (host: string | undefined): string => {
  if (!host) return 'localhost';
  if (host.startsWith('[')) {
    const end = host.indexOf(']');
    return end === -1 ? host : host.slice(0, end + 1);
  }
  const colon = host.indexOf(':');
  return colon === -1 ? host : host.slice(0, colon);
};

const clientIp = (req: IncomingMessage): string => {
  const ip = req.socket.remoteAddress ?? '127.0.0.1';
  return ip.startsWith('::ffff:') ? ip.slice(7) : ip;
};

class InvalidResponseError extends Error {}

interface HttpResponse {
  statusCode: number;
  headers: OutgoingHttpHeaders;
  body: Buffer;
}

const headerValue = (name: string, value: unknown): string | undefined => {
  if (value === undefined || value === null) return undefined; // dropped by JSON serialisation in AWS
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  throw new InvalidResponseError(`header '${name}' must be a string, number or boolean`);
};

/** Applies API Gateway's payload 2.0 response rules to whatever the handler returned. */
const toHttpResponse = (result: unknown): HttpResponse => {
  const structured =
    typeof result === 'object' &&
    result !== null &&
    !Array.isArray(result) &&
    (result as { statusCode?: unknown }).statusCode !== undefined;

  if (!structured) {
    // Shorthand: anything without a statusCode is the JSON body of a 200; undefined goes out as null.
    const json = JSON.stringify(result === undefined ? null : result);
    if (json === undefined) throw new InvalidResponseError('result is not JSON-serialisable');
    const body = Buffer.from(json);
    if (body.length > MAX_RESPONSE_PAYLOAD_BYTES) throw new InvalidResponseError('response exceeds 6 MB');
    return { statusCode: 200, headers: { 'content-type': 'application/json' }, body };
  }

  const r = result as Record<string, unknown>;
  const statusCode = r['statusCode'];
  if (
    typeof statusCode !== 'number' ||
    !Number.isInteger(statusCode) ||
    statusCode < 200 ||
    statusCode > 599
  ) {
    throw new InvalidResponseError(`invalid statusCode ${JSON.stringify(statusCode)}`);
  }

  const headers: OutgoingHttpHeaders = {};
  const rawHeaders = r['headers'];
  if (rawHeaders !== undefined && rawHeaders !== null) {
    if (typeof rawHeaders !== 'object' || Array.isArray(rawHeaders)) {
      throw new InvalidResponseError('headers must be an object');
    }
    for (const [name, value] of Object.entries(rawHeaders)) {
      const v = headerValue(name, value);
      if (v !== undefined) headers[name.toLowerCase()] = v;
    }
  }

  const cookies = r['cookies'];
  if (cookies !== undefined && cookies !== null) {
    if (!Array.isArray(cookies) || cookies.some((c) => typeof c !== 'string')) {
      throw new InvalidResponseError('cookies must be an array of strings');
    }
    if (cookies.length > 0) {
      const existing = headers['set-cookie'];
      headers['set-cookie'] = existing === undefined ? cookies : [String(existing), ...cookies];
    }
  }

  const rawBody = r['body'];
  let body: Buffer;
  if (rawBody === undefined || rawBody === null) {
    body = Buffer.alloc(0);
  } else if (typeof rawBody !== 'string') {
    throw new InvalidResponseError('body must be a string');
  } else {
    if (rawBody.length > MAX_RESPONSE_PAYLOAD_BYTES) throw new InvalidResponseError('response exceeds 6 MB');
    body = r['isBase64Encoded'] === true ? Buffer.from(rawBody, 'base64') : Buffer.from(rawBody);
  }
  // API Gateway labels untyped bodies itself rather than leaving clients to sniff.
  if (body.length > 0 && headers['content-type'] === undefined) {
    headers['content-type'] = 'text/plain; charset=utf-8';
  }
  return { statusCode, headers, body };
};

interface FunctionState {
  readonly name: FunctionName;
  readonly functionName: string;
  readonly invokedFunctionArn: string;
  readonly memoryLimitInMB: string;
  readonly timeoutMs: number;
  readonly logGroupName: string;
  readonly logStreamName: string;
  handler: Promise<ApiHandler> | undefined;
}

const noop = (): void => {};

const createContext = (fn: FunctionState, deadline: number): Context => ({
  callbackWaitsForEmptyEventLoop: true,
  functionName: fn.functionName,
  functionVersion: '$LATEST',
  invokedFunctionArn: fn.invokedFunctionArn,
  memoryLimitInMB: fn.memoryLimitInMB,
  awsRequestId: randomUUID(),
  logGroupName: fn.logGroupName,
  logStreamName: fn.logStreamName,
  getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
  done: noop,
  fail: noop,
  succeed: noop,
});

class LambdaTimeoutError extends Error {}

export const startLocalGateway = async (opts: LocalGatewayOptions): Promise<LocalGateway> => {
  const host = opts.host ?? '127.0.0.1';
  const stage = opts.stage ?? 'local';
  const table = createRouteTable(opts.routes);
  const { resolveHandler, onRequestLog } = opts;

  const today = new Date().toISOString().slice(0, 10).replaceAll('-', '/');
  const states = new Map<FunctionName, FunctionState>();
  const functionState = (name: FunctionName): FunctionState => {
    let state = states.get(name);
    if (!state) {
      const def = functions[name];
      const functionName = `switchyard-${stage}-${name}`;
      state = {
        name,
        functionName,
        invokedFunctionArn: `arn:aws:lambda:${REGION}:${ACCOUNT_ID}:function:${functionName}`,
        memoryLimitInMB: String(def.memoryMb),
        timeoutMs: def.timeoutSeconds * 1000,
        logGroupName: `/aws/lambda/${functionName}`,
        logStreamName: `${today}/[$LATEST]${randomHex()}`,
        handler: undefined,
      };
      states.set(name, state);
    }
    return state;
  };

  // Cache the promise so concurrent first requests import once; a failed import is retried next time.
  const handlerFor = (fn: FunctionState): Promise<ApiHandler> => {
    if (!fn.handler) {
      fn.handler = resolveHandler(fn.name);
      fn.handler.catch(() => {
        fn.handler = undefined;
      });
    }
    return fn.handler;
  };

  let closing = false;
  let localPort = opts.port;
  let forwardedPort = String(localPort);

  const send = (
    res: ServerResponse,
    statusCode: number,
    headers: OutgoingHttpHeaders,
    body: Buffer,
  ): void => {
    if (res.headersSent || res.destroyed) return;
    if (closing) headers['connection'] = 'close';
    if (statusCode === 204 || statusCode === 304) {
      // These statuses must not carry a body or a Content-Length.
      res.writeHead(statusCode, headers);
      res.end();
      return;
    }
    headers['content-length'] = body.length;
    res.writeHead(statusCode, headers);
    res.end(body);
  };

  const sendError = (res: ServerResponse, requestId: string, statusCode: number, body: Buffer): void =>
    send(res, statusCode, { 'content-type': 'application/json', 'apigw-requestid': requestId }, body);

  const invoke = async (
    req: IncomingMessage,
    res: ServerResponse,
    requestId: string,
    sourceIp: string,
    headers: Record<string, string>,
    cookies: string[] | undefined,
    body: Buffer | undefined,
  ): Promise<void> => {
    const method = req.method ?? 'GET';
    let url = req.url ?? '/';
    // Absolute-form request targets (proxies) carry the origin; API Gateway only sees the path.
    if (!url.startsWith('/')) {
      const slash = url.indexOf('/', url.indexOf('//') + 2);
      url = slash === -1 ? '/' : url.slice(slash);
    }
    const q = url.indexOf('?');
    const rawPath = q === -1 ? url : url.slice(0, q);
    const rawQueryString = q === -1 ? '' : url.slice(q + 1);

    const match = table.match(method, rawPath);
    // Unmatched requests (404 and 405 alike) go to the $default route; the fallback decides the status.
    const routed = match.kind === 'route';
    const fn = functionState(routed ? match.function : fallbackFunction);
    const routeKey = routed ? match.routeKey : '$default';

    const now = Date.now();
    const domainName = hostName(headers['host']);
    const dot = domainName.indexOf('.');
    const event: APIGatewayProxyEventV2 = {
      version: '2.0',
      routeKey,
      rawPath,
      rawQueryString,
      headers,
      requestContext: {
        accountId: ACCOUNT_ID,
        apiId: API_ID,
        domainName,
        domainPrefix: dot === -1 ? domainName : domainName.slice(0, dot),
        http: {
          method,
          path: rawPath,
          protocol: `HTTP/${req.httpVersion}`,
          sourceIp,
          userAgent: headers['user-agent'] ?? '',
        },
        requestId,
        routeKey,
        stage: '$default',
        time: requestTime(now),
        timeEpoch: now,
      },
      isBase64Encoded: false,
    };
    if (cookies && cookies.length > 0) event.cookies = cookies;
    const query = rawQueryString === '' ? undefined : parseQuery(rawQueryString);
    if (query) event.queryStringParameters = query;
    if (routed && match.routeKey.includes('{')) event.pathParameters = match.pathParameters;
    if (body) {
      if (isTextContentType(headers['content-type'])) {
        event.body = body.toString('utf8');
      } else {
        event.body = body.toString('base64');
        event.isBase64Encoded = true;
      }
    }

    let response: HttpResponse;
    let timer: NodeJS.Timeout | undefined;
    try {
      const handler = await handlerFor(fn);
      const timedOut = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new LambdaTimeoutError(`Task timed out after ${fn.timeoutMs / 1000} seconds`)),
          fn.timeoutMs,
        );
      });
      const context = createContext(fn, Date.now() + fn.timeoutMs);
      const result: unknown = await Promise.race([handler(event, context), timedOut]);
      response = toHttpResponse(result);
    } catch (err) {
      const kind = err instanceof InvalidResponseError ? 'invalid response' : 'invocation failed';
      console.error(`[local-gateway] ${fn.functionName} ${routeKey} ${requestId}: ${kind}:`, err);
      sendError(res, requestId, 500, INTERNAL_ERROR);
      return;
    } finally {
      clearTimeout(timer);
    }

    response.headers['apigw-requestid'] = requestId;
    try {
      send(res, response.statusCode, response.headers, response.body);
    } catch (err) {
      // writeHead rejects header names or values that are not valid HTTP.
      console.error(`[local-gateway] ${fn.functionName} ${routeKey} ${requestId}: invalid response:`, err);
      sendError(res, requestId, 500, INTERNAL_ERROR);
    }
  };

  const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    const started = performance.now();
    const requestId = apiGatewayRequestId();
    if (onRequestLog) {
      res.once('close', () => {
        const q = req.url?.indexOf('?') ?? -1;
        try {
          onRequestLog({
            method: req.method ?? 'GET',
            path: q === -1 ? (req.url ?? '/') : req.url!.slice(0, q),
            status: res.statusCode,
            ms: performance.now() - started,
            requestId,
          });
        } catch (err) {
          console.error('[local-gateway] onRequestLog failed:', err);
        }
      });
    }

    // Lower-case names, join repeats with ',' and move Cookie into its own array, as API Gateway does.
    const headers: Record<string, string> = {};
    let cookies: string[] | undefined;
    const raw = req.rawHeaders;
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i]!.toLowerCase();
      const value = raw[i + 1]!;
      if (name === 'cookie') {
        cookies ??= [];
        for (const part of value.split(';')) {
          const cookie = part.trim();
          if (cookie !== '') cookies.push(cookie);
        }
        continue;
      }
      if (HOP_BY_HOP.has(name)) continue;
      const prev = headers[name];
      headers[name] = prev === undefined ? value : `${prev},${value}`;
    }
    const sourceIp = clientIp(req);
    const forwarded = headers['x-forwarded-for'];
    headers['x-forwarded-for'] = forwarded === undefined ? sourceIp : `${forwarded}, ${sourceIp}`;
    headers['x-forwarded-port'] = forwardedPort;
    headers['x-forwarded-proto'] = 'http';
    headers['x-amzn-trace-id'] ??= traceId(Date.now());

    const declared = headers['content-length'];
    let tooLarge = declared !== undefined && Number(declared) > MAX_REQUEST_BODY_BYTES;
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_REQUEST_BODY_BYTES) tooLarge = true;
      // Past the cap the rest is read and dropped, so the client can finish sending and read the 413.
      if (tooLarge) chunks.length = 0;
      else chunks.push(chunk);
    });
    req.on('error', () => res.destroy());
    req.on('end', () => {
      if (tooLarge) {
        sendError(res, requestId, 413, TOO_LARGE);
        return;
      }
      let body: Buffer | undefined;
      if (size > 0) {
        body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size);
        headers['content-length'] ??= String(size);
      }
      invoke(req, res, requestId, sourceIp, headers, cookies, body).catch((err: unknown) => {
        console.error(`[local-gateway] ${requestId}: unexpected failure:`, err);
        if (!res.headersSent) sendError(res, requestId, 500, INTERNAL_ERROR);
        else res.destroy();
      });
    });
  };

  const server = createServer(onRequest);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  localPort = (server.address() as AddressInfo).port;
  forwardedPort = String(localPort);
  const urlHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;

  let closed: Promise<void> | undefined;
  return {
    url: `http://${urlHost}:${localPort}`,
    port: localPort,
    close() {
      closed ??= new Promise<void>((resolve, reject) => {
        // In-flight responses now carry `Connection: close`, so their sockets end once they are answered.
        closing = true;
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeIdleConnections();
      });
      return closed;
    },
  };
};
