import type { Redis } from 'ioredis';
import { type CacheEntry, decodeEntry, encodeEntry } from './entry.ts';

/**
 * Store only if nothing newer is stored: a reader that loaded version 3 before a writer
 * stored version 4 cannot put 3 back. One key per script call, so it is cluster-safe.
 */
const setIfNewerScript = `
local current = redis.call('GET', KEYS[1])
if current then
  local sep = string.find(current, '|', 1, true)
  if sep and tonumber(string.sub(current, 1, sep - 1)) > tonumber(ARGV[1]) then return 0 end
end
redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
return 1
`;

type RedisWithScript = Redis & {
  setIfNewer(key: string, version: number, encoded: string, ttlSeconds: number): Promise<number>;
};

/**
 * L2: ElastiCache Valkey/Redis shared by every container. Fails fast when unreachable.
 * ioredis (~150 KB minified) is imported when the first RedisCache is created, i.e. on the
 * container's first cache use and only where REDIS_URL is set: it stays out of the main chunk
 * and out of module init. The connection is started as soon as it has loaded.
 */
export class RedisCache {
  private readonly loading: Promise<RedisWithScript>;
  private client: RedisWithScript | undefined;

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
      // Errors surface on each command; an unhandled 'error' event would crash the container.
      client.on('error', () => {});
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

  async get(key: string): Promise<CacheEntry | undefined> {
    const raw = await (await this.connected()).get(key);
    return raw === null ? undefined : decodeEntry(raw);
  }

  async setIfNewer(key: string, entry: CacheEntry, ttlSeconds: number): Promise<boolean> {
    const client = await this.connected();
    return (await client.setIfNewer(key, entry.version, encodeEntry(entry), ttlSeconds)) === 1;
  }

  async ping(): Promise<boolean> {
    return (await (await this.connected()).ping()) === 'PONG';
  }

  get ready(): boolean {
    return this.client?.status === 'ready';
  }

  async close(): Promise<void> {
    (this.client ?? (await this.loading.catch(() => undefined)))?.disconnect();
  }
}
