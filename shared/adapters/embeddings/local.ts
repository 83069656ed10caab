import { estimateTokens } from '#domain/chunking.ts';
import type { Embedder, Embeddings, EmbedOptions } from '#domain/embedding.ts';

/**
 * The built-in embedder for `npm start` and the tests: no network, no keys, deterministic.
 * It is **lexical, not semantic**: feature hashing of words, word pairs and letter trigrams
 * into a fixed number of dimensions, L2-normalised, so texts that share words (or word stems,
 * through the trigrams) come out close, and synonyms do not. Good enough to exercise retrieval
 * end to end and to rank keyword-like queries; use a real model for meaning.
 */
export const localEmbeddingModel = 'switchyard-hashing-v1';
export const localEmbeddingDimensions = 384;

// Feature weights: whole words carry most; pairs add word order; trigrams let `embedding`
// meet `embeddings`. Term counts are damped (1 + ln n) so one repeated word cannot dominate.
const wordWeight = 1;
const pairWeight = 0.5;
const trigramWeight = 0.4;

/** FNV-1a, 32-bit, over UTF-16 code units: fast and spreads short strings well. */
const fnv1a = (text: string, seed: number): number => {
  let hash = seed;
  for (let i = 0; i < text.length; i += 1) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
};
const indexSeed = 0x811c9dc5;
const signSeed = 0x9747b28c;

/** The words of a text: lower-cased runs of letters and digits, after Unicode compatibility folding. */
const wordsOf = (text: string): string[] =>
  text
    .normalize('NFKC')
    .toLowerCase()
    .match(/[\p{L}\p{N}]+/gu) ?? [];

/** The weight a feature kind carries, by the prefix `featuresOf` gives it. */
const kindWeight: Record<string, number> = { w: wordWeight, p: pairWeight, t: trigramWeight };

/** How often each feature occurs: `w:` words, `p:` adjacent word pairs, `t:` letter trigrams. */
const featuresOf = (text: string): Map<string, number> => {
  const occurrences = new Map<string, number>();
  const add = (feature: string) => occurrences.set(feature, (occurrences.get(feature) ?? 0) + 1);
  const words = wordsOf(text);
  for (let i = 0; i < words.length; i += 1) {
    const word = words[i]!;
    add(`w:${word}`);
    if (i > 0) add(`p:${words[i - 1]} ${word}`);
    const bounded = `^${word}$`;
    for (let j = 0; j + 3 <= bounded.length; j += 1) add(`t:${bounded.slice(j, j + 3)}`);
  }
  return occurrences;
};

/**
 * A text's vector. Each feature lands in one dimension with a sign from a second hash, so
 * collisions cancel out on average rather than pile up. A text with no words gets the zero
 * vector (cosine distance to it is undefined: callers do not embed empty texts).
 */
export const hashingEmbedding = (text: string, dimensions: number): number[] => {
  const vector = new Array<number>(dimensions).fill(0);
  for (const [feature, n] of featuresOf(text)) {
    const index = fnv1a(feature, indexSeed) % dimensions;
    const sign = fnv1a(feature, signSeed) & 1 ? 1 : -1;
    vector[index]! += sign * kindWeight[feature[0]!]! * (1 + Math.log(n));
  }
  let squares = 0;
  for (const x of vector) squares += x * x;
  const norm = Math.sqrt(squares);
  return norm === 0 ? vector : vector.map((x) => x / norm);
};

export class LocalEmbedder implements Embedder {
  readonly provider = 'local';
  readonly model = localEmbeddingModel;

  constructor(readonly dimensions = localEmbeddingDimensions) {
    if (!Number.isInteger(dimensions) || dimensions < 8 || dimensions > 4096) {
      throw new RangeError(
        `the local embedder's dimensions must be an integer from 8 to 4096, got ${dimensions}`,
      );
    }
  }

  async embed(texts: readonly string[], options: EmbedOptions = {}): Promise<Embeddings> {
    options.signal?.throwIfAborted();
    let inputTokens = 0;
    const vectors = texts.map((text) => {
      inputTokens += estimateTokens(text);
      return hashingEmbedding(text, this.dimensions);
    });
    return { vectors, inputTokens };
  }
}
