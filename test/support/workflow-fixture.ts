import type pg from 'pg';
import type { Database, Queryable } from '#adapters/postgres/db.ts';

/**
 * Workflows and their runs inserted with set-based SQL (INSERT … SELECT over generate_series),
 * for the query-plan test and the statistics bench (load/workflow-stats.ts): a million runs in
 * well under a minute. Shape: each tenant has a few agents and `workflowsPerTenant` workflows of
 * three steps (a → b → c) with varied names; the runs are spread over the workflows at random
 * (evenly, or skewed towards the first ones),
 * 99% finished, uniformly over the last `days` days (up to 10 minutes ago) — ~90% succeeded,
 * ~8% failed, ~1% cancelled — and 1% still queued or running, created in the last hour. Ids are
 * UUIDv7 of their creation time. The daily rollups are built from the finished runs as the
 * workers write them when a run finishes.
 */
export interface WorkflowSeed {
  readonly tenants: number;
  readonly workflowsPerTenant: number;
  /** Runs across all the workflows. */
  readonly executions: number;
  readonly days: number;
  readonly agentsPerTenant?: number;
  /** Every n-th workflow of a tenant is soft-deleted (0: none). */
  readonly deletedEvery?: number;
  /**
   * How unevenly the runs fall on the workflows: workflow ⌊n·u^skew⌋ for u uniform in [0, 1).
   * 1 (the default): evenly; 2: the first workflow of n gets about 1/√n of the runs.
   */
  readonly skew?: number;
}

export interface SeededWorkflows {
  readonly tenantIds: string[];
  /** Per tenant, its workflows (live and deleted) in creation order. */
  readonly workflowIds: string[][];
}

/** The bench and the test use their own database; the fixed ids keep a shared one recognisable. */
const hex = (n: number, width: number) => n.toString(16).padStart(width, '0');
export const seedTenantId = (t: number) => `0190f000-0000-7000-8000-${hex(t, 12)}`;
const agentId = (t: number, a: number) => `0190f001-${hex(t, 4)}-7000-8000-${hex(a, 12)}`;
const workflowId = (t: number, w: number) => `0190f002-${hex(t, 4)}-7000-8000-${hex(w, 12)}`;

/** Names with shared prefixes ("Rep…": report, reply, repo), so a prefix search has something to tell apart. */
const nameWords = [
  'Report digest',
  'Reply drafting',
  'Repo sync',
  'Refund review',
  'Research brief',
  'Invoice extraction',
  'Onboarding email',
  'Ticket triage',
  'Summarise call',
  'Translate article',
  'Classify feedback',
  'Escalation check',
  'Lead scoring',
  'Churn signals',
  'Survey analysis',
  'Forecast update',
  'Audit trail',
  'Moderation pass',
  'Backfill embeddings',
  'Contract clauses',
];

const range = (n: number) => Array.from({ length: n }, (_, i) => i + 1);

