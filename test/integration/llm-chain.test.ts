import type { ServerResponse } from 'node:http';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { type ChainResult, completeWithFallback, LlmChainError } from '#adapters/llm/chain.ts';
import { createLocalProvider, localFailureModels } from '#adapters/llm/local.ts';
import { createOpenAiProvider } from '#adapters/llm/openai.ts';
import { providerFor, resetProviders } from '#adapters/llm/registry.ts';
import {
  LlmError,
  type LlmProvider,
  type LlmRequest,
  type ProviderName,
  type ProviderTarget,
} from '#domain/llm.ts';
import { failureOf } from '../support/llm.ts';
import { replyJson, useStubServer } from '../support/stub-server.ts';

// The registry reads an API key from Secrets Manager through Powertools; no AWS here.
const getSecret = vi.hoisted(() => vi.fn());
vi.mock('@aws-lambda-powertools/parameters/secrets', () => ({ getSecret }));

/** A real OpenAI-protocol server; the model name picks what it does. */
const answers: Record<string, (res: ServerResponse) => void> = {
  'gpt-ok': (res) =>
    replyJson(res, 200, {
      choices: [
        { index: 0, message: { role: 'assistant', content: 'primary answer' }, finish_reason: 'stop' },
      ],
      usage: { prompt_tokens: 9, completion_tokens: 2, total_tokens: 11 },
    }),
  'gpt-429': (res) => replyJson(res, 429, { error: { type: 'requests' } }, { 'retry-after': '2' }),
  'gpt-503': (res) => replyJson(res, 503, { error: { type: 'server_error' } }, { 'retry-after': '5' }),
  'gpt-500': (res) => replyJson(res, 500, {}),
  'gpt-400': (res) =>
    replyJson(res, 400, { error: { type: 'invalid_request_error', code: 'model_not_found' } }),
  'gpt-hang': () => {},
};

const stub = useStubServer((res, request) => {
  const { model } = JSON.parse(request.body) as { model: string };
  (answers[model] ?? ((r: ServerResponse) => replyJson(r, 404, {})))(res);
});
let baseUrl: string;
beforeAll(() => {
  baseUrl = `${stub.origin}/v1`;
});

/** Providers for the chain: the stub server as `openai`, a local provider with some latency. */
const providers = (localLatencyMs = 0) => {
  const calls: ProviderName[] = [];
  const byName: Partial<Record<ProviderName, LlmProvider>> = {
    openai: createOpenAiProvider({ baseUrl, apiKey: 'sk-chain' }),
    local: createLocalProvider({ latencyMs: localLatencyMs }),
  };
  const lookup = (name: ProviderName): LlmProvider => {
    calls.push(name);
    return byName[name]!;
  };
  return { lookup, calls };
};

const request: Omit<LlmRequest, 'model' | 'timeoutMs'> = {
  systemPrompt: 'You are terse.',
  input: 'Classify this ticket.',
};

const openai = (model: string, timeoutMs = 2_000): ProviderTarget => ({
  provider: 'openai',
  model,
  timeoutMs,
});
const local = (model = 'local-echo', timeoutMs = 2_000): ProviderTarget => ({
  provider: 'local',
  model,
  timeoutMs,
});

