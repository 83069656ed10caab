import { Agent, request as httpRequest } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import { afterAll, afterEach, beforeAll, describe, expect, it, type MockInstance, vi } from 'vitest';
import { createRouteTable } from '#http/route-table.ts';
import type { FunctionName, RouteDef } from '#manifest';
import {
  type ApiHandler,
  type LocalGateway,
  MAX_REQUEST_BODY_BYTES,
  type RequestLogEntry,
  startLocalGateway,
} from '../../bin/local-runtime/gateway.ts';

const route = (method: RouteDef['method'], path: string, fn: FunctionName): RouteDef => ({
  method,
  path,
  function: fn,
  auth: 'none',
  summary: 'test route',
});

const testRoutes: RouteDef[] = [
  route('GET', '/echo/{id}', 'agents'),
  route('POST', '/echo', 'agents'),
  route('GET', '/echo', 'agents'),
  route('GET', '/result/{mode}', 'openapi'),
  route('POST', '/result/{mode}', 'openapi'),
  route('GET', '/lazy', 'health'),
];

interface Echo {
  event: APIGatewayProxyEventV2;
  context: Omit<Context, 'getRemainingTimeInMillis' | 'done' | 'fail' | 'succeed'> & { remainingMs: number };
}

const echo: ApiHandler = async (event, context) => ({
  statusCode: 200,
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify({ event, context: { ...context, remainingMs: context.getRemainingTimeInMillis() } }),
});

// Returns whatever shape the path asks for; typed loosely because invalid shapes are the point.
const results = (async (event: APIGatewayProxyEventV2) => {
  switch (event.pathParameters?.['mode']) {
    case 'cookies':
      return {
        statusCode: 201,
        headers: { 'x-count': 3, 'x-flag': true },
        cookies: ['a=1; Path=/', 'b=2; HttpOnly'],
        body: 'made',
      };
    case 'binary':
      return {
        statusCode: 200,
        headers: { 'content-type': 'image/png' },
        isBase64Encoded: true,
        body: Buffer.from([0, 1, 2, 254, 255]).toString('base64'),
      };
    case 'size':
      return { statusCode: 200, body: String(Buffer.from(event.body ?? '', 'base64').length) };
    case 'big':
      return { statusCode: 200, body: 'a'.repeat(6 * 1024 * 1024 + 1) };
    case 'string':
      return 'hello';
    case 'object':
      return { body: 'not a structured result', ok: true };
    case 'untyped':
      return { statusCode: 200, body: 'plain' };
    case 'no-content':
      return { statusCode: 204, headers: { 'x-done': 'yes' } };
    case 'throw':
      throw new Error('boom');
    case 'bad-status':
      return { statusCode: 'teapot', body: 'x' };
    case 'bad-body':
      return { statusCode: 200, body: { not: 'a string' } };
    case 'bad-header':
      return { statusCode: 200, headers: { 'x-bad': 'line\nbreak' }, body: 'x' };
    default:
      return { statusCode: 400, body: 'unknown mode' };
  }
}) as unknown as ApiHandler;

// The fallback uses the shared route table to decide 404 vs 405, as the deployed one will.
const fallbackTable = createRouteTable(testRoutes);
const fallback: ApiHandler = async (event, context) => {
  if (event.rawPath === '/hang') return new Promise(() => {});
  const match = fallbackTable.match(event.requestContext.http.method, event.rawPath);
  const statusCode = match.kind === 'method-not-allowed' ? 405 : 404;
  return {
    statusCode,
    headers: {
      'content-type': 'application/json',
      ...(match.kind === 'method-not-allowed' ? { allow: match.allow.join(', ') } : {}),
    },
    body: JSON.stringify({
      routeKey: event.routeKey,
      pathParameters: event.pathParameters ?? null,
      fn: context.functionName,
    }),
  };
};

const handlers: Partial<Record<FunctionName, ApiHandler>> = {
  agents: echo,
  openapi: results,
  health: async () => ({ statusCode: 200, body: 'ok' }),
  fallback,
};

