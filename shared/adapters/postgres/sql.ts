/** Small SQL builders the repositories share. */

import type { Queryable } from './db.ts';

/** A column list with every column prefixed by a table alias, for joins. */
export const qualified = (alias: string, columns: string): string =>
  columns
    .split(',')
    .map((column) => `${alias}.${column.trim()}`)
    .join(', ');

/**
 * A keyset page, newest first: `filters` are equalities (undefined ones are left out), the
 * cursor is the `(timeColumn, id)` of the last row of the previous page. One statement, served
 * by an index on the filters followed by `(timeColumn DESC, id DESC)`.
 */
export const keysetPage = (query: {
  table: string;
  columns: string;
  filters: Readonly<Record<string, unknown>>;
  timeColumn: string;
  limit: number;
  after?: { createdAt: Date; id: string } | undefined;
}): { text: string; values: unknown[] } => {
  const values: unknown[] = [query.limit];
  const conditions: string[] = [];
  for (const [column, value] of Object.entries(query.filters)) {
    if (value === undefined) continue;
    values.push(value);
    conditions.push(`${column} = $${values.length}`);
  }
  if (query.after) {
    values.push(query.after.createdAt, query.after.id);
    conditions.push(
      `(${query.timeColumn}, id) < ($${values.length - 1}::timestamptz, $${values.length}::uuid)`,
    );
  }
  return {
    text: `SELECT ${query.columns} FROM ${query.table} WHERE ${conditions.join(' AND ')}
            ORDER BY ${query.timeColumn} DESC, id DESC LIMIT $1`,
    values,
  };
};

/** A keyset page (`keysetPage`) read and mapped. */
export const readPage = async <Row, T>(
  db: Queryable,
  query: Parameters<typeof keysetPage>[0],
  map: (row: Row) => T,
): Promise<T[]> => {
  const { text, values } = keysetPage(query);
  const rows = await db.query<Row>(text, values);
  return rows.map(map);
};

/**
 * The sweeper's take of open work nobody is working on (executions, workflow steps):
 * queued and unchanged for `$1` seconds (an enqueue that was lost) or running past its lease
 * (a worker that died: taken as soon as the lease ends, not `$1` seconds later), at most `$2`,
 * oldest first. `set` touches them (moving the clock past the lease's end), so the next
 * sweep does not take them again before the re-sent message is handled; rows another sweep
 * holds are skipped. While a claim holds a row, its clock must stand before the lease's end
 * (the claim's time, or when the work became ready).
 */
export const takeStuckStatement = (work: {
  table: string;
  /** The key's columns, as a list (`id`, `execution_id, key`). */
  key: string;
  /** The column that says since when the row waits. */
  clock: string;
  set: string;
  returning: string;
}): string => {
  const key = work.key.includes(',') ? `(${work.key})` : work.key;
  return `UPDATE ${work.table} SET ${work.set}
        WHERE ${key} IN (
          SELECT ${work.key} FROM ${work.table}
           WHERE status IN ('queued', 'running')
             AND ((status = 'queued' AND ${work.clock} < now() - make_interval(secs => $1))
                  OR (status = 'running' AND lease_until < now() AND ${work.clock} < lease_until))
           ORDER BY ${work.clock} LIMIT $2
           FOR UPDATE SKIP LOCKED
        )
        RETURNING ${work.returning}`;
};

/**
 * A rollup's upsert: `select` yields one row per `key` (in key order, so two statements
 * touching the same rows lock them in the same order and never deadlock) with its
 * `counters`; a row already there adds them to its own.
 */
export const rollupUpsert = (
  table: string,
  key: readonly string[],
  counters: readonly string[],
  select: string,
): string => `INSERT INTO ${table} (${[...key, ...counters].join(', ')})
    ${select}
    ON CONFLICT (${key.join(', ')}) DO UPDATE SET
      ${counters.map((counter) => `${counter} = ${table}.${counter} + EXCLUDED.${counter}`).join(',\n      ')}`;
