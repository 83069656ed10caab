import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApi, type TestApi } from '../support/api.ts';

describe('agents API with its Redis unreachable', () => {
  let api: TestApi;
  beforeAll(async () => {
    // Nothing listens on port 1: every L2 call fails, as when ElastiCache is away.
    // No operator key configured either: operator routes must then be closed.
    api = await startTestApi({
      REDIS_URL: 'redis://127.0.0.1:1',
      CACHE_L1_TTL_MS: '0',
      SWITCHYARD_ADMIN_KEY: '',
    });
  });
  afterAll(async () => {
    await api?.stop();
  });

  it('still answers every read and write correctly, from Postgres', async () => {
    const created = await api.call('/v1/agents', {
      method: 'POST',
      json: { name: 'resilient', model: 'm', system_prompt: 'p' },
    });
    expect(created.status).toBe(201);
    const { id } = (await created.json()) as { id: string };
    const read = await api.call(`/v1/agents/${id}`);
    expect(read.status).toBe(200);
    const patched = await api.call(`/v1/agents/${id}`, { method: 'PATCH', json: { name: 'still here' } });
    expect(patched.status).toBe(200);
    const reread = await api.call(`/v1/agents/${id}`);
    expect(((await reread.json()) as { name: string }).name).toBe('still here');
    expect(reread.headers.get('etag')).toBe(patched.headers.get('etag'));
    expect((await api.call(`/v1/agents/${id}`, { method: 'DELETE' })).status).toBe(204);
    expect((await api.call(`/v1/agents/${id}`)).status).toBe(404);
  });

  it('keeps operator routes closed when no operator key is configured', async () => {
    for (const key of [null, '', 'anything']) {
      const response = await api.call('/v1/admin/tenants', { key });
      expect(response.status).toBe(401);
      // …and says why, rather than leaving the operator to doubt the key.
      expect(((await response.json()) as { detail: string }).detail).toMatch(
        /No operator key is configured on this server \(SWITCHYARD_ADMIN_KEY/,
      );
    }
  });

  it('reports the cache as down and the service as degraded, not failed', async () => {
    const health = await api.call('/health', { key: null });
    expect(health.status).toBe(200);
    const body = (await health.json()) as { status: string; checks: { cache: { status: string } } };
    expect(body.status).toBe('degraded');
    expect(body.checks.cache.status).toBe('down');
  });
});