/** Starts a gateway whose resolveHandler counts calls per function. */
const start = async (resolveDelayMs = 0) => {
  const resolved = new Map<FunctionName, number>();
  const invoked = new Map<FunctionName, number>();
  const logs: RequestLogEntry[] = [];
  const gateway = await startLocalGateway({
    port: 0,
    stage: 'test',
    routes: testRoutes,
    onRequestLog: (entry) => logs.push(entry),
    resolveHandler: async (fn) => {
      resolved.set(fn, (resolved.get(fn) ?? 0) + 1);
      if (resolveDelayMs > 0) await sleep(resolveDelayMs);
      const handler = handlers[fn];
      if (!handler) throw new Error(`no handler for ${fn}`);
      return (event, context) => {
        invoked.set(fn, (invoked.get(fn) ?? 0) + 1);
        return handler(event, context);
      };
    },
  });
  return { gateway, resolved, invoked, logs };
};

/** Raw node:http request, for things fetch normalises away (repeated header lines). */
const rawRequest = (
  url: string,
  opts: { method?: string; headers?: Record<string, string | string[]>; agent?: Agent; body?: Buffer },
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }> =>
  new Promise((resolve, reject) => {
    const req = httpRequest(
      url,
      { method: opts.method ?? 'GET', headers: opts.headers, agent: opts.agent },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(opts.body);
  });

const echoOf = async (res: Response): Promise<Echo> => {
  expect(res.status).toBe(200);
  return (await res.json()) as Echo;
};

describe('local API Gateway (HTTP API, payload 2.0)', () => {
  let gw: LocalGateway;
  let resolved: Map<FunctionName, number>;
  let invoked: Map<FunctionName, number>;
  let logs: RequestLogEntry[];
  let errors: MockInstance<typeof console.error>;

  beforeAll(async () => {
    errors = vi.spyOn(console, 'error').mockImplementation(() => {});
    ({ gateway: gw, resolved, invoked, logs } = await start());
  });
  afterEach(() => errors.mockClear());
  afterAll(async () => {
    await gw?.close();
    errors.mockRestore();
  });

  it('listens on the real port when asked for port 0', () => {
    expect(gw.port).toBeGreaterThan(0);
    expect(gw.url).toBe(`http://127.0.0.1:${gw.port}`);
  });

  it('builds the payload 2.0 event for a parameterised route', async () => {
    const res = await fetch(`${gw.url}/echo/a%20b%2Fc?x=1&x=2&y=hello+world&z&e=%E2%9C%93`, {
      headers: { 'X-Custom-Header': 'Value', Cookie: 'session=abc; theme=dark', 'User-Agent': 'gw-test/1.0' },
    });
    const { event, context } = await echoOf(res);

    expect(event).toMatchObject({
      version: '2.0',
      routeKey: 'GET /echo/{id}',
      rawPath: '/echo/a%20b%2Fc',
      rawQueryString: 'x=1&x=2&y=hello+world&z&e=%E2%9C%93',
      cookies: ['session=abc', 'theme=dark'],
      pathParameters: { id: 'a b/c' },
      queryStringParameters: { x: '1,2', y: 'hello world', z: '', e: '✓' },
      isBase64Encoded: false,
    });
    expect(event.body).toBeUndefined();
    expect(event.headers['x-custom-header']).toBe('Value');
    expect(event.headers['host']).toBe(`127.0.0.1:${gw.port}`);
    expect(event.headers['x-forwarded-for']).toBe('127.0.0.1');
    expect(event.headers['x-forwarded-port']).toBe(String(gw.port));
    expect(event.headers['x-forwarded-proto']).toBe('http');
    expect(event.headers['x-amzn-trace-id']).toMatch(/^Root=1-[0-9a-f]{8}-[0-9a-f]{24}$/);
    expect(event.headers).not.toHaveProperty('cookie');
    expect(event.headers).not.toHaveProperty('connection');
    for (const name of Object.keys(event.headers)) expect(name).toBe(name.toLowerCase());

    const rc = event.requestContext;
    expect(rc).toMatchObject({
      accountId: '123456789012',
      apiId: 'local',
      domainName: '127.0.0.1',
      domainPrefix: '127',
      http: {
        method: 'GET',
        path: '/echo/a%20b%2Fc',
        protocol: 'HTTP/1.1',
        sourceIp: '127.0.0.1',
        userAgent: 'gw-test/1.0',
      },
      routeKey: 'GET /echo/{id}',
      stage: '$default',
    });
    expect(rc.requestId).toMatch(/^[A-Za-z0-9+/]{15}=$/);
    expect(res.headers.get('apigw-requestid')).toBe(rc.requestId);
    expect(rc.time).toMatch(/^\d{2}\/[A-Z][a-z]{2}\/\d{4}:\d{2}:\d{2}:\d{2} \+0000$/);
    expect(Math.abs(rc.timeEpoch - Date.now())).toBeLessThan(5_000);

    expect(context).toMatchObject({
      functionName: 'switchyard-test-agents',
      functionVersion: '$LATEST',
      invokedFunctionArn: expect.stringMatching(
        /^arn:aws:lambda:[a-z0-9-]+:123456789012:function:switchyard-test-agents$/,
      ),
      memoryLimitInMB: '512',
      logGroupName: '/aws/lambda/switchyard-test-agents',
      callbackWaitsForEmptyEventLoop: true,
    });
    expect(context.awsRequestId).toMatch(
      /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
    );
    expect(context.logStreamName).toMatch(/^\d{4}\/\d{2}\/\d{2}\/\[\$LATEST\][0-9a-f]{32}$/);
    // agents has a 10 s timeout in the manifest.
    expect(context.remainingMs).toBeGreaterThan(9_000);
    expect(context.remainingMs).toBeLessThanOrEqual(10_000);
  });

  it('omits queryStringParameters, pathParameters and cookies when there are none', async () => {
    const { event } = await echoOf(await fetch(`${gw.url}/echo`));
    expect(event.routeKey).toBe('GET /echo');
    expect(event.rawQueryString).toBe('');
    expect(event).not.toHaveProperty('queryStringParameters');
    expect(event).not.toHaveProperty('pathParameters');
    expect(event).not.toHaveProperty('cookies');
    expect(event).not.toHaveProperty('body');
  });

  it('joins repeated header lines with commas', async () => {
    const res = await rawRequest(`${gw.url}/echo`, {
      headers: { 'X-Multi': ['one', 'two'], 'X-Forwarded-For': '203.0.113.9' },
    });
    const { event } = JSON.parse(res.body.toString()) as Echo;
    expect(event.headers['x-multi']).toBe('one,two');
    expect(event.headers['x-forwarded-for']).toBe('203.0.113.9, 127.0.0.1');
  });

  it('passes JSON and other text bodies as text', async () => {
    const json = JSON.stringify({ name: 'ünï', n: 1 });
    const a = await echoOf(
      await fetch(`${gw.url}/echo`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: json,
      }),
    );
    expect(a.event.routeKey).toBe('POST /echo');
    expect(a.event.body).toBe(json);
    expect(a.event.isBase64Encoded).toBe(false);
    expect(a.event.headers['content-length']).toBe(String(Buffer.byteLength(json)));

    for (const type of [
      'application/vnd.api+json',
      'text/csv; charset=utf-8',
      'application/x-www-form-urlencoded',
    ]) {
      const { event } = await echoOf(
        await fetch(`${gw.url}/echo`, {
          method: 'POST',
          headers: { 'content-type': type },
          body: 'a=1&b=é',
        }),
      );
      expect(event.body, type).toBe('a=1&b=é');
      expect(event.isBase64Encoded, type).toBe(false);
    }
  });

  it('base64-encodes binary bodies', async () => {
    const bytes = Buffer.from([0, 159, 146, 150, 255, 10]);
    const { event } = await echoOf(
      await fetch(`${gw.url}/echo`, {
        method: 'POST',
        headers: { 'content-type': 'application/octet-stream' },
        body: bytes,
      }),
    );
    expect(event.isBase64Encoded).toBe(true);
    expect(event.body).toBe(bytes.toString('base64'));
  });

  it('leaves body undefined for an empty POST', async () => {
    const { event } = await echoOf(await fetch(`${gw.url}/echo`, { method: 'POST' }));
    expect(event).not.toHaveProperty('body');
    expect(event.isBase64Encoded).toBe(false);
  });

  it('sends unmatched paths to the fallback as $default', async () => {
    const res = await fetch(`${gw.url}/nope/x?y=1`);
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({
      routeKey: '$default',
      pathParameters: null,
      fn: 'switchyard-test-fallback',
    });
  });

  it('sends method mismatches to the fallback, which answers 405 with Allow', async () => {
    const res = await fetch(`${gw.url}/echo`, { method: 'DELETE' });
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe('GET, POST');
    expect(((await res.json()) as { routeKey: string }).routeKey).toBe('$default');
  });

  it('does not normalise a trailing slash', async () => {
    const res = await fetch(`${gw.url}/echo/`);
    expect(res.status).toBe(404);
  });

  it('turns result cookies into one Set-Cookie header each', async () => {
    const res = await fetch(`${gw.url}/result/cookies`);
    expect(res.status).toBe(201);
    expect(res.headers.getSetCookie()).toEqual(['a=1; Path=/', 'b=2; HttpOnly']);
    expect(res.headers.get('x-count')).toBe('3');
    expect(res.headers.get('x-flag')).toBe('true');
    expect(res.headers.get('content-length')).toBe('4');
    expect(await res.text()).toBe('made');
  });

  it('decodes base64 response bodies to bytes', async () => {
    const res = await fetch(`${gw.url}/result/binary`);
    expect(res.headers.get('content-type')).toBe('image/png');
    expect(res.headers.get('content-length')).toBe('5');
    expect(Buffer.from(await res.arrayBuffer())).toEqual(Buffer.from([0, 1, 2, 254, 255]));
  });

  it('treats a string result as a JSON 200', async () => {
    const res = await fetch(`${gw.url}/result/string`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/json');
    expect(await res.text()).toBe('"hello"');
  });

  it('treats an object without statusCode as the JSON body of a 200', async () => {
    const res = await fetch(`${gw.url}/result/object`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/json');
    expect(await res.json()).toEqual({ body: 'not a structured result', ok: true });
  });

  it('labels a structured body without content-type as text/plain', async () => {
    const res = await fetch(`${gw.url}/result/untyped`);
    expect(res.headers.get('content-type')).toBe('text/plain; charset=utf-8');
    expect(await res.text()).toBe('plain');
  });

  it('sends 204 without body or Content-Length', async () => {
    const res = await fetch(`${gw.url}/result/no-content`);
    expect(res.status).toBe(204);
    expect(res.headers.get('x-done')).toBe('yes');
    expect(res.headers.get('content-length')).toBeNull();
    expect(await res.text()).toBe('');
  });

  it.each(['throw', 'bad-status', 'bad-body', 'bad-header'])(
    'answers 500 when the handler does %s',
    async (mode) => {
      const res = await fetch(`${gw.url}/result/${mode}`);
      expect(res.status).toBe(500);
      expect(res.headers.get('content-type')).toBe('application/json');
      expect(await res.text()).toBe('{"message":"Internal Server Error"}');
      expect(errors).toHaveBeenCalledTimes(1);
      expect(String(errors.mock.calls[0]?.[0])).toContain('switchyard-test-openapi');
    },
  );

  it('rejects a declared body over 10 MB with 413 without invoking the handler', async () => {
    const before = invoked.get('agents') ?? 0;
    const res = await fetch(`${gw.url}/echo`, {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream' },
      body: Buffer.alloc(MAX_REQUEST_BODY_BYTES + 1),
    });
    expect(res.status).toBe(413);
    expect(await res.text()).toBe('{"message":"Request Entity Too Large"}');
    expect(invoked.get('agents') ?? 0).toBe(before);
  });

  it('rejects a chunked body that grows over 10 MB', async () => {
    const before = invoked.get('agents') ?? 0;
    const chunk = new Uint8Array(1024 * 1024);
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < 11; i++) controller.enqueue(chunk);
        controller.close();
      },
    });
    const res = await fetch(`${gw.url}/echo`, {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream' },
      body,
      duplex: 'half',
    } as RequestInit);
    expect(res.status).toBe(413);
    expect(invoked.get('agents') ?? 0).toBe(before);
  });

  it('accepts a body of exactly 10 MB', async () => {
    const res = await fetch(`${gw.url}/result/size`, {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream' },
      body: Buffer.alloc(MAX_REQUEST_BODY_BYTES),
    });
    expect(res.status).toBe(200);
    expect(await res.text()).toBe(String(MAX_REQUEST_BODY_BYTES));
  });

  it("answers 500 for a response over Lambda's 6 MB payload limit", async () => {
    const res = await fetch(`${gw.url}/result/big`);
    expect(res.status).toBe(500);
    expect(await res.text()).toBe('{"message":"Internal Server Error"}');
    expect(errors).toHaveBeenCalledTimes(1);
    expect(String(errors.mock.calls[0]?.[1])).toContain('6 MB');
  });

  it('resolves each function once and reuses it', () => {
    expect(resolved.get('agents')).toBe(1);
    expect(resolved.get('openapi')).toBe(1);
    expect(resolved.has('health')).toBe(false);
  });

  it('reports every request to onRequestLog', async () => {
    logs.length = 0;
    const res = await fetch(`${gw.url}/echo/x?q=1`);
    await res.arrayBuffer();
    await vi.waitFor(() => expect(logs).toHaveLength(1));
    expect(logs[0]).toMatchObject({ method: 'GET', path: '/echo/x', status: 200 });
    expect(logs[0]?.requestId).toBe(res.headers.get('apigw-requestid'));
    expect(logs[0]?.ms).toBeGreaterThanOrEqual(0);
  });
});

