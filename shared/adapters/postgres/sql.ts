/** Small SQL builders the repositories share. */

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
