/**
 * Coalesces calls made in the same turn of the event loop into one batch, run on the next
 * turn (setImmediate) or as soon as `maxSize` are waiting. Concurrent requests in one
 * process (the local runtime, a worker's parallel records) then share one round trip; a
 * lone call (one request per Lambda container) waits one turn, never a timer.
 *
 * `run` answers each item in order: fulfilled with its result, or rejected with its own
 * error, so one bad item does not fail the others. If `run` itself throws, every item of
 * the batch gets that error.
 */
export class MicroBatcher<Item, Result> {
  private pending: { item: Item; resolve: (result: Result) => void; reject: (error: unknown) => void }[] = [];

  constructor(
    private readonly run: (items: readonly Item[]) => Promise<readonly PromiseSettledResult<Result>[]>,
    private readonly maxSize: number,
  ) {}

  add(item: Item): Promise<Result> {
    return new Promise((resolve, reject) => {
      this.pending.push({ item, resolve, reject });
      if (this.pending.length >= this.maxSize) this.flush();
      else if (this.pending.length === 1) setImmediate(() => this.flush());
    });
  }

  private flush(): void {
    if (this.pending.length === 0) return;
    const batch = this.pending;
    this.pending = [];
    this.run(batch.map((entry) => entry.item)).then(
      (results) => {
        batch.forEach((entry, i) => {
          const result = results[i];
          if (result?.status === 'fulfilled') entry.resolve(result.value);
          else entry.reject(result ? result.reason : new Error('the batch returned no result for this item'));
        });
      },
      (error: unknown) => {
        for (const entry of batch) entry.reject(error);
      },
    );
  }
}