/** Tenants, agents, workflows and their version-1 steps. */
export const seedDefinitions = async (db: Queryable, seed: WorkflowSeed): Promise<SeededWorkflows> => {
  const tenants = range(seed.tenants);
  const agents = range(seed.agentsPerTenant ?? 3);
  const workflows = range(seed.workflowsPerTenant);
  const tenantIds = tenants.map(seedTenantId);
  const workflowIds = tenants.map((t) => workflows.map((w) => workflowId(t, w)));
  await db.query(
    `INSERT INTO tenants (id, name) SELECT id, 'workflow-seed-' || id FROM unnest($1::uuid[]) AS t(id)`,
    [tenantIds],
  );
  const agentRows = tenants.flatMap((t) =>
    agents.map((a) => ({ id: agentId(t, a), tenant: seedTenantId(t) })),
  );
  await db.query(
    `INSERT INTO agents (id, tenant_id, name, model, system_prompt, created_at, updated_at)
     SELECT id, tenant, 'seed agent', 'gpt-4o-mini', 'You answer briefly.', now() - interval '400 days', now()
       FROM unnest($1::uuid[], $2::uuid[]) AS a(id, tenant)`,
    [agentRows.map((a) => a.id), agentRows.map((a) => a.tenant)],
  );
  const workflowRows = tenants.flatMap((t) =>
    workflows.map((w) => ({
      id: workflowId(t, w),
      tenant: seedTenantId(t),
      name: `${nameWords[(w * 7 + t) % nameWords.length]} ${w}`,
      // Step i of workflow w runs agent (w + i) mod n of its tenant.
      agents: [0, 1, 2].map((i) => agentId(t, 1 + ((w + i) % agents.length))),
      deleted: seed.deletedEvery ? w % seed.deletedEvery === 0 : false,
    })),
  );
  await db.query(
    `INSERT INTO workflows (id, tenant_id, name, description, version, step_count, created_at, updated_at, deleted_at)
     SELECT id, tenant, name, 'Seeded for plans and the statistics bench', 1, 3,
            now() - make_interval(days => $5::int + 1) + n * interval '1 minute', now() - make_interval(days => $5::int),
            CASE WHEN deleted THEN now() END
       FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::boolean[]) WITH ORDINALITY AS w(id, tenant, name, deleted, n)`,
    [
      workflowRows.map((w) => w.id),
      workflowRows.map((w) => w.tenant),
      workflowRows.map((w) => w.name),
      workflowRows.map((w) => w.deleted),
      seed.days,
    ],
  );
  await db.query(
    `INSERT INTO workflow_steps (workflow_id, version, key, position, agent_id, input_template, depends_on,
                                 max_attempts, backoff_seconds, timeout_seconds)
     SELECT w.id, 1, k.key, k.position, (w.agents)[k.position], 'Work on {{input}}',
            CASE WHEN k.position = 1 THEN '{}' ELSE ARRAY[chr(96 + k.position::int - 1)] END, 3, 5, 120
       FROM jsonb_to_recordset($1::jsonb) AS w(id uuid, agents uuid[]),
            unnest(ARRAY['a', 'b', 'c']) WITH ORDINALITY AS k(key, position)`,
    [JSON.stringify(workflowRows.map((w) => ({ id: w.id, agents: w.agents })))],
  );
  return { tenantIds, workflowIds };
};

/**
 * The runs, in one statement. Run g < finished is created in slot g of [now − days, now − 10 min]
 * (so ids and creation times rise together); the rest in the last hour, still going.
 */
export const seedRuns = async (db: Queryable, seed: WorkflowSeed, seeded: SeededWorkflows): Promise<void> => {
  const workflows = seeded.workflowIds.flat();
  const tenants = seeded.workflowIds.flatMap((ids, t) => ids.map(() => seeded.tenantIds[t]!));
  const active = Math.round(seed.executions * 0.01);
  await db.query(
    `INSERT INTO workflow_executions (id, tenant_id, workflow_id, workflow_version, on_step_failure, status, input,
                                      error, step_count, input_tokens, output_tokens, cost_usd, version,
                                      created_at, started_at, completed_at, updated_at, notified_at)
     SELECT (lpad(to_hex((extract(epoch FROM created_at) * 1000)::bigint), 12, '0') || '7' || substr(h, 1, 3)
             || substr('89ab', 1 + g % 4, 1) || substr(h, 4, 15))::uuid,
            ($1::uuid[])[k], ($2::uuid[])[k], 1, 'fail', status, jsonb_build_object('ticket', g, 'lang', 'en'),
            CASE WHEN status = 'failed'
                 THEN '{"code": "steps_failed", "message": "steps failed: b"}'::jsonb END,
            3, tokens, tokens / 4, tokens * 0.000003, 1 + (started_at IS NOT NULL)::int + (completed_at IS NOT NULL)::int,
            created_at, started_at, completed_at, COALESCE(completed_at, started_at, created_at), completed_at
       FROM (
         SELECT *, CASE WHEN status IN ('queued', 'running') THEN NULL
                        WHEN status = 'succeeded' THEN started_at + 2 * exp(4 * d) * interval '1 second'
                        WHEN status = 'failed' THEN started_at + (1 + 30 * d) * interval '1 second'
                        ELSE COALESCE(started_at, created_at) + 60 * d * interval '1 second' END AS completed_at
           FROM (
             SELECT *, CASE WHEN status = 'queued' OR (status = 'cancelled' AND r > 0.5) THEN NULL
                            ELSE LEAST(now(), created_at + (0.05 + 0.95 * random()) * interval '1 second') END AS started_at
               FROM (
                 SELECT g, md5(g::text) AS h, 1 + floor(power(random(), $6::float8) * cardinality($1::uuid[]))::int AS k,
                        random() AS r, random() AS d, 200 + floor(random() * 3000)::int AS tokens,
                        CASE WHEN g <= $3::int - $4::int
                             THEN now() - make_interval(days => $5::int)
                                  + (g - 1 + random()) * (make_interval(days => $5::int) - interval '10 minutes')
                                    / ($3::int - $4::int)
                             ELSE now() - interval '1 hour'
                                  + (g - ($3::int - $4::int) - 1 + random()) * interval '1 hour' / $4::int
                        END AS created_at,
                        CASE WHEN g > $3::int - $4::int THEN (ARRAY['queued', 'running', 'running'])[1 + g % 3]
                             ELSE (ARRAY['succeeded', 'failed', 'cancelled'])[
                                    width_bucket(random(), ARRAY[0, 90.0 / 99, 98.0 / 99]::float8[])]
                        END AS status
                   FROM generate_series(1, $3::int) g
               ) base
           ) timed
       ) finished`,
    [tenants, workflows, seed.executions, active, seed.days, seed.skew ?? 1],
  );
};

