import { MicroBatcher } from '#runtime/micro-batch.ts';
import {
  chargeQuery,
  currentScope,
  outsideScope,
  type RequestScope,
  runInScope,
} from '#runtime/request-scope.ts';

interface Pending<Item> {
  readonly item: Item;
  /** The calling request's counters: the shared statement is charged to each request it served. */
  readonly scope: RequestScope | undefined;
}

/**
 * A write that concurrent requests share: calls made in the same turn of the event loop
 * (MicroBatcher) go to `write` together, one statement for all of them. `write` answers
 * each item in order, `undefined` for one it did not write. If the shared statement fails
 * (one bad row: a foreign key gone meanwhile), each item is written alone, so only the bad
 * one fails. In a Lambda container, which serves one request at a time, every batch is one.
 */
export const sharedStatement = <Item, Result>(
  write: (items: readonly Item[]) => Promise<readonly (Result | undefined)[]>,
  maxSize: number,
): ((item: Item) => Promise<Result>) => {
  const writeOne = async (item: Item): Promise<Result> => {
    const [result] = await write([item]);
    if (result === undefined) throw new Error('the statement wrote nothing for this item');
    return result;
  };
  const batcher = new MicroBatcher<Pending<Item>, Result>(async (pending) => {
    if (pending.length > 1) {
      try {
        const started = performance.now();
        const results = await outsideScope(() => write(pending.map(({ item }) => item)));
        chargeQuery(
          pending.map(({ scope }) => scope),
          performance.now() - started,
        );
        return pending.map((_, i) => {
          const result = results[i];
          return result === undefined
            ? { status: 'rejected', reason: new Error('the statement wrote nothing for this item') }
            : { status: 'fulfilled', value: result };
        });
      } catch {
        // Retried one by one below: the error that matters is the bad item's own.
      }
    }
    return Promise.allSettled(
      pending.map(({ item, scope }) =>
        scope ? runInScope(scope, () => writeOne(item)) : outsideScope(() => writeOne(item)),
      ),
    );
  }, maxSize);
  return (item) => batcher.add({ item, scope: currentScope() });
};
