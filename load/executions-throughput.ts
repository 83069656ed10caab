/**
 * `npm run load:executions -- [--executions N] [--warmup M] [--concurrency C] [--workers W] [--cpu-prof] [--fast-db]`
 * `npm run load:workflow-runs -- [--runs N] …` (the same as `load:executions -- --workflows`)
 *
 * End-to-end agent executions per second on this machine — or, with --workflows, 3-step
 * workflow runs per second (two parallel roots and a join, load/support/workflow-dag.ts): a
 * throwaway PostgreSQL 15 with its durable defaults (--fast-db: fsync, synchronous_commit and
 * full_page_writes off, said so in the output; or DATABASE_URL), `npm start` in its own process with the in-process
 * SQS stand-in, the local provider at 0 ms, the LLM cache off. First a warm-up, not counted: M
 * starts of a workload of their own (default 10,000 executions or 3,000 runs), in five rounds
 * whose server CPU per start the result lists: a fresh server spends its first thousands of
 * starts compiling (V8 tiers code up on two isolates, API and workers) and growing its heap,
 * and a warm container has done that. Then fires N starts from C concurrent clients, waits
 * until all have finished, and
 * reports from the server's own timestamps:
 *   - throughput: N / (last completed_at − first accepted)
 *   - latency: completed_at − accepted (an execution's queued_at, a run's created_at), p50 / p99
 * Then checks that every start was accepted and has succeeded and, for workflows, that every
 * step ran exactly once (one row per step, succeeded on attempt 1, one model call recorded);
 * exit 1 when a check fails (with the server's log written to a file). Waiting stops when
 * nothing has finished for a minute, with a table of what the rest is waiting on.
 * --cpu-prof (or SWITCHYARD_PROFILE_DIR=dir) has the server write a V8 CPU profile when it
 * stops, summarised by load/profile-summary.ts; --server-log-level WARN shows failed jobs.
 * Also reports database transactions per start and deadlocks (pg_stat_database), and the CPU ms
 * per start of the server, the database and this generator (/proc; steadier than wall clock).
 * Writes load/results/{executions,workflow-runs}-throughput.json. Loopback only; bounded in
 * count and time.
 */
import { mkdir, mkdtemp, readdir, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { Pool } from 'undici';
import { runEntry } from '../test/support/processes.ts';
import { mainThreadProfile, printProfileSummary } from './profile-summary.ts';
import { ownCpuMs, parentPid, processTreeCpuMs } from './support/cpu-time.ts';
import { startLocalServer } from './support/local-server.ts';
import { dagAgentBody, dagRunBody, dagStepKeys, dagWorkflowBody } from './support/workflow-dag.ts';

const { values } = parseArgs({
  options: {
    workflows: { type: 'boolean', default: false },
    executions: { type: 'string' },
    runs: { type: 'string' },
    warmup: { type: 'string' },
    concurrency: { type: 'string', default: '64' },
    workers: { type: 'string', default: '0' },
    'cpu-prof': { type: 'boolean', default: false },
    // PostgreSQL without fsync: quicker, and says so in the output (figures quote durable runs).
    'fast-db': { type: 'boolean', default: false },
    // The server logs errors only; WARN or INFO when a run needs explaining.
    'server-log-level': { type: 'string', default: 'ERROR' },
  },
});
const workflows = values.workflows;
const total = Number(values.runs ?? values.executions ?? (workflows ? 2_000 : 10_000));
const warmup = Number(values.warmup ?? (workflows ? 3_000 : 10_000));
const concurrency = Number(values.concurrency);
const extraWorkers = Number(values.workers);
if (
  !(
    total > 0 &&
    total <= 200_000 &&
    warmup >= 0 &&
    warmup <= 50_000 &&
    concurrency > 0 &&
    concurrency <= 1_000
  )
) {
  throw new Error('--executions (or --runs) 1..200000, --warmup 0..50000, --concurrency 1..1000');
}

// The server writes a V8 CPU profile into this folder when it stops.
const profileDir =
  process.env['SWITCHYARD_PROFILE_DIR'] ??
  (values['cpu-prof'] ? await mkdtemp(join(tmpdir(), 'switchyard-prof-')) : undefined);
const server = await startLocalServer({
  logLevel: values['server-log-level'],
  fastDatabase: values['fast-db'],
  ...(profileDir && { nodeFlags: ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] }),
});
const { apiKey: key, url: base } = server;
if (!server.databaseUrl) {
  await server.stop();
  throw new Error('load:executions measures on PostgreSQL: set DATABASE_URL or install PostgreSQL 15');
}
const databaseUrl = server.databaseUrl;
let stopping = false;
void server.process.exited.then(({ code, signal }) => {
  if (!stopping) console.error(`\nthe server exited during the run (code ${code}, signal ${signal})`);
});
const headers = { authorization: `Bearer ${key}`, 'content-type': 'application/json' };

