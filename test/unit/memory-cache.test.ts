import { describe, expect, it } from 'vitest';
import type { CacheEntry } from '#adapters/cache/entry.ts';
import { MemoryCache } from '#adapters/cache/memory.ts';

const entry = (version: number, value: unknown = { v: version }): CacheEntry => ({ version, value });
const t0 = 1_700_000_000_000;

/** A cache (1 s TTL) given `first` for 'a' at t0, then `second` `laterMs` after. */
const givenTwice = (first: CacheEntry, second: CacheEntry, laterMs: number): MemoryCache => {
  const cache = new MemoryCache(1_000, 10);
  cache.set('a', first, undefined, t0);
  cache.set('a', second, undefined, t0 + laterMs);
  return cache;
};

describe('MemoryCache: TTL', () => {
  it('serves an entry until its TTL has passed, then forgets it', () => {
    const cache = new MemoryCache(1_000, 10);
    cache.set('a', entry(1), undefined, t0);
    expect(cache.get('a', t0)).toEqual(entry(1));
    expect(cache.get('a', t0 + 999)).toEqual(entry(1));
    expect(cache.get('a', t0 + 1_000)).toBeUndefined();
    expect(cache.size).toBe(0);
    // Once expired it stays gone, even if asked about an earlier time.
    expect(cache.get('a', t0)).toBeUndefined();
  });

  it('uses a per-call TTL instead of the default when given one', () => {
    const cache = new MemoryCache(10_000, 10);
    cache.set('neg', entry(0, null), 100, t0);
    expect(cache.get('neg', t0 + 99)).toEqual(entry(0, null));
    expect(cache.get('neg', t0 + 100)).toBeUndefined();
  });

  it('does not extend an entry’s life when it is read', () => {
    const cache = new MemoryCache(1_000, 10);
    cache.set('a', entry(1), undefined, t0);
    expect(cache.get('a', t0 + 900)).toBeDefined();
    expect(cache.get('a', t0 + 1_000)).toBeUndefined();
  });

  it('restarts the TTL when an entry is replaced', () => {
    const cache = givenTwice(entry(1), entry(2), 500);
    expect(cache.get('a', t0 + 1_200)).toEqual(entry(2));
    expect(cache.get('a', t0 + 1_500)).toBeUndefined();
  });

  it('caches null values (tombstones) like any other', () => {
    const cache = new MemoryCache(1_000, 10);
    cache.set('gone', entry(4, null), undefined, t0);
    expect(cache.get('gone', t0 + 1)).toEqual({ version: 4, value: null });
  });
});

describe('MemoryCache: LRU eviction', () => {
  /** Which of `keys` the cache holds at t0 (reading them, in order). */
  const held = (cache: MemoryCache, keys: string[]) => keys.filter((key) => cache.get(key, t0) !== undefined);

  it('holds at most maxEntries, evicting the least recently inserted', () => {
    const cache = new MemoryCache(60_000, 3);
    for (const key of ['a', 'b', 'c', 'd']) cache.set(key, entry(1), undefined, t0);
    expect(cache.size).toBe(3);
    expect(held(cache, ['a', 'b', 'c', 'd'])).toEqual(['b', 'c', 'd']);
  });

  it('treats a get as a use: the entry read survives the next eviction', () => {
    const cache = new MemoryCache(60_000, 3);
    for (const key of ['a', 'b', 'c']) cache.set(key, entry(1), undefined, t0);
    expect(cache.get('a', t0)).toBeDefined();
    cache.set('d', entry(1), undefined, t0);
    expect(held(cache, ['a', 'b', 'c', 'd'])).toEqual(['a', 'c', 'd']);
  });

  it('treats a set of an existing key as a use, without growing', () => {
    const cache = new MemoryCache(60_000, 2);
    cache.set('a', entry(1), undefined, t0);
    cache.set('b', entry(1), undefined, t0);
    cache.set('a', entry(2), undefined, t0);
    expect(cache.size).toBe(2);
    cache.set('c', entry(1), undefined, t0);
    expect(cache.get('b', t0)).toBeUndefined();
    expect(cache.get('a', t0)).toEqual(entry(2));
  });

  it('delete and clear remove entries', () => {
    const cache = new MemoryCache(60_000, 10);
    cache.set('a', entry(1), undefined, t0);
    cache.set('b', entry(1), undefined, t0);
    cache.delete('a');
    expect(cache.get('a', t0)).toBeUndefined();
    expect(cache.size).toBe(1);
    cache.clear();
    expect(cache.size).toBe(0);
    expect(cache.get('b', t0)).toBeUndefined();
  });
});

describe('MemoryCache: versions', () => {
  it('refuses to replace a newer live version with an older one', () => {
    const cache = givenTwice(entry(5), entry(4), 10);
    expect(cache.get('a', t0 + 20)).toEqual(entry(5));
    // The refusal did not restart the TTL of what is held.
    expect(cache.get('a', t0 + 1_000)).toBeUndefined();
  });

  it('refuses to let a stale miss (version 0) replace a live row', () => {
    const cache = givenTwice(entry(2), entry(0, null), 1);
    expect(cache.get('a', t0 + 2)).toEqual(entry(2));
  });

  it('accepts newer versions and the same version', () => {
    const cache = givenTwice(entry(1), entry(2), 1);
    expect(cache.get('a', t0 + 2)).toEqual(entry(2));
    cache.set('a', entry(2, 'same version, fresh copy'), undefined, t0 + 3);
    expect(cache.get('a', t0 + 4)).toEqual(entry(2, 'same version, fresh copy'));
    cache.set('a', entry(7, null), undefined, t0 + 5);
    expect(cache.get('a', t0 + 6)).toEqual(entry(7, null));
  });

  it('accepts an older version once the newer one has expired', () => {
    const cache = givenTwice(entry(5), entry(4), 1_000);
    expect(cache.get('a', t0 + 1_001)).toEqual(entry(4));
  });
});

describe('MemoryCache: disabled', () => {
  it('stores nothing when maxEntries is 0', () => {
    const cache = new MemoryCache(1_000, 0);
    cache.set('a', entry(1), undefined, t0);
    cache.set('b', entry(1), 5_000, t0);
    expect(cache.size).toBe(0);
    expect(cache.get('a', t0)).toBeUndefined();
    expect(cache.get('b', t0)).toBeUndefined();
  });

  it('stores nothing when the TTL is 0', () => {
    const cache = new MemoryCache(0, 10);
    cache.set('a', entry(1), undefined, t0);
    expect(cache.size).toBe(0);
    expect(cache.get('a', t0)).toBeUndefined();
  });

  it('stores nothing for a per-call TTL of 0 or less', () => {
    const cache = new MemoryCache(1_000, 10);
    cache.set('a', entry(1), 0, t0);
    cache.set('b', entry(1), -5, t0);
    expect(cache.size).toBe(0);
  });
});
