import { describe, expect, it } from 'vitest';
import { LocalEmbedder } from '#adapters/embeddings/local.ts';
import type { Embedder, EmbeddingModel, EmbedOptions } from '#domain/embedding.ts';
import { embedWithCache, textHash } from '#services/embedding.ts';
import type { EmbeddingCache } from '#services/ports.ts';

/** The cache's contract in memory: keyed by provider, model, dimensions and text hash. */
const memoryCache = (): EmbeddingCache & { size: () => number } => {
  const entries = new Map<string, number[]>();
  const key = (tenantId: string, model: EmbeddingModel, hash: string) =>
    `${tenantId}/${model.provider}/${model.model}/${model.dimensions}/${hash}`;
  return {
    async getMany(tenantId, model, hashes) {
      return new Map(
        hashes.flatMap((hash) => {
          const vector = entries.get(key(tenantId, model, hash));
          return vector ? [[hash, vector] as const] : [];
        }),
      );
    },
    async putMany(tenantId, model, batch) {
      for (const { hash, vector } of batch) entries.set(key(tenantId, model, hash), vector);
    },
    size: () => entries.size,
  };
};

/** The local embedder, counting its calls and the texts it was asked. */
const counting = (dimensions = 64) => {
  const inner = new LocalEmbedder(dimensions);
  const calls: string[][] = [];
  const embedder: Embedder = {
    provider: inner.provider,
    model: inner.model,
    dimensions: inner.dimensions,
    embed(texts: readonly string[], options?: EmbedOptions) {
      calls.push([...texts]);
      return inner.embed(texts, options);
    },
  };
  return { embedder, calls, inner };
};

const tenant = 'tenant-a';
const chunks = (n: number, prefix = 'chunk') =>
  Array.from({ length: n }, (_, i) => `${prefix} ${i} of the manual`);

describe('embedding through the cache', () => {
  it('embeds what the cache lacks in batches, then re-ingesting the same chunks makes no provider call', async () => {
    const cache = memoryCache();
    const { embedder, calls, inner } = counting();
    const texts = chunks(150);
    const first = await embedWithCache(tenant, texts, embedder, cache, { batchSize: 64 });
    expect(calls.map((batch) => batch.length)).toEqual([64, 64, 22]);
    expect(first).toMatchObject({ providerCalls: 3, embeddedTexts: 150, cachedTexts: 0 });
    expect(first.inputTokens).toBeGreaterThan(0);
    expect(first.vectors).toEqual((await inner.embed(texts)).vectors);

    calls.length = 0;
    const again = await embedWithCache(tenant, texts, embedder, cache, { batchSize: 64 });
    expect(calls).toEqual([]);
    expect(again).toMatchObject({ providerCalls: 0, embeddedTexts: 0, cachedTexts: 150, inputTokens: 0 });
    expect(again.vectors).toEqual(first.vectors);
  });

  it('embeds only the chunks an edit changed', async () => {
    const cache = memoryCache();
    const { embedder, calls } = counting();
    const texts = chunks(10);
    await embedWithCache(tenant, texts, embedder, cache);
    calls.length = 0;
    const edited = [...texts];
    edited[3] = 'chunk 3 of the manual, corrected';
    edited.push('a new closing chunk');
    const result = await embedWithCache(tenant, edited, embedder, cache);
    expect(calls).toEqual([['chunk 3 of the manual, corrected', 'a new closing chunk']]);
    expect(result).toMatchObject({ providerCalls: 1, embeddedTexts: 2, cachedTexts: 9 });
  });

  it('embeds a text that repeats once, and answers a vector for each place it stands', async () => {
    const cache = memoryCache();
    const { embedder, calls } = counting();
    const result = await embedWithCache(tenant, ['same', 'other', 'same'], embedder, cache);
    expect(calls).toEqual([['same', 'other']]);
    expect(result.vectors[0]).toEqual(result.vectors[2]);
    // The repeat came from the same call, not from the cache.
    expect(result).toMatchObject({ embeddedTexts: 2, cachedTexts: 0 });
    expect(cache.size()).toBe(2);
  });

  it('keeps the vectors of one model apart from another’s', async () => {
    const cache = memoryCache();
    const small = counting(32);
    const large = counting(64);
    await embedWithCache(tenant, ['shared text'], small.embedder, cache);
    const result = await embedWithCache(tenant, ['shared text'], large.embedder, cache);
    expect(large.calls).toEqual([['shared text']]);
    expect(result.vectors[0]).toHaveLength(64);
  });

  it('keys texts by their SHA-256, and keeps what earlier batches paid for when a later one fails', async () => {
    expect(textHash('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    const cache = memoryCache();
    const { embedder } = counting();
    let batches = 0;
    const failing: Embedder = {
      ...embedder,
      embed: (texts, options) =>
        ++batches === 2 ? Promise.reject(new Error('provider down')) : embedder.embed(texts, options),
    };
    await expect(embedWithCache(tenant, chunks(5), failing, cache, { batchSize: 2 })).rejects.toThrow(
      'provider down',
    );
    expect(cache.size()).toBe(2);
    await expect(embedWithCache(tenant, [], embedder, cache, { batchSize: 0 })).rejects.toThrow(RangeError);
  });
});
