import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { isAlive } from '../../bin/local-runtime/embedded-postgres.ts';
import { acmeKey, callAt, untilCacheUp } from '../support/api.ts';
import { freePort, type RunningProcess, runEntry } from '../support/processes.ts';
import { describeRealServers } from '../support/real-servers.ts';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.ts';

const repairCheckSeconds = 1;
const l1TtlMs = 100;

interface Container {
  readonly process: RunningProcess;
  readonly url: string;
  readonly dataDir: string;
}

/**
 * The gap the writer's own replay cannot close: the container whose cache write failed
 * during a Redis outage dies before Redis returns. Another container must not serve the
 * entry from before the write once Redis is back — the durable repair note (PostgreSQL)
 * makes it move the cache generation on within its check period.
 */
describeRealServers('a cache write lost with its container during a Redis outage', (servers) => {
  let proxy: TcpProxy;
  const containers: Container[] = [];

  const startContainer = async (): Promise<Container> => {
    const dataDir = await mkdtemp(join(tmpdir(), 'switchyard-repair-'));
    const port = await freePort();
    // Node itself, not a tsx wrapper: SIGKILL must end the process that holds the cache.
    const running = runEntry(
      'bin/dev.ts',
      [],
      {
        DATABASE_URL: servers.postgresUrl,
        REDIS_URL: proxy.url,
        PORT: String(port),
        SWITCHYARD_DATA_DIR: dataDir,
        SWITCHYARD_QUIET: '1',
        SWITCHYARD_API_KEYS: `acme:${acmeKey}`,
        CACHE_L1_TTL_MS: String(l1TtlMs),
        CACHE_REPAIR_CHECK_SECONDS: String(repairCheckSeconds),
        POWERTOOLS_LOG_LEVEL: 'ERROR',
      },
      ['--enable-source-maps'],
    );
    await running.waitFor(/is ready/, 60_000);
    const container = { process: running, url: `http://127.0.0.1:${port}`, dataDir };
    containers.push(container);
    return container;
  };

  beforeAll(async () => {
    proxy = await startTcpProxy(servers.redisUrl);
  });
  afterAll(async () => {
    for (const { process: running, dataDir } of containers) {
      const pid = running.child.pid;
      if (pid && isAlive(pid)) {
        running.child.kill('SIGTERM');
        await Promise.race([running.exited, sleep(20_000)]);
      }
      await rm(dataDir, { recursive: true, force: true });
    }
    await proxy?.close();
  }, 60_000);

  const statusOf = async (url: string, id: string) =>
    ((await (await callAt(url, `/v1/agents/${id}`)).json()) as { status: string }).status;

  it('another container answers the write within its check period once Redis is back', async () => {
    const writer = await startContainer();
    const reader = await startContainer();
    const created = await callAt(writer.url, '/v1/agents', {
      method: 'POST',
      json: { name: 'repair probe', model: 'm', system_prompt: 'p' },
    });
    expect(created.status).toBe(201);
    const { id } = (await created.json()) as { id: string };
    // The reader has it from L2 (or fills L2 with it): the active version is what L2 holds.
    expect(await statusOf(reader.url, id)).toBe('active');
    await sleep(repairCheckSeconds * 1000 + 200);
    expect(await statusOf(reader.url, id)).toBe('active');

    // Redis away; the writer pauses the agent (committed; its L2 put fails and is noted), dies.
    await proxy.cut();
    const paused = await callAt(writer.url, `/v1/agents/${id}`, {
      method: 'PATCH',
      json: { status: 'paused' },
    });
    expect(paused.status).toBe(200);
    process.kill(writer.process.child.pid!, 'SIGKILL');
    await writer.process.exited;
    await proxy.restore();
    const restoredAt = Date.now();
    // The reader's connection was cut too: wait until it reaches Redis again, so its reads
    // come from L2 (a read that fell through to the database would put the new version there).
    await untilCacheUp(reader.url);

    // The reader never wrote during the outage. Within its check period (plus L1) it answers paused.
    const bound = (repairCheckSeconds + 5) * 1000;
    let status = await statusOf(reader.url, id);
    while (status !== 'paused') {
      if (Date.now() - restoredAt > bound)
        throw new Error(`still "${status}" ${bound} ms after Redis returned`);
      await sleep(100);
      status = await statusOf(reader.url, id);
    }
    const run = await callAt(reader.url, `/v1/agents/${id}/executions`, {
      method: 'POST',
      json: { input: 'hi' },
    });
    expect(run.status).toBe(409);
    console.info(
      `[cache-repair] the reader answered "paused" ${Date.now() - restoredAt} ms after Redis returned`,
    );
  }, 120_000);
});
