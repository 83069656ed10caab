import { describe, expect, it } from 'vitest';
import { database } from '#adapters/postgres/db.ts';
import { warmCaches } from '#services/cache-warming.ts';
import { createTestAgent, useTestApi } from '../support/api.ts';

describe('cache warming on the embedded stand-ins', () => {
  const testApi = useTestApi();

  it('reads the agents and workflows executed in the window, busiest first, and nothing else', async () => {
    const api = testApi();
    const busy = await createTestAgent(api);
    const quiet = await createTestAgent(api);
    const idle = await createTestAgent(api);
    const workflow = (await (
      await api.call('/v1/workflows', {
        method: 'POST',
        json: { name: 'warm', steps: [{ key: 'a', agent_id: idle, input: '{{input}}' }] },
      })
    ).json()) as { id: string };
    for (const [agent, times] of [
      [busy, 3],
      [quiet, 1],
    ] as const) {
      for (let i = 0; i < times; i++) {
        const response = await api.call(`/v1/agents/${agent}/executions`, {
          method: 'POST',
          json: { input: 'x' },
        });
        expect(response.status).toBe(202);
      }
    }
    expect(
      (await api.call(`/v1/workflows/${workflow.id}/executions`, { method: 'POST', json: { input: 'x' } }))
        .status,
    ).toBe(202);

    const read: string[] = [];
    const result = await warmCaches(database(), {
      agent: async (_tenant, id) => read.push(`agent ${id}`),
      workflow: async (_tenant, id) => read.push(`workflow ${id}`),
    });
    expect(result).toEqual({ agents: 2, workflows: 1 });
    expect(read.filter((r) => r.startsWith('agent'))).toEqual([`agent ${busy}`, `agent ${quiet}`]);
    expect(read).toContain(`workflow ${workflow.id}`);
    // Outside the window, nothing is warmed.
    const later = await warmCaches(
      database(),
      { agent: async () => {}, workflow: async () => {} },
      { now: new Date(Date.now() + 2 * 3_600_000) },
    );
    expect(later).toEqual({ agents: 0, workflows: 0 });
  });
});
