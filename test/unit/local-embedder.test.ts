import { describe, expect, it } from 'vitest';
import {
  hashingEmbedding,
  LocalEmbedder,
  localEmbeddingDimensions,
  localEmbeddingModel,
} from '#adapters/embeddings/local.ts';

const cosine = (a: number[], b: number[]) => a.reduce((sum, x, i) => sum + x * b[i]!, 0);
const norm = (v: number[]) => Math.sqrt(cosine(v, v));

describe('the local embedder (feature hashing: lexical, not semantic)', () => {
  const embedder = new LocalEmbedder();

  it('names its model and gives unit vectors of its dimensions, one per text in order', async () => {
    expect(embedder).toMatchObject({ provider: 'local', model: localEmbeddingModel, dimensions: 384 });
    expect(localEmbeddingDimensions).toBe(384);
    const texts = ['PostgreSQL full-text search', 'vector search with HNSW', 'reciprocal rank fusion'];
    const { vectors, inputTokens } = await embedder.embed(texts);
    expect(vectors).toHaveLength(3);
    for (const [i, vector] of vectors.entries()) {
      expect(vector).toHaveLength(384);
      expect(norm(vector)).toBeCloseTo(1, 10);
      expect(vector).toEqual(hashingEmbedding(texts[i]!, 384));
    }
    // Estimated as chunks are sized: 5 ("full-text" is three) + 4 + 3.
    expect(inputTokens).toBe(5 + 4 + 3);
  });

  it('is deterministic, and blind to case and Unicode compatibility forms', () => {
    expect(hashingEmbedding('Hybrid Search', 64)).toEqual(hashingEmbedding('hybrid search', 64));
    expect(hashingEmbedding('ｈｙｂｒｉｄ search', 64)).toEqual(hashingEmbedding('hybrid search', 64));
  });

  it('puts texts that share words closer than texts that do not', () => {
    const query = hashingEmbedding('how do I rotate an API key', 384);
    const related = hashingEmbedding('Rotating API keys: issue a new key, then revoke the old key', 384);
    const unrelated = hashingEmbedding('The workflow statistics query sums the daily rollups', 384);
    expect(cosine(query, related)).toBeGreaterThan(cosine(query, unrelated) + 0.2);
  });

  it('meets word forms through letter trigrams, and word order through word pairs', () => {
    const singular = hashingEmbedding('embedding', 384);
    expect(cosine(singular, hashingEmbedding('embeddings', 384))).toBeGreaterThan(0.45);
    expect(cosine(singular, hashingEmbedding('invoice', 384))).toBeLessThan(0.2);
    const ordered = hashingEmbedding('cache invalidation bug', 384);
    expect(cosine(ordered, hashingEmbedding('cache invalidation bug', 384))).toBeCloseTo(1, 10);
    expect(cosine(ordered, hashingEmbedding('bug invalidation cache', 384))).toBeLessThan(0.999);
  });

  it('is not semantic: synonyms without shared letters are far apart', () => {
    expect(cosine(hashingEmbedding('car', 384), hashingEmbedding('automobile', 384))).toBeLessThan(0.2);
  });

  it('gives a text with no words the zero vector', () => {
    expect(hashingEmbedding(' … — ', 16)).toEqual(new Array(16).fill(0));
  });

  it('refuses dimensions outside 8..4096 and honours an aborted signal', async () => {
    expect(() => new LocalEmbedder(4)).toThrow(RangeError);
    expect(() => new LocalEmbedder(5000)).toThrow(RangeError);
    expect(() => new LocalEmbedder(12.5)).toThrow(RangeError);
    const controller = new AbortController();
    controller.abort(new Error('stopped'));
    await expect(embedder.embed(['text'], { signal: controller.signal })).rejects.toThrow('stopped');
  });
});
