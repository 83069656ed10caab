import type { CacheEntry } from './entry.ts';

/**
 * L1: this container's memory. Entries live at most `ttlMs`, which bounds how stale a
 * container can be after another container writes. Least recently used go first.
 */
export class MemoryCache {
  private readonly entries = new Map<string, { entry: CacheEntry; expiresAt: number }>();

  constructor(
    private readonly ttlMs: number,
    private readonly maxEntries: number,
  ) {}

  get(key: string, now = Date.now()): CacheEntry | undefined {
    const slot = this.entries.get(key);
    if (!slot) return undefined;
    if (slot.expiresAt <= now) {
      this.entries.delete(key);
      return undefined;
    }
    // Re-insert to mark as most recently used (Map keeps insertion order).
    this.entries.delete(key);
    this.entries.set(key, slot);
    return slot.entry;
  }

  /** Keeps the newer of what is held and what is offered, as L2 does. */
  set(key: string, entry: CacheEntry, ttlMs = this.ttlMs, now = Date.now()): void {
    if (this.maxEntries === 0 || ttlMs <= 0) return;
    const held = this.entries.get(key);
    if (held && held.expiresAt > now && held.entry.version > entry.version) return;
    this.entries.delete(key);
    this.entries.set(key, { entry, expiresAt: now + ttlMs });
    if (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next().value;
      if (oldest !== undefined) this.entries.delete(oldest);
    }
  }

  delete(key: string): void {
    this.entries.delete(key);
  }

  clear(): void {
    this.entries.clear();
  }

  get size(): number {
    return this.entries.size;
  }
}
