import type { EarlierInsert, KeyedInsert, RowIdempotency } from '#services/ports.ts';
import type { Queryable } from './db.ts';
import { qualified } from './sql.ts';

/**
 * A table whose rows may carry an Idempotency-Key, unique per (tenant, scope, key) under a
 * partial unique index (migration 0006): executions (scope: the agent), workflow runs (the
 * workflow).
 */
export interface KeyedTable<Row, T> {
  readonly table: string;
  readonly alias: string;
  readonly columns: string;
  /** The column of the key's scope besides the tenant. */
  readonly scope: 'agent_id' | 'workflow_id';
  readonly toResource: (row: Row) => T;
}

/** A key in its scope. */
export interface ScopedKey {
  readonly tenantId: string;
  readonly scopeId: string;
  readonly key: string;
}

/** A row an earlier request created under a key, as an insert under that key answers it. */
export const earlierInsert = <Row extends { request_hash: string | null }, T>(
  row: Row | undefined,
  toValue: (row: Row) => T,
): EarlierInsert<T> | undefined =>
  row && { kind: 'existing', row: toValue(row), requestHash: row.request_hash };

const mapKey = (tenantId: string, scopeId: string, key: string) => `${tenantId}/${scopeId}/${key}`;

/** The rows these keys created, by `tenant/scope/key`. */
const findByKeys = async <Row, T>(
  db: Queryable,
  table: KeyedTable<Row, T>,
  keys: readonly ScopedKey[],
): Promise<Map<string, KeyedInsert<T>>> => {
  const { alias, scope } = table;
  const rows = await db.query<
    Row & { tenant_id: string; idempotency_key: string; request_hash: string | null }
  >(
    `SELECT ${qualified(alias, table.columns)}, ${alias}.idempotency_key, ${alias}.request_hash
         FROM ${table.table} ${alias}
         JOIN unnest($1::uuid[], $2::uuid[], $3::text[]) AS k(tenant_id, ${scope}, key)
           ON ${alias}.tenant_id = k.tenant_id AND ${alias}.${scope} = k.${scope} AND ${alias}.idempotency_key = k.key
        WHERE ${alias}.idempotency_key IS NOT NULL`,
    [keys.map((k) => k.tenantId), keys.map((k) => k.scopeId), keys.map((k) => k.key)],
  );
  return new Map(
    rows.map((row) => [
      mapKey(row.tenant_id, String((row as Record<string, unknown>)[scope]), row.idempotency_key),
      earlierInsert(row, table.toResource)!,
    ]),
  );
};

/** The row an Idempotency-Key created in its scope, if any. */
export const findByKey = async <Row, T>(
  db: Queryable,
  table: KeyedTable<Row, T>,
  key: ScopedKey,
): Promise<KeyedInsert<T> | undefined> =>
  (await findByKeys(db, table, [key])).get(mapKey(key.tenantId, key.scopeId, key.key));

/**
 * The answers of a batch insert that may carry Idempotency-Keys, in the batch's order:
 * the rows it inserted (`created`, by id) and, for those not inserted under a key (an
 * earlier request, or one earlier in this batch, holds it), the row that holds it
 * (`existing`), read in a statement of its own, which sees what committed meanwhile. If
 * that read fails, only those requests fail (undefined: the others' rows are committed,
 * and their retry finds the row).
 */
export const keyedInsertResults = async <
  Item extends { id: string; tenantId: string; idempotency?: RowIdempotency },
  Row extends { id: string },
  T,
>(
  db: Queryable,
  table: KeyedTable<Row, T>,
  items: readonly Item[],
  inserted: readonly Row[],
  /** The item's id in the key's scope (its agent, its workflow). */
  scopeOf: (item: Item) => string,
): Promise<(KeyedInsert<T> | undefined)[]> => {
  const created = new Map(inserted.map((row) => [row.id, table.toResource(row)]));
  const results: (KeyedInsert<T> | undefined)[] = items.map((item) => {
    const row = created.get(item.id);
    return row && { kind: 'created', row };
  });
  const taken = items.flatMap((item, i) =>
    results[i] === undefined && item.idempotency
      ? [{ tenantId: item.tenantId, scopeId: scopeOf(item), key: item.idempotency.key }]
      : [],
  );
  if (taken.length === 0) return results;
  const found = await findByKeys(db, table, taken).catch(() => new Map<string, KeyedInsert<T>>());
  return items.map((item, i) =>
    results[i] === undefined && item.idempotency
      ? found.get(mapKey(item.tenantId, scopeOf(item), item.idempotency.key))
      : results[i],
  );
};
