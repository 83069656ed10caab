import { afterEach, describe, expect, it, vi } from 'vitest';
import { ConfigError, loadConfig, localLlmLatencyMs, openAiSettings } from '#runtime/config.ts';

/** The ConfigError `read` throws, failing the test if it throws nothing. */
const configError = (read: () => unknown): ConfigError => {
  try {
    read();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error('no ConfigError');
};

describe('SWITCHYARD_MODEL_PRICES', () => {
  it('is undefined when unset or empty: the built-in table alone', () => {
    expect(loadConfig({}).modelPrices).toBeUndefined();
    expect(loadConfig({ SWITCHYARD_MODEL_PRICES: ' ' }).modelPrices).toBeUndefined();
  });

  it('reads extra or overriding prices, USD per million tokens', () => {
    const prices = '{"my-model":{"input":1.5,"output":6},"gpt-4o":{"input":0,"output":0}}';
    expect(loadConfig({ SWITCHYARD_MODEL_PRICES: prices }).modelPrices).toEqual({
      'my-model': { input: 1.5, output: 6 },
      'gpt-4o': { input: 0, output: 0 },
    });
  });

  it.each([
    ['not JSON', '{my-model: 1}'],
    ['a price without output', '{"m":{"input":1}}'],
    ['a negative price', '{"m":{"input":-1,"output":2}}'],
    ['a price as text', '{"m":{"input":"1","output":2}}'],
    ['a bare number per model', '{"m":5}'],
    ['an array', '[]'],
  ])('refuses %s, naming the variable, the expected form and the value', (_, value) => {
    const error = configError(() => loadConfig({ SWITCHYARD_MODEL_PRICES: value }));
    expect(error.message).toContain('SWITCHYARD_MODEL_PRICES');
    expect(error.message).toContain('{"model": {"input": n, "output": n}}');
    expect(error.message).toContain(`"${value}"`);
  });
});

describe('model prices through config()', () => {
  afterEach(() => {
    vi.unstubAllEnvs();
    vi.resetModules();
  });

  it('price calls with the configured prices over the built-in ones, the others as built in', async () => {
    vi.stubEnv(
      'SWITCHYARD_MODEL_PRICES',
      '{"gpt-4o":{"input":1,"output":2},"my-model":{"input":3,"output":4}}',
    );
    vi.resetModules();
    const { costUsd } = await import('#domain/pricing.ts');
    expect(costUsd('gpt-4o', 1_000_000, 1_000_000)).toBe(3);
    expect(costUsd('my-model', 1_000_000, 0)).toBe(3);
    expect(costUsd('gpt-4o-mini', 1_000_000, 0)).toBe(0.15);
    expect(costUsd('unknown-model', 1_000_000, 1_000_000)).toBe(0);
  });
});

describe('SWITCHYARD_LOCAL_LLM_LATENCY_MS', () => {
  it('is 0 when unset or empty, else the integer given', () => {
    expect(localLlmLatencyMs({})).toBe(0);
    expect(localLlmLatencyMs({ SWITCHYARD_LOCAL_LLM_LATENCY_MS: '' })).toBe(0);
    expect(localLlmLatencyMs({ SWITCHYARD_LOCAL_LLM_LATENCY_MS: '300' })).toBe(300);
    expect(localLlmLatencyMs({ SWITCHYARD_LOCAL_LLM_LATENCY_MS: '600000' })).toBe(600_000);
  });

  it.each(['soon', '-1', '2.5', '600001'])(
    'refuses %j, naming the variable, the range and the value',
    (value) => {
      const error = configError(() => localLlmLatencyMs({ SWITCHYARD_LOCAL_LLM_LATENCY_MS: value }));
      expect(error.message).toContain('SWITCHYARD_LOCAL_LLM_LATENCY_MS');
      expect(error.message).toContain('from 0 to 600000');
      expect(error.message).toContain(`"${value}"`);
    },
  );
});

describe('the OpenAI-compatible provider settings', () => {
  it('reads the key, its secret and the base URL; an empty value is unset', () => {
    expect(openAiSettings({})).toEqual({ apiKey: undefined, apiKeySecretArn: undefined, baseUrl: undefined });
    expect(
      openAiSettings({
        OPENAI_API_KEY: 'sk-test',
        OPENAI_API_KEY_SECRET_ARN: '',
        OPENAI_BASE_URL: 'http://127.0.0.1:11434/v1',
      }),
    ).toEqual({ apiKey: 'sk-test', apiKeySecretArn: undefined, baseUrl: 'http://127.0.0.1:11434/v1' });
  });
});
