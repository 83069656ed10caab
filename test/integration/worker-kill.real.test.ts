import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { jobQueue } from '#adapters/aws/job-queue.ts';
import { database } from '#adapters/postgres/db.ts';
import { jobTypes, newJob } from '#domain/jobs.ts';
import { functions } from '#manifest';
import { isAlive } from '../../bin/local-runtime/embedded-postgres.ts';
import { adminKey, createTestAgent, startTestApi, type TestApi } from '../support/api.ts';
import { type RunningProcess, runEntry } from '../support/processes.ts';
import { describeRealServers } from '../support/real-servers.ts';

interface ExecutionRow {
  id: string;
  status: string;
  attempts: number;
  version: number;
  output: string | null;
  completed_at: Date | null;
  lease_seconds_left: number | null;
}

interface Worker {
  readonly process: RunningProcess;
  /** The worker's own pid, from its ready line: tsx runs it as a child of the spawned process. */
  readonly pid: number;
}

const finished = (status: string) => ['succeeded', 'failed', 'cancelled'].includes(status);

/**
 * A worker process (bin/worker.ts) killed for real with SIGKILL in the middle of its
 * batches, against PostgreSQL and Redis, with the API and the SQS stand-in in this
 * process: a second worker plus the sweeper bring every accepted execution to an end,
 * and nothing that had already succeeded runs (calls the model) again.
 */
