import type { RetentionTable } from '#domain/retention.ts';
import type { BatchResult, CountResult, Keyset, RetentionStore } from '#services/ports.ts';
import type { Queryable } from './db.ts';

/**
 * Deleting rows past their retention, in keyset batches: each batch is one short autocommit
 * statement that deletes at most `limit` rows, so no lock is ever held for long and a
 * statement timeout never bites. Every batch starts where the previous one ended (the last
 * key it took), so a run walks each index once instead of stepping again over the dead
 * entries that its earlier batches left behind. The delete takes the batch's keys as an
 * array (`= ANY (ARRAY(…))`), which the planner answers with primary-key probes; with
 * `IN (SELECT …)` it may hash-join a scan of the whole table.
 *
 * The keysets:
 * - `executions` and `workflow_executions`: the primary key. Ids are UUIDv7, made at
 *   acceptance (the same moment as `queued_at` / `created_at`), so "older than the cutoff"
 *   is "id below the smallest UUIDv7 of the cutoff instant". Trade-off: the age is read from
 *   the id's timestamp (trusting the clock of whoever minted it) rather than from a
 *   timestamp column; in exchange the hottest table keeps no index on `queued_at` alone,
 *   which every insert would pay for so that a daily job could use it.
 *   `workflow_step_runs` go with their run (`ON DELETE CASCADE`, by its primary key).
 * - `audit_events`: ids are derived from job keys, not time-ordered; `audit_events_at (at)`.
 * - `workflow_stats_daily`: the rollups of deleted runs, by their primary key
 *   (workflow_id, day; all its shards), days before the workflow-execution cutoff's day.
 */

export type { RetentionTable } from '#domain/retention.ts';

