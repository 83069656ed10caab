import { describe, expect, it } from 'vitest';
import { MicroBatcher } from '#runtime/micro-batch.ts';

/** A batcher that doubles numbers, refuses negatives, and records the batches it ran. */
const doubler = (maxSize: number) => {
  const batches: number[][] = [];
  const batcher = new MicroBatcher<number, number>(async (items) => {
    batches.push([...items]);
    return items.map((n) =>
      n < 0
        ? { status: 'rejected', reason: new Error(`negative: ${n}`) }
        : { status: 'fulfilled', value: n * 2 },
    );
  }, maxSize);
  return { batcher, batches };
};

describe('MicroBatcher', () => {
  it('runs the calls of one turn as one batch, each caller getting its own result', async () => {
    const { batcher, batches } = doubler(10);
    const results = await Promise.all([1, 2, 3].map((n) => batcher.add(n)));
    expect(results).toEqual([2, 4, 6]);
    expect(batches).toEqual([[1, 2, 3]]);
  });

  it('runs a lone call on the next turn, and later calls in a batch of their own', async () => {
    const { batcher, batches } = doubler(10);
    expect(await batcher.add(5)).toBe(10);
    expect(await batcher.add(6)).toBe(12);
    expect(batches).toEqual([[5], [6]]);
  });

  it('never runs more than maxSize items at once', async () => {
    const { batcher, batches } = doubler(4);
    const results = await Promise.all(Array.from({ length: 10 }, (_, n) => batcher.add(n)));
    expect(results).toEqual(Array.from({ length: 10 }, (_, n) => n * 2));
    expect(batches.map((batch) => batch.length)).toEqual([4, 4, 2]);
  });

  it('rejects only the items the batch refused', async () => {
    const { batcher } = doubler(10);
    const results = await Promise.allSettled([1, -2, 3].map((n) => batcher.add(n)));
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((results[1] as PromiseRejectedResult).reason).toEqual(new Error('negative: -2'));
  });

  it('rejects every item with the error of a batch that failed as a whole', async () => {
    const batcher = new MicroBatcher<number, number>(async () => {
      throw new Error('connection lost');
    }, 10);
    const results = await Promise.allSettled([1, 2].map((n) => batcher.add(n)));
    expect(results).toEqual([
      { status: 'rejected', reason: new Error('connection lost') },
      { status: 'rejected', reason: new Error('connection lost') },
    ]);
  });

  it('rejects an item the batch gave no answer for', async () => {
    const batcher = new MicroBatcher<number, number>(
      async (items) => [{ status: 'fulfilled', value: items[0]! }],
      10,
    );
    const results = await Promise.allSettled([7, 8].map((n) => batcher.add(n)));
    expect(results[0]).toEqual({ status: 'fulfilled', value: 7 });
    expect(results[1]?.status).toBe('rejected');
  });
});
