import { once } from 'node:events';
import type { ServerResponse } from 'node:http';
import { type AddressInfo, createServer as createTcpServer } from 'node:net';
import { beforeAll, describe, expect, it } from 'vitest';
import { createOpenAiProvider } from '#adapters/llm/openai.ts';
import { LlmError } from '#domain/llm.ts';
import { expectCallerAbort, expectTimeout, failureOf, llmRequest } from '../support/llm.ts';
import { replyJson, useStubServer } from '../support/stub-server.ts';

const completion = (content: string, usage = true) => ({
  id: 'chatcmpl-1',
  object: 'chat.completion',
  created: 1_700_000_000,
  model: 'stub',
  choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }],
  ...(usage && { usage: { prompt_tokens: 21, completion_tokens: 5, total_tokens: 26 } }),
});

const openAiError = (type: string, code: string) => ({
  error: { message: 'The model `gpt-x` does not exist or you do not have access to it.', type, code },
});

/**
 * A real HTTP server speaking the chat-completions protocol. The model name in each request
 * picks the scripted behaviour, so one server serves every case.
 */
const behaviours: Record<string, (res: ServerResponse) => void> = {
  'gpt-ok': (res) => replyJson(res, 200, completion('Hello from the stub')),
  'gpt-no-usage': (res) => replyJson(res, 200, completion('x'.repeat(40), false)),
  'gpt-no-choices': (res) => replyJson(res, 200, { ...completion(''), choices: [] }),
  'gpt-429': (res) =>
    replyJson(res, 429, openAiError('requests', 'rate_limit_exceeded'), { 'retry-after': '2' }),
  'gpt-429-date': (res) =>
    replyJson(res, 429, openAiError('requests', 'rate_limit_exceeded'), {
      'retry-after': new Date(Date.now() + 3_000).toUTCString(),
    }),
  'gpt-429-ms': (res) =>
    replyJson(res, 429, openAiError('tokens', 'rate_limit_exceeded'), {
      'retry-after-ms': '1500',
      'retry-after': '2',
    }),
  'gpt-503': (res) => replyJson(res, 503, { error: { message: 'overloaded', type: 'server_error' } }),
  'gpt-503-retry': (res) => replyJson(res, 503, { error: { message: 'overloaded' } }, { 'retry-after': '5' }),
  'gpt-500': (res) => replyJson(res, 500, {}),
  'gpt-408': (res) => replyJson(res, 408, {}),
  'gpt-400': (res) => replyJson(res, 400, openAiError('invalid_request_error', 'model_not_found')),
  'gpt-401': (res) => replyJson(res, 401, openAiError('invalid_request_error', 'invalid_api_key')),
  'gpt-404': (res) => replyJson(res, 404, {}),
  'gpt-redirect': (res) => {
    res.writeHead(307, { location: 'http://127.0.0.1:1/v1/chat/completions' });
    res.end();
  },
  'gpt-malformed': (res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end('{"choices": [ not json');
  },
  // Never answers; the client's deadline or abort has to end it.
  'gpt-hang': () => {},
};

const stub = useStubServer((res, request) => {
  const behave = behaviours[String((JSON.parse(request.body) as { model?: unknown }).model)];
  if (behave) behave(res);
  else replyJson(res, 404, openAiError('invalid_request_error', 'model_not_found'));
});
let baseUrl: string;
beforeAll(() => {
  // A trailing slash, as people write it, must not give `//chat/completions`.
  baseUrl = `${stub.origin}/v1/`;
});

const request = llmRequest('gpt-ok', 'Say hello.');

