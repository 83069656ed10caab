/**
 * The benchmark's synthetic corpus, deterministic from a seed, with the statistics of prose that
 * search depends on: a Zipf vocabulary whose 100 commonest words (English stop words) make
 * almost half of every text, and 3,900 made-up content words; content words whose frequencies depend on the topic (each of
 * the topics ranks the content vocabulary its own way, as topic models describe text); and
 * burstiness (each document repeats a few key terms). Keyword queries thus match some chunks
 * and not others, and vectors of chunks on one topic, or of one document, lie closer together
 * than those of unrelated ones. Documents carry tags, content types, metadata and creation dates
 * for the filters, and a few are archived, expired, failed or mid-re-ingestion, so that what
 * search must hide is there to hide.
 */

/** mulberry32: a small, fast, seedable PRNG (uniform in [0, 1)). */
export const random = (seed: number): (() => number) => {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
};

const onsets = [
  'b',
  'c',
  'd',
  'f',
  'g',
  'h',
  'k',
  'l',
  'm',
  'n',
  'p',
  'r',
  's',
  't',
  'v',
  'z',
  'br',
  'st',
  'tr',
  'pl',
];
const vowels = ['a', 'e', 'i', 'o', 'u', 'ai', 'ou'];
const codas = ['', '', 'n', 'r', 's', 'l', 'm', 'x'];

/** `count` distinct pronounceable words of 2–4 syllables. */
const words = (count: number, rng: () => number, taken: Set<string>): string[] => {
  const pick = <T>(list: readonly T[]) => list[Math.floor(rng() * list.length)]!;
  const out: string[] = [];
  while (out.length < count) {
    const syllables = 2 + Math.floor(rng() * 3);
    let word = '';
    for (let i = 0; i < syllables; i += 1) word += pick(onsets) + pick(vowels) + pick(codas);
    if (taken.has(word)) continue;
    taken.add(word);
    out.push(word);
  }
  return out;
};

/** A sampler of ranks 0..n-1 with probability ∝ 1 / (rank + 1)^s (Zipf), drawing from `r`. */
const zipf = (n: number, s: number): ((r: () => number) => number) => {
  const cumulative = new Float64Array(n);
  let total = 0;
  for (let rank = 0; rank < n; rank += 1) {
    total += 1 / (rank + 1) ** s;
    cumulative[rank] = total;
  }
  return (r) => {
    const target = r() * total;
    let low = 0;
    let high = n - 1;
    while (low < high) {
      const mid = (low + high) >> 1;
      if (cumulative[mid]! < target) low = mid + 1;
      else high = mid;
    }
    return low;
  };
};

