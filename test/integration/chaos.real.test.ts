import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { isAlive } from '../../bin/local-runtime/embedded-postgres.ts';
import { freePort, type RunningProcess, runEntry } from '../support/processes.ts';
import { describeRealServers } from '../support/real-servers.ts';

const tenantKey = 'chaos-test-key-0123456789abcdef';
const total = 2_000;
const concurrency = 16;
/** Kills after this many accepted executions. */
const killAt = [600, 1_300];
/** The claim lease of this run (SWITCHYARD_CLAIM_LEASE_SECONDS) and its sweeper period. */
const leaseSeconds = 10;
const sweepIntervalMs = 2_000;

interface Row {
  id: string;
  status: string;
  attempts: number;
  idempotency_key: string | null;
}

/**
 * `npm start` (the API, workers and in-process SQS stand-in) on PostgreSQL and Redis,
 * killed with SIGKILL twice while clients start 2,000 executions, each retried with its
 * Idempotency-Key until accepted. Every accepted execution must succeed exactly once: no
 * duplicate row, none lost, none left running past its claim lease.
 */
describeRealServers('chaos: npm start killed twice during 2,000 executions', (servers) => {
  let dataDir: string;
  let port: number;
  let server: RunningProcess | undefined;
  let db: pg.Client;

  const startServer = async (): Promise<RunningProcess> => {
    // Node itself, not a tsx wrapper: SIGKILL must hit the process that holds the work.
    const running = runEntry(
      'bin/dev.ts',
      [],
      {
        DATABASE_URL: servers.postgresUrl,
        REDIS_URL: servers.redisUrl,
        PORT: String(port),
        SWITCHYARD_DATA_DIR: dataDir,
        SWITCHYARD_API_KEYS: `chaos:${tenantKey}`,
        SWITCHYARD_QUIET: '1',
        SWITCHYARD_LOCAL_LLM_LATENCY_MS: '20',
        SWITCHYARD_CLAIM_LEASE_SECONDS: String(leaseSeconds),
        SWEEPER_INTERVAL_MS: String(sweepIntervalMs),
        POWERTOOLS_LOG_LEVEL: 'ERROR',
      },
      ['--enable-source-maps'],
    );
    await running.waitFor(/Switchyard is ready/, 60_000);
    return running;
  };

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'switchyard-chaos-'));
    port = await freePort();
    db = new pg.Client({ connectionString: servers.postgresUrl });
    await db.connect();
  });

  afterAll(async () => {
    const child = server?.child;
    if (child?.pid && isAlive(child.pid)) {
      child.kill('SIGTERM');
      const exited = await Promise.race([server!.exited.then(() => true), sleep(20_000, false)]);
      if (!exited) child.kill('SIGKILL');
    }
    await db?.end();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  }, 40_000);

  it('every accepted execution succeeds exactly once; none stays running past the lease', async () => {
    server = await startServer();
    const base = `http://127.0.0.1:${port}`;
    const headers = { authorization: `Bearer ${tenantKey}`, 'content-type': 'application/json' };
    const created = await fetch(`${base}/v1/agents`, {
      method: 'POST',
      headers,
      body: JSON.stringify({
        name: 'chaos',
        model: 'gpt-4o-mini',
        system_prompt: 'p',
        configuration: { cache_ttl_seconds: 0 },
      }),
    });
    expect(created.status).toBe(201);
    const agentId = ((await created.json()) as { id: string }).id;

    const accepted = new Map<string, string>();
    let retries = 0;
    let restarting: Promise<void> | undefined;
    const kills: number[] = [];
    let restartedAt = 0;

    const killAndRestart = async (): Promise<void> => {
      const victim = server!;
      process.kill(victim.child.pid!, 'SIGKILL');
      await victim.exited;
      kills.push(Date.now());
      server = await startServer();
      restartedAt = Date.now();
    };

    /** Starts execution `n`, retrying with the same key through kills, until accepted. */
    const startOne = async (n: number): Promise<void> => {
      const key = `chaos-${n}`;
      for (let attempt = 0; ; attempt += 1) {
        if (attempt > 400) throw new Error(`execution ${n} never accepted`);
        let status = 0;
        let body: { id?: string; status?: number } = {};
        try {
          const response = await fetch(`${base}/v1/agents/${agentId}/executions`, {
            method: 'POST',
            headers: { ...headers, 'idempotency-key': key },
            body: JSON.stringify({ input: `question ${n}` }),
            signal: AbortSignal.timeout(10_000),
          });
          status = response.status;
          body = (await response.json()) as typeof body;
        } catch {
          status = 0; // The server died under the request: retry with the same key.
        }
        if (status === 202 || status === 200) {
          const previous = accepted.get(key);
          if (previous !== undefined) expect(body.id).toBe(previous);
          accepted.set(key, body.id!);
          const due = killAt[kills.length + (restarting ? 1 : 0)];
          if (due !== undefined && accepted.size >= due && !restarting) {
            restarting = killAndRestart().finally(() => {
              restarting = undefined;
            });
          }
          return;
        }
        // In flight (409), unavailable (503) or no answer: the retry a careful client makes.
        if (status !== 0 && status !== 409 && status !== 503) {
          throw new Error(`execution ${n}: unexpected ${status} ${JSON.stringify(body)}`);
        }
        retries += 1;
        await (restarting ?? sleep(100));
      }
    };

    let next = 0;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < total) {
          const n = next;
          next += 1;
          await startOne(n);
        }
      }),
    );
    await restarting;
    const allAcceptedAt = Date.now();
    expect(kills).toHaveLength(2);
    expect(accepted.size).toBe(total);
    expect(new Set(accepted.values()).size).toBe(total);

    // Once all are accepted, everything finishes within the lease (plus sweeper periods and slack).
    const bound = (leaseSeconds + 3 * (sweepIntervalMs / 1000) + 20) * 1000;
    const since = Math.max(restartedAt, allAcceptedAt);
    let rows: Row[] = [];
    for (;;) {
      rows = (
        await db.query<Row>(
          'SELECT id, status, attempts, idempotency_key FROM executions WHERE agent_id = $1',
          [agentId],
        )
      ).rows;
      if (rows.length === total && rows.every((r) => r.status === 'succeeded')) break;
      if (Date.now() - since > bound) {
        const left = rows.filter((r) => r.status !== 'succeeded').map((r) => `${r.id} ${r.status}`);
        throw new Error(
          `${left.length} unfinished ${bound} ms after the restart:\n${left.slice(0, 20).join('\n')}`,
        );
      }
      await sleep(200);
    }
    const finishedAfterMs = Date.now() - since;

    // Exactly once: one row per key, the id each client was given.
    expect(rows).toHaveLength(total);
    const byKey = new Map(rows.map((r) => [r.idempotency_key, r.id]));
    for (const [key, id] of accepted) expect(byKey.get(key)).toBe(id);
    for (const row of rows) expect(row.attempts).toBeLessThanOrEqual(4);
    const usage = await db.query<{ executions: string }>(
      'SELECT COALESCE(sum(executions), 0) AS executions FROM usage_daily WHERE agent_id = $1',
      [agentId],
    );
    expect(Number(usage.rows[0]!.executions)).toBe(total);
    console.info(
      `[chaos] ${total} accepted through 2 SIGKILLs with ${retries} client retries; ` +
        `all succeeded ${finishedAfterMs} ms after the last accept, ${allAcceptedAt - restartedAt} ms after the last restart ` +
        `(lease ${leaseSeconds} s); ` +
        `attempts > 1: ${rows.filter((r) => r.attempts > 1).length}`,
    );
  }, 240_000);
});
