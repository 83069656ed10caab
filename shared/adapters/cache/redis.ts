import type { ChainableCommander, Redis } from 'ioredis';
import { type CacheEntry, decodeStamped, encodeEntry } from './entry.ts';

/**
 * Store only if nothing newer is stored: a reader that loaded version 3 before a writer
 * stored version 4 cannot put 3 back. One key per script call, so it is cluster-safe.
 * The stored header is `<version>` or `<version>:<generation>` (see entry.ts).
 */
const setIfNewerScript = `
local current = redis.call('GET', KEYS[1])
if current then
  local sep = string.find(current, '|', 1, true)
  if sep then
    local header = string.sub(current, 1, sep - 1)
    local colon = string.find(header, ':', 1, true)
    if colon then header = string.sub(header, 1, colon - 1) end
    local stored = tonumber(header)
    if stored and stored > tonumber(ARGV[1]) then return 0 end
  end
end
redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
return 1
`;

/**
 * Moves the generation forward: to at least the current one + 1 and at least ARGV[1] (the
 * caller's clock in ms), so a generation key lost to a restart or an eviction never brings
 * back a generation already used. One key, no TTL (volatile-* eviction never picks it).
 */
const bumpGenerationScript = `
local current = tonumber(redis.call('GET', KEYS[1]) or '0') or 0
local nextGeneration = math.max(current + 1, tonumber(ARGV[1]))
redis.call('SET', KEYS[1], string.format('%d', nextGeneration))
return string.format('%d', nextGeneration)
`;

/** The key holding the cache generation (after the `sy:` prefix). */
export const generationKey = 'cache:generation';
/** The key holding the newest durable repair note already applied (after the `sy:` prefix). */
export const repairedKey = 'cache:repaired';

/** Records ARGV[1] as applied if it is newer than what is recorded; one key, no TTL. */
const markRepairedScript = `
local applied = tonumber(redis.call('GET', KEYS[1]) or '0') or 0
if applied >= tonumber(ARGV[1]) then return 0 end
redis.call('SET', KEYS[1], ARGV[1])
return 1
`;

interface ScriptCommands {
  setIfNewer(key: string, version: number, encoded: string, ttlSeconds: number): Promise<number>;
  bumpGeneration(key: string, floor: number): Promise<string>;
  markRepaired(key: string, note: number): Promise<number>;
}
type RedisWithScript = Redis & ScriptCommands;
type PipelineWithScript = ChainableCommander & {
  setIfNewer(key: string, version: number, encoded: string, ttlSeconds: number): ChainableCommander;
};

/** One put for {@link RedisCache.setManyIfNewer}. */
export interface L2Write {
  readonly key: string;
  readonly entry: CacheEntry;
  readonly ttlSeconds: number;
}

const parseGeneration = (raw: unknown): number => {
  const value = typeof raw === 'string' ? Number(raw) : 0;
  return Number.isSafeInteger(value) && value >= 0 ? value : 0;
};

/** A pipeline's replies, or the first error in them. */
const settled = (replies: [Error | null, unknown][] | null): unknown[] => {
  if (!replies) throw new Error('Redis pipeline was discarded');
  const failed = replies.find(([error]) => error);
  if (failed) throw failed[0];
  return replies.map(([, reply]) => reply);
};

/**
 * L2: ElastiCache Valkey/Redis shared by every container. Fails fast when unreachable.
 * ioredis (~150 KB minified) is imported when the first RedisCache is created, i.e. on the
 * container's first cache use and only where REDIS_URL is set: it stays out of the main chunk
 * and out of module init. The connection is started as soon as it has loaded.
 *
 * Every entry is stamped with the cache generation (a counter under its own key) current when
 * it was written, and a read trusts an entry only if its stamp equals the current generation:
 * moving the generation forward invalidates every entry at once (see two-tier.ts for when).
 * A read fetches the generation and the entry in one pipeline of two single-key GETs: one
 * round trip, and cluster-safe.
 */
export class RedisCache {
  private readonly loading: Promise<RedisWithScript>;
  private client: RedisWithScript | undefined;
  private readonly readyListeners: (() => void)[] = [];
  private isClosed = false;
  /** The generation seen last: what this container stamps its writes with. */
  private generation = 0;

