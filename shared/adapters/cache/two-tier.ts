import { metrics, throttledWarn } from '#runtime/observability.ts';
import { currentScope, outsideScope } from '#runtime/request-scope.ts';
import type { CacheEntry } from './entry.ts';
import type { MemoryCache } from './memory.ts';
import type { L2Write, RedisCache } from './redis.ts';

export interface TwoTierOptions {
  readonly l2TtlSeconds: number;
  readonly negativeTtlSeconds: number;
  readonly negativeL1TtlMs: number;
  /**
   * Puts whose L2 write failed that this container keeps to write again once L2 answers
   * (default 1000). Past that it forgets them and moves the cache generation forward instead.
   */
  readonly maxDeferredPuts?: number;
  /**
   * Where failed puts are noted durably (PostgreSQL), so that another container makes L2
   * safe again if the one that failed is frozen or gone when Redis returns.
   */
  readonly repairLog?: CacheRepairLog;
  /** How often a container looks for repair notes newer than L2 has applied (default 30 s). */
  readonly repairCheckMs?: number;
}

/**
 * Durable notes that a put could not reach L2. The container that failed writes its puts
 * again when it can; a note covers the case where it never can (frozen or gone).
 */
export interface CacheRepairLog {
  /** Notes that a put of this container could not reach L2. */
  record(): Promise<void>;
  /** The newest note's number (0: none). */
  latest(): Promise<number>;
}

/** A loader answers the current value with its version, or null when there is none. */
export type Loader<T> = () => Promise<{ version: number; value: T } | null>;

/**
 * What became of a put in L2: `stored`; `superseded` (L2 holds a newer version); `memory-only`
 * (no L2 configured); `deferred` (L2 could not be written: this container writes it again
 * once L2 answers, and serves nothing from L2 until then).
 */
export type PutOutcome = 'stored' | 'superseded' | 'memory-only' | 'deferred';

const warnCacheDown = throttledWarn(10_000);
const retryDelaysMs = [100, 250, 500, 1_000, 2_000];

/**
 * Read-through cache: L1 memory, then L2 Redis, then the loader (Postgres). Concurrent
 * misses for one key in this container share a single load. Writers `put` the new version
 * (write-through), so invalidation needs no key guessing. Redis being down costs latency,
 * never correctness: reads fall through to the loader.
 *
 * A write whose L2 put failed is never undone when Redis comes back. The put is kept
 * (deferred); until it has been written to L2 this container serves nothing from L2 (the
 * L2 entry may be older than the write), and it writes it (setIfNewer, so never over a
 * newer version) at its first successful L2 contact: on reconnection, on a retry timer,
 * or before its next L2 read. If more puts failed than it keeps, it moves the cache
 * generation forward instead, which makes every L2 entry written before a miss.
 */
export class TwoTierCache {
  private readonly inFlight = new Map<string, Promise<CacheEntry>>();
  private readonly deferred = new Map<string, L2Write>();
  /** Deferred puts were dropped: only a new generation makes L2 trustworthy again. */
  private overflowed = false;
  private recovering: Promise<boolean> | undefined;
  private failedRecoveries = 0;
  private retryAt = 0;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  /** This degraded spell is noted in the repair log (once per spell is enough). */
  private repairNoted = false;
  /** The newest repair note this container has seen applied, and when to look again. */
  private repairsSeen = 0;
  private repairCheckAt = 0;
  private checkingRepairs: Promise<void> | undefined;

  constructor(
    private readonly l1: MemoryCache,
    private readonly l2: RedisCache | undefined,
    private readonly options: TwoTierOptions,
  ) {
    l2?.onReady(() => {
      if (this.degraded) void this.recover(true);
    });
  }

  /**
   * `ttlSeconds` bounds how long L2 keeps a loaded value (default: the L2 TTL), e.g. for
   * entries that must expire sooner than the others whatever happens to the cache.
   */
  async get<T>(key: string, load: Loader<T>, options: { ttlSeconds?: number } = {}): Promise<T | null> {
    const local = this.l1.get(key);
    if (local) {
      this.count(true);
      return local.value as T | null;
    }
    let pending = this.inFlight.get(key);
    if (!pending) {
      pending = this.fill(key, load, options.ttlSeconds).finally(() => this.inFlight.delete(key));
      this.inFlight.set(key, pending);
    }
    return (await pending).value as T | null;
  }

  /** Stores a value just written, so the next read anywhere sees it without a query. */
  async put<T>(key: string, version: number, value: T | null, ttlSeconds?: number): Promise<void> {
    await this.putChecked(key, version, value, ttlSeconds);
  }

  /** {@link put}, telling what became of it in L2 (a revocation must know). */
  async putChecked<T>(
    key: string,
    version: number,
    value: T | null,
    ttlSeconds?: number,
  ): Promise<PutOutcome> {
    const entry: CacheEntry = { version, value };
    this.l1.set(key, entry);
    if (!this.l2) return 'memory-only';
    const ttl = ttlSeconds ?? (value === null ? this.options.negativeTtlSeconds : this.options.l2TtlSeconds);
    const write: L2Write = { key, entry, ttlSeconds: ttl };
    if (this.degraded) {
      // Earlier puts wait to be written again: this one joins them, in order.
      this.defer(write);
      if (await this.recover()) return 'stored';
      this.scheduleRetry();
      await this.noteRepair();
      return 'deferred';
    }
    try {
      return (await this.l2.setIfNewer(key, entry, ttl)) ? 'stored' : 'superseded';
    } catch (error) {
      this.l2Failed(error);
      this.defer(write);
      this.scheduleRetry();
      await this.noteRepair();
      return 'deferred';
    }
  }

