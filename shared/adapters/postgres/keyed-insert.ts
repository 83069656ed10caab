import type { KeyedInsert, RowIdempotency } from './idempotency.ts';

/**
 * The answers of a batch insert that may carry Idempotency-Keys, in the batch's order:
 * the rows it inserted (`created`, by id) and, for those not inserted under a key (an
 * earlier request, or one earlier in this batch, holds it), the row that holds it
 * (`existing`), read in a statement of its own, which sees what committed meanwhile. If
 * that read fails, only those requests fail (undefined: the others' rows are committed,
 * and their retry finds the row).
 */
export const keyedInsertResults = async <Item extends { id: string; idempotency?: RowIdempotency }, Row>(
  items: readonly Item[],
  inserted: ReadonlyMap<string, Row>,
  findByKeys: (taken: readonly (Item & { key: string })[]) => Promise<Map<string, KeyedInsert<Row>>>,
  /** The key with its scope (tenant and agent or workflow), as `findByKeys` answers it. */
  scopedKey: (item: Item, key: string) => string,
): Promise<(KeyedInsert<Row> | undefined)[]> => {
  const results: (KeyedInsert<Row> | undefined)[] = items.map((item) => {
    const row = inserted.get(item.id);
    return row && { kind: 'created', row };
  });
  const taken = items.flatMap((item, i) =>
    results[i] === undefined && item.idempotency ? [{ ...item, key: item.idempotency.key }] : [],
  );
  if (taken.length === 0) return results;
  const found = await findByKeys(taken).catch(() => new Map<string, KeyedInsert<Row>>());
  return items.map((item, i) =>
    results[i] === undefined && item.idempotency
      ? found.get(scopedKey(item, item.idempotency.key))
      : results[i],
  );
};
