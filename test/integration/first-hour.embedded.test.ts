import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resetProviders } from '#adapters/llm/registry.ts';
import { startTestApi, type TestApi } from '../support/api.ts';

interface Problem {
  status: number;
  errors?: { field: string; detail: string }[];
}

/**
 * The mistakes of a first hour with the platform answer at once and say what to fix
 * (finding 9): a misspelled provider is refused when the agent is written, and a real
 * provider without its key fails the execution at once, naming the setting.
 */
describe('first-hour errors on the embedded stand-ins', () => {
  let api: TestApi;
  const saved = {
    OPENAI_API_KEY: process.env['OPENAI_API_KEY'],
    OPENAI_BASE_URL: process.env['OPENAI_BASE_URL'],
    OPENAI_API_KEY_SECRET_ARN: process.env['OPENAI_API_KEY_SECRET_ARN'],
  };
  beforeAll(async () => {
    for (const name of Object.keys(saved)) delete process.env[name];
    resetProviders();
    api = await startTestApi({}, { workers: true });
  });
  afterAll(async () => {
    await api?.stop();
    for (const [name, value] of Object.entries(saved)) if (value !== undefined) process.env[name] = value;
    resetProviders();
  });

  const createAgent = (configuration: Record<string, unknown>) =>
    api.call('/v1/agents', {
      method: 'POST',
      json: { name: 'first hour', model: 'gpt-4o-mini', system_prompt: 'p', configuration },
    });

  it('refuses an unknown provider at create and patch (422 naming the field), and bad settings alike', async () => {
    const typo = await createAgent({ provider: 'opnai' });
    expect(typo.status).toBe(422);
    expect(((await typo.json()) as Problem).errors).toEqual([
      { field: 'configuration.provider', detail: 'must be one of: local, openai, bedrock' },
    ]);
    const fallback = await createAgent({ fallback: [{ provider: 'bedrok', model: 'm' }], temperature: 7 });
    expect(fallback.status).toBe(422);
    expect(((await fallback.json()) as Problem).errors?.map((e) => e.field)).toEqual([
      'configuration.fallback.0.provider',
      'configuration.temperature',
    ]);

    const created = await createAgent({ provider: 'local', tenant_specific: { anything: true } });
    expect(created.status).toBe(201);
    const { id } = (await created.json()) as { id: string };
    const patched = await api.call(`/v1/agents/${id}`, {
      method: 'PATCH',
      json: { configuration: { provider: 'OpenAI' } },
    });
    expect(patched.status).toBe(422);
    expect(((await patched.json()) as Problem).errors?.[0]?.field).toBe('configuration.provider');
  });

  it('fails an execution on "openai" without a key at its first attempt, naming OPENAI_API_KEY', async () => {
    const created = await createAgent({ provider: 'openai', cache_ttl_seconds: 0 });
    expect(created.status).toBe(201);
    const { id: agentId } = (await created.json()) as { id: string };
    const started = await api.call(`/v1/agents/${agentId}/executions?wait=20`, {
      method: 'POST',
      json: { input: 'hello' },
    });
    let execution = (await started.json()) as {
      id: string;
      status: string;
      attempts: number;
      error: { message: string } | null;
    };
    for (let i = 0; i < 100 && execution.status !== 'failed'; i += 1) {
      await sleep(100);
      execution = (await (await api.call(`/v1/executions/${execution.id}`)).json()) as typeof execution;
    }
    expect(execution.status).toBe('failed');
    // No retries that cannot help: one attempt, and the message says what to set.
    expect(execution.attempts).toBe(1);
    expect(execution.error?.message).toMatch(/no API key is configured; set OPENAI_API_KEY/);
  });
});
