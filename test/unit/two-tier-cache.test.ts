import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { type CacheEntry, decodeStamped, encodeEntry } from '#adapters/cache/entry.ts';
import { MemoryCache } from '#adapters/cache/memory.ts';
import type { L2Write, RedisCache } from '#adapters/cache/redis.ts';
import { TwoTierCache } from '#adapters/cache/two-tier.ts';

/** L2 as RedisCache behaves: generation-stamped entries, setIfNewer, and an on/off switch. */
class FakeL2 {
  readonly store = new Map<string, { entry: CacheEntry; generation: number }>();
  generation = 0;
  down = false;
  closed = false;
  bumps = 0;
  private readonly listeners: (() => void)[] = [];

  private check(): void {
    if (this.down) throw new Error('Stream isn\u2019t writeable');
  }
  async get(key: string): Promise<CacheEntry | undefined> {
    this.check();
    const held = this.store.get(key);
    return held && held.generation === this.generation ? held.entry : undefined;
  }
  async setIfNewer(key: string, entry: CacheEntry, ttlSeconds: number): Promise<boolean> {
    return (await this.setManyIfNewer([{ key, entry, ttlSeconds }]))[0]!;
  }
  async setManyIfNewer(writes: readonly L2Write[]): Promise<boolean[]> {
    this.check();
    return writes.map(({ key, entry }) => {
      const held = this.store.get(key);
      if (held && held.entry.version > entry.version) return false;
      this.store.set(key, { entry, generation: this.generation });
      return true;
    });
  }
  async bumpGeneration(): Promise<number> {
    this.check();
    this.bumps += 1;
    this.generation += 1;
    return this.generation;
  }
  onReady(listener: () => void): void {
    this.listeners.push(listener);
  }
  /** Back, as after a reconnection: the 'ready' listeners run. */
  back(): void {
    this.down = false;
    for (const listener of this.listeners) listener();
  }
  version(key: string): number | undefined {
    return this.store.get(key)?.entry.version;
  }
}

const options = { l2TtlSeconds: 300, negativeTtlSeconds: 30, negativeL1TtlMs: 0 };
/** L1 off, so every read asks L2 (or the loader). */
const containerOn = (l2: FakeL2, extra: { maxDeferredPuts?: number } = {}) =>
  new TwoTierCache(new MemoryCache(0, 0), l2 as unknown as RedisCache, { ...options, ...extra });

const loader = (version: number, value: string) => {
  const calls = { count: 0 };
  const load = async () => {
    calls.count += 1;
    return { version, value };
  };
  return { load, calls };
};

/** A container that wrote version 1 of `key` to L2, then put version 2 while L2 was down (still down). */
const afterFailedPut = async (key: string, first: string, second: string) => {
  const l2 = new FakeL2();
  const writer = containerOn(l2);
  await writer.put(key, 1, first);
  l2.down = true;
  await writer.put(key, 2, second);
  return { l2, writer };
};

/** A container that put versions 2, 4 and 3 of 'k' (in that order) while L2 was down (still down). */
const afterOutOfOrderPuts = async () => {
  const l2 = new FakeL2();
  const writer = containerOn(l2);
  l2.down = true;
  await writer.put('k', 2, 'two');
  await writer.put('k', 4, 'four');
  await writer.put('k', 3, 'three'); // out of order: the newest deferred one wins
  return { l2, writer };
};

describe('entry encoding with a generation', () => {
  it('stamps the generation after the version, and reads old unstamped entries as generation 0', () => {
    expect(encodeEntry({ version: 3, value: 'x' }, 7)).toBe('3:7|"x"');
    expect(encodeEntry({ version: 3, value: 'x' })).toBe('3|"x"');
    expect(decodeStamped('3:7|"x"')).toEqual({ entry: { version: 3, value: 'x' }, generation: 7 });
    expect(decodeStamped('3|"a:b|c"')).toEqual({ entry: { version: 3, value: 'a:b|c' }, generation: 0 });
    for (const bad of ['3:|1', ':7|1', '3:x|1', '3:1.5|1', '-1|1', '3:-1|1'])
      expect(decodeStamped(bad)).toBeUndefined();
  });
});

