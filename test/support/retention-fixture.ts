import { randomBytes, randomUUID } from 'node:crypto';
import type { Queryable } from '#adapters/postgres/db.ts';
import { utcDay } from '#adapters/postgres/retention.ts';
import type { RetentionDays } from '#services/retention.ts';

/**
 * Rows on both sides of each retention cutoff, inserted with SQL: agent executions and
 * workflow executions (ids UUIDv7 of their creation time, two step runs each) of two
 * tenants, daily workflow stats, and audit events (random ids, three at each instant, so
 * that equal `at`s straddle batches).
 */

const dayMs = 86_400_000;
const minuteMs = 60_000;

const tenants = ['01900000-0000-7000-8000-00000000a001', '01900000-0000-7000-8000-00000000a002'] as const;
const agents = ['01900000-0000-7000-8000-00000000b001', '01900000-0000-7000-8000-00000000b002'] as const;
const workflows = ['01900000-0000-7000-8000-00000000c001', '01900000-0000-7000-8000-00000000c002'] as const;
const stepKeys = ['draft', 'review'] as const;

/** A UUIDv7 of the given millisecond, its other bits random (as `newId()` makes them). */
export const uuidV7At = (ms: number): string => {
  const time = ms.toString(16).padStart(12, '0');
  const random = randomBytes(10).toString('hex');
  const variant = (8 | (Number.parseInt(random[3]!, 16) & 3)).toString(16);
  return `${time.slice(0, 8)}-${time.slice(8)}-7${random.slice(0, 3)}-${variant}${random.slice(4, 7)}-${random.slice(7, 19)}`;
};

/** The rows of the retention tables, as comparable sorted keys. */
export interface RetentionRows {
  executions: string[];
  workflowExecutions: string[];
  /** `execution_id:key` */
  stepRuns: string[];
  /** `workflow_id:day` */
  stats: string[];
  audit: string[];
}

export interface RetentionSeed {
  readonly now: Date;
  readonly days: RetentionDays;
  /** Also a row one millisecond before each cutoff (old) and one exactly at it (kept). */
  readonly edges?: boolean;
  /** Rows per table on each side of the cutoff (stats: days per workflow). */
  readonly old?: number;
  readonly kept?: number;
}

export interface Seeded {
  readonly old: RetentionRows;
  readonly kept: RetentionRows;
}

const emptyRows = (): RetentionRows => ({
  executions: [],
  workflowExecutions: [],
  stepRuns: [],
  stats: [],
  audit: [],
});

export const sortedRows = (rows: RetentionRows): RetentionRows => ({
  executions: [...rows.executions].sort(),
  workflowExecutions: [...rows.workflowExecutions].sort(),
  stepRuns: [...rows.stepRuns].sort(),
  stats: [...rows.stats].sort(),
  audit: [...rows.audit].sort(),
});

export const mergeRows = (a: RetentionRows, b: RetentionRows): RetentionRows =>
  sortedRows({
    executions: [...a.executions, ...b.executions],
    workflowExecutions: [...a.workflowExecutions, ...b.workflowExecutions],
    stepRuns: [...a.stepRuns, ...b.stepRuns],
    stats: [...a.stats, ...b.stats],
    audit: [...a.audit, ...b.audit],
  });

/** Instants of `count` rows before (old) or from (kept) a cutoff; the edges, 1 ms before and at it. */
const instants = (cutoff: number, now: number, seed: RetentionSeed): { old: number[]; kept: number[] } => {
  const old = Array.from({ length: seed.old ?? 0 }, (_, i) => cutoff - (i + 1) * minuteMs);
  const kept = Array.from(
    { length: seed.kept ?? 0 },
    (_, i) => cutoff + ((i + 1) * (now - cutoff)) / ((seed.kept ?? 0) + 1),
  );
  if (seed.edges) {
    old.push(cutoff - 1);
    kept.push(cutoff);
  }
  return { old, kept: kept.map(Math.floor) };
};

/** Empties the retention tables (the job deletes across tenants, so each test starts from nothing). */
export const clearRetentionTables = async (db: Queryable): Promise<void> => {
  for (const table of [
    'workflow_step_runs',
    'workflow_executions',
    'workflow_stats_daily',
    'executions',
    'audit_events',
  ]) {
    await db.query(`DELETE FROM ${table}`);
  }
};

