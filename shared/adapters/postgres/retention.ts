import type { PurgedTable } from '#domain/retention.ts';
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
 * - `knowledge_documents`: documents that expired before the cutoff, by
 *   `knowledge_documents_expiry (expires_at)`; their chunks by cascade (by the chunks' unique
 *   key, which starts with the document). Their bases' versions move, as for any change of
 *   what a base holds (the bases locked first, the API's order).
 * - `knowledge_bases`: bases deleted before the cutoff. A base can hold a great many chunks,
 *   so a batch deletes up to `limit` of its documents (their chunks by cascade) and only the
 *   bases that have none left; it needs no keyset (the bases found are the batch's to finish),
 *   and is done when a batch finds nothing.
 * - `embedding_cache`: entries made before the cutoff, by `embedding_cache_created
 *   (created_at)`, deleted by their `ctid` (a TID scan: the key has five columns, and the rows
 *   are never updated, so a row's ctid holds for the statement).
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
  /** No keyset: every batch starts from the beginning, and the table is done when one finds nothing. */
  readonly keyless?: boolean;
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

/**
 * A table whose rows go by age alone, by its `created_at` index, in batches deleted by TID (no
 * key to delete by is shorter): the embedding cache and the retrieval records.
 */
const byCreatedAt = (table: 'embedding_cache' | 'knowledge_retrievals'): TableSql => ({
  cutoff: (instant) => instant,
  start: ['-infinity'],
  batch: `
    WITH batch AS (
      SELECT ctid, created_at FROM ${table}
       WHERE created_at < $1::timestamptz AND created_at >= $2::timestamptz ORDER BY created_at LIMIT $3
    ), gone AS (
      DELETE FROM ${table} WHERE ctid = ANY (ARRAY(SELECT ctid FROM batch)) RETURNING 1
    )
    SELECT (SELECT count(*) FROM batch)::int AS taken, (SELECT count(*) FROM gone)::int AS deleted, 0 AS cascaded,
           (SELECT max(created_at) FROM batch) AS k1, NULL AS k2`,
  count: `SELECT count(*)::int AS rows, 0 AS cascaded FROM ${table} WHERE created_at < $1::timestamptz`,
});

const tableSql: Readonly<Record<PurgedTable, TableSql>> = {
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
  // As audit events: documents of one expiry can straddle two batches.
  knowledge_documents: {
    cutoff: (instant) => instant,
    start: ['-infinity'],
    batch: `
      WITH batch AS (
        SELECT id, knowledge_base_id, expires_at FROM knowledge_documents
         WHERE expires_at < $1::timestamptz AND expires_at >= $2::timestamptz ORDER BY expires_at LIMIT $3
      ), bases AS (
        -- First, as every document write of the API locks its base before the document.
        UPDATE knowledge_bases SET version = version + 1
         WHERE id = ANY (ARRAY(SELECT DISTINCT knowledge_base_id FROM batch))
        RETURNING id
      ), gone AS (
        DELETE FROM knowledge_documents
         WHERE id = ANY (ARRAY(SELECT id FROM batch)) AND knowledge_base_id = ANY (ARRAY(SELECT id FROM bases))
        RETURNING id
      )
      SELECT (SELECT count(*) FROM batch)::int AS taken, (SELECT count(*) FROM gone)::int AS deleted,
             (SELECT count(*) FROM knowledge_chunks WHERE document_id = ANY (ARRAY(SELECT id FROM batch)))::int AS cascaded,
             (SELECT max(expires_at) FROM batch) AS k1, NULL AS k2`,
    count: `
      SELECT (SELECT count(*) FROM knowledge_documents WHERE expires_at < $1::timestamptz)::int AS rows,
             (SELECT count(*) FROM knowledge_chunks c JOIN knowledge_documents d ON d.id = c.document_id
               WHERE d.expires_at < $1::timestamptz)::int AS cascaded`,
  },
  knowledge_bases: {
    cutoff: (instant) => instant,
    start: [],
    keyless: true,
    // $2 is the limit: the keyset is empty.
    batch: `
      WITH doomed AS (
        SELECT id FROM knowledge_bases WHERE deleted_at < $1::timestamptz ORDER BY deleted_at, id LIMIT $2
      ), documents AS (
        SELECT id FROM knowledge_documents WHERE knowledge_base_id = ANY (ARRAY(SELECT id FROM doomed)) LIMIT $2
      ), documents_gone AS (
        DELETE FROM knowledge_documents WHERE id = ANY (ARRAY(SELECT id FROM documents)) RETURNING id
      ), empty AS (
        SELECT b.id FROM doomed b
         WHERE NOT EXISTS (SELECT 1 FROM knowledge_documents d WHERE d.knowledge_base_id = b.id)
      ), gone AS (
        DELETE FROM knowledge_bases WHERE id = ANY (ARRAY(SELECT id FROM empty)) AND deleted_at IS NOT NULL RETURNING id
      )
      SELECT ((SELECT count(*) FROM documents) + (SELECT count(*) FROM empty))::int AS taken,
             (SELECT count(*) FROM gone)::int AS deleted,
             ((SELECT count(*) FROM documents_gone)
               + (SELECT count(*) FROM knowledge_chunks WHERE document_id = ANY (ARRAY(SELECT id FROM documents))))::int AS cascaded,
             NULL AS k1, NULL AS k2`,
    count: `
      SELECT (SELECT count(*) FROM knowledge_bases WHERE deleted_at < $1::timestamptz)::int AS rows,
             ((SELECT count(*) FROM knowledge_documents d JOIN knowledge_bases b ON b.id = d.knowledge_base_id
                WHERE b.deleted_at < $1::timestamptz)
              + (SELECT count(*) FROM knowledge_chunks c JOIN knowledge_documents d ON d.id = c.document_id
                   JOIN knowledge_bases b ON b.id = d.knowledge_base_id WHERE b.deleted_at < $1::timestamptz))::int AS cascaded`,
  },
  // As audit events: entries of one instant can straddle two batches.
  embedding_cache: byCreatedAt('embedding_cache'),
  knowledge_retrievals: byCreatedAt('knowledge_retrievals'),
};

export class RetentionRepository implements RetentionStore {
  constructor(private readonly db: Queryable) {}

  /** The keyset a table's first batch starts after. */
  start(table: PurgedTable): Keyset {
    return tableSql[table].start;
  }

  /** Deletes up to `limit` rows of `table` older than `cutoff`, after `after`: one statement. */
  async deleteBatch(table: PurgedTable, cutoff: Date, after: Keyset, limit: number): Promise<BatchResult> {
    const sql = tableSql[table];
    const [row] = await this.db.query<BatchRow>(sql.batch, [sql.cutoff(cutoff), ...after, limit]);
    const deleted = row?.deleted ?? 0;
    const cascaded = row?.cascaded ?? 0;
    if (sql.keyless) {
      // Done when a batch finds nothing, or finds only what another run deleted first.
      const done = (row?.taken ?? 0) === 0 || deleted + cascaded === 0;
      return { deleted, cascaded, next: done ? undefined : sql.start };
    }
    const last = [row?.k1, row?.k2].slice(0, sql.start.length);
    const done = (row?.taken ?? 0) < limit || last.some((key) => key === null || key === undefined);
    return { deleted, cascaded, next: done ? undefined : last };
  }

  /** What deleting everything older than `cutoff` would delete (a dry run): one read-only statement. */
  async count(table: PurgedTable, cutoff: Date): Promise<CountResult> {
    const sql = tableSql[table];
    const [row] = await this.db.query<CountResult>(sql.count, [sql.cutoff(cutoff)]);
    return { rows: row?.rows ?? 0, cascaded: row?.cascaded ?? 0 };
  }
}