/** A random permutation of 0..n-1 (Fisher–Yates). */
const permutation = (n: number, r: () => number): Uint16Array => {
  const order = Uint16Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i -= 1) {
    const j = Math.floor(r() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  return order;
};

/**
 * The commonest words, in every text: English stop words (PostgreSQL's english configuration
 * leaves them out of a tsvector, as it does in real prose; the local embedder keeps them), in
 * about the order of their frequency.
 */
const stopWords = [
  'the',
  'of',
  'and',
  'to',
  'a',
  'in',
  'is',
  'it',
  'that',
  'for',
  'was',
  'on',
  'with',
  'as',
  'be',
  'by',
  'at',
  'this',
  'are',
  'from',
  'or',
  'have',
  'an',
  'they',
  'which',
  'you',
  'were',
  'her',
  'all',
  'she',
  'there',
  'their',
  'we',
  'him',
  'been',
  'has',
  'when',
  'who',
  'will',
  'more',
  'no',
  'if',
  'out',
  'so',
  'what',
  'up',
  'its',
  'about',
  'into',
  'than',
  'them',
  'can',
  'only',
  'other',
  'some',
  'could',
  'these',
  'two',
  'may',
  'then',
  'do',
  'first',
  'any',
  'my',
  'now',
  'such',
  'like',
  'our',
  'over',
  'me',
  'even',
  'most',
  'made',
  'after',
  'also',
  'did',
  'many',
  'before',
  'must',
  'through',
  'back',
  'years',
  'where',
  'much',
  'your',
  'way',
  'well',
  'down',
  'should',
  'because',
  'each',
  'just',
  'those',
  'people',
  'how',
  'too',
  'little',
  'state',
  'good',
  'very',
  'make',
  'world',
  'still',
  'own',
  'see',
  'men',
  'work',
  'long',
  'get',
  'here',
  'between',
  'both',
  'life',
  'being',
  'under',
  'never',
  'day',
  'same',
  'another',
  'know',
  'while',
  'last',
  'might',
  'us',
  'great',
  'old',
  'year',
  'off',
  'come',
  'since',
  'against',
  'go',
  'came',
  'right',
  'used',
  'take',
  'three',
]
  .filter((word, i, all) => all.indexOf(word) === i)
  .slice(0, 100);
/** Shares of a chunk's words: stop words, the topic's content words, the document's key terms, the topic's own words. */
const mix = { head: 0.45, content: 0.4, key: 0.1 } as const;

export const benchTags = [
  'finance',
  'legal',
  'hr',
  'engineering',
  'sales',
  'support',
  'security',
  'marketing',
  'product',
  'research',
  'operations',
  'compliance',
  'design',
  'data',
  'infra',
  'mobile',
  'partners',
  'training',
  'policy',
  'archive-2019',
] as const;

/** Content types, weighted as a mixed document store might hold them. */
const contentTypes: readonly [string, number][] = [
  ['text/markdown', 0.35],
  ['text/plain', 0.25],
  ['text/html', 0.2],
  ['application/pdf', 0.15],
  ['application/json', 0.05],
];
export const benchSources = ['wiki', 'drive', 'crm', 'email', 'web'] as const;

export interface CorpusShape {
  readonly seed: number;
  readonly documents: number;
  readonly chunks: number;
  /** Topics (each ~25 words of its own) the documents are about, one or two each. */
  readonly topics: number;
}

export interface GeneratedDocument {
  readonly ordinal: number;
  readonly title: string;
  readonly contentType: string;
  readonly tags: string[];
  readonly metadata: { source: string; year: number; confidential: boolean };
  readonly createdAt: Date;
  /** What search must hide: archived, expired, or with only an older generation searchable. */
  readonly state: 'ready' | 'archived' | 'expired' | 'expiring' | 'processing' | 'failed';
  readonly expiresAt: Date | null;
  readonly chunkCount: number;
  readonly topics: number[];
  /** Words the document repeats (burstiness), from its first topic's commonest content words. */
  readonly keyTerms: string[];
}

export interface Corpus {
  readonly documents: GeneratedDocument[];
  /** A chunk's text and heading, by document and ordinal (generated on demand, deterministically). */
  chunk(document: GeneratedDocument, ordinal: number): { heading: string; text: string };
  /**
   * A search query as a user who knows the corpus types one: 1–4 content words of a chunk that
   * exists (stop words left out), or two of its words in a row
   * as a quoted phrase, or two words joined by "or".
   */
  query(rng: () => number): string;
  /** A longer query: two or three sentences in a row of a chunk that exists, as when a user pastes a passage. */
  passage(rng: () => number): string;
  readonly topicCount: number;
}

/** The day every corpus is dated back from, fixed so a seed always gives the same rows. */
export const corpusEpoch = new Date('2026-01-01T00:00:00Z');

export const generateCorpus = (shape: CorpusShape): Corpus => {
  const rng = random(shape.seed);
  const taken = new Set<string>();
  for (const word of stopWords) taken.add(word);
  const head = stopWords;
  const content = words(3_900, rng, taken);
  const topicWords = Array.from({ length: shape.topics }, () => words(25, rng, taken));
  const topicOrder = Array.from({ length: shape.topics }, () => permutation(content.length, rng));
  const headRank = zipf(head.length, 1.07);
  const contentRank = zipf(content.length, 1);
  const contentWord = (topic: number, r: () => number) => content[topicOrder[topic]![contentRank(r)]!]!;
  const typeOf = () => {
    let x = rng();
    for (const [type, weight] of contentTypes) {
      x -= weight;
      if (x < 0) return type;
    }
    return contentTypes[0]![0];
  };
  const tagRank = zipf(benchTags.length, 0.8);

  // Chunks per document: 1..2×mean-1, then nudged until the total is exact.
  const mean = shape.chunks / shape.documents;
  const counts = Array.from({ length: shape.documents }, () =>
    Math.max(1, Math.round(1 + rng() * (2 * mean - 2))),
  );
  let total = counts.reduce((a, b) => a + b, 0);
  while (total !== shape.chunks) {
    const i = Math.floor(rng() * counts.length);
    if (total < shape.chunks) {
      counts[i]! += 1;
      total += 1;
    } else if (counts[i]! > 1) {
      counts[i]! -= 1;
      total -= 1;
    }
  }

  const day = 86_400_000;
  const documents = counts.map((chunkCount, ordinal): GeneratedDocument => {
    const tags = new Set<string>();
    const tagCount = 1 + Math.floor(rng() * 3);
    while (tags.size < tagCount) tags.add(benchTags[tagRank(rng)]!);
    const topics = [Math.floor(rng() * shape.topics)];
    if (rng() < 0.3) topics.push(Math.floor(rng() * shape.topics));
    const x = rng();
    const state: GeneratedDocument['state'] =
      x < 0.02
        ? 'archived'
        : x < 0.03
          ? 'expired'
          : x < 0.08
            ? 'expiring'
            : x < 0.09
              ? 'processing'
              : x < 0.095
                ? 'failed'
                : 'ready';
    const createdAt = new Date(
      corpusEpoch.getTime() - Math.floor(rng() * 730) * day - Math.floor(rng() * day),
    );
    const expiresAt =
      state === 'expired'
        ? new Date(corpusEpoch.getTime() - 30 * day)
        : state === 'expiring'
          ? new Date(Date.now() + 365 * day)
          : null;
    const keyTerms = Array.from(
      { length: 8 },
      () => content[topicOrder[topics[0]!]![Math.floor(rng() * 200)]!]!,
    );
    const title = `${topicWords[topics[0]!]![Math.floor(rng() * 25)]} ${keyTerms[0]} ${keyTerms[1]}`;
    return {
      ordinal,
      title: title[0]!.toUpperCase() + title.slice(1),
      contentType: typeOf(),
      tags: [...tags],
      metadata: {
        source: benchSources[Math.floor(rng() * benchSources.length)]!,
        year: 2019 + Math.floor(rng() * 7),
        confidential: rng() < 0.1,
      },
      createdAt,
      state,
      expiresAt,
      chunkCount,
      topics,
      keyTerms,
    };
  });

  /** A sentence of a document's chunk: stop words, its topics' content words, its key terms, its topics' own words. */
  const sentence = (r: () => number, document: GeneratedDocument, length: number): string => {
    const out: string[] = [];
    for (let i = 0; i < length; i += 1) {
      const x = r();
      const topic = document.topics[Math.floor(r() * document.topics.length)]!;
      out.push(
        x < mix.head
          ? head[headRank(r)]!
          : x < mix.head + mix.content
            ? contentWord(topic, r)
            : x < mix.head + mix.content + mix.key
              ? document.keyTerms[Math.floor(r() * document.keyTerms.length)]!
              : topicWords[topic]![Math.floor(r() * 25)]!,
      );
    }
    const text = out.join(' ');
    return `${text[0]!.toUpperCase()}${text.slice(1)}.`;
  };

  const stop = new Set(head);
  return {
    documents,
    topicCount: shape.topics,
    chunk(document, ordinal) {
      // Seeded per chunk: any chunk can be generated again alone (queries, checks).
      const r = random(shape.seed * 1_000_003 + document.ordinal * 1_009 + ordinal);
      const heading = `${document.title} > ${sentence(r, document, 3).slice(0, -1)}`;
      const target = 160 + Math.floor(r() * 140); // words: ~200–400 estimated tokens with punctuation
      const sentences: string[] = [];
      let n = 0;
      while (n < target) {
        const length = 8 + Math.floor(r() * 13);
        sentences.push(sentence(r, document, length));
        n += length;
      }
      return { heading, text: sentences.join(' ') };
    },
    passage(r) {
      const document = documents[Math.floor(r() * documents.length)]!;
      const sentences = this.chunk(document, Math.floor(r() * document.chunkCount)).text.split(/(?<=\.) /);
      const length = 2 + Math.floor(r() * 2);
      const at = Math.floor(r() * Math.max(1, sentences.length - length));
      return sentences.slice(at, at + length).join(' ');
    },
    query(r) {
      const document = documents[Math.floor(r() * documents.length)]!;
      const words = this.chunk(document, Math.floor(r() * document.chunkCount))
        .text.toLowerCase()
        .split(/[^a-z]+/)
        .filter((word) => word !== '');
      const contentWords = [...new Set(words.filter((word) => !stop.has(word)))];
      const pick = () => contentWords[Math.floor(r() * contentWords.length)]!;
      const shape = r();
      if (shape < 0.05) {
        const at = Math.floor(r() * (words.length - 1));
        return `"${words[at]} ${words[at + 1]}"`;
      }
      if (shape < 0.1) return `${pick()} or ${pick()}`;
      const n = shape < 0.35 ? 1 : shape < 0.8 ? 2 : 3 + Math.floor(r() * 2);
      const chosen = new Set<string>();
      while (chosen.size < Math.min(n, contentWords.length)) chosen.add(pick());
      return [...chosen].join(' ');
    },
  };
};