describe('openai provider: request and response', () => {
  it('posts the chat-completions request with the key, messages and settings', async () => {
    const openai = createOpenAiProvider({ baseUrl, apiKey: 'sk-test-123' });
    await openai.complete(request({ temperature: 0.3, maxTokens: 50 }));
    expect(stub.requests).toHaveLength(1);
    const [call] = stub.requests;
    expect(call).toMatchObject({
      method: 'POST',
      url: '/v1/chat/completions',
      headers: { authorization: 'Bearer sk-test-123', 'content-type': 'application/json' },
    });
    expect(JSON.parse(call!.body)).toEqual({
      model: 'gpt-ok',
      messages: [
        { role: 'system', content: 'You are terse.' },
        { role: 'user', content: 'Say hello.' },
      ],
      temperature: 0.3,
      max_tokens: 50,
    });
  });

  it('sends object input as JSON text, and no unset settings or missing key', async () => {
    const openai = createOpenAiProvider({ baseUrl });
    await openai.complete(request({ input: { ticket: 7, text: 'hi' } }));
    const [call] = stub.requests;
    expect(call!.headers['authorization']).toBeUndefined();
    expect(JSON.parse(call!.body)).toEqual({
      model: 'gpt-ok',
      messages: [
        { role: 'system', content: 'You are terse.' },
        { role: 'user', content: '{"ticket":7,"text":"hi"}' },
      ],
    });
  });

  it('asks a key getter on every call, so a rotated key is used once its source has it', async () => {
    const keys = ['sk-old', 'sk-new'];
    const openai = createOpenAiProvider({ baseUrl, apiKey: async () => keys.shift()! });
    await openai.complete(request());
    await openai.complete(request());
    expect(stub.requests.map((r) => r.headers['authorization'])).toEqual(['Bearer sk-old', 'Bearer sk-new']);
  });

  it('reports a failing key getter as a retryable failure without calling the server', async () => {
    const openai = createOpenAiProvider({
      baseUrl,
      apiKey: () => Promise.reject(new Error('secrets manager unreachable')),
    });
    const error = await failureOf(openai.complete(request()));
    expect(error).toMatchObject({ retryable: true, message: 'openai: API key unavailable' });
    expect(stub.requests).toHaveLength(0);
  });

  it('returns the first choice’s content and the usage token counts', async () => {
    const result = await createOpenAiProvider({ baseUrl }).complete(request());
    expect(result).toEqual({
      output: 'Hello from the stub',
      inputTokens: 21,
      outputTokens: 5,
      provider: 'openai',
      model: 'gpt-ok',
    });
  });

  it('estimates tokens when the server reports no usage', async () => {
    const result = await createOpenAiProvider({ baseUrl }).complete(request({ model: 'gpt-no-usage' }));
    expect(result.outputTokens).toBe(10);
    expect(result.inputTokens).toBeGreaterThan(0);
  });

  it('uses an injected fetch', async () => {
    const urls: string[] = [];
    const counting: typeof fetch = (input, init) => {
      urls.push(String(input));
      return fetch(input, init);
    };
    await createOpenAiProvider({ baseUrl, fetch: counting }).complete(request());
    expect(urls).toEqual([`${baseUrl}chat/completions`]);
  });
});