  constructor(url: string) {
    this.loading = import('ioredis').then(({ Redis }) => {
      const client = new Redis(url, {
        lazyConnect: true,
        // When Redis is away, fail at once and let the caller go to Postgres; never queue.
        enableOfflineQueue: false,
        maxRetriesPerRequest: 1,
        connectTimeout: 1_000,
        commandTimeout: 250,
        retryStrategy: (attempt) => Math.min(attempt * 250, 2_000),
        keyPrefix: 'sy:',
      });
      client.defineCommand('setIfNewer', { numberOfKeys: 1, lua: setIfNewerScript });
      client.defineCommand('bumpGeneration', { numberOfKeys: 1, lua: bumpGenerationScript });
      client.defineCommand('markRepaired', { numberOfKeys: 1, lua: markRepairedScript });
      // Errors surface on each command; an unhandled 'error' event would crash the container.
      client.on('error', () => {});
      client.on('ready', () => {
        for (const listener of this.readyListeners) listener();
      });
      client.connect().catch(() => {});
      this.client = client as RedisWithScript;
      return this.client;
    });
    // A failed load surfaces on each command, as a connection error does.
    this.loading.catch(() => {});
  }

  /** A fresh container's first command waits briefly for the connection instead of failing over. */
  private async connected(): Promise<RedisWithScript> {
    const client = this.client ?? (await this.loading);
    const { status } = client;
    if (status === 'ready' || (status !== 'connecting' && status !== 'connect')) return client;
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        client.off('ready', done);
        resolve();
      };
      const timer = setTimeout(done, 250);
      client.once('ready', done);
    });
    return client;
  }

  /** The entry, if there is one written under the current generation: one round trip. */
  async get(key: string): Promise<CacheEntry | undefined> {
    const client = await this.connected();
    const [generation, raw] = settled(await client.pipeline().get(generationKey).get(key).exec());
    this.generation = parseGeneration(generation);
    if (typeof raw !== 'string') return undefined;
    const stamped = decodeStamped(raw);
    return stamped && stamped.generation === this.generation ? stamped.entry : undefined;
  }

  /** False only when L2 holds a newer version than the one offered. */
  async setIfNewer(key: string, entry: CacheEntry, ttlSeconds: number): Promise<boolean> {
    const [accepted] = await this.setManyIfNewer([{ key, entry, ttlSeconds }]);
    return accepted === true;
  }

  /**
   * Several setIfNewer in one pipeline (each a single-key script), stamped with the
   * generation read in the same pipeline. If that generation is not the one the entries
   * were stamped with (it moved since this container last looked), they are written again
   * with the right stamp: a second round trip, only right after a generation change.
   */
  async setManyIfNewer(writes: readonly L2Write[]): Promise<boolean[]> {
    if (writes.length === 0) return [];
    const client = await this.connected();
    const send = async (generation: number) => {
      const pipeline = client.pipeline().get(generationKey) as PipelineWithScript;
      for (const { key, entry, ttlSeconds } of writes) {
        pipeline.setIfNewer(key, entry.version, encodeEntry(entry, generation), ttlSeconds);
      }
      const [current, ...accepted] = settled(await pipeline.exec());
      return { current: parseGeneration(current), accepted: accepted.map((reply) => reply === 1) };
    };
    const stamped = this.generation;
    const first = await send(stamped);
    this.generation = first.current;
    if (first.current === stamped) return first.accepted;
    return (await send(first.current)).accepted;
  }

  /** Invalidates every entry written so far; answers the new generation. */
  async bumpGeneration(): Promise<number> {
    const client = await this.connected();
    this.generation = parseGeneration(await client.bumpGeneration(generationKey, Date.now()));
    return this.generation;
  }

  /** The newest durable repair note L2 has been made safe for (0: none yet). */
  async repairedUpTo(): Promise<number> {
    return parseGeneration(await (await this.connected()).get(repairedKey));
  }

  /** Records that L2 has been made safe for every repair note up to `note`. */
  async markRepaired(note: number): Promise<void> {
    await (await this.connected()).markRepaired(repairedKey, note);
  }

  /** Called each time the connection becomes ready, including after a reconnection. */
  onReady(listener: () => void): void {
    this.readyListeners.push(listener);
  }

  async ping(): Promise<boolean> {
    return (await (await this.connected()).ping()) === 'PONG';
  }

  get ready(): boolean {
    return this.client?.status === 'ready';
  }

  get closed(): boolean {
    return this.isClosed;
  }

  async close(): Promise<void> {
    this.isClosed = true;
    (this.client ?? (await this.loading.catch(() => undefined)))?.disconnect();
  }
}