/** Untimed setup: a POST that must answer 201; returns the created resource's id. */
const create = async (path: string, body: unknown): Promise<string> => {
  const response = await fetch(`${base}${path}`, { method: 'POST', headers, body: JSON.stringify(body) });
  if (response.status !== 201) throw new Error(`POST ${path}: ${response.status} ${await response.text()}`);
  return ((await response.json()) as { id: string }).id;
};

interface Check {
  readonly expected: number;
  readonly found: number;
}

/** What the load starts, and where its rows are. */
interface Workload {
  readonly description: string;
  /** Plural noun of one start, for the messages and the result's keys. */
  readonly noun: 'executions' | 'runs';
  readonly resultFile: string;
  readonly path: string;
  body(n: number): unknown;
  /** The rows of this load: `table` rows whose `owner` column is `id`, accepted at `acceptedAt`. */
  readonly table: 'executions' | 'workflow_executions';
  readonly owner: 'agent_id' | 'workflow_id';
  readonly id: string;
  readonly acceptedAt: 'queued_at' | 'created_at';
  /** Further checks once every row has finished. */
  verify(db: pg.Client): Promise<Record<string, Check>>;
  /** What the rows that did not succeed are waiting on, grouped (a query's rows). */
  readonly unfinished: string;
}

const agentExecutions = async (label: string): Promise<Workload> => {
  const agentId = await create('/v1/agents', {
    name: label,
    model: 'gpt-4o-mini',
    system_prompt: 'Answer briefly.',
    configuration: { cache_ttl_seconds: 0 },
  });
  return {
    description: 'agent executions',
    noun: 'executions',
    resultFile: 'executions-throughput.json',
    path: `/v1/agents/${agentId}/executions`,
    body: (n) => ({ input: `question ${n}` }),
    table: 'executions',
    owner: 'agent_id',
    id: agentId,
    acceptedAt: 'queued_at',
    verify: async () => ({}),
    unfinished: `SELECT status, attempts, count(*)::int AS n FROM executions
                  WHERE agent_id = $1 AND status <> 'succeeded' GROUP BY 1, 2 ORDER BY n DESC LIMIT 20`,
  };
};

