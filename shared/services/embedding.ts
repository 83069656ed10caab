import { createHash } from 'node:crypto';
import type { Embedder } from '#domain/embedding.ts';
import type { EmbeddingCache } from './ports.ts';

/** The cache key of a text: its SHA-256, hex (the model and dimensions are the cache's other keys). */
export const textHash = (text: string): string => createHash('sha256').update(text).digest('hex');

export const defaultEmbeddingBatch = 64;

export interface CachedEmbeddings {
  /** One vector per text, in the texts' order. */
  readonly vectors: number[][];
  /** embed() calls made: one per batch of texts the cache did not hold. */
  readonly providerCalls: number;
  /** Texts answered from the cache, and texts embedded (each distinct text once). */
  readonly cachedTexts: number;
  readonly embeddedTexts: number;
  /** Tokens of the embedded texts, as the provider counted them (for usage and cost). */
  readonly inputTokens: number;
}

/**
 * Vectors for a document's chunks: those the cache holds cost nothing; the rest are embedded
 * in batches of `batchSize` texts (one provider call each), then cached. An unchanged document
 * makes no provider call at all, and an edited one embeds only the chunks that changed.
 */
export const embedWithCache = async (
  tenantId: string,
  texts: readonly string[],
  embedder: Embedder,
  cache: EmbeddingCache,
  options: { batchSize?: number; signal?: AbortSignal } = {},
): Promise<CachedEmbeddings> => {
  const batchSize = options.batchSize ?? defaultEmbeddingBatch;
  if (!Number.isInteger(batchSize) || batchSize < 1)
    throw new RangeError(`batchSize must be ≥ 1, got ${batchSize}`);
  const hashes = texts.map(textHash);
  const known = await cache.getMany(tenantId, embedder, [...new Set(hashes)]);
  // Each text the cache lacks, once, however often it repeats.
  const missing = new Map<string, string>();
  hashes.forEach((hash, i) => {
    if (!known.has(hash) && !missing.has(hash)) missing.set(hash, texts[i]!);
  });
  const pending = [...missing];
  let providerCalls = 0;
  let inputTokens = 0;
  for (let start = 0; start < pending.length; start += batchSize) {
    const batch = pending.slice(start, start + batchSize);
    const answer = await embedder.embed(
      batch.map(([, text]) => text),
      options.signal ? { signal: options.signal } : {},
    );
    providerCalls += 1;
    inputTokens += answer.inputTokens;
    const entries = batch.map(([hash], i) => ({ hash, vector: answer.vectors[i]! }));
    // Cached batch by batch: a failure later in a long document keeps what was paid for.
    await cache.putMany(tenantId, embedder, entries);
    for (const { hash, vector } of entries) known.set(hash, vector);
  }
  return {
    vectors: hashes.map((hash) => known.get(hash)!),
    providerCalls,
    cachedTexts: hashes.filter((hash) => !missing.has(hash)).length,
    embeddedTexts: missing.size,
    inputTokens,
  };
};