describe('local API Gateway lifecycle', () => {
  let errors: MockInstance<typeof console.error>;
  beforeAll(() => {
    errors = vi.spyOn(console, 'error').mockImplementation(() => {});
  });
  afterAll(() => errors.mockRestore());

  it('imports a handler once for concurrent first requests', async () => {
    const { gateway, resolved } = await start(50);
    try {
      const responses = await Promise.all(Array.from({ length: 5 }, () => fetch(`${gateway.url}/lazy`)));
      for (const res of responses) expect(await res.text()).toBe('ok');
      expect(resolved.get('health')).toBe(1);
    } finally {
      await gateway.close();
    }
  });

  it('retries a handler whose resolution failed', async () => {
    const { gateway, resolved } = await start();
    const saved = handlers.health;
    try {
      delete handlers.health;
      expect((await fetch(`${gateway.url}/lazy`)).status).toBe(500);
      handlers.health = saved;
      const res = await fetch(`${gateway.url}/lazy`);
      expect(await res.text()).toBe('ok');
      expect(resolved.get('health')).toBe(2);
    } finally {
      handlers.health = saved;
      await gateway.close();
    }
  });

  it('answers 500 when a handler outlives its Lambda timeout', async () => {
    const { gateway } = await start();
    try {
      const started = Date.now();
      const res = await fetch(`${gateway.url}/hang`);
      // The fallback function has a 3 s timeout in the manifest.
      expect(res.status).toBe(500);
      expect(Date.now() - started).toBeGreaterThanOrEqual(2_900);
      expect(errors.mock.calls.some((call) => String(call[1]).includes('timed out after 3 seconds'))).toBe(
        true,
      );
    } finally {
      await gateway.close();
    }
  });

  it('close() finishes in-flight requests and drops idle keep-alive sockets promptly', async () => {
    const slow: ApiHandler = async () => {
      await sleep(300);
      return { statusCode: 200, body: 'slow done' };
    };
    const saved = handlers.health;
    handlers.health = slow;
    const { gateway } = await start();
    const agent = new Agent({ keepAlive: true });
    try {
      // Leave one idle keep-alive socket connected.
      const first = await rawRequest(`${gateway.url}/echo`, { agent });
      expect(first.status).toBe(200);
      expect(first.headers['connection']).toBe('keep-alive');

      const inFlight = fetch(`${gateway.url}/lazy`);
      await sleep(50);
      const started = Date.now();
      const closed = gateway.close();

      const res = await inFlight;
      expect(res.status).toBe(200);
      expect(res.headers.get('connection')).toBe('close');
      expect(await res.text()).toBe('slow done');
      await closed;
      // Well under the 5 s keep-alive timeout: idle sockets were closed, not waited out.
      expect(Date.now() - started).toBeLessThan(2_000);
      await expect(fetch(`${gateway.url}/echo`)).rejects.toThrow();
    } finally {
      handlers.health = saved;
      agent.destroy();
    }
  });
});