describe('openai provider: error mapping', () => {
  const cases: [model: string, status: number, retryable: boolean][] = [
    ['gpt-429', 429, true],
    ['gpt-503', 503, true],
    ['gpt-500', 500, true],
    ['gpt-408', 408, true],
    ['gpt-400', 400, false],
    ['gpt-401', 401, false],
    ['gpt-404', 404, false],
    ['gpt-redirect', 307, false],
  ];

  it.each(cases)('%s → HTTP %i, retryable: %s', async (model, status, retryable) => {
    const error = await failureOf(createOpenAiProvider({ baseUrl }).complete(request({ model })));
    expect(error).toBeInstanceOf(LlmError);
    expect(error).toMatchObject({ provider: 'openai', retryable, options: { status } });
  });

  it('names the error by its type and code only: no body prose, no key', async () => {
    const openai = createOpenAiProvider({ baseUrl, apiKey: 'sk-secret-value' });
    const error = (await failureOf(openai.complete(request({ model: 'gpt-401' })))) as LlmError;
    expect(error.message).toBe('openai: HTTP 401 (invalid_request_error/invalid_api_key)');
    expect(JSON.stringify({ message: error.message, options: error.options })).not.toMatch(
      /sk-secret|model `/,
    );
  });

  it('takes retryAfterMs from Retry-After in seconds', async () => {
    const error = await failureOf(createOpenAiProvider({ baseUrl }).complete(request({ model: 'gpt-429' })));
    expect(error).toMatchObject({ retryable: true, options: { status: 429, retryAfterMs: 2_000 } });
  });

  it('takes retryAfterMs from Retry-After as an HTTP date', async () => {
    const error = (await failureOf(
      createOpenAiProvider({ baseUrl }).complete(request({ model: 'gpt-429-date' })),
    )) as LlmError;
    // The date has whole seconds: 3 s ahead is 2–3 s away by the time it is read.
    expect(error.options.retryAfterMs).toBeGreaterThanOrEqual(1_000);
    expect(error.options.retryAfterMs).toBeLessThanOrEqual(3_000);
  });

  it('prefers retry-after-ms, and honours Retry-After on a 503 too', async () => {
    const openai = createOpenAiProvider({ baseUrl });
    const throttled = await failureOf(openai.complete(request({ model: 'gpt-429-ms' })));
    expect(throttled).toMatchObject({ options: { retryAfterMs: 1_500 } });
    const unavailable = await failureOf(openai.complete(request({ model: 'gpt-503-retry' })));
    expect(unavailable).toMatchObject({ retryable: true, options: { status: 503, retryAfterMs: 5_000 } });
    const plain = (await failureOf(openai.complete(request({ model: 'gpt-503' })))) as LlmError;
    expect(plain.options.retryAfterMs).toBeUndefined();
  });

  it('treats a body that is not JSON, or has no choice, as a retryable failure', async () => {
    const openai = createOpenAiProvider({ baseUrl });
    const malformed = await failureOf(openai.complete(request({ model: 'gpt-malformed' })));
    expect(malformed).toMatchObject({ retryable: true, message: 'openai: response is not JSON' });
    const empty = await failureOf(openai.complete(request({ model: 'gpt-no-choices' })));
    expect(empty).toMatchObject({ retryable: true, provider: 'openai' });
  });

  it('treats a refused connection as retryable', async () => {
    const closed = createTcpServer().listen(0, '127.0.0.1');
    await once(closed, 'listening');
    const { port } = closed.address() as AddressInfo;
    closed.close();
    await once(closed, 'close');
    const openai = createOpenAiProvider({ baseUrl: `http://127.0.0.1:${port}/v1` });
    const error = await failureOf(openai.complete(request()));
    expect(error).toBeInstanceOf(LlmError);
    expect(error).toMatchObject({ retryable: true, message: 'openai: request failed (ECONNREFUSED)' });
  });
});

describe('openai provider: deadline, abort, connections', () => {
  it('gives up at timeoutMs with a retryable timeout', async () => {
    await expectTimeout(
      'openai',
      300,
      (timeoutMs) => createOpenAiProvider({ baseUrl }).complete(request({ model: 'gpt-hang', timeoutMs })),
      { earliestMs: 250, latestMs: 3_000 },
    );
  });

  it('surfaces the caller’s abort as the signal’s AbortError, not as a timeout', async () => {
    await expectCallerAbort(
      50,
      (signal) =>
        createOpenAiProvider({ baseUrl }).complete(request({ model: 'gpt-hang', timeoutMs: 10_000, signal })),
      3_000,
    );
  });

  // Back-to-back calls may find the last socket not yet released and open a second one (undici
  // frees it a tick after the body ends), so the bound is two connections, not one per call.
  it('keeps connections alive across calls', async () => {
    const openai = createOpenAiProvider({ baseUrl });
    const before = stub.connections;
    for (let i = 0; i < 6; i++) await openai.complete(request());
    // Success and error responses alike return the socket to the pool.
    await failureOf(openai.complete(request({ model: 'gpt-400' })));
    for (let i = 0; i < 3; i++) await openai.complete(request());
    expect(stub.requests).toHaveLength(10);
    // The global pool may still hold sockets from earlier cases; count only new connections.
    expect(stub.connections - before).toBeLessThanOrEqual(2);
  });

  it('bounds the connect phase with connectTimeoutMs, well before timeoutMs', async () => {
    // Accepts TCP but never answers the TLS handshake: the connection is never established.
    const silent = createTcpServer(() => {}).listen(0, '127.0.0.1');
    await once(silent, 'listening');
    const { port } = silent.address() as AddressInfo;
    try {
      const openai = createOpenAiProvider({ baseUrl: `https://127.0.0.1:${port}/v1`, connectTimeoutMs: 200 });
      const started = performance.now();
      const error = await failureOf(openai.complete(request({ timeoutMs: 20_000 })));
      expect(error).toBeInstanceOf(LlmError);
      expect(error).toMatchObject({
        retryable: true,
        message: 'openai: request failed (UND_ERR_CONNECT_TIMEOUT)',
      });
      expect(performance.now() - started).toBeLessThan(5_000);
    } finally {
      silent.close();
    }
  });

  it('answers through the connect-bounded client, which has its own pool, kept alive too', async () => {
    const openai = createOpenAiProvider({ baseUrl, connectTimeoutMs: 1_000 });
    const before = stub.connections;
    for (let i = 0; i < 8; i++) expect((await openai.complete(request())).output).toBe('Hello from the stub');
    expect(new Set(stub.requests.map((r) => r.connection)).size).toBeLessThanOrEqual(2);
    expect(stub.connections - before).toBeLessThanOrEqual(2);
  });
});