const workflowRuns = async (label: string): Promise<Workload> => {
  const agentIds: string[] = [];
  for (const key of dagStepKeys) agentIds.push(await create('/v1/agents', dagAgentBody(`${label}-${key}`)));
  const workflowId = await create('/v1/workflows', dagWorkflowBody(label, agentIds));
  return {
    description: `${dagStepKeys.length}-step workflow runs (2 parallel roots + a join)`,
    noun: 'runs',
    resultFile: 'workflow-runs-throughput.json',
    path: `/v1/workflows/${workflowId}/executions`,
    body: dagRunBody,
    table: 'workflow_executions',
    owner: 'workflow_id',
    id: workflowId,
    acceptedAt: 'created_at',
    unfinished: `SELECT r.status AS run, s.key, s.status AS step, s.attempts, count(*)::int AS n
                   FROM workflow_executions r JOIN workflow_step_runs s ON s.execution_id = r.id
                  WHERE r.workflow_id = $1 AND r.status <> 'succeeded'
                  GROUP BY 1, 2, 3, 4 ORDER BY n DESC LIMIT 20`,
    async verify(db) {
      const steps = await db.query<{ rows: number; once: number }>(
        `SELECT count(*)::int AS rows,
                count(*) FILTER (WHERE s.status = 'succeeded' AND s.attempts = 1)::int AS once
           FROM workflow_step_runs s JOIN workflow_executions r ON r.id = s.execution_id
          WHERE r.workflow_id = $1`,
        [workflowId],
      );
      // The agents are this run's own: each model call a step completion recorded counts once here.
      const calls = await db.query<{ calls: number }>(
        'SELECT COALESCE(sum(executions), 0)::int AS calls FROM usage_daily WHERE agent_id = ANY($1::uuid[])',
        [agentIds],
      );
      const expected = total * dagStepKeys.length;
      return {
        'step rows': { expected, found: steps.rows[0]!.rows },
        'steps succeeded on attempt 1': { expected, found: steps.rows[0]!.once },
        'model calls recorded': { expected, found: calls.rows[0]!.calls },
      };
    },
  };
};

/** Fires `count` starts from `concurrency` clients; returns the seconds it took and how many were not 202. */
const fire = async (workload: Workload, count = total): Promise<{ seconds: number; rejected: number }> => {
  let sent = 0;
  let rejected = 0;
  /** Statuses other than 202, each with the first body that came with it. */
  const refusals = new Map<number, { count: number; body: string }>();
  const started = performance.now();
  // undici's pool rather than fetch: the load generator shares the machine's two cores with
  // the system under test, so it should spend as little of them as it can.
  const pool = new Pool(base, { connections: concurrency, pipelining: 1 });
  /** One start: 202, or the status (0: no answer) and body that came instead. */
  const start = async (n: number): Promise<{ status: number; body?: string }> => {
    try {
      const response = await pool.request({
        path: workload.path,
        method: 'POST',
        headers,
        body: JSON.stringify(workload.body(n)),
      });
      if (response.statusCode === 202) {
        await response.body.dump();
        return { status: 202 };
      }
      return { status: response.statusCode, body: await response.body.text() };
    } catch (error) {
      return { status: 0, body: (error as Error).message };
    }
  };
  const client = async () => {
    while (sent < count) {
      const { status, body = '' } = await start(sent++);
      if (status === 202) continue;
      rejected += 1;
      const seen = refusals.get(status);
      if (seen) seen.count += 1;
      else refusals.set(status, { count: 1, body: body.slice(0, 500) });
    }
  };
  const progress = setInterval(() => process.stdout.write(`\raccepted ${sent}/${count}`), 500);
  await Promise.all(Array.from({ length: concurrency }, client));
  clearInterval(progress);
  const seconds = (performance.now() - started) / 1000;
  await pool.close();
  console.log(
    `\raccepted ${count} in ${seconds.toFixed(1)} s (${(count / seconds).toFixed(0)}/s), ${rejected} not 202`,
  );
  for (const [status, { count, body }] of refusals) console.error(`  ${count} × ${status}, first: ${body}`);
  return { seconds, rejected };
};

/** Nothing finished for this long: the rest is stuck, and waiting longer proves nothing. */
const STALL_MS = 60_000;

/**
 * Waits until every accepted start has finished (at most 10 minutes, or until nothing has
 * finished for a minute: then says what the rest is waiting on), then measures them from
 * their own timestamps.
 */
