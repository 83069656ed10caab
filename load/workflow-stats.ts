/**
 * `npm run bench:stats -- [--executions 1000000] [--workflows 100] [--days 60] [--iterations 200] [--keep]`
 *
 * The 30-day workflow statistics on PostgreSQL 15 at scale: one tenant, `--workflows` workflows
 * and `--executions` runs spread over the last `--days` days (test/support/workflow-fixture.ts:
 * set-based SQL; ~90% succeeded, ~8% failed, ~1% cancelled, 1% queued or running in the last
 * hour), the daily rollups built from the finished runs as the workers write them, VACUUM ANALYZE.
 * Then, with the repository's own code (WorkflowRepository over createDatabase):
 *   - checks once, in one transaction (one now()), that `stats(tenant)` gives the seed's naive
 *     query's counts and average duration (within 1 ms) for every workflow, and that
 *     `stats(tenant, id)` gives the same row as the all-workflows query; exits 1 if not;
 *   - times `stats(tenant)`, `stats(tenant, id)` (rotating through the workflows), the naive
 *     query for all workflows and for one, and the workflows list page (its lateral run count),
 *     interleaved, `--iterations` each after a warm-up: p50 / p95 / p99 / max, and p95 ÷ naive.
 * A throwaway PostgreSQL 15 (test/support/real-servers.ts) unless DATABASE_URL is set; on a
 * DATABASE_URL that already holds this seed with the same shape, the seed is reused. `--keep`
 * leaves the throwaway server and its data running after the report (its URL is printed; pass
 * it as DATABASE_URL to measure again without seeding) until Ctrl-C.
 * Writes load/results/workflow-stats.json. Goal (issue): stats p95 ≤ 50 ms.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { createDatabase, type Database, type Queryable } from '#adapters/postgres/db.ts';
import { migrate } from '#adapters/postgres/migrate.ts';
import { WorkflowRepository } from '#adapters/postgres/workflows.ts';
import type { WorkflowStats } from '#domain/workflow.ts';
import { type RunningServer, startPostgres } from '../test/support/real-servers.ts';
import {
  buildRollups,
  captureStatements,
  clientQueryable,
  explain,
  planNodes,
  type SeededWorkflows,
  type Statement,
  seedDefinitions,
  seedRuns,
  seedTenantId,
  type WorkflowSeed,
} from '../test/support/workflow-fixture.ts';
import { markdownTable, quantile, ratio } from './bench/stats.ts';

const { values } = parseArgs({
  options: {
    executions: { type: 'string', default: '1000000' },
    workflows: { type: 'string', default: '100' },
    days: { type: 'string', default: '60' },
    iterations: { type: 'string', default: '200' },
    keep: { type: 'boolean', default: false },
  },
});
const seed: WorkflowSeed = {
  tenants: 1,
  workflowsPerTenant: Number(values.workflows),
  executions: Number(values.executions),
  days: Number(values.days),
};
const iterations = Number(values.iterations);
const warmup = Math.min(20, iterations);
const whole = (n: number, low: number, high: number) => Number.isInteger(n) && n >= low && n <= high;
if (
  !whole(seed.executions, 1_000, 20_000_000) ||
  !whole(seed.workflowsPerTenant, 1, 10_000) ||
  !whole(seed.days, 31, 3_650) ||
  !whole(iterations, 1, 100_000)
) {
  throw new Error(
    '--executions 1000..20000000, --workflows 1..10000, --days 31..3650, --iterations 1..100000',
  );
}

const root = resolve(import.meta.dirname, '..');
const started = Date.now();
const startLoad = loadavg()[0]!.toFixed(2);
const step = (text: string) => console.error(`[${((Date.now() - started) / 1000).toFixed(0)} s] ${text}`);
const secondsSince = (t: number) => Math.round((performance.now() - t) / 100) / 10;

let server: RunningServer | undefined;
const givenUrl = process.env['DATABASE_URL'];
if (!givenUrl) {
  step('starting a throwaway PostgreSQL');
  server = await startPostgres({ durable: true });
}
const url = givenUrl ?? server!.url;
// Seeding runs statements of tens of seconds: a client of its own, without the pool's statement timeout.
const admin = new pg.Client({ connectionString: url });
await admin.connect();
const adminQuery = clientQueryable(admin);
const db = createDatabase({ connectionString: url, max: 2 });

interface Timed {
  readonly name: string;
  rows: number;
  readonly samples: number[];
}

try {
  const pgVersion = (
    await adminQuery.query<{ v: string }>("SELECT current_setting('server_version') AS v")
  )[0]!.v;
  const migrateStarted = performance.now();
  await migrate(url);
  const seedSeconds: Record<string, number> = { migrate: secondsSince(migrateStarted) };

  // ---- seed ---------------------------------------------------------------------------------------

  const tenantId = seedTenantId(1);
  const existing = (
    await adminQuery.query<{ workflows: number; runs: number }>(
      `SELECT (SELECT count(*)::int FROM workflows WHERE tenant_id = $1) AS workflows,
              (SELECT count(*)::int FROM workflow_executions WHERE tenant_id = $1) AS runs`,
      [tenantId],
    )
  )[0]!;
  let seeded: SeededWorkflows;
  let reused = false;
  if (existing.workflows === seed.workflowsPerTenant && existing.runs === seed.executions) {
    step(`reusing the seed already in the database (${existing.runs} runs)`);
    const ids = await adminQuery.query<{ id: string }>(
      'SELECT id FROM workflows WHERE tenant_id = $1 ORDER BY id',
      [tenantId],
    );
    seeded = { tenantIds: [tenantId], workflowIds: [ids.map((row) => row.id)] };
    reused = true;
  } else {
    if (existing.workflows > 0) {
      step('removing an earlier seed of another shape');
      for (const sql of [
        'DELETE FROM workflow_stats_daily WHERE workflow_id IN (SELECT id FROM workflows WHERE tenant_id = $1)',
        'DELETE FROM workflow_executions WHERE tenant_id = $1',
        'DELETE FROM workflow_steps WHERE workflow_id IN (SELECT id FROM workflows WHERE tenant_id = $1)',
        'DELETE FROM workflows WHERE tenant_id = $1',
        'DELETE FROM agents WHERE tenant_id = $1',
        'DELETE FROM tenants WHERE id = $1',
      ]) {
        await adminQuery.query(sql, [tenantId]);
      }
    }
    const phase = async <T>(name: string, work: () => Promise<T>): Promise<T> => {
      step(`seed: ${name}`);
      const t = performance.now();
      const result = await work();
      seedSeconds[name] = secondsSince(t);
      return result;
    };
    const seedStarted = performance.now();
    seeded = await phase('definitions', () => seedDefinitions(adminQuery, seed));
    await phase('executions', () => seedRuns(adminQuery, seed, seeded));
    await phase('rollups', () => buildRollups(adminQuery, seeded));
    await phase('vacuum analyze', () => adminQuery.query('VACUUM ANALYZE'));
    seedSeconds['total'] = secondsSince(seedStarted);
  }
  const workflowIds = seeded.workflowIds[0]!;
  const shape = (
    await adminQuery.query<Record<string, string>>(
      `SELECT count(*) AS runs, count(*) FILTER (WHERE status = 'succeeded') AS succeeded,
              count(*) FILTER (WHERE status = 'failed') AS failed, count(*) FILTER (WHERE status = 'cancelled') AS cancelled,
              count(*) FILTER (WHERE status IN ('queued', 'running')) AS unfinished,
              count(*) FILTER (WHERE created_at > now() - interval '30 days') AS in_window,
              min(created_at) AS oldest, max(created_at) AS newest,
              (SELECT count(*) FROM workflow_stats_daily d WHERE d.workflow_id = ANY($2::uuid[])) AS rollup_rows,
              pg_size_pretty(pg_total_relation_size('workflow_executions')) AS table_size
         FROM workflow_executions WHERE tenant_id = $1`,
      [tenantId, workflowIds],
    )
  )[0]!;
  step(`seeded: ${JSON.stringify(shape)}`);

  // ---- the statements -----------------------------------------------------------------------------

  // Seed 000's getWorkflowStatistics, in this schema's terms ('completed' → 'succeeded', user → tenant).
  const naiveSql = (oneWorkflow: boolean) => `WITH workflow_stats AS (
      SELECT workflow_id, COUNT(*) AS execution_count,
             AVG(EXTRACT(EPOCH FROM (completed_at - started_at))) AS avg_duration_seconds,
             SUM(CASE WHEN status = $1 THEN 1 ELSE 0 END) AS success_count,
             SUM(CASE WHEN status = $2 THEN 1 ELSE 0 END) AS failure_count
        FROM workflow_executions
       WHERE created_at > NOW() - INTERVAL '30 days'
       GROUP BY workflow_id
    )
    SELECT w.id, w.name, COALESCE(ws.execution_count, 0) AS execution_count,
           COALESCE(ws.avg_duration_seconds, 0) AS avg_duration_seconds,
           COALESCE(ws.success_count, 0) AS success_count, COALESCE(ws.failure_count, 0) AS failure_count,
           CASE WHEN ws.execution_count > 0
                THEN ROUND((ws.success_count::numeric / ws.execution_count) * 100, 2) ELSE 0 END AS success_rate
      FROM workflows w LEFT JOIN workflow_stats ws ON ws.workflow_id = w.id
     WHERE w.tenant_id = $3 AND w.deleted_at IS NULL${oneWorkflow ? ' AND w.id = $4' : ''}
     ORDER BY ws.execution_count DESC NULLS LAST`;
  interface NaiveRow {
    id: string;
    execution_count: string;
    avg_duration_seconds: string;
    success_count: string;
    failure_count: string;
  }
  const naive = (q: Queryable, workflowId?: string) =>
    q.query<NaiveRow>(naiveSql(workflowId !== undefined), [
      'succeeded',
      'failed',
      tenantId,
      ...(workflowId ? [workflowId] : []),
    ]);
  const repository = new WorkflowRepository(db);

  // ---- correctness, once, in one transaction ------------------------------------------------------

  step('checking the repository against the naive query');
  const mismatches = await db.transaction(async (tx) => {
    const inTx: Database = { ...tx, transaction: (work) => work(tx), close: async () => {} };
    const repo = new WorkflowRepository(inTx);
    const ours = await repo.stats(tenantId);
    const theirs = new Map((await naive(tx)).map((row) => [row.id, row]));
    const problems: string[] = [];
    if (ours.length !== theirs.size) problems.push(`${ours.length} workflows, naive ${theirs.size}`);
    const compare = (label: string, a: WorkflowStats, b: NaiveRow | WorkflowStats | undefined) => {
      if (!b) return problems.push(`${label}: missing`);
      const other =
        'execution_count' in b
          ? {
              executionCount: Number(b.execution_count),
              successCount: Number(b.success_count),
              failureCount: Number(b.failure_count),
              avgDurationSeconds: Number(b.avg_duration_seconds),
            }
          : b;
      for (const key of ['executionCount', 'successCount', 'failureCount'] as const) {
        if (a[key] !== other[key]) problems.push(`${label}: ${key} ${a[key]} ≠ ${other[key]}`);
      }
      const diffMs = Math.abs(a.avgDurationSeconds - other.avgDurationSeconds) * 1000;
      if (!(diffMs <= 1)) problems.push(`${label}: avg duration differs by ${diffMs.toFixed(3)} ms`);
      return problems.length;
    };
    for (const row of ours) compare(`stats(tenant) ${row.workflowId}`, row, theirs.get(row.workflowId));
    const byId = new Map(ours.map((row) => [row.workflowId, row]));
    for (const id of workflowIds.slice(0, 10)) {
      const one = await repo.stats(tenantId, id);
      if (one.length !== 1) problems.push(`stats(tenant, ${id}): ${one.length} rows`);
      else compare(`stats(tenant, ${id}) vs stats(tenant)`, one[0]!, byId.get(id));
    }
    return problems;
  });
  if (mismatches.length > 0) {
    console.error(`the repository's statistics differ from the naive query's:\n${mismatches.join('\n')}`);
    process.exitCode = 1;
  } else {
    step(`the repository and the naive query agree on all ${workflowIds.length} workflows`);
  }

  // ---- plans, once ------------------------------------------------------------------------------------

  const firstStatement = async (call: (database: Database) => Promise<unknown>): Promise<Statement> =>
    (await captureStatements(call))[0]!;
  const statements: Record<string, Statement> = {
    'stats(tenant)': await firstStatement((d) => new WorkflowRepository(d).stats(tenantId)),
    'stats(tenant, id)': await firstStatement((d) =>
      new WorkflowRepository(d).stats(tenantId, workflowIds[0]),
    ),
    'naive, all workflows': { text: naiveSql(false), values: ['succeeded', 'failed', tenantId] },
    'naive, one workflow': {
      text: naiveSql(true),
      values: ['succeeded', 'failed', tenantId, workflowIds[0]],
    },
    'workflows list page (limit 21)': await firstStatement((d) =>
      new WorkflowRepository(d).page({ tenantId, limit: 21 }),
    ),
  };
  const plans: Record<string, unknown> = {};
  for (const [name, statement] of Object.entries(statements)) {
    const explained = await explain(adminQuery, statement, ['ANALYZE', 'BUFFERS']);
    const nodes = planNodes(explained.plan);
    plans[name] = {
      executionMs: explained.executionMs,
      sharedHit: explained.plan['Shared Hit Blocks'],
      sharedRead: explained.plan['Shared Read Blocks'],
      scans: [
        ...new Set(
          nodes
            .filter((n) => n['Relation Name'] || n['Index Name'])
            .map((n) => `${n['Node Type']} ${n['Index Name'] ?? n['Relation Name']}`),
        ),
      ],
      plan: explained.plan,
    };
  }

  // ---- timings, interleaved ------------------------------------------------------------------------

  const timed: Timed[] = [];
  const cases: { name: string; run: (i: number) => Promise<unknown[]> }[] = [
    { name: 'stats(tenant): all workflows', run: () => repository.stats(tenantId) },
    {
      name: 'stats(tenant, id): one workflow',
      run: (i) => repository.stats(tenantId, workflowIds[i % workflowIds.length]),
    },
    { name: 'naive (seed 000), all workflows', run: () => naive(db) },
    { name: 'naive (seed 000), one workflow', run: (i) => naive(db, workflowIds[i % workflowIds.length]) },
    { name: 'workflows list page (limit 21)', run: () => repository.page({ tenantId, limit: 21 }) },
  ];
  for (const c of cases) timed.push({ name: c.name, rows: 0, samples: [] });
  step(`timing: ${iterations} rounds of ${cases.length} queries after ${warmup} warm-up rounds`);
  for (let i = 0; i < warmup + iterations; i += 1) {
    for (const [index, c] of cases.entries()) {
      const t = performance.now();
      const rows = await c.run(i);
      const elapsed = performance.now() - t;
      if (i >= warmup) {
        timed[index]!.samples.push(elapsed);
        timed[index]!.rows = rows.length;
      }
    }
  }

  // ---- report ----------------------------------------------------------------------------------------

  const summary = (samples: readonly number[]) => {
    const sorted = [...samples].sort((a, b) => a - b);
    return {
      n: sorted.length,
      p50: quantile(sorted, 0.5),
      p95: quantile(sorted, 0.95),
      p99: quantile(sorted, 0.99),
      max: sorted.at(-1)!,
    };
  };
  const figures = timed.map((t) => ({ name: t.name, rows: t.rows, ...summary(t.samples) }));
  const naiveOf = (name: string) =>
    figures.find((f) => f.name === (name.includes('one workflow') ? cases[3]!.name : cases[2]!.name))!;
  const fixed = (n: number) => n.toFixed(2);
  const rows = figures.map((f) => [
    f.name,
    String(f.rows),
    fixed(f.p50),
    fixed(f.p95),
    fixed(f.p99),
    fixed(f.max),
    f.name.startsWith('stats') ? ratio(f.p95, naiveOf(f.name).p95) : '',
  ]);
  const machine = {
    date: new Date().toISOString(),
    cpus: `${cpus().length} × ${cpus()[0]?.model ?? 'unknown'}`,
    node: process.version,
    postgres: pgVersion,
    database: givenUrl ? 'DATABASE_URL' : 'throwaway (test/support/real-servers.ts)',
    // Other work on the machine shows here: the figures are only as quiet as the cores were.
    loadAverage: { start: startLoad, end: loadavg()[0]!.toFixed(2) },
  };
  const seedLine = reused
    ? 'seed reused from an earlier run'
    : `migrations ${seedSeconds['migrate']} s, seeded in ${seedSeconds['total']} s (${Object.entries(
        seedSeconds,
      )
        .filter(([name]) => name !== 'total' && name !== 'migrate')
        .map(([name, s]) => `${name} ${s} s`)
        .join(', ')})`;
  const markdown = `# Workflow statistics, PostgreSQL ${pgVersion}

${machine.date} · ${machine.cpus} · Node ${machine.node} · load average ${startLoad} → ${machine.loadAverage.end}

${seed.executions} runs of one tenant across ${workflowIds.length} workflows over ${seed.days} days \
(${shape['in_window']} in the 30-day window, ${shape['unfinished']} unfinished, ${shape['rollup_rows']} rollup rows, \
workflow_executions ${shape['table_size']}); ${seedLine}. \
${iterations} rounds after ${warmup} warm-up, the queries interleaved; milliseconds, client-side \
(node-postgres over loopback). Correctness: ${mismatches.length === 0 ? 'the repository matches the naive query' : `${mismatches.length} MISMATCHES`}.

${markdownTable(['query', 'rows', 'p50 ms', 'p95 ms', 'p99 ms', 'max ms', 'p95 ÷ naive'], rows)}
`;
  const out = join(root, 'load/results');
  await mkdir(out, { recursive: true });
  await writeFile(
    join(out, 'workflow-stats.json'),
    `${JSON.stringify(
      {
        machine,
        seed: { ...seed, reused, seconds: seedSeconds, shape },
        iterations,
        warmup,
        correct: mismatches.length === 0,
        mismatches,
        figures,
        plans,
        markdown,
      },
      null,
      2,
    )}\n`,
  );
  console.log(markdown);

  if (values.keep && server) {
    console.error(`--keep: PostgreSQL keeps running with the data at ${server.url} (Ctrl-C stops it)`);
    const alive = setInterval(() => {}, 1 << 30);
    await new Promise<void>((done) => process.once('SIGINT', () => done()));
    clearInterval(alive);
  }
} finally {
  await db.close();
  await admin.end();
  await server?.stop();
}