describe('TwoTierCache across an L2 outage', () => {
  it('reports what became of a put', async () => {
    const l2 = new FakeL2();
    const cache = containerOn(l2);
    expect(await cache.putChecked('k', 2, 'two')).toBe('stored');
    expect(await cache.putChecked('k', 1, 'one')).toBe('superseded');
    l2.down = true;
    expect(await cache.putChecked('k', 3, 'three')).toBe('deferred');
    const noL2 = new TwoTierCache(new MemoryCache(0, 0), undefined, options);
    expect(await noL2.putChecked('k', 1, 'one')).toBe('memory-only');
  });

  it('writes a put that failed once L2 is back, so L2 never serves what it replaced', async () => {
    const { l2, writer } = await afterFailedPut('agent', 'active', 'paused');
    expect(writer.degraded).toBe(true);
    expect(l2.version('agent')).toBe(1);
    l2.back();
    await sleep(0);
    expect(l2.version('agent')).toBe(2);
    expect(writer.degraded).toBe(false);
    const other = loader(2, 'paused');
    expect(await containerOn(l2).get('agent', other.load)).toBe('paused');
    expect(other.calls.count).toBe(0);
  });

  it('does not trust L2 while its own puts are not written: it writes them first, or reads the database', async () => {
    const { l2, writer } = await afterFailedPut('agent', 'active', 'paused');
    // L2 answers again but no reconnection was seen (a hung node that resumed).
    l2.down = false;
    const source = loader(2, 'paused');
    expect(await writer.get('agent', source.load)).toBe('paused');
    expect(source.calls.count).toBe(0); // written first, then read from L2
    expect(l2.version('agent')).toBe(2);

    // Down again: reads go to the database, never to what L2 held before.
    await writer.put('agent', 3, 'active again');
    l2.down = true;
    await writer.put('agent', 4, 'paused again');
    const later = loader(4, 'paused again');
    expect(await writer.get('agent', later.load)).toBe('paused again');
    expect(later.calls.count).toBe(1);
  });

  it('never writes an older version over a newer one written meanwhile, and keeps the newest deferred put', async () => {
    const { l2, writer } = await afterOutOfOrderPuts();
    l2.down = false;
    await containerOn(l2).put('k', 5, 'five'); // another container, after the outage
    expect(await writer.settle(1_000)).toBe(true);
    expect(l2.version('k')).toBe(5);

    const { l2: other, writer: again } = await afterOutOfOrderPuts();
    expect(await again.settle(0)).toBe(false);
    other.down = false;
    expect(await again.settle(1_000)).toBe(true);
    expect(other.version('k')).toBe(4);
  });

  it('past the deferred puts it keeps, moves the generation forward: every older entry is a miss', async () => {
    const l2 = new FakeL2();
    const writer = containerOn(l2, { maxDeferredPuts: 2 });
    await writer.put('untouched', 1, 'u');
    for (const key of ['a', 'b', 'c']) await writer.put(key, 1, `${key}1`);
    l2.down = true;
    for (const key of ['a', 'b', 'c']) await writer.put(key, 2, `${key}2`);
    l2.back();
    await sleep(0);
    expect(l2.bumps).toBe(1);
    expect(writer.degraded).toBe(false);
    const fresh = containerOn(l2);
    for (const key of ['a', 'b', 'c']) {
      const source = loader(2, `${key}2`);
      expect(await fresh.get(key, source.load)).toBe(`${key}2`);
      expect(source.calls.count).toBe(1);
    }
    const untouched = loader(1, 'u');
    expect(await fresh.get('untouched', untouched.load)).toBe('u');
    expect(untouched.calls.count).toBe(1);
    // …and once reloaded, served from L2 again.
    expect(await containerOn(l2).get('untouched', untouched.load)).toBe('u');
    expect(untouched.calls.count).toBe(1);
  });

  it('retries in the background, so L2 is repaired even if the container serves nothing more', async () => {
    const { l2, writer } = await afterFailedPut('k', 'one', 'two');
    l2.down = false; // no reconnection event, no further request
    await sleep(400);
    expect(l2.version('k')).toBe(2);
    expect(writer.degraded).toBe(false);
  });

  it('settle answers false while L2 is away and true once the deferred puts are written', async () => {
    const l2 = new FakeL2();
    const cache = containerOn(l2);
    l2.down = true;
    expect(await cache.putChecked('key', 2, null)).toBe('deferred');
    const started = Date.now();
    expect(await cache.settle(300)).toBe(false);
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    setTimeout(() => {
      l2.down = false;
    }, 100);
    expect(await cache.settle(2_000)).toBe(true);
    expect(l2.version('key')).toBe(2);
  });
});
