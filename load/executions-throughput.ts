/**
 * `npm run load:executions -- [--executions N] [--concurrency C] [--workers W]`
 *
 * End-to-end agent executions per second on this machine: a throwaway PostgreSQL 15 (or
 * DATABASE_URL), `npm start` in its own process with the in-process SQS stand-in, the local
 * provider at 0 ms, the LLM cache off. Fires N executions from C concurrent clients, waits
 * until all have succeeded, and reports from the server's own timestamps:
 *   - throughput: N / (last completed_at − first queued_at)
 *   - latency: completed_at − queued_at (accept to succeeded), p50 / p99
 * Writes load/results/executions-throughput.json. Loopback only; bounded in count and time.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { Pool } from 'undici';
import { runEntry } from '../test/support/processes.ts';
import { startLocalServer } from './support/local-server.ts';

const { values } = parseArgs({
  options: {
    executions: { type: 'string', default: '10000' },
    concurrency: { type: 'string', default: '64' },
    workers: { type: 'string', default: '0' },
  },
});
const total = Number(values.executions);
const concurrency = Number(values.concurrency);
const extraWorkers = Number(values.workers);
if (!(total > 0 && total <= 200_000 && concurrency > 0 && concurrency <= 1_000)) {
  throw new Error('--executions 1..200000, --concurrency 1..1000');
}

// SWITCHYARD_PROFILE_DIR=dir: the server writes a V8 CPU profile there when it stops.
const profileDir = process.env['SWITCHYARD_PROFILE_DIR'];
const server = await startLocalServer(
  profileDir ? { nodeFlags: ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] } : {},
);
const { apiKey: key, url: base } = server;
if (!server.databaseUrl) {
  await server.stop();
  throw new Error('load:executions measures on PostgreSQL: set DATABASE_URL or install PostgreSQL 15');
}
const databaseUrl = server.databaseUrl;

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
  const headers = { authorization: `Bearer ${key}`, 'content-type': 'application/json' };
  const created = await fetch(`${base}/v1/agents`, {
    method: 'POST',
    headers,
    body: JSON.stringify({
      name: 'throughput',
      model: 'gpt-4o-mini',
      system_prompt: 'Answer briefly.',
      configuration: { cache_ttl_seconds: 0 },
    }),
  });
  const agent = (await created.json()) as { id: string };

  let sent = 0;
  let rejected = 0;
  const acceptStarted = performance.now();
  // undici's pool rather than fetch: the load generator shares the machine's two cores with
  // the system under test, so it should spend as little of them as it can.
  const pool = new Pool(base, { connections: concurrency, pipelining: 1 });
  const client = async () => {
    while (sent < total) {
      const n = sent++;
      const response = await pool.request({
        path: `/v1/agents/${agent.id}/executions`,
        method: 'POST',
        headers,
        body: JSON.stringify({ input: `question ${n}` }),
      });
      await response.body.dump();
      if (response.statusCode !== 202) rejected += 1;
    }
  };
  const progress = setInterval(() => process.stdout.write(`\raccepted ${sent}/${total}`), 500);
  await Promise.all(Array.from({ length: concurrency }, client));
  clearInterval(progress);
  const acceptSeconds = (performance.now() - acceptStarted) / 1000;
  await pool.close();
  console.log(
    `\raccepted ${total} in ${acceptSeconds.toFixed(1)} s (${(total / acceptSeconds).toFixed(0)}/s), ${rejected} not 202`,
  );

  const db = new pg.Client({ connectionString: databaseUrl });
  await db.connect();
  const deadline = Date.now() + 10 * 60_000;
  for (;;) {
    const { rows } = await db.query<{ done: number; failed: number }>(
      `SELECT count(*) FILTER (WHERE status = 'succeeded')::int AS done,
              count(*) FILTER (WHERE status = 'failed')::int AS failed
         FROM executions WHERE agent_id = $1`,
      [agent.id],
    );
    process.stdout.write(`\rsucceeded ${rows[0]!.done}/${total - rejected}`);
    if (rows[0]!.done + rows[0]!.failed >= total - rejected) break;
    if (Date.now() > deadline) throw new Error('executions did not finish within 10 minutes');
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  const { rows } = await db.query<{
    n: number;
    seconds: number;
    p50: number;
    p99: number;
    failed: number;
  }>(
    `SELECT count(*)::int AS n,
            extract(epoch FROM max(completed_at) - min(queued_at))::float AS seconds,
            (percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM completed_at - queued_at)) * 1000)::float AS p50,
            (percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM completed_at - queued_at)) * 1000)::float AS p99,
            count(*) FILTER (WHERE status <> 'succeeded')::int AS failed
       FROM executions WHERE agent_id = $1`,
    [agent.id],
  );
  await db.end();
  const r = rows[0]!;
  const result = {
    measured_at: new Date().toISOString(),
    machine: { cores: (await import('node:os')).cpus().length, node: process.version },
    setup: {
      database: server.label,
      queues: 'fauxqs in the API process',
      provider: 'local, 0 ms',
      extra_worker_processes: workers.length,
      concurrency,
    },
    executions: r.n,
    failed: r.failed,
    executions_per_second: Math.round(r.n / r.seconds),
    accept_per_second: Math.round(total / acceptSeconds),
    accept_to_succeeded_ms: { p50: Math.round(r.p50), p99: Math.round(r.p99) },
  };
  console.log(`\n${JSON.stringify(result, null, 2)}`);
  await mkdir('load/results', { recursive: true });
  await writeFile('load/results/executions-throughput.json', `${JSON.stringify(result, null, 2)}\n`);
  for (const worker of workers) {
    worker.child.kill('SIGTERM');
    await worker.exited;
  }
} finally {
  await server.stop();
}