  /** Notes this degraded spell durably, before the write that caused it is answered. */
  private async noteRepair(): Promise<void> {
    if (this.repairNoted || !this.options.repairLog) return;
    try {
      await this.options.repairLog.record();
      this.repairNoted = true;
    } catch (error) {
      // Only this container can repair L2 then, as it will if it lives.
      warnCacheDown('cache repair note not written', {
        error: error instanceof Error ? error.message : String(error),
      });
    }
  }

  /**
   * At most every `repairCheckMs` (in the background, outside any request's count): if a
   * container noted a failed put newer than L2 has applied, L2 may hold what that put
   * replaced, and nobody may be left to write it: move the generation on, so every entry
   * from before is a miss, then record the note as applied.
   */
  private maybeCheckRepairs(): void {
    const { repairLog, repairCheckMs = 30_000 } = this.options;
    if (!repairLog || !this.l2 || this.checkingRepairs || Date.now() < this.repairCheckAt) return;
    this.repairCheckAt = Date.now() + repairCheckMs;
    const l2 = this.l2;
    this.checkingRepairs = outsideScope(async () => {
      try {
        const latest = await repairLog.latest();
        if (latest <= this.repairsSeen) return;
        if (latest > (await l2.repairedUpTo())) {
          await l2.bumpGeneration();
          await l2.markRepaired(latest);
          metrics.addMetric('CacheGenerationMoved', 'Count', 1);
        }
        this.repairsSeen = latest;
      } catch (error) {
        // The next check tries again; until then, L2 is read as before.
        this.l2Failed(error);
      } finally {
        this.checkingRepairs = undefined;
      }
    });
  }

  /**
   * Tries to write the deferred puts to L2 until `timeoutMs` has passed; true when there
   * are none left (for a process about to exit, such as a CLI).
   */
  async settle(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (await this.recover(true)) return true;
      if (Date.now() >= deadline) return false;
      await new Promise((resolve) => setTimeout(resolve, Math.min(250, Math.max(0, deadline - Date.now()))));
    }
  }

  /** Puts whose L2 write failed and that are not written yet (or a dropped set of them). */
  get degraded(): boolean {
    return this.overflowed || this.deferred.size > 0;
  }

  /** A cached value without loading on a miss (for caches of results, not of rows). */
  async peek<T>(key: string): Promise<T | undefined> {
    const local = this.l1.get(key);
    if (local) return (local.value ?? undefined) as T | undefined;
    if (!this.l2 || !(await this.recover())) return undefined;
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

  private async fill<T>(key: string, load: Loader<T>, ttlSeconds?: number): Promise<CacheEntry> {
    // Until this container's deferred puts are in L2, L2 may hold what they replaced.
    const trusted = this.l2 !== undefined && (await this.recover());
    if (trusted) this.maybeCheckRepairs();
    if (this.l2 && trusted) {
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
    if (!trusted) return entry;
    const accepted = await this.l2Set(
      key,
      entry,
      loaded ? (ttlSeconds ?? this.options.l2TtlSeconds) : this.options.negativeTtlSeconds,
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
      // A fill only copies the database: nothing is lost if it does not reach L2.
      this.l2Failed(error);
      return true;
    }
  }

  private defer(write: L2Write): void {
    const held = this.deferred.get(write.key);
    if (held && held.entry.version > write.entry.version) return;
    this.deferred.delete(write.key);
    this.deferred.set(write.key, write);
    if (this.deferred.size > (this.options.maxDeferredPuts ?? 1_000)) {
      // Too many to keep: a new generation will invalidate everything they may have left stale.
      this.overflowed = true;
      this.deferred.clear();
    }
  }

  /**
   * Makes L2 trustworthy again after failed puts: moves the generation forward if puts were
   * dropped, then writes the deferred ones. True when nothing is left to write. One attempt
   * at a time; after a failure the next waits a moment (unless `force`d, e.g. on reconnection).
   */
  private recover(force = false): Promise<boolean> {
    if (!this.degraded || !this.l2) return Promise.resolve(true);
    if (this.recovering) return this.recovering;
    if (!force && Date.now() < this.retryAt) return Promise.resolve(false);
    const l2 = this.l2;
    this.recovering = (async () => {
      try {
        if (this.overflowed) {
          await l2.bumpGeneration();
          this.overflowed = false;
        }
        const writes = [...this.deferred.values()];
        await l2.setManyIfNewer(writes);
        // Stored or superseded by a newer version: either way L2 no longer holds an older one.
        // A put deferred meanwhile for the same key replaced its entry and stays.
        for (const write of writes) {
          if (this.deferred.get(write.key) === write) this.deferred.delete(write.key);
        }
        this.failedRecoveries = 0;
        this.retryAt = 0;
        if (!this.degraded) this.repairNoted = false;
        // Puts deferred while this ran are written by the next attempt.
        if (this.degraded) this.scheduleRetry();
        return !this.degraded;
      } catch (error) {
        this.l2Failed(error);
        this.failedRecoveries += 1;
        this.retryAt = Date.now() + this.retryDelay();
        this.scheduleRetry();
        return false;
      } finally {
        this.recovering = undefined;
      }
    })();
    return this.recovering;
  }

  private retryDelay(): number {
    return retryDelaysMs[Math.min(this.failedRecoveries, retryDelaysMs.length - 1)]!;
  }

  /** Retries in the background too, so L2 is repaired even if this container serves nothing. */
  private scheduleRetry(): void {
    if (this.retryTimer || this.l2?.closed) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      if (this.degraded && !this.l2?.closed) void this.recover(true);
    }, this.retryDelay());
    this.retryTimer.unref?.();
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
