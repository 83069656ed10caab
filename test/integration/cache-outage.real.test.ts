import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, expect, it } from 'vitest';
import {
  acmeKey,
  callAt,
  createTestAgent,
  startTestApi,
  type TestApi,
  untilCacheUp,
} from '../support/api.ts';
import { freePort, type RunningProcess, runEntry, runToEnd } from '../support/processes.ts';
import { describeRealServers } from '../support/real-servers.ts';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.ts';

/**
 * Redis goes away while keeping its data (the proxy in front of it is cut), writes happen
 * meanwhile, and Redis comes back: the writes must hold, in the container that made them and
 * in another one sharing the same Redis and PostgreSQL.
 */
const l1TtlMs = 100;
const apiKeyTtlSeconds = 8;
const keysEnv: Record<string, string> = { CACHE_L1_TTL_MS: String(l1TtlMs) };

describeRealServers('writes and revocations across a Redis outage', (servers) => {
  let proxy: TcpProxy;
  /** The first container: in this process. */
  let first: TestApi;
  /** A second container: `npm start` in a process of its own, sharing Redis and PostgreSQL. */
  let second: RunningProcess;
  let secondUrl: string;
  let secondDir: string;

  beforeAll(async () => {
    proxy = await startTcpProxy(servers.redisUrl);
    keysEnv['DATABASE_URL'] = servers.postgresUrl;
    keysEnv['REDIS_URL'] = proxy.url;
    keysEnv['CACHE_API_KEY_TTL_SECONDS'] = String(apiKeyTtlSeconds);
    // Started first, so it inherits none of the settings the in-process runtime puts in process.env.
    secondDir = await mkdtemp(join(tmpdir(), 'switchyard-second-'));
    const port = await freePort();
    second = runEntry('bin/dev.ts', [], {
      ...keysEnv,
      PORT: String(port),
      SWITCHYARD_DATA_DIR: secondDir,
      SWITCHYARD_QUIET: '1',
      SWITCHYARD_API_KEYS: `acme:${acmeKey}`,
    });
    await second.waitFor(/is ready/, 60_000);
    secondUrl = `http://127.0.0.1:${port}`;
    first = await startTestApi({
      DATABASE_URL: servers.postgresUrl,
      REDIS_URL: proxy.url,
      CACHE_L1_TTL_MS: String(l1TtlMs),
      CACHE_API_KEY_TTL_SECONDS: String(apiKeyTtlSeconds),
    });
  }, 90_000);

  afterAll(async () => {
    second?.child.kill('SIGTERM');
    await second?.exited;
    await first?.stop();
    await proxy?.close();
    if (secondDir) await rm(secondDir, { recursive: true, force: true });
  }, 30_000);

  /** Redis back, and both containers connected to it again. */
  const redisBack = async () => {
    await proxy.restore();
    await untilCacheUp(first.url);
    await untilCacheUp(secondUrl);
  };

  it('an agent paused while Redis was down stays paused, everywhere, when Redis returns', async () => {
    const id = await createTestAgent(first);
    // Both containers have read it: L2 holds the active version.
    expect(((await (await first.call(`/v1/agents/${id}`)).json()) as { status: string }).status).toBe(
      'active',
    );
    expect(((await (await callAt(secondUrl, `/v1/agents/${id}`)).json()) as { status: string }).status).toBe(
      'active',
    );

    await proxy.cut();
    const paused = await first.call(`/v1/agents/${id}`, { method: 'PATCH', json: { status: 'paused' } });
    expect(paused.status).toBe(200);
    expect(((await paused.json()) as { status: string }).status).toBe('paused');
    await sleep(l1TtlMs + 50);
    await redisBack();
    await sleep(l1TtlMs + 50); // past every L1 entry: answers come from L2 or the database

    for (const url of [secondUrl, first.url]) {
      const read = await callAt(url, `/v1/agents/${id}`);
      expect(read.status).toBe(200);
      expect(((await read.json()) as { status: string }).status).toBe('paused');
      const run = await callAt(url, `/v1/agents/${id}/executions`, { method: 'POST', json: { input: 'hi' } });
      expect(run.status).toBe(409);
    }
  }, 30_000);

  it('an agent deleted while Redis was down stays deleted, everywhere, when Redis returns', async () => {
    const id = await createTestAgent(first);
    expect((await callAt(secondUrl, `/v1/agents/${id}`)).status).toBe(200);

    await proxy.cut();
    expect((await first.call(`/v1/agents/${id}`, { method: 'DELETE' })).status).toBe(204);
    await sleep(l1TtlMs + 50);
    await redisBack();
    await sleep(l1TtlMs + 50);

    for (const url of [secondUrl, first.url]) {
      expect((await callAt(url, `/v1/agents/${id}`)).status).toBe(404);
      const run = await callAt(url, `/v1/agents/${id}/executions`, { method: 'POST', json: { input: 'hi' } });
      expect(run.status).toBe(404);
    }
  }, 30_000);

  it('revoking a key while Redis is down fails loudly, and the key is refused within the bound once Redis is back', async () => {
    const created = await runToEnd('bin/keys.ts', ['create', 'initech'], keysEnv);
    expect(created.code).toBe(0);
    const key = /key\s+(sy_\S+)/.exec(created.output)![1]!;
    const keyId = /key id\s+(\S+)/.exec(created.output)![1]!;
    // Cached as a live principal, in L2 too.
    expect((await first.call('/v1/agents', { key })).status).toBe(200);
    expect((await callAt(secondUrl, '/v1/agents', { key })).status).toBe(200);

    await proxy.cut();
    const revokedAt = Date.now();
    const revoked = await runToEnd('bin/keys.ts', ['revoke', keyId], keysEnv);
    const bound = apiKeyTtlSeconds + Math.ceil(l1TtlMs / 1000);
    expect(revoked.code).toBe(3);
    expect(revoked.output).toContain(
      `revoked ${keyId} in the database, but the cache (Redis) could not be updated`,
    );
    expect(revoked.output).toContain(`up to ${bound} s`);
    expect(revoked.output).toContain(`npm run keys -- revoke ${keyId}`);
    expect(revoked.output).not.toMatch(/^revoked \S+$/m);
    await redisBack();

    // Refused everywhere within the bound, counted from the revocation.
    const deadline = revokedAt + bound * 1000 + 1_000;
    for (;;) {
      const answers = await Promise.all([
        first.call('/v1/agents', { key }).then((r) => r.status),
        callAt(secondUrl, '/v1/agents', { key }).then((r) => r.status),
      ]);
      if (answers.every((status) => status === 401)) break;
      expect(Date.now(), `still accepted ${Date.now() - revokedAt} ms after the revocation`).toBeLessThan(
        deadline,
      );
      await sleep(100);
    }
  }, 60_000);

  it('rerunning the revocation once Redis is back makes it effective at once', async () => {
    const created = await runToEnd('bin/keys.ts', ['create', 'initech'], keysEnv);
    const key = /key\s+(sy_\S+)/.exec(created.output)![1]!;
    const keyId = /key id\s+(\S+)/.exec(created.output)![1]!;
    expect((await callAt(secondUrl, '/v1/agents', { key })).status).toBe(200);

    await proxy.cut();
    expect((await runToEnd('bin/keys.ts', ['revoke', keyId], keysEnv)).code).toBe(3);
    await redisBack();
    const rerun = await runToEnd('bin/keys.ts', ['revoke', keyId], keysEnv);
    expect(rerun.code).toBe(0);
    expect(rerun.output).toContain(`${keyId} was already revoked; cache tombstone rewritten`);
    await sleep(l1TtlMs + 50);
    expect((await callAt(secondUrl, '/v1/agents', { key })).status).toBe(401);
    expect((await first.call('/v1/agents', { key })).status).toBe(401);
  }, 60_000);
});
