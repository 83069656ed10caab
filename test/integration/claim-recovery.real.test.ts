import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createTestAgent, startTestApi, type TestApi } from '../support/api.ts';

import { describeRealServers } from '../support/real-servers.ts';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.ts';

const leaseSeconds = 6;

/**
 * A database blip while attempts are running: their completion fails after the model
 * answered, so the claims stay behind with a live lease. The retried messages must take
 * the work over when the lease ends (or at once, when the claim could be handed back),
 * not leave it "running" until the sweeper's 5-minute staleness (finding 8).
 */
describeRealServers('claimed work after a database blip', (servers) => {
  let api: TestApi;
  let forwarder: TcpProxy;

  beforeAll(async () => {
    forwarder = await startTcpProxy(servers.postgresUrl);
    api = await startTestApi(
      {
        DATABASE_URL: forwarder.urlFor(servers.postgresUrl),
        REDIS_URL: servers.redisUrl,
        SWITCHYARD_CLAIM_LEASE_SECONDS: String(leaseSeconds),
      },
      { workers: true },
    );
  });
  afterAll(async () => {
    await api?.stop();
    await forwarder?.close();
  });

  const statusOf = async (id: string): Promise<{ status: string; attempts: number }> => {
    for (;;) {
      try {
        const response = await api.call(`/v1/executions/${id}`);
        if (response.status === 200) return (await response.json()) as { status: string; attempts: number };
      } catch {
        // The API is reached through the same database: retry.
      }
      await sleep(100);
    }
  };

  it('every execution claimed during the blip finishes within the lease after it, none stays running', async () => {
    // The model takes 1.5 s: the blip lands while every attempt is waiting for it.
    const agent = await createTestAgent(api, { model: 'local-slow-1500' });
    const ids: string[] = [];
    for (let n = 0; n < 8; n += 1) {
      const response = await api.call(`/v1/agents/${agent}/executions`, {
        method: 'POST',
        json: { input: `q ${n}` },
      });
      expect(response.status).toBe(202);
      ids.push(((await response.json()) as { id: string }).id);
    }
    // All claimed (running), then the database goes away for 2 s across their completions.
    const deadline = Date.now() + 10_000;
    while ((await Promise.all(ids.map(statusOf))).some((e) => e.status !== 'running')) {
      if (Date.now() > deadline) throw new Error('the executions were not all claimed');
      await sleep(50);
    }
    await forwarder.cut();
    await sleep(2_000);
    await forwarder.restore();
    const restoredAt = Date.now();

    // Bound: the lease, plus the retry backoff (≤ 10 s) and the model call, with slack.
    const bound = (leaseSeconds + 10 + 10) * 1000;
    let finals: { status: string; attempts: number }[] = [];
    for (;;) {
      finals = await Promise.all(ids.map(statusOf));
      if (finals.every((e) => e.status === 'succeeded')) break;
      if (Date.now() - restoredAt > bound) {
        throw new Error(`not finished ${bound} ms after the blip: ${finals.map((e) => e.status).join(' ')}`);
      }
      await sleep(200);
    }
    const tookMs = Date.now() - restoredAt;
    // Each was taken over by a second attempt (the first one's answer could not be recorded).
    for (const execution of finals) expect(execution.attempts).toBeGreaterThanOrEqual(2);
    console.info(
      `[claim-recovery] 8 executions claimed across a 2 s database blip succeeded ${tookMs} ms after it`,
    );
  }, 90_000);
});
