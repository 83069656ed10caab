import { setTimeout as sleep } from 'node:timers/promises';
import { expect, it } from 'vitest';
import { jobQueue } from '#adapters/aws/job-queue.ts';
import { database, type Queryable } from '#adapters/postgres/db.ts';
import type { RetentionTable } from '#adapters/postgres/retention.ts';
import { jobTypes, newJob } from '#domain/jobs.ts';
import { config } from '#runtime/config.ts';
import { type RetentionDays, type RetentionReport, runRetention } from '#services/retention.ts';
import {
  clearRetentionTables,
  mergeRows,
  type RetentionRows,
  retentionRows,
  seedRetention,
} from './retention-fixture.ts';

/** The rows of each table a report speaks of. */
const rowsOf: Readonly<Record<RetentionTable, keyof RetentionRows>> = {
  executions: 'executions',
  workflow_executions: 'workflowExecutions',
  workflow_stats_daily: 'stats',
  audit_events: 'audit',
};

/** Per table: rows deleted (or that would be), the rows cascaded, batches run. */
const tally = (report: RetentionReport) =>
  Object.fromEntries(
    report.tables.map((t) => [t.table, { deleted: t.deleted, cascaded: t.cascaded, batches: t.batches }]),
  );

/** Not the defaults, and each its own: every table is shown to follow its own setting. */
const days: RetentionDays = { executions: 30, workflowExecutions: 60, audit: 400 };

/** Set in process.env before the runtime starts (the workers read their configuration from it). */
export const retentionTestEnv = {
  RETENTION_DAYS_EXECUTIONS: String(days.executions),
  RETENTION_DAYS_WORKFLOW_EXECUTIONS: String(days.workflowExecutions),
  RETENTION_DAYS_AUDIT: String(days.audit),
};

/**
 * The retention job on whatever database the runtime was started with (PGlite or
 * PostgreSQL), after `retentionTestEnv`: exactly the rows past their retention go, in keyset
 * batches smaller than the tables.
 */
export const retentionContract = (): void => {
  const batchSize = 4;
  /** Per table, more old rows than a batch holds, and rows just either side of each cutoff. */
  const seed = async (now: Date) => {
    const db = database();
    await clearRetentionTables(db);
    return seedRetention(db, { now, days, old: 9, kept: 3, edges: true });
  };

  it('reads the retention of each table from RETENTION_DAYS_*', () => {
    expect(config().retentionDays).toEqual(days);
  });

  it('a dry run counts exactly the rows past retention and deletes nothing', async () => {
    const now = new Date();
    const { old, kept } = await seed(now);
    const report = await runRetention(database(), { now, dryRun: true, batchSize });
    expect(report.dryRun).toBe(true);
    expect(report.complete).toBe(true);
    for (const table of report.tables) {
      expect(table.deleted, table.table).toBe(old[rowsOf[table.table]].length);
      expect(table.batches).toBe(0);
    }
    expect(report.tables.find((t) => t.table === 'workflow_executions')?.cascaded).toBe(old.stepRuns.length);
    expect(await retentionRows(database())).toEqual(mergeRows(old, kept));
  });

  it('deletes exactly the rows past retention in batches, step runs by cascade, old stats rollups', async () => {
    const now = new Date();
    const { old, kept } = await seed(now);
    const report = await runRetention(database(), { now, batchSize, budgetMs: null });
    expect(await retentionRows(database())).toEqual(kept);
    const expected = (table: RetentionTable) => {
      const rows = old[rowsOf[table]].length;
      // Full batches, then the one that finds fewer rows than its limit (possibly none).
      return { deleted: rows, batches: Math.floor(rows / batchSize) + 1 };
    };
    expect(tally(report)).toEqual({
      executions: { ...expected('executions'), cascaded: 0 },
      workflow_executions: { ...expected('workflow_executions'), cascaded: old.stepRuns.length },
      workflow_stats_daily: { ...expected('workflow_stats_daily'), cascaded: 0 },
      audit_events: { ...expected('audit_events'), cascaded: 0 },
    });
    expect(report.complete).toBe(true);
    expect(report.deleted).toBe(
      old.executions.length +
        old.workflowExecutions.length +
        old.stepRuns.length +
        old.stats.length +
        old.audit.length,
    );

    // Nothing left to do: a second run deletes nothing and keeps everything.
    const again = await runRetention(database(), { now, batchSize, budgetMs: null });
    expect(again.deleted).toBe(0);
    expect(await retentionRows(database())).toEqual(kept);
  });

  it('stops between batches when its time budget runs out, says so, and the next run finishes', async () => {
    const now = new Date();
    const { old, kept } = await seed(now);
    const slow: Queryable = {
      query: async (text, values) => {
        await sleep(20);
        return database().query(text, values);
      },
    };
    const cut = await runRetention(slow, { now, batchSize: 2, budgetMs: 100 });
    expect(cut.complete).toBe(false);
    expect(cut.batches).toBeGreaterThan(0);
    expect(cut.deleted).toBeGreaterThan(0);
    // Some old rows are left for the next run.
    const left = await retentionRows(database());
    expect(left).not.toEqual(kept);

    const rest = await runRetention(database(), { now, batchSize: 2, budgetMs: null });
    expect(rest.complete).toBe(true);
    expect(cut.deleted + rest.deleted).toBe(
      old.executions.length +
        old.workflowExecutions.length +
        old.stepRuns.length +
        old.stats.length +
        old.audit.length,
    );
    expect(await retentionRows(database())).toEqual(kept);
  });

  it('runs on the low queue as the retention.cleanup job', async () => {
    const db = database();
    await clearRetentionTables(db);
    // No rows at the edges: the job takes its own "now", a moment after the seed's.
    const { kept } = await seedRetention(db, { now: new Date(), days, old: 5, kept: 2 });
    await jobQueue().enqueue(
      'low',
      newJob(jobTypes.cleanupRetention, 'system', {}, `retention:${Date.now()}`),
    );
    const deadline = Date.now() + 20_000;
    let rows = await retentionRows(db);
    while (JSON.stringify(rows) !== JSON.stringify(kept) && Date.now() < deadline) {
      await sleep(100);
      rows = await retentionRows(db);
    }
    expect(rows).toEqual(kept);
  });
};
