import { afterEach, describe, expect, it, vi } from 'vitest';
import { createLocalProvider, localFailureModels } from '#adapters/llm/local.ts';
import { LlmError, type LlmRequest } from '#domain/llm.ts';
import { expectCallerAbort, expectTimeout, failureOf, llmRequest } from '../support/llm.ts';

const request = llmRequest('echo-1', 'summarise the quarterly numbers please');

afterEach(() => {
  vi.unstubAllEnvs();
});

describe('local provider: output', () => {
  it('answers the same for the same model, system prompt and input, across instances', async () => {
    const a = await createLocalProvider().complete(request());
    const b = await createLocalProvider().complete(request());
    expect(a).toEqual(b);
    expect(a.provider).toBe('local');
    expect(a.model).toBe('echo-1');
    expect(a.output).toMatch(/^\[local:echo-1\] [0-9a-f]{12} summarise the quarterly numbers please$/);
  });

  it('answers differently when the model, the system prompt or the input differs', async () => {
    const local = createLocalProvider();
    const digest = async (r: LlmRequest) => (await local.complete(r)).output.split(' ')[1];
    const base = await digest(request());
    expect(await digest(request({ model: 'echo-2' }))).not.toBe(base);
    expect(await digest(request({ systemPrompt: 'You are verbose.' }))).not.toBe(base);
    expect(await digest(request({ input: 'summarise the yearly numbers please' }))).not.toBe(base);
  });

  it('treats an object input as its JSON text', async () => {
    const local = createLocalProvider();
    const input = { ticket: 42, text: 'printer on fire' };
    const fromObject = await local.complete(request({ input }));
    const fromText = await local.complete(request({ input: JSON.stringify(input) }));
    expect(fromObject.output).toBe(fromText.output);
    expect(fromObject.output).toContain('{"ticket":42,"text":"printer on fire"}');
  });

  it('echoes at most 16 words of a long input', async () => {
    const words = Array.from({ length: 40 }, (_, i) => `w${i}`);
    const { output } = await createLocalProvider().complete(request({ input: words.join(' ') }));
    expect(output).toContain('w15 …');
    expect(output).not.toContain('w16');
  });
});

describe('local provider: tokens', () => {
  it('counts words × tokensPerWord, rounded up', async () => {
    const local = createLocalProvider({ tokensPerWord: 2 });
    const result = await local.complete(request({ systemPrompt: 'one two', input: 'three four five' }));
    expect(result.inputTokens).toBe(10);
    // Output: "[local:echo-1] <digest> three four five" is 5 words.
    expect(result.outputTokens).toBe(10);
  });

  it('uses 1.3 tokens a word by default and never reports fewer than 1', async () => {
    const local = createLocalProvider();
    const result = await local.complete(request({ systemPrompt: '', input: 'a b c d e f g h i j' }));
    expect(result.inputTokens).toBe(13);
    const empty = await local.complete(request({ systemPrompt: '', input: '' }));
    expect(empty.inputTokens).toBe(1);
    expect(empty.outputTokens).toBeGreaterThanOrEqual(1);
  });

  it('rejects nonsense options', () => {
    expect(() => createLocalProvider({ tokensPerWord: 0 })).toThrow(RangeError);
    expect(() => createLocalProvider({ latencyMs: -1 })).toThrow(RangeError);
  });
});

describe('local provider: latency, timeout, abort', () => {
  it('answers after the configured latency', async () => {
    const started = performance.now();
    await createLocalProvider({ latencyMs: 120 }).complete(request());
    expect(performance.now() - started).toBeGreaterThanOrEqual(110);
  });

  it('reads the default latency from SWITCHYARD_LOCAL_LLM_LATENCY_MS', async () => {
    vi.stubEnv('SWITCHYARD_LOCAL_LLM_LATENCY_MS', '100');
    const started = performance.now();
    await createLocalProvider().complete(request());
    expect(performance.now() - started).toBeGreaterThanOrEqual(90);
    vi.stubEnv('SWITCHYARD_LOCAL_LLM_LATENCY_MS', 'soon');
    expect(() => createLocalProvider()).toThrow(/SWITCHYARD_LOCAL_LLM_LATENCY_MS/);
  });

  it('times out as a retryable error once timeoutMs has passed when the latency is longer', async () => {
    await expectTimeout(
      'local',
      80,
      (timeoutMs) => createLocalProvider({ latencyMs: 10_000 }).complete(request({ timeoutMs })),
      { earliestMs: 70, latestMs: 2_000 },
    );
  });

  it('rejects with the AbortError of the caller’s signal, not a timeout, when aborted', async () => {
    await expectCallerAbort(
      30,
      (signal) => createLocalProvider({ latencyMs: 10_000 }).complete(request({ signal })),
      2_000,
    );
  });

  it('does not start when the signal is already aborted, and keeps a custom abort reason', async () => {
    const reason = new Error('worker shutting down');
    const error = await failureOf(
      createLocalProvider().complete(request({ signal: AbortSignal.abort(reason) })),
    );
    expect(error).toBe(reason);
  });
});

describe('local provider: failure models', () => {
  it('local-fail-retryable fails with a retryable 503', async () => {
    const error = await failureOf(
      createLocalProvider().complete(request({ model: localFailureModels.retryable })),
    );
    expect(error).toBeInstanceOf(LlmError);
    expect(error).toMatchObject({ retryable: true, provider: 'local', options: { status: 503 } });
  });

  it('local-fail-throttled fails with a retryable 429 that asks to wait 1 s', async () => {
    const error = await failureOf(
      createLocalProvider().complete(request({ model: localFailureModels.throttled })),
    );
    expect(error).toMatchObject({ retryable: true, options: { status: 429, retryAfterMs: 1_000 } });
  });

  it('local-fail-fatal fails with a non-retryable 400', async () => {
    const error = await failureOf(
      createLocalProvider().complete(request({ model: localFailureModels.fatal })),
    );
    expect(error).toBeInstanceOf(LlmError);
    expect(error).toMatchObject({ retryable: false, options: { status: 400 } });
  });

  it('spends the latency before failing', async () => {
    const started = performance.now();
    await failureOf(
      createLocalProvider({ latencyMs: 100 }).complete(request({ model: localFailureModels.retryable })),
    );
    expect(performance.now() - started).toBeGreaterThanOrEqual(90);
  });

  it('treats other names, even prototype members, as ordinary models', async () => {
    const result = await createLocalProvider().complete(request({ model: 'constructor' }));
    expect(result.output).toMatch(/^\[local:constructor\] /);
  });
});
