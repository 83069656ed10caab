import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalEmbedder } from '#adapters/embeddings/local.ts';
import { EmbeddingCacheRepository } from '#adapters/postgres/embedding-cache.ts';
import { migrate } from '#adapters/postgres/migrate.ts';
import type { Embedder } from '#domain/embedding.ts';
import { embedWithCache, textHash } from '#services/embedding.ts';
import { useEmbeddedPostgres } from '../support/embedded-postgres.ts';
import { describeRealServers } from '../support/real-servers.ts';

/** The cache's checks on one database (`url` is read once its server runs). */
const embeddingCacheChecks = (url: () => string) => {
  let client: pg.Client;
  let cache: EmbeddingCacheRepository;
  let statements = 0;
  const tenants = [randomUUID(), randomUUID()];
  const model = { provider: 'local', model: 'switchyard-hashing-v1', dimensions: 16 };

  beforeAll(async () => {
    await migrate(url());
    client = new pg.Client({ connectionString: url() });
    await client.connect();
    for (const [i, id] of tenants.entries()) {
      await client.query('INSERT INTO tenants (id, name) VALUES ($1, $2)', [
        id,
        `embedding-cache-${i}-${id}`,
      ]);
    }
    cache = new EmbeddingCacheRepository({
      query: async (text, values) => {
        statements += 1;
        return (await client.query(text, values as unknown[])).rows;
      },
    });
  }, 60_000);
  afterAll(async () => {
    await client?.end();
  });

  it('answers the vectors it holds by text hash, per tenant and model, each batch in one statement', async () => {
    const vectors = [0.5, -0.25].map((first) => [first, ...new Array<number>(15).fill(0.125)]);
    const [a, b] = [textHash('first chunk'), textHash('second chunk')];
    statements = 0;
    await cache.putMany(tenants[0]!, model, [
      { hash: a, vector: vectors[0]! },
      { hash: b, vector: vectors[1]! },
    ]);
    const found = await cache.getMany(tenants[0]!, model, [a, b, textHash('never stored')]);
    expect(statements).toBe(2);
    expect([...found.keys()].sort()).toEqual([a, b].sort());
    expect(found.get(a)).toEqual(vectors[0]);
    expect(found.get(b)).toEqual(vectors[1]);
    // Another tenant, another model, other dimensions: nothing.
    expect((await cache.getMany(tenants[1]!, model, [a])).size).toBe(0);
    expect((await cache.getMany(tenants[0]!, { ...model, model: 'other' }, [a])).size).toBe(0);
    expect((await cache.getMany(tenants[0]!, { ...model, dimensions: 32 }, [a])).size).toBe(0);
    // Writing a held text again changes nothing.
    await cache.putMany(tenants[0]!, model, [{ hash: a, vector: vectors[1]! }]);
    expect((await cache.getMany(tenants[0]!, model, [a])).get(a)).toEqual(vectors[0]);
    expect(await cache.getMany(tenants[0]!, model, [])).toEqual(new Map());
  });

  it('refuses a vector whose length is not the model’s dimensions', async () => {
    await expect(
      cache.putMany(tenants[0]!, model, [{ hash: textHash('short'), vector: [1, 2, 3] }]),
    ).rejects.toThrow();
  });

  it('lets an unchanged document be ingested again with no provider call', async () => {
    const local = new LocalEmbedder(16);
    let calls = 0;
    const counting: Embedder = {
      provider: local.provider,
      model: local.model,
      dimensions: local.dimensions,
      embed: (texts, options) => {
        calls += 1;
        return local.embed(texts, options);
      },
    };
    const chunks = Array.from({ length: 100 }, (_, i) => `paragraph ${i} of the handbook`);
    const first = await embedWithCache(tenants[1]!, chunks, counting, cache, { batchSize: 64 });
    expect(calls).toBe(2);
    const again = await embedWithCache(tenants[1]!, chunks, counting, cache, { batchSize: 64 });
    expect(calls).toBe(2);
    expect(again).toMatchObject({ providerCalls: 0, cachedTexts: 100 });
    // Stored as real (float4): the same vectors to single precision.
    const largestDifference = Math.max(
      ...again.vectors.flatMap((vector, i) => vector.map((x, j) => Math.abs(x - first.vectors[i]![j]!))),
    );
    expect(largestDifference).toBeLessThan(1e-6);
  });
};

describe('the embedding cache on embedded PostgreSQL (PGlite)', () => {
  const url = useEmbeddedPostgres();
  embeddingCacheChecks(url);
});

describeRealServers('the embedding cache on PostgreSQL 15', (servers) => {
  embeddingCacheChecks(() => servers.postgresUrl);
});
