import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, expect, it, onTestFinished } from 'vitest';
import { MemoryCache } from '#adapters/cache/memory.ts';
import { RedisCache } from '#adapters/cache/redis.ts';
import { TwoTierCache } from '#adapters/cache/two-tier.ts';
import { describeRealServers, startRedis } from '../support/real-servers.ts';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.ts';

const l1TtlMs = 150;
const options = { l2TtlSeconds: 60, negativeTtlSeconds: 5, negativeL1TtlMs: l1TtlMs };

/** A container's cache: its own memory, the shared Redis. */
const container = (redis: RedisCache | undefined) =>
  new TwoTierCache(new MemoryCache(l1TtlMs, 1000), redis, options);

/** A loader over a fake "row" whose reads we count. */
const row = (initial: { version: number; value: string } | null) => {
  let current = initial;
  let loads = 0;
  return {
    load: async () => {
      loads += 1;
      return current;
    },
    set(next: { version: number; value: string } | null) {
      current = next;
    },
    get loads() {
      return loads;
    },
  };
};

/** Waits (5 s at most) until the client has reconnected to Redis. */
const untilReady = async (client: RedisCache) => {
  const deadline = Date.now() + 5_000;
  while (!client.ready && Date.now() < deadline) await sleep(20);
  expect(client.ready).toBe(true);
};

describeRealServers('two-tier cache on Redis 7', (servers) => {
  const clients: RedisCache[] = [];
  const redis = () => {
    const client = new RedisCache(servers.redisUrl);
    clients.push(client);
    return client;
  };
  let keySeq = 0;
  const key = () => {
    keySeq += 1;
    return `test:${process.pid}:${keySeq}`;
  };

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()));
  });

  it('serves a second container from L2 without loading', async () => {
    const k = key();
    const source = row({ version: 1, value: 'one' });
    expect(await container(redis()).get(k, source.load)).toBe('one');
    expect(await container(redis()).get(k, source.load)).toBe('one');
    expect(source.loads).toBe(1);
  });

  it('a write in one container is seen by another within the L1 TTL', async () => {
    const k = key();
    const source = row({ version: 1, value: 'v1' });
    const a = container(redis());
    const b = container(redis());
    expect(await b.get(k, source.load)).toBe('v1');
    source.set({ version: 2, value: 'v2' });
    await a.put(k, 2, 'v2');
    expect(await a.get(k, source.load)).toBe('v2'); // the writer sees its write at once
    await sleep(l1TtlMs + 20);
    expect(await b.get(k, source.load)).toBe('v2'); // the other container within the bound
    expect(source.loads).toBe(1); // …from L2, not the database
  });

  it('a slow reader cannot put an older version back over a newer write', async () => {
    const k = key();
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    let entered: () => void = () => {};
    const loading = new Promise<void>((resolve) => {
      entered = resolve;
    });
    const reader = container(redis());
    const writer = container(redis());
    // The reader misses L2, loads version 1 and stalls before caching it…
    const slowRead = reader.get(k, async () => {
      entered();
      await gate;
      return { version: 1, value: 'old' };
    });
    await loading;
    // …meanwhile the writer commits version 2.
    await writer.put(k, 2, 'new');
    release();
    expect(await slowRead).toBe('old'); // that caller read before the write; fine
    // Nobody is served the old version afterwards: not from L2, not from the reader's memory.
    const fresh = row({ version: 2, value: 'new' });
    expect(await container(redis()).get(k, fresh.load)).toBe('new');
    expect(await reader.get(k, fresh.load)).toBe('new');
    expect(fresh.loads).toBe(0);
  });

  it('a delete (tombstone) is not resurrected by a late fill, and misses are cached', async () => {
    const k = key();
    const cache = container(redis());
    await cache.put(k, 3, null);
    const late = row({ version: 2, value: 'zombie' });
    expect(await container(redis()).get(k, late.load)).toBeNull();
    expect(late.loads).toBe(0);

    const missing = key();
    const none = row(null);
    expect(await cache.get(missing, none.load)).toBeNull();
    expect(await container(redis()).get(missing, none.load)).toBeNull();
    expect(none.loads).toBe(1);
    // A real row (version ≥ 1) supersedes the cached miss.
    await cache.put(missing, 1, 'born');
    expect(await container(redis()).get(missing, none.load)).toBe('born');
  });

  it('single-flight: concurrent misses for one key load once', async () => {
    const k = key();
    let loads = 0;
    const cache = container(redis());
    const results = await Promise.all(
      Array.from({ length: 50 }, () =>
        cache.get(k, async () => {
          loads += 1;
          await sleep(20);
          return { version: 1, value: 'shared' };
        }),
      ),
    );
    expect(new Set(results)).toEqual(new Set(['shared']));
    expect(loads).toBe(1);
  });
});