/**
 * The daily rollups of the finished runs, in the workers' terms: per workflow and UTC day of
 * creation, spread over the 8 shards busy workers write (migration 0004), as readers meet them.
 */
export const buildRollups = async (db: Queryable, seeded: SeededWorkflows): Promise<void> => {
  await db.query(
    `INSERT INTO workflow_stats_daily (workflow_id, day, shard, finished, succeeded, failed, duration_count,
                                      duration_ms)
     SELECT workflow_id, (created_at AT TIME ZONE 'UTC')::date, abs(hashtext(id::text)) % 8, count(*),
            count(*) FILTER (WHERE status = 'succeeded'), count(*) FILTER (WHERE status = 'failed'),
            count(started_at), COALESCE(sum(extract(epoch FROM completed_at - started_at) * 1000), 0)::bigint
       FROM workflow_executions
      WHERE workflow_id = ANY($1::uuid[]) AND status IN ('succeeded', 'failed', 'cancelled')
      GROUP BY 1, 2, 3`,
    [seeded.workflowIds.flat()],
  );
};

/** Everything above, then VACUUM ANALYZE (statistics for the planner, visibility for index-only scans). */
export const seedWorkflows = async (db: Queryable, seed: WorkflowSeed): Promise<SeededWorkflows> => {
  const seeded = await seedDefinitions(db, seed);
  await seedRuns(db, seed, seeded);
  await buildRollups(db, seeded);
  await db.query('VACUUM ANALYZE');
  return seeded;
};

/** A node of `EXPLAIN (FORMAT JSON)`. */
export interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  'Index Name'?: string;
  Plans?: PlanNode[];
  [key: string]: unknown;
}

/** The node and every node under it. */
export const planNodes = (node: PlanNode): PlanNode[] => [node, ...(node.Plans ?? []).flatMap(planNodes)];

export interface Statement {
  readonly text: string;
  readonly values: readonly unknown[];
}

/** `EXPLAIN (<options>, FORMAT JSON)` of a statement with its values: the plan's root and, with ANALYZE, its time. */
export const explain = async (
  db: Queryable,
  statement: Statement,
  options: readonly string[] = [],
): Promise<{ plan: PlanNode; executionMs?: number }> => {
  const rows = await db.query<{ 'QUERY PLAN': { Plan: PlanNode; 'Execution Time'?: number }[] }>(
    `EXPLAIN (${[...options, 'FORMAT JSON'].join(', ')}) ${statement.text}`,
    statement.values,
  );
  const result = rows[0]!['QUERY PLAN'][0]!;
  return {
    plan: result.Plan,
    ...(result['Execution Time'] !== undefined && { executionMs: result['Execution Time'] }),
  };
};

/**
 * The statements a repository call sends, recorded instead of run (every query answers no
 * rows; a transaction runs on the recorder itself).
 */
export const captureStatements = async (call: (db: Database) => Promise<unknown>): Promise<Statement[]> => {
  const captured: Statement[] = [];
  const recorder: Database = {
    query: async (text, values = []) => {
      captured.push({ text, values });
      return [];
    },
    transaction: (work) => work(recorder),
    close: async () => {},
  };
  await call(recorder);
  return captured;
};

/** A pg client as the repositories' Queryable (no pool, no statement timeout: for seeding and EXPLAIN). */
export const clientQueryable = (client: pg.Client): Queryable => ({
  query: async <Row>(text: string, values?: readonly unknown[]) =>
    (await client.query(text, values as unknown[])).rows as Row[],
});
