import { Redis } from 'ioredis';
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

/** L2: ElastiCache Valkey/Redis shared by every container. Fails fast when unreachable. */
export class RedisCache {
  private readonly client: RedisWithScript;

  constructor(url: string) {
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
  }

  /** A fresh container's first command waits briefly for the connection instead of failing over. */
  private async connected(): Promise<void> {
    const { status } = this.client;
    if (status === 'ready' || (status !== 'connecting' && status !== 'connect')) return;
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.client.off('ready', done);
        resolve();
      };
      const timer = setTimeout(done, 250);
      this.client.once('ready', done);
    });
  }

  async get(key: string): Promise<CacheEntry | undefined> {
    await this.connected();
    const raw = await this.client.get(key);
    return raw === null ? undefined : decodeEntry(raw);
  }

  async setIfNewer(key: string, entry: CacheEntry, ttlSeconds: number): Promise<boolean> {
    await this.connected();
    return (await this.client.setIfNewer(key, entry.version, encodeEntry(entry), ttlSeconds)) === 1;
  }

  async ping(): Promise<boolean> {
    await this.connected();
    return (await this.client.ping()) === 'PONG';
  }

  get ready(): boolean {
    return this.client.status === 'ready';
  }

  async close(): Promise<void> {
    this.client.disconnect();
  }
}