describeRealServers('two-tier cache when Redis goes away', () => {
  let ownRedis: Awaited<ReturnType<typeof startRedis>>;
  let port: number;
  let client: RedisCache;

  beforeAll(async () => {
    ownRedis = await startRedis();
    port = Number(new URL(ownRedis.url).port);
    client = new RedisCache(ownRedis.url);
  });
  afterAll(async () => {
    await client?.close();
    await ownRedis?.stop();
  });

  it('answers correctly from the loader while Redis is down, and uses it again when it is back', async () => {
    const cache = container(client);
    const source = row({ version: 1, value: 'v1' });
    expect(await cache.get('outage', source.load)).toBe('v1');
    await ownRedis.stop();

    // Down: every read is answered from the loader, promptly, with no error.
    source.set({ version: 2, value: 'v2' });
    await sleep(l1TtlMs + 20);
    const started = performance.now();
    expect(await cache.get('outage', source.load)).toBe('v2');
    expect(performance.now() - started).toBeLessThan(1_000);
    await cache.put('outage', 3, 'v3'); // writes do not fail either
    expect(await cache.get('outage', source.load)).toBe('v3');

    // Back: the client reconnects by itself and L2 serves again.
    ownRedis = await startRedis({ port });
    await untilReady(client);
    const loadsBefore = source.loads;
    await container(client).get('after-outage', source.load);
    expect(await container(client).get('after-outage', source.load)).toBe('v2');
    expect(source.loads).toBe(loadsBefore + 1);
  });

  it('never reaches a Redis that was never there, without failing a read', async () => {
    const unreachable = new RedisCache('redis://127.0.0.1:1');
    try {
      const source = row({ version: 1, value: 'from-db' });
      expect(await container(unreachable).get('nowhere', source.load)).toBe('from-db');
      expect(source.loads).toBe(1);
    } finally {
      await unreachable.close();
    }
  });
});

describeRealServers('two-tier cache: writes during an outage are not undone', (servers) => {
  const clients: RedisCache[] = [];
  const redis = (url: string) => {
    const client = new RedisCache(url);
    clients.push(client);
    return client;
  };
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()));
  });

  /**
   * A container on Redis through a TCP proxy (closed when the test ends) that has read `k` at
   * version 1 ('active'); then `outage` befalls the proxy and the container writes version 2
   * ('paused'), the row's new value.
   */
  const writeDuringOutage = async (k: string, outage: (proxy: TcpProxy) => unknown) => {
    const proxy = await startTcpProxy(servers.redisUrl);
    onTestFinished(() => proxy.close());
    const viaProxy = redis(proxy.url);
    const writer = container(viaProxy);
    const source = row({ version: 1, value: 'active' });
    expect(await writer.get(k, source.load)).toBe('active');
    await outage(proxy);
    source.set({ version: 2, value: 'paused' });
    await writer.put(k, 2, 'paused');
    return { proxy, viaProxy, writer, source };
  };

  it('a generation bump makes every earlier entry a miss; a writer with an old generation restamps', async () => {
    const a = redis(servers.redisUrl);
    const b = redis(servers.redisUrl);
    const source = row({ version: 1, value: 'v1' });
    expect(await container(a).get('gen:k', source.load)).toBe('v1');
    expect(await container(b).get('gen:k', source.load)).toBe('v1');
    expect(source.loads).toBe(1);
    const before = await a.bumpGeneration();
    expect(await a.bumpGeneration()).toBeGreaterThan(before);
    // b still stamps with the generation it saw last: its write is stamped again, not lost.
    expect(await container(b).get('gen:k', source.load)).toBe('v1');
    expect(source.loads).toBe(2);
    await a.bumpGeneration();
    await container(b).put('gen:k', 2, 'v2');
    source.set({ version: 2, value: 'v2' });
    expect(await container(redis(servers.redisUrl)).get('gen:k', source.load)).toBe('v2');
    expect(source.loads).toBe(2);
  });

  it('a hung Redis (commands time out, then run late): the writer repairs L2 before trusting it', async () => {
    const { proxy, writer, source } = await writeDuringOutage('hung', (p) => p.stall());
    expect(writer.degraded).toBe(true);
    // The stalled setIfNewer may still run when Redis resumes; either way L2 ends at version 2.
    await proxy.restore();
    await sleep(l1TtlMs + 20);
    expect(await writer.get('hung', source.load)).toBe('paused');
    expect(await container(redis(servers.redisUrl)).get('hung', source.load)).toBe('paused');
  });

  it('Redis cut while a write fails: on reconnection the writer writes it, before any other container reads', async () => {
    const { proxy, viaProxy, writer, source } = await writeDuringOutage('cut', (p) => p.cut());
    await proxy.restore();
    await untilReady(viaProxy);
    await viaProxy.ping(); // after the writes sent on reconnection, on the same connection
    const loads = source.loads;
    expect(await container(redis(servers.redisUrl)).get('cut', source.load)).toBe('paused');
    expect(source.loads).toBe(loads); // from L2: the deferred put was written
    expect(writer.degraded).toBe(false);
  });
});