describe('completeWithFallback', () => {
  it('answers from the primary when it succeeds, trying nothing else', async () => {
    const { lookup, calls } = providers();
    const result = await completeWithFallback([openai('gpt-ok'), local()], request, lookup);
    expect(result).toMatchObject({ output: 'primary answer', provider: 'openai', model: 'gpt-ok' });
    expect(result.attempts).toEqual([{ provider: 'openai', model: 'gpt-ok', ms: expect.any(Number) }]);
    expect(calls).toEqual(['openai']);
  });

  it.each([
    ['gpt-429', 'openai: HTTP 429 (requests)'],
    ['gpt-503', 'openai: HTTP 503 (server_error)'],
    ['gpt-500', 'openai: HTTP 500'],
  ])('falls back to the local provider when the primary answers %s', async (model, error) => {
    const { lookup } = providers();
    const result = await completeWithFallback([openai(model), local()], request, lookup);
    expect(result.provider).toBe('local');
    expect(result.model).toBe('local-echo');
    expect(result.output).toMatch(/^\[local:local-echo\] /);
    expect(result.attempts).toEqual([
      { provider: 'openai', model, error, ms: expect.any(Number) },
      { provider: 'local', model: 'local-echo', ms: expect.any(Number) },
    ]);
    expect(stub.requests.map((r) => r.headers['authorization'])).toEqual(['Bearer sk-chain']);
  });

  it('gives each target its own timeout: a hung primary is cut at 200 ms, the fallback has 2 s', async () => {
    // The fallback needs 300 ms: more than the primary's 200 ms timeout, within its own 2 s.
    const { lookup } = providers(300);
    const result = await completeWithFallback(
      [openai('gpt-hang', 200), local('local-echo', 2_000)],
      request,
      lookup,
    );
    expect(result.provider).toBe('local');
    const [primary, fallback] = result.attempts;
    expect(primary).toMatchObject({ provider: 'openai', error: 'openai: timed out after 200 ms' });
    expect(primary!.ms).toBeGreaterThanOrEqual(150);
    expect(primary!.ms).toBeLessThan(2_000);
    expect(fallback!.error).toBeUndefined();
    expect(fallback!.ms).toBeGreaterThanOrEqual(280);
  });

  it('does not fall back on a 400: the chain stops at once with a non-retryable error', async () => {
    const { lookup, calls } = providers();
    const error = await failureOf(completeWithFallback([openai('gpt-400'), local()], request, lookup));
    expect(error).toBeInstanceOf(LlmError);
    expect(error).toBeInstanceOf(LlmChainError);
    expect(error).toMatchObject({
      provider: 'openai',
      retryable: false,
      message: 'openai: HTTP 400 (invalid_request_error/model_not_found)',
      options: { status: 400 },
    });
    expect((error as LlmChainError).attempts).toHaveLength(1);
    expect(calls).toEqual(['openai']);
  });

  it('when all fail, throws the last error, retryable, with the longest retryAfterMs', async () => {
    const { lookup } = providers();
    const error = await failureOf(
      completeWithFallback(
        [openai('gpt-429'), openai('gpt-503'), local(localFailureModels.retryable)],
        request,
        lookup,
      ),
    );
    expect(error).toBeInstanceOf(LlmChainError);
    expect(error).toMatchObject({
      provider: 'local',
      retryable: true,
      message: 'local: simulated 503 Service Unavailable',
      // 429 asked for 2 s, 503 for 5 s, the local failure for nothing: wait 5 s.
      options: { status: 503, retryAfterMs: 5_000 },
    });
    expect((error as LlmChainError).attempts.map((a) => [a.provider, a.model, a.error])).toEqual([
      ['openai', 'gpt-429', 'openai: HTTP 429 (requests)'],
      ['openai', 'gpt-503', 'openai: HTTP 503 (server_error)'],
      ['local', localFailureModels.retryable, 'local: simulated 503 Service Unavailable'],
    ]);
  });

  it('stays retryable when a busy primary is followed by a misconfigured fallback', async () => {
    const { lookup } = providers();
    const error = await failureOf(
      completeWithFallback([openai('gpt-429'), local(localFailureModels.fatal)], request, lookup),
    );
    expect(error).toMatchObject({
      provider: 'local',
      retryable: true,
      options: { status: 400, retryAfterMs: 2_000 },
    });
  });

  it('stops everything when the caller aborts, with the abort, not a provider error', async () => {
    const { lookup, calls } = providers();
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 50);
    const started = performance.now();
    const error = await failureOf(
      completeWithFallback(
        [openai('gpt-hang', 10_000), local()],
        { ...request, signal: controller.signal },
        lookup,
      ),
    );
    expect(error).toBe(controller.signal.reason);
    expect(error).toMatchObject({ name: 'AbortError' });
    expect(calls).toEqual(['openai']);
    expect(performance.now() - started).toBeLessThan(3_000);
  });

  it('lets errors that are not provider failures through unchanged', async () => {
    const bug = new TypeError('provider exploded');
    const broken: LlmProvider = { name: 'local', complete: () => Promise.reject(bug) };
    const error = await failureOf(completeWithFallback([local(), openai('gpt-ok')], request, () => broken));
    expect(error).toBe(bug);
  });

  it('refuses an empty chain', async () => {
    const error = await failureOf(completeWithFallback([], request, providers().lookup));
    expect(error).toBeInstanceOf(TypeError);
  });
});

describe('provider registry', () => {
  afterEach(() => {
    vi.unstubAllEnvs();
    resetProviders();
    getSecret.mockReset();
  });

  const chainWithRegistry = (model: string): Promise<ChainResult> =>
    completeWithFallback([openai(model), local()], request, providerFor);

  it('builds openai from OPENAI_BASE_URL and OPENAI_API_KEY, once per container', async () => {
    vi.stubEnv('OPENAI_BASE_URL', baseUrl);
    vi.stubEnv('OPENAI_API_KEY', 'sk-env');
    const first = await providerFor('openai');
    expect(await providerFor('openai')).toBe(first);
    const result = await chainWithRegistry('gpt-ok');
    expect(result.provider).toBe('openai');
    expect(stub.requests[0]!.headers['authorization']).toBe('Bearer sk-env');
    resetProviders();
    expect(await providerFor('openai')).not.toBe(first);
  });

  it('reads the key from the Secrets Manager secret when OPENAI_API_KEY_SECRET_ARN is set', async () => {
    const arn = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:openai-AbCdEf';
    vi.stubEnv('OPENAI_BASE_URL', baseUrl);
    vi.stubEnv('OPENAI_API_KEY', '');
    vi.stubEnv('OPENAI_API_KEY_SECRET_ARN', arn);
    getSecret.mockResolvedValue(JSON.stringify({ apiKey: 'sk-from-secret' }));
    await chainWithRegistry('gpt-ok');
    getSecret.mockResolvedValue('sk-rotated');
    await chainWithRegistry('gpt-ok');
    expect(stub.requests.map((r) => r.headers['authorization'])).toEqual([
      'Bearer sk-from-secret',
      'Bearer sk-rotated',
    ]);
    expect(getSecret).toHaveBeenCalledWith(arn, { maxAge: 300 });
  });

  it('falls back when the secret cannot be read, as for any retryable failure', async () => {
    vi.stubEnv('OPENAI_BASE_URL', baseUrl);
    vi.stubEnv('OPENAI_API_KEY', '');
    vi.stubEnv('OPENAI_API_KEY_SECRET_ARN', 'arn:aws:secretsmanager:us-east-1:1:secret:x');
    getSecret.mockRejectedValue(new Error('AccessDenied'));
    const result = await chainWithRegistry('gpt-ok');
    expect(result.provider).toBe('local');
    expect(result.attempts[0]!.error).toBe('openai: API key unavailable');
    expect(stub.requests).toHaveLength(0);
  });

  it('always has local and bedrock, each cached', async () => {
    expect((await providerFor('local')).name).toBe('local');
    expect(await providerFor('local')).toBe(await providerFor('local'));
    expect((await providerFor('bedrock')).name).toBe('bedrock');
    expect(await providerFor('bedrock')).toBe(await providerFor('bedrock'));
  });
});