const measure = async (db: pg.Client, workload: Workload, accepted: number) => {
  const { table, owner, acceptedAt } = workload;
  const deadline = Date.now() + 10 * 60_000;
  let finished = -1;
  let progressAt = Date.now();
  for (;;) {
    const { rows } = await db.query<{ done: number; failed: number }>(
      `SELECT count(*) FILTER (WHERE status = 'succeeded')::int AS done,
              count(*) FILTER (WHERE status IN ('failed', 'cancelled'))::int AS failed
         FROM ${table} WHERE ${owner} = $1`,
      [workload.id],
    );
    const { done, failed } = rows[0]!;
    process.stdout.write(`\rsucceeded ${done}/${accepted}`);
    if (done + failed >= accepted) break;
    if (done + failed > finished) [finished, progressAt] = [done + failed, Date.now()];
    if (Date.now() > deadline || Date.now() - progressAt > STALL_MS) {
      const stuck = await db.query(workload.unfinished, [workload.id]);
      console.error(`\n${accepted - done - failed} ${workload.noun} not finished; waiting on:`);
      console.table(stuck.rows);
      break;
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  const latency = (q: number) =>
    `(percentile_cont(${q}) WITHIN GROUP (ORDER BY extract(epoch FROM completed_at - ${acceptedAt})) * 1000)::float`;
  const { rows } = await db.query<{ n: number; seconds: number; p50: number; p99: number; failed: number }>(
    `SELECT count(*)::int AS n,
            extract(epoch FROM max(completed_at) - min(${acceptedAt}))::float AS seconds,
            ${latency(0.5)} AS p50, ${latency(0.99)} AS p99,
            count(*) FILTER (WHERE status <> 'succeeded')::int AS failed
       FROM ${table} WHERE ${owner} = $1`,
    [workload.id],
  );
  return rows[0]!;
};

let failedChecks: string[] = [];
/** The server's output, kept in a file when the run went wrong. */
const keepServerLog = async (): Promise<string> => {
  const log = join(tmpdir(), `switchyard-throughput-${process.pid}.log`);
  await writeFile(log, server.process.output());
  return log;
};
try {
  const workers = [];
  const sqsEndpoint = /fauxqs \(in-process\) at (\S+)/.exec(server.process.output())?.[1];
  for (let i = 0; i < extraWorkers && sqsEndpoint; i += 1) {
    const worker = runEntry('bin/worker.ts', [], {
      ...server.env,
      AWS_ENDPOINT_URL_SQS: sqsEndpoint,
      AWS_ACCESS_KEY_ID: 'local',
      AWS_SECRET_ACCESS_KEY: 'local',
      AWS_REGION: 'us-east-1',
    });
    await worker.waitFor(/worker ready/, 30_000);
    workers.push(worker);
  }
  const workloadOf = workflows ? workflowRuns : agentExecutions;
  const db = new pg.Client({ connectionString: databaseUrl });
  await db.connect();
  /** The server's CPU ms per start in each warm-up round: how far from warm each round was. */
  const warmUpRounds: number[] = [];
  if (warmup > 0) {
    const warm = await workloadOf('warm-up');
    const round = Math.ceil(warmup / 5);
    let accepted = 0;
    for (let fired = 0; fired < warmup; fired += round) {
      const count = Math.min(round, warmup - fired);
      const cpuBefore = processTreeCpuMs(server.process.child.pid);
      process.stdout.write(`warm-up round ${warmUpRounds.length + 1}: `);
      const { rejected } = await fire(warm, count);
      accepted += count - rejected;
      await measure(db, warm, accepted);
      const cpuAfter = processTreeCpuMs(server.process.child.pid);
      if (cpuBefore !== undefined && cpuAfter !== undefined) {
        warmUpRounds.push(Math.round(((cpuAfter - cpuBefore) / count) * 1000) / 1000);
      }
      process.stdout.write('\n');
    }
  }
  const workload = await workloadOf('throughput');
  // The database's own counters: transactions (each statement outside BEGIN … COMMIT is one)
  // and lock cycles broken (each aborts a transaction after deadlock_timeout). An idle backend
  // flushes its counts within 10 s (PostgreSQL 15), hence the wait; this tool's polling counts too.
  const counters = async () =>
    (
      await db.query<{ transactions: number; deadlocks: number }>(
        `SELECT (xact_commit + xact_rollback)::int AS transactions, deadlocks::int AS deadlocks
           FROM pg_stat_database WHERE datname = current_database()`,
      )
    ).rows[0]!;
  const before = await counters();
  // CPU each party spent on the measured starts: unlike starts per second, it does not move
  // with whatever else the machine runs. The database's processes are the postmaster's tree.
  const postmaster = parentPid(
    (await db.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid,
  );
  const cpu = () => ({
    server: processTreeCpuMs(server.process.child.pid),
    database: processTreeCpuMs(postmaster),
    load_generator: ownCpuMs(),
  });
  const cpuBefore = cpu();
  const { seconds: acceptSeconds, rejected } = await fire(workload);
  const r = await measure(db, workload, total - rejected);
  const cpuAfter = cpu();
  const cpuPerStart = Object.fromEntries(
    Object.entries(cpuAfter).map(([party, ms]) => {
      const spent = ms === undefined ? undefined : ms - (cpuBefore[party as keyof typeof cpuBefore] ?? 0);
      return [party, spent === undefined ? null : Math.round((spent / total) * 1000) / 1000];
    }),
  );
  await new Promise((resolve) => setTimeout(resolve, 11_000));
  const after = await counters();
  const checks: Record<string, Check> = {
    accepted: { expected: total, found: total - rejected },
    succeeded: { expected: total, found: r.n - r.failed },
    ...(await workload.verify(db)),
  };
  await db.end();
  failedChecks = Object.entries(checks).flatMap(([name, c]) =>
    c.found === c.expected ? [] : [`${name}: ${c.found}, expected ${c.expected}`],
  );
  const perSecond = r.n / r.seconds;
  const result = {
    measured_at: new Date().toISOString(),
    machine: { cores: cpus().length, node: process.version },
    setup: {
      workload: workload.description,
      database: server.label,
      queues: 'fauxqs in the API process',
      provider: 'local, 0 ms',
      extra_worker_processes: workers.length,
      concurrency,
      warm_up_starts: warmup,
      warm_up_server_cpu_ms_per_start_by_round: warmUpRounds,
    },
    [workload.noun]: r.n,
    failed: r.failed,
    [`${workload.noun}_per_second`]: Math.round(perSecond),
    ...(workflows && { steps_per_second: Math.round(perSecond * dagStepKeys.length) }),
    accept_per_second: Math.round(total / acceptSeconds),
    accept_to_succeeded_ms: { p50: Math.round(r.p50), p99: Math.round(r.p99) },
    // null where /proc cannot see the process (not Linux, or a remote DATABASE_URL).
    cpu_ms_per_start: cpuPerStart,
    database_transactions_per_start:
      Math.round(((after.transactions - before.transactions) / total) * 10) / 10,
    database_deadlocks: after.deadlocks - before.deadlocks,
    checks,
    all_checks_passed: failedChecks.length === 0,
  };
  console.log(`\n${JSON.stringify(result, null, 2)}`);
  await mkdir('load/results', { recursive: true });
  await writeFile(join('load/results', workload.resultFile), `${JSON.stringify(result, null, 2)}\n`);
  for (const worker of workers) {
    worker.child.kill('SIGTERM');
    await worker.exited;
  }
} catch (error) {
  console.error(`${(error as Error).message}\nthe server's output: ${await keepServerLog()}`);
  throw error;
} finally {
  stopping = true;
  await server.stop();
}
if (profileDir) {
  const latest = mainThreadProfile(await readdir(profileDir));
  if (latest) await printProfileSummary(join(profileDir, latest));
  else console.error(`no main-thread .cpuprofile in ${profileDir}: did the server exit cleanly?`);
}
if (failedChecks.length > 0) {
  console.error(`checks failed: ${failedChecks.join('; ')}\nthe server's output: ${await keepServerLog()}`);
  process.exit(1);
}