export const seedRetention = async (db: Queryable, seed: RetentionSeed): Promise<Seeded> => {
  const now = seed.now.getTime();
  await db.query(
    `INSERT INTO tenants (id, name) SELECT id, 'retention-' || n FROM unnest($1::uuid[]) WITH ORDINALITY AS t(id, n)
     ON CONFLICT DO NOTHING`,
    [tenants],
  );
  await db.query(
    `INSERT INTO agents (id, tenant_id, name, model, system_prompt, created_at, updated_at)
     SELECT id, tenant, 'retention', 'gpt-4o-mini', 'p', now(), now() FROM unnest($1::uuid[], $2::uuid[]) AS t(id, tenant)
     ON CONFLICT DO NOTHING`,
    [agents, tenants],
  );
  await db.query(
    `INSERT INTO workflows (id, tenant_id, name, step_count, created_at, updated_at)
     SELECT id, tenant, 'retention', 2, now(), now() FROM unnest($1::uuid[], $2::uuid[]) AS t(id, tenant)
     ON CONFLICT DO NOTHING`,
    [workflows, tenants],
  );
  const old = emptyRows();
  const kept = emptyRows();
  /** Inserts the rows of each side of a cutoff (instants, or days in ms) and records their keys. */
  const bothSides = async (
    sides: { old: number[]; kept: number[] },
    insert: (ats: number[]) => Promise<Partial<RetentionRows>>,
  ): Promise<void> => {
    for (const [rows, ats] of [
      [old, sides.old],
      [kept, sides.kept],
    ] as const) {
      for (const [name, keys] of Object.entries(await insert(ats)))
        rows[name as keyof RetentionRows].push(...keys);
    }
  };
  const dates = (ats: number[]) => ats.map((at) => new Date(at));

  await bothSides(instants(now - seed.days.executions * dayMs, now, seed), async (ats) => {
    const ids = ats.map(uuidV7At);
    await db.query(
      `INSERT INTO executions (id, tenant_id, agent_id, status, input, model, system_prompt, configuration,
                               queued_at, completed_at, updated_at, notified_at)
       SELECT id, ($2::uuid[])[n % 2 + 1], ($3::uuid[])[n % 2 + 1], 'succeeded', '"hi"', 'gpt-4o-mini', 'p', '{}',
              at, at, at, at
         FROM unnest($1::uuid[], $4::timestamptz[]) WITH ORDINALITY AS t(id, at, n)`,
      [ids, tenants, agents, dates(ats)],
    );
    return { executions: ids };
  });

  // Workflow runs go by whole UTC days (their rollups are per day): the cutoff is that day's start.
  const workflowCutoff = Math.floor((now - seed.days.workflowExecutions * dayMs) / dayMs) * dayMs;
  await bothSides(instants(workflowCutoff, now, seed), async (ats) => {
    const ids = ats.map(uuidV7At);
    await db.query(
      `INSERT INTO workflow_executions (id, tenant_id, workflow_id, workflow_version, on_step_failure, status, input,
                                        step_count, created_at, completed_at, updated_at, notified_at)
       SELECT id, ($2::uuid[])[n % 2 + 1], ($3::uuid[])[n % 2 + 1], 1, 'fail', 'succeeded', '{}', 2, at, at, at, at
         FROM unnest($1::uuid[], $4::timestamptz[]) WITH ORDINALITY AS t(id, at, n)`,
      [ids, tenants, workflows, dates(ats)],
    );
    await db.query(
      `INSERT INTO workflow_step_runs (execution_id, key, tenant_id, position, agent_id, status, pending_deps, updated_at)
       SELECT e.id, k.key, e.tenant_id, k.position, ($2::uuid[])[1], 'succeeded', 0, e.updated_at
         FROM workflow_executions e, unnest($3::text[]) WITH ORDINALITY AS k(key, position)
        WHERE e.id = ANY($1::uuid[])`,
      [ids, agents, stepKeys],
    );
    return {
      workflowExecutions: ids,
      stepRuns: ids.flatMap((id) => stepKeys.map((key) => `${id}:${key}`)),
    };
  });

  // Rollups by UTC day: the cutoff's own day holds runs still kept, so it stays.
  const cutoffDay = Date.parse(utcDay(new Date(workflowCutoff)));
  const dayCount = (n: number | undefined) => (n ?? 0) + (seed.edges ? 1 : 0);
  const statDays = {
    old: Array.from({ length: dayCount(seed.old) }, (_, i) => cutoffDay - (i + 1) * dayMs),
    kept: Array.from({ length: dayCount(seed.kept) }, (_, i) => cutoffDay + i * dayMs),
  };
  await bothSides(statDays, async (ms) => {
    const days = ms.map((day) => utcDay(new Date(day)));
    await db.query(
      `INSERT INTO workflow_stats_daily (workflow_id, day, finished, succeeded)
       SELECT w, d, 1, 1 FROM unnest($1::uuid[]) AS w, unnest($2::date[]) AS d`,
      [workflows, days],
    );
    return { stats: workflows.flatMap((w) => days.map((day) => `${w}:${day}`)) };
  });

  await bothSides(instants(now - seed.days.audit * dayMs, now, seed), async (ats) => {
    // Three events at each instant: ids are not time-ordered, and `at` is not unique.
    const events = ats.flatMap((at) => [0, 1, 2].map(() => ({ id: randomUUID(), at: new Date(at) })));
    await db.query(
      `INSERT INTO audit_events (id, tenant_id, at, action, resource_type, resource_id)
       SELECT id, ($2::uuid[])[n % 2 + 1], at, 'agent.update', 'agent', 'x'
         FROM unnest($1::uuid[], $3::timestamptz[]) WITH ORDINALITY AS t(id, at, n)`,
      [events.map((e) => e.id), tenants, events.map((e) => e.at)],
    );
    return { audit: events.map((e) => e.id) };
  });
  return { old: sortedRows(old), kept: sortedRows(kept) };
};

/** What the retention tables hold now. */
export const retentionRows = async (db: Queryable): Promise<RetentionRows> => {
  const keys = async (sql: string) => (await db.query<{ key: string }>(sql)).map((r) => r.key);
  return sortedRows({
    executions: await keys('SELECT id::text AS key FROM executions'),
    workflowExecutions: await keys('SELECT id::text AS key FROM workflow_executions'),
    stepRuns: await keys("SELECT execution_id || ':' || key AS key FROM workflow_step_runs"),
    stats: await keys("SELECT workflow_id || ':' || day::text AS key FROM workflow_stats_daily"),
    audit: await keys('SELECT id::text AS key FROM audit_events'),
  });
};
