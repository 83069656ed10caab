import { metrics, throttledWarn } from '../../runtime/observability.ts';
import { currentScope } from '../../runtime/request-scope.ts';
import type { CacheEntry } from './entry.ts';
import type { MemoryCache } from './memory.ts';
import type { RedisCache } from './redis.ts';

export interface TwoTierOptions {
  readonly l2TtlSeconds: number;
  readonly negativeTtlSeconds: number;
  readonly negativeL1TtlMs: number;
}

/** A loader answers the current value with its version, or null when there is none. */
export type Loader<T> = () => Promise<{ version: number; value: T } | null>;

const warnCacheDown = throttledWarn(10_000);

/**
 * Read-through cache: L1 memory, then L2 Redis, then the loader (Postgres). Concurrent
 * misses for one key in this container share a single load. Writers `put` the new version
 * (write-through), so invalidation needs no key guessing. Redis being down costs latency,
 * never correctness: reads fall through to the loader.
 */
export class TwoTierCache {
  private readonly inFlight = new Map<string, Promise<CacheEntry>>();

  constructor(
    private readonly l1: MemoryCache,
    private readonly l2: RedisCache | undefined,
    private readonly options: TwoTierOptions,
  ) {}

  async get<T>(key: string, load: Loader<T>): Promise<T | null> {
    const local = this.l1.get(key);
    if (local) {
      this.count(true);
      return local.value as T | null;
    }
    let pending = this.inFlight.get(key);
    if (!pending) {
      pending = this.fill(key, load).finally(() => this.inFlight.delete(key));
      this.inFlight.set(key, pending);
    }
    return (await pending).value as T | null;
  }

  /** Stores a value just written, so the next read anywhere sees it without a query. */
  async put<T>(key: string, version: number, value: T | null, ttlSeconds?: number): Promise<void> {
    const entry: CacheEntry = { version, value };
    this.l1.set(key, entry);
    const ttl = ttlSeconds ?? (value === null ? this.options.negativeTtlSeconds : this.options.l2TtlSeconds);
    await this.l2Set(key, entry, ttl);
  }

  /** A cached value without loading on a miss (for caches of results, not of rows). */
  async peek<T>(key: string): Promise<T | undefined> {
    const local = this.l1.get(key);
    if (local) return (local.value ?? undefined) as T | undefined;
    if (!this.l2) return undefined;
    try {
      const shared = await this.l2.get(key);
      if (shared?.value === undefined || shared.value === null) return undefined;
      this.l1.set(key, shared);
      return shared.value as T;
    } catch (error) {
      this.l2Failed(error);
      return undefined;
    }
  }

  private async fill<T>(key: string, load: Loader<T>): Promise<CacheEntry> {
    if (this.l2) {
      try {
        const shared = await this.l2.get(key);
        if (shared) {
          this.count(true);
          this.l1.set(key, shared, shared.value === null ? this.options.negativeL1TtlMs : undefined);
          return shared;
        }
      } catch (error) {
        this.l2Failed(error);
      }
    }
    this.count(false);
    const loaded = await load();
    // A miss is remembered at version 0: any real row (version ≥ 1) supersedes it.
    const entry: CacheEntry = loaded
      ? { version: loaded.version, value: loaded.value }
      : { version: 0, value: null };
    this.l1.set(key, entry, loaded ? undefined : this.options.negativeL1TtlMs);
    const accepted = await this.l2Set(
      key,
      entry,
      loaded ? this.options.l2TtlSeconds : this.options.negativeTtlSeconds,
    );
    // A writer stored a newer version while we loaded: do not keep serving ours from memory.
    if (!accepted) this.l1.delete(key);
    return entry;
  }

  /** False only when L2 holds a newer version than the one offered. */
  private async l2Set(key: string, entry: CacheEntry, ttlSeconds: number): Promise<boolean> {
    if (!this.l2) return true;
    try {
      return await this.l2.setIfNewer(key, entry, ttlSeconds);
    } catch (error) {
      this.l2Failed(error);
      return true;
    }
  }

  private l2Failed(error: unknown): void {
    metrics.addMetric('CacheErrors', 'Count', 1);
    warnCacheDown('L2 cache unavailable; serving from the database', {
      error: error instanceof Error ? error.message : String(error),
    });
  }

  private count(hit: boolean): void {
    const scope = currentScope();
    if (!scope) return;
    if (hit) scope.cacheHits += 1;
    else scope.cacheMisses += 1;
  }
}