/** The smallest UUIDv7 of an instant: its 48-bit millisecond timestamp, version 7, variant 10, the rest zeros. */
export const firstUuidV7At = (instant: Date): string => {
  const ms = instant.getTime();
  if (!Number.isInteger(ms) || ms < 0 || ms >= 2 ** 48)
    throw new RangeError(`no UUIDv7 for ${String(instant)}`);
  const hex = ms.toString(16).padStart(12, '0');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-7000-8000-000000000000`;
};

/** The UTC day of an instant, as a `date` literal. */
export const utcDay = (instant: Date): string => instant.toISOString().slice(0, 10);

interface BatchRow {
  taken: number;
  deleted: number;
  cascaded: number;
  k1: unknown;
  k2: unknown;
}

interface TableSql {
  /** The cutoff as the statement compares it. */
  readonly cutoff: (instant: Date) => unknown;
  /** The keyset before every row. */
  readonly start: Keyset;
  /**
   * One batch: $1 the cutoff, then the keyset to start after, then the limit. Answers the
   * rows it took (found) and deleted (another run may have deleted some first), the rows
   * their deletion cascaded to, and the last key of the batch (k1, k2; null when empty).
   */
  readonly batch: string;
  /** Rows older than the cutoff ($1), and the rows their deletion would cascade to. */
  readonly count: string;
}

const nilUuid = '00000000-0000-0000-0000-000000000000';

/** A table keyed by a UUIDv7 primary key. */
const byUuidV7 = (table: string, cascade?: { table: string; column: string }): TableSql => ({
  cutoff: firstUuidV7At,
  start: [nilUuid],
  batch: `
    WITH batch AS (
      SELECT id FROM ${table} WHERE id < $1::uuid AND id > $2::uuid ORDER BY id LIMIT $3
    ), gone AS (
      DELETE FROM ${table} WHERE id = ANY (ARRAY(SELECT id FROM batch)) RETURNING id
    )
    SELECT (SELECT count(*) FROM batch)::int AS taken, (SELECT count(*) FROM gone)::int AS deleted,
           ${cascade ? `(SELECT count(*) FROM ${cascade.table} WHERE ${cascade.column} = ANY (ARRAY(SELECT id FROM batch)))::int` : '0'} AS cascaded,
           (SELECT id FROM batch ORDER BY id DESC LIMIT 1) AS k1, NULL AS k2`,
  count: `
    SELECT (SELECT count(*) FROM ${table} WHERE id < $1::uuid)::int AS rows,
           ${cascade ? `(SELECT count(*) FROM ${cascade.table} c JOIN ${table} t ON t.id = c.${cascade.column} WHERE t.id < $1::uuid)::int` : '0'} AS cascaded`,
});

const tableSql: Readonly<Record<RetentionTable, TableSql>> = {
  executions: byUuidV7('executions'),
  workflow_executions: byUuidV7('workflow_executions', {
    table: 'workflow_step_runs',
    column: 'execution_id',
  }),
  // Rows of one `at` can straddle two batches, so the next batch starts at the last `at`, not after it.
  audit_events: {
    cutoff: (instant) => instant,
    start: ['-infinity'],
    batch: `
      WITH batch AS (
        SELECT id, at FROM audit_events WHERE at < $1::timestamptz AND at >= $2::timestamptz ORDER BY at LIMIT $3
      ), gone AS (
        DELETE FROM audit_events WHERE id = ANY (ARRAY(SELECT id FROM batch)) RETURNING id
      )
      SELECT (SELECT count(*) FROM batch)::int AS taken, (SELECT count(*) FROM gone)::int AS deleted, 0 AS cascaded,
             (SELECT max(at) FROM batch) AS k1, NULL AS k2`,
    count: 'SELECT count(*)::int AS rows, 0 AS cascaded FROM audit_events WHERE at < $1::timestamptz',
  },
  workflow_stats_daily: {
    cutoff: utcDay,
    start: [nilUuid, '-infinity'],
    batch: `
      WITH batch AS (
        -- A key's shards (migration 0004) go together.
        SELECT DISTINCT workflow_id, day FROM workflow_stats_daily
         WHERE day < $1::date AND (workflow_id, day) > ($2::uuid, $3::date)
         ORDER BY workflow_id, day LIMIT $4
      ), gone AS (
        DELETE FROM workflow_stats_daily s USING batch b
         WHERE s.workflow_id = b.workflow_id AND s.day = b.day RETURNING 1
      ), last AS (
        SELECT workflow_id, day::text AS day FROM batch ORDER BY workflow_id DESC, day DESC LIMIT 1
      )
      SELECT (SELECT count(*) FROM batch)::int AS taken, (SELECT count(*) FROM gone)::int AS deleted, 0 AS cascaded,
             (SELECT workflow_id FROM last) AS k1, (SELECT day FROM last) AS k2`,
    count: 'SELECT count(*)::int AS rows, 0 AS cascaded FROM workflow_stats_daily WHERE day < $1::date',
  },
};

export class RetentionRepository implements RetentionStore {
  constructor(private readonly db: Queryable) {}

  /** The keyset a table's first batch starts after. */
  start(table: RetentionTable): Keyset {
    return tableSql[table].start;
  }

  /** Deletes up to `limit` rows of `table` older than `cutoff`, after `after`: one statement. */
  async deleteBatch(table: RetentionTable, cutoff: Date, after: Keyset, limit: number): Promise<BatchResult> {
    const sql = tableSql[table];
    const [row] = await this.db.query<BatchRow>(sql.batch, [sql.cutoff(cutoff), ...after, limit]);
    const last = [row?.k1, row?.k2].slice(0, sql.start.length);
    const done = (row?.taken ?? 0) < limit || last.some((key) => key === null || key === undefined);
    return { deleted: row?.deleted ?? 0, cascaded: row?.cascaded ?? 0, next: done ? undefined : last };
  }

  /** What deleting everything older than `cutoff` would delete (a dry run): one read-only statement. */
  async count(table: RetentionTable, cutoff: Date): Promise<CountResult> {
    const sql = tableSql[table];
    const [row] = await this.db.query<CountResult>(sql.count, [sql.cutoff(cutoff)]);
    return { rows: row?.rows ?? 0, cascaded: row?.cascaded ?? 0 };
  }
}