describeRealServers('a worker process killed with SIGKILL mid-batch', (servers) => {
  let api: TestApi;
  let dataDir: string;
  const workers: Worker[] = [];

  beforeAll(async () => {
    api = await startTestApi(
      { DATABASE_URL: servers.postgresUrl, REDIS_URL: servers.redisUrl, SWEEPER_STALE_SECONDS: '2' },
      { workers: false },
    );
    dataDir = await mkdtemp(join(tmpdir(), 'switchyard-worker-kill-'));
  });

  afterAll(async () => {
    for (const worker of workers) {
      const { child } = worker.process;
      if (child.exitCode === null && child.signalCode === null) {
        // tsx relays SIGTERM to the worker, which drains its pollers and exits.
        child.kill('SIGTERM');
        const exited = await Promise.race([worker.process.exited.then(() => true), sleep(20_000, false)]);
        if (!exited) child.kill('SIGKILL');
      }
      if (isAlive(worker.pid)) process.kill(worker.pid, 'SIGKILL');
    }
    await api?.stop();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  }, 40_000);

  const startWorker = async (): Promise<Worker> => {
    const running = runEntry('bin/worker.ts', [], {
      // The API process's database, Redis, and its SQS and DynamoDB stand-ins (set by its start).
      DATABASE_URL: servers.postgresUrl,
      REDIS_URL: servers.redisUrl,
      AWS_ENDPOINT_URL_SQS: process.env['AWS_ENDPOINT_URL_SQS']!,
      AWS_ENDPOINT_URL_DYNAMODB: process.env['AWS_ENDPOINT_URL_DYNAMODB']!,
      AWS_ACCESS_KEY_ID: 'local',
      AWS_SECRET_ACCESS_KEY: 'local',
      AWS_REGION: process.env['AWS_REGION'] ?? 'us-east-1',
      SWITCHYARD_DATA_DIR: dataDir,
      SWITCHYARD_LOCAL_LLM_LATENCY_MS: '300',
      SWEEPER_STALE_SECONDS: '2',
      POWERTOOLS_LOG_LEVEL: 'ERROR',
    });
    const ready = await running.waitFor(/worker ready \(pid (\d+)\)/, 30_000);
    const worker = { process: running, pid: Number(ready[1]) };
    workers.push(worker);
    return worker;
  };

  const rowsOf = (agentId: string) =>
    database().query<ExecutionRow>(
      `SELECT id, status, attempts, version, output, completed_at,
              EXTRACT(EPOCH FROM lease_until - now())::float8 AS lease_seconds_left
         FROM executions WHERE agent_id = $1`,
      [agentId],
    );

  it('a second worker and the sweeper finish them all; none that had succeeded runs again', async () => {
    expect(process.env['AWS_ENDPOINT_URL_SQS']).toBeTruthy();
    expect(api.runtime.standIns.queues).toContain(process.env['AWS_ENDPOINT_URL_SQS']);
    const first = await startWorker();
    expect(first.pid).not.toBe(first.process.child.pid);

    // No response cache: every attempt that claims an execution asks the model.
    const agent = { id: await createTestAgent(api, { name: 'survivor' }) };
    const accept = async (n: number): Promise<string> => {
      const response = await api.call(`/v1/agents/${agent.id}/executions`, {
        method: 'POST',
        json: { input: `question ${n}` },
      });
      expect(response.status).toBe(202);
      return ((await response.json()) as { id: string }).id;
    };

    // 20 executions that the first worker finishes, to have some that must never run again.
    const early = await Promise.all(Array.from({ length: 20 }, (_, n) => accept(n)));
    const earlyDeadline = Date.now() + 20_000;
    while (!(await rowsOf(agent.id)).every((r) => r.status === 'succeeded')) {
      if (Date.now() > earlyDeadline) {
        const statuses = (await rowsOf(agent.id)).map((r) => `${r.status}/${r.attempts}`).join(' ');
        throw new Error(
          `the first worker did not finish the first 20 (${statuses}):\n${first.process.output()}`,
        );
      }
      await sleep(50);
    }

    // 40 more, four at a time; once at least 5 are running (the model takes 300 ms), SIGKILL.
    const late: string[] = [];
    const accepting = (async () => {
      for (let n = 20; n < 60; n += 4) {
        late.push(...(await Promise.all([n, n + 1, n + 2, n + 3].map(accept))));
      }
    })();
    const runningDeadline = Date.now() + 20_000;
    while ((await rowsOf(agent.id)).filter((r) => r.status === 'running').length < 5) {
      if (Date.now() > runningDeadline) throw new Error('no executions running to kill the worker under');
      await sleep(10);
    }
    // The worker itself, not tsx's wrapper: SIGKILL on the wrapper would orphan a live worker.
    process.kill(first.pid, 'SIGKILL');
    await first.process.exited;
    expect(isAlive(first.pid)).toBe(false);
    await accepting;
    const all = [...early, ...late];
    expect(new Set(all).size).toBe(60);
    // Statements the worker had sent just before dying still commit; let them land.
    await sleep(500);

    const atKill = new Map((await rowsOf(agent.id)).map((r) => [r.id, r]));
    expect(atKill.size).toBe(60);
    const succeededAtKill = [...atKill.values()].filter((r) => r.status === 'succeeded');
    const runningAtKill = [...atKill.values()].filter((r) => r.status === 'running');
    expect(succeededAtKill.length).toBeGreaterThanOrEqual(20);
    expect(runningAtKill.length).toBeGreaterThanOrEqual(1);
    for (const row of [...atKill.values()]) expect(['queued', 'running', 'succeeded']).toContain(row.status);
    // The dead worker's leases run for the high worker's timeout + 30 s (90 s), and its
    // received messages stay invisible for the queue's 360 s visibility timeout.
    const leaseSeconds = functions.workerHigh.timeoutSeconds + 30;
    for (const row of runningAtKill) expect(row.lease_seconds_left).toBeGreaterThan(leaseSeconds - 15);

    // Waiting out a 90 s lease is too long for a test, and the lease length is the
    // manifest's, not a setting. So model "the lease ran out" in the database: the
    // dead worker's leases end now, last touched an hour ago, exactly the state the
    // sweeper finds after a real lease expiry. Nothing else is changed.
    const expired = await database().query<{ id: string }>(
      `UPDATE executions SET lease_until = now() - interval '1 second', updated_at = now() - interval '1 hour'
        WHERE status = 'running' AND agent_id = $1 RETURNING id`,
      [agent.id],
    );
    expect(expired.map((r) => r.id).sort()).toEqual(runningAtKill.map((r) => r.id).sort());

    // The second worker runs the low-queue poller that runs the sweeper. Its messages held
    // by the dead worker come back only after the visibility timeout: the sweeper re-sends
    // them (expired leases, and executions queued longer than SWEEPER_STALE_SECONDS).
    await startWorker();
    const deadline = Date.now() + 60_000;
    let nextSweep = 0;
    let sweeps = 0;
    let rows: ExecutionRow[];
    for (;;) {
      rows = await rowsOf(agent.id);
      if (rows.every((r) => finished(r.status))) break;
      if (Date.now() > deadline) {
        const left = rows.filter((r) => !finished(r.status)).map((r) => `${r.id} ${r.status}`);
        throw new Error(`unfinished after the second worker and ${sweeps} sweeps:\n${left.join('\n')}`);
      }
      if (Date.now() >= nextSweep) {
        sweeps += 1;
        await jobQueue().enqueue(
          newJob(jobTypes.sweepExecutions, 'system', {}, `worker-kill-sweep:${agent.id}:${sweeps}`),
        );
        nextSweep = Date.now() + 2_000;
      }
      await sleep(100);
    }

    // Every accepted execution ended: succeeded, or failed with its message in the DLQ.
    expect(rows).toHaveLength(60);
    const failed = rows.filter((r) => r.status === 'failed');
    expect(rows.filter((r) => r.status !== 'succeeded' && r.status !== 'failed')).toEqual([]);
    if (failed.length > 0) {
      const peek = await api.call('/v1/admin/dlq/high', { key: adminKey });
      expect(peek.status).toBe(200);
      const letters = ((await peek.json()) as { data: { ids: Record<string, string> }[] }).data;
      const dead = new Set(letters.map((l) => l.ids['execution_id']));
      for (const row of failed) expect(dead.has(row.id), `${row.id} failed but is not in the DLQ`).toBe(true);
    }
    for (const row of rows) expect(row.attempts, row.id).toBeLessThanOrEqual(4);

    const final = new Map(rows.map((r) => [r.id, r]));
    // Succeeded before the kill: untouched since (one attempt, same version, answer, completion).
    for (const before of succeededAtKill) {
      const after = final.get(before.id)!;
      expect(after).toMatchObject({ status: 'succeeded', attempts: 1, version: before.version });
      expect(after.output).toBe(before.output);
      expect(after.completed_at?.getTime()).toBe(before.completed_at?.getTime());
    }
    // Running at the kill: claimed again by the second worker after the lease ran out.
    for (const before of runningAtKill) {
      const after = final.get(before.id)!;
      if (after.status === 'succeeded') expect(after.attempts).toBeGreaterThanOrEqual(2);
    }
    // Anything else (queued at the kill) succeeded at its first attempt: one model call.
    for (const row of rows) {
      if (atKill.get(row.id)!.status === 'queued' && row.status === 'succeeded') expect(row.attempts).toBe(1);
    }

    // The API agrees, and the usage rollup counts each execution exactly once.
    for (const id of all) {
      const response = await api.call(`/v1/executions/${id}`);
      expect(response.status).toBe(200);
      expect(((await response.json()) as { status: string }).status).toBe(final.get(id)!.status);
    }
    const usage = (await (await api.call('/v1/usage')).json()) as {
      data: { agent_id: string; executions: number }[];
    };
    const counted = usage.data
      .filter((r) => r.agent_id === agent.id)
      .reduce((sum, r) => sum + r.executions, 0);
    expect(counted).toBe(60);
    console.info(
      `[worker-kill] at the kill: ${succeededAtKill.length} succeeded, ${runningAtKill.length} running,` +
        ` ${60 - succeededAtKill.length - runningAtKill.length} queued; ${sweeps} sweep(s) enqueued;` +
        ` final: ${rows.length - failed.length} succeeded, ${failed.length} failed`,
    );
  }, 120_000);
});
