import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryCache } from '#adapters/cache/memory.ts';
import { TwoTierCache } from '#adapters/cache/two-tier.ts';
import { hashingEmbedding, LocalEmbedder } from '#adapters/embeddings/local.ts';
import type { Queryable } from '#adapters/postgres/db.ts';
import { KnowledgeSearchRepository, searchStatement } from '#adapters/postgres/knowledge-search.ts';
import { migrate } from '#adapters/postgres/migrate.ts';
import { notFound } from '#domain/errors.ts';
import type { KnowledgeBase, SearchFilters, SearchMode } from '#domain/knowledge.ts';
import { rrfK } from '#domain/knowledge.ts';
import { KnowledgeSearchService } from '#services/knowledge-search.ts';
import type { SearchRequest } from '#services/ports.ts';
import { useEmbeddedPostgres } from '../support/embedded-postgres.ts';
import { describeRealServers, pgvectorInstalled, realServersRequired } from '../support/real-servers.ts';
import { explain, planNodes } from '../support/workflow-fixture.ts';

// CI builds pgvector and forbids skips; elsewhere a PostgreSQL without it skips the vector checks.
const skipRealVectors = !pgvectorInstalled() && !realServersRequired();
if (skipRealVectors) {
  console.warn(
    'pgvector is not installed for the PostgreSQL the tests start: semantic and hybrid search checks skipped. ' +
      'Build it from .ci/vendor/pgvector-0.8.1.tar.gz as .ci/vendor/README.md says (about 20 s).',
  );
}

const dimensions = 384;
const day = 86_400_000;

interface ChunkSpec {
  readonly text: string;
  readonly generation?: number;
}

interface DocumentSpec {
  readonly title: string;
  readonly contentType?: string;
  readonly tags?: string[];
  readonly metadata?: Record<string, unknown>;
  readonly status?: 'processing' | 'ready' | 'failed' | 'archived';
  readonly generation?: number;
  readonly searchableGeneration?: number | null;
  readonly expiresAt?: Date | null;
  readonly createdAt?: Date;
  readonly chunks: ChunkSpec[];
}

/** Bases, documents and chunks written as ingestion leaves them: tsvector and vectors included. */
class Fixture {
  constructor(private readonly client: pg.Client) {}

  async tenant(): Promise<string> {
    const id = randomUUID();
    await this.client.query('INSERT INTO tenants (id, name) VALUES ($1, $2)', [id, `knowledge-search-${id}`]);
    return id;
  }

  async base(tenantId: string, options: { deleted?: boolean } = {}): Promise<KnowledgeBase> {
    const now = new Date();
    const base: KnowledgeBase = {
      id: randomUUID(),
      tenantId,
      name: 'handbook',
      description: null,
      embedding: { provider: 'local', model: 'switchyard-hashing-v1', dimensions },
      language: 'english',
      chunking: { sizeTokens: 400, overlapTokens: 50 },
      version: 1,
      createdAt: now,
      updatedAt: now,
    };
    await this.client.query(
      `INSERT INTO knowledge_bases (id, tenant_id, name, embedding_provider, embedding_model, embedding_dimensions,
                                    text_search_language, chunk_size_tokens, chunk_overlap_tokens, created_at,
                                    updated_at, deleted_at)
       VALUES ($1, $2, $3, 'local', 'switchyard-hashing-v1', $4, 'english', 400, 50, $5, $5, $6)`,
      [base.id, tenantId, base.name, dimensions, now, options.deleted ? now : null],
    );
    return base;
  }

  /** A document and its chunks; answers the document's id and its chunks' ids in order. */
  async document(base: KnowledgeBase, spec: DocumentSpec): Promise<{ id: string; chunkIds: string[] }> {
    const id = randomUUID();
    const createdAt = spec.createdAt ?? new Date('2025-01-01T00:00:00Z');
    await this.client.query(
      `INSERT INTO knowledge_documents (id, tenant_id, knowledge_base_id, title, content_type, tags, metadata,
                                        expires_at, status, generation, searchable_generation, chunk_count,
                                        created_at, updated_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13)`,
      [
        id,
        base.tenantId,
        base.id,
        spec.title,
        spec.contentType ?? 'text/markdown',
        spec.tags ?? [],
        JSON.stringify(spec.metadata ?? {}),
        spec.expiresAt ?? null,
        spec.status ?? 'ready',
        spec.generation ?? 1,
        spec.searchableGeneration === undefined ? 1 : spec.searchableGeneration,
        spec.chunks.length,
        createdAt,
      ],
    );
    const chunkIds: string[] = [];
    for (const [ordinal, chunk] of spec.chunks.entries()) {
      const chunkId = randomUUID();
      chunkIds.push(chunkId);
      await this.client.query(
        `INSERT INTO knowledge_chunks (id, tenant_id, knowledge_base_id, document_id, generation, ordinal, heading,
                                       text, token_count, search_vector, dimensions, embedding)
         VALUES ($1, $2, $3, $4, $5, $6, NULL, $7, 20,
                 setweight(to_tsvector('english', $8), 'A') || to_tsvector('english', $7), $9, $10::real[])`,
        [
          chunkId,
          base.tenantId,
          base.id,
          id,
          chunk.generation ?? 1,
          ordinal,
          chunk.text,
          spec.title,
          dimensions,
          `{${hashingEmbedding(chunk.text, dimensions).join(',')}}`,
        ],
      );
    }
    return { id, chunkIds };
  }
}

/** A Queryable over the client that counts the statements sent through it. */
const countingQueryable = (client: pg.Client) => {
  const counter = {
    statements: 0,
    db: {
      query: async <Row>(text: string, values?: readonly unknown[]) => {
        counter.statements += 1;
        return (await client.query(text, values as unknown[])).rows as Row[];
      },
    } satisfies Queryable,
  };
  return counter;
};

const queryVector = (query: string) => hashingEmbedding(query, dimensions);

const cosine = (a: readonly number[], b: readonly number[]) => {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i += 1) {
    dot += a[i]! * b[i]!;
    na += a[i]! * a[i]!;
    nb += b[i]! * b[i]!;
  }
  return dot / Math.sqrt(na * nb);
};

const modes: readonly SearchMode[] = ['keyword', 'semantic', 'hybrid'];

/** The checks on one database (`url` is read once its server runs); `vectors`: pgvector is there. */
const knowledgeSearchChecks = (url: () => string, vectors: boolean) => {
  let client: pg.Client;
  let counted: ReturnType<typeof countingQueryable>;
  let store: KnowledgeSearchRepository;
  let base: KnowledgeBase;
  let deletedBase: KnowledgeBase;
  let otherTenantBase: KnowledgeBase;
  const ids: Record<string, { id: string; chunkIds: string[] }> = {};
  const expiring = new Date(Date.now() + day);
  const withVectors = it.skipIf(!vectors);

  const request = (
    mode: SearchMode,
    query: string,
    options: { filters?: SearchFilters; limit?: number; on?: KnowledgeBase; now?: Date } = {},
  ): SearchRequest => ({
    base: options.on ?? base,
    query,
    mode,
    ...(mode !== 'keyword' && { queryVector: queryVector(query) }),
    filters: options.filters ?? {},
    limit: options.limit ?? 10,
    now: options.now ?? new Date(),
  });
  const search = (...args: Parameters<typeof request>) => store.search(request(...args));
  const visible = () =>
    new Set(['guide', 'kettle', 'garden', 'census', 'pellets', 'walk'].map((k) => ids[k]!.id));

  beforeAll(async () => {
    await migrate(url());
    client = new pg.Client({ connectionString: url() });
    await client.connect();
    counted = countingQueryable(client);
    store = new KnowledgeSearchRepository(counted.db);
    const fixture = new Fixture(client);
    const acme = await fixture.tenant();
    const globex = await fixture.tenant();
    base = await fixture.base(acme);
    const doc = async (key: string, spec: DocumentSpec, on = base) => {
      ids[key] = await fixture.document(on, spec);
    };
    await doc('guide', {
      title: 'Owl field guide',
      tags: ['birds', 'guide'],
      metadata: { source: 'wiki', reviewed: true },
      createdAt: new Date('2025-01-10T00:00:00Z'),
      chunks: [
        { text: 'Barn owls hunt at night, finding mice by their acute hearing alone.' },
        { text: 'Owls hoot to mark their territory and to call to a mate in winter.' },
      ],
    });
    await doc('kettle', {
      title: 'Kettle care',
      contentType: 'text/plain',
      tags: ['home'],
      metadata: { source: 'drive' },
      createdAt: new Date('2025-03-05T00:00:00Z'),
      chunks: [
        { text: 'Descale the kettle with white vinegar every month to keep the water tasting fresh.' },
      ],
    });
    await doc('garden', {
      title: 'Garden birds',
      contentType: 'text/html',
      tags: ['birds'],
      metadata: { source: 'web' },
      createdAt: new Date('2025-06-01T00:00:00Z'),
      chunks: [
        { text: 'Robins and wrens visit the garden feeder; an owl sometimes watches from the oak at dusk.' },
      ],
    });
    // What search must never show: the word "secret" marks it.
    await doc('archived', {
      title: 'Archived owl notes',
      status: 'archived',
      tags: ['birds'],
      chunks: [{ text: 'Owls hunt mice and hoot over their territory: archived secret.' }],
    });
    await doc('expired', {
      title: 'Expired owl memo',
      expiresAt: new Date('2020-01-01T00:00:00Z'),
      chunks: [{ text: 'Owls hunt mice at night: expired secret.' }],
    });
    await doc('census', {
      title: 'Owl census',
      status: 'processing',
      generation: 2,
      searchableGeneration: 1,
      chunks: [
        { text: 'The owl census counted seventeen tawny owls in the wood.', generation: 1 },
        { text: 'Owls hunt mice: the census draft still being ingested, a secret.', generation: 2 },
      ],
    });
    await doc('unfinished', {
      title: 'Unfinished owl essay',
      status: 'processing',
      searchableGeneration: null,
      chunks: [{ text: 'Owls hunt mice in an essay never finished: secret.' }],
    });
    await doc('pellets', {
      title: 'Owl pellets',
      status: 'failed',
      generation: 2,
      searchableGeneration: 1,
      contentType: 'application/pdf',
      tags: ['birds', 'lab'],
      chunks: [{ text: 'Owl pellets hold the bones of the mice they hunt.' }],
    });
    await doc('walk', {
      title: 'Seasonal owl walk',
      tags: ['events'],
      expiresAt: expiring,
      chunks: [{ text: 'Join the owl walk at dusk to hear tawny owls hoot.' }],
    });
    otherTenantBase = await fixture.base(globex);
    await doc(
      'globex',
      { title: 'Globex owls', chunks: [{ text: 'Owls hunt mice and hoot: another tenant’s secret.' }] },
      otherTenantBase,
    );
    deletedBase = await fixture.base(acme, { deleted: true });
    await doc(
      'deleted',
      { title: 'Deleted owls', chunks: [{ text: 'Owls hunt mice in a deleted base: secret.' }] },
      deletedBase,
    );
    const sibling = await fixture.base(acme);
    await doc(
      'sibling',
      { title: 'Sibling owls', chunks: [{ text: 'Owls hunt mice in another base: secret.' }] },
      sibling,
    );
  }, 60_000);
  afterAll(async () => {
    await client?.end();
  });

  it('keyword: ranks the chunks holding every word by ts_rank_cd, and marks the words', async () => {
    const { hits } = await search('keyword', 'owls hunt');
    expect(hits.map((hit) => hit.chunkId)).toEqual(
      expect.arrayContaining([ids['guide']!.chunkIds[0], ids['pellets']!.chunkIds[0]]),
    );
    expect(hits).toHaveLength(2);
    expect(hits[0]).toMatchObject({ rankKeyword: 1, rankSemantic: null });
    expect(hits[1]).toMatchObject({ rankKeyword: 2, rankSemantic: null });
    expect(hits[0]!.score).toBeGreaterThanOrEqual(hits[1]!.score);
    const guide = hits.find((hit) => hit.chunkId === ids['guide']!.chunkIds[0])!;
    expect(guide.title).toBe('Owl field guide');
    expect(guide.documentId).toBe(ids['guide']!.id);
    expect(guide.highlight).toBe(
      'Barn <mark>owls</mark> <mark>hunt</mark> at night, finding mice by their acute hearing alone.',
    );
  });

  it('keyword: websearch syntax (phrases, or, -) and stemming', async () => {
    const phrase = await search('keyword', '"tawny owls"');
    expect(phrase.hits.map((hit) => hit.documentId).sort()).toEqual(
      [ids['census']!.id, ids['walk']!.id].sort(),
    );
    const either = await search('keyword', 'kettle or robins');
    expect(either.hits.map((hit) => hit.documentId).sort()).toEqual(
      [ids['kettle']!.id, ids['garden']!.id].sort(),
    );
    const without = await search('keyword', 'owl -tawny');
    expect(without.hits.map((hit) => hit.documentId)).not.toContain(ids['walk']!.id);
    expect(without.hits.map((hit) => hit.documentId)).toContain(ids['guide']!.id);
    // "descaled" and "kettles" stem to what the chunk's words do.
    const stemmed = await search('keyword', 'descaled kettles');
    expect(stemmed.hits.map((hit) => hit.documentId)).toEqual([ids['kettle']!.id]);
  });

  withVectors('semantic: cosine similarity to the query’s embedding, through pgvector', async () => {
    const query = 'descale the kettle with vinegar';
    const { hits } = await search('semantic', query);
    expect(hits[0]).toMatchObject({
      chunkId: ids['kettle']!.chunkIds[0],
      rankSemantic: 1,
      rankKeyword: null,
    });
    // score = 1 − cosine distance, as computed here from the same vectors (stored as real).
    const expected = cosine(
      queryVector(query),
      hashingEmbedding(
        'Descale the kettle with white vinegar every month to keep the water tasting fresh.',
        dimensions,
      ),
    );
    expect(hits[0]!.score).toBeCloseTo(expected, 5);
    expect(hits.map((hit) => hit.rankSemantic)).toEqual(hits.map((_, i) => i + 1));
    for (let i = 1; i < hits.length; i += 1) expect(hits[i]!.score).toBeLessThanOrEqual(hits[i - 1]!.score);
  });

  withVectors('hybrid: reciprocal rank fusion of the keyword and semantic rankings', async () => {
    const { hits } = await search('hybrid', 'owls hunt mice', { limit: 50 });
    expect(hits.length).toBeGreaterThan(2);
    for (const hit of hits) {
      const fused =
        (hit.rankKeyword === null ? 0 : 1 / (rrfK + hit.rankKeyword)) +
        (hit.rankSemantic === null ? 0 : 1 / (rrfK + hit.rankSemantic));
      expect(hit.score).toBeCloseTo(fused, 12);
    }
    for (let i = 1; i < hits.length; i += 1) expect(hits[i]!.score).toBeLessThanOrEqual(hits[i - 1]!.score);
    // Found by both: the guide's first chunk holds all three words and is the nearest vector.
    expect(hits[0]).toMatchObject({ chunkId: ids['guide']!.chunkIds[0], rankKeyword: 1 });
    expect(hits[0]!.rankSemantic).not.toBeNull();
    // Found by one list only: semantic neighbours without every word.
    expect(hits.some((hit) => hit.rankKeyword === null && hit.rankSemantic !== null)).toBe(true);
  });

  it.each(modes)(
    '%s: never shows an archived, expired, unfinished, other-generation, other-base or other-tenant chunk',
    async (mode) => {
      if (mode !== 'keyword' && !vectors) return;
      for (const query of ['owls hunt mice', 'owls', 'secret']) {
        const { hits } = await search(mode, query, { limit: 50 });
        for (const hit of hits) {
          expect(hit.text).not.toContain('secret');
          expect(visible().has(hit.documentId)).toBe(true);
        }
      }
    },
  );

  it('counts the filtered documents by content type and tag, not only the hits', async () => {
    const all = await search('keyword', 'kettle');
    expect(all.hits).toHaveLength(1);
    // Every document search can see: the failed and re-ingesting ones keep their older generation.
    expect(all.facets.contentType).toEqual({
      'application/pdf': 1,
      'text/html': 1,
      'text/markdown': 3,
      'text/plain': 1,
    });
    expect(all.facets.tags).toEqual({ birds: 3, events: 1, guide: 1, home: 1, lab: 1 });

    const birds = await search('keyword', 'owl', { filters: { tags: ['birds'] } });
    expect(new Set(birds.hits.map((hit) => hit.documentId))).toEqual(
      new Set([ids['guide']!.id, ids['garden']!.id, ids['pellets']!.id]),
    );
    expect(birds.facets.tags).toEqual({ birds: 3, guide: 1, lab: 1 });
    expect(birds.facets.contentType).toEqual({ 'application/pdf': 1, 'text/html': 1, 'text/markdown': 1 });

    // All the tags asked for.
    const both = await search('keyword', 'owl', { filters: { tags: ['lab', 'birds'] } });
    expect(both.hits.map((hit) => hit.documentId)).toEqual([ids['pellets']!.id]);
    expect(both.facets.tags).toEqual({ birds: 1, lab: 1 });
  });

  it('filters by content type (any), metadata (equality) and creation time (exclusive range)', async () => {
    const types = await search('keyword', 'owl or kettle', {
      filters: { content_type: ['text/plain', 'text/html'] },
    });
    expect(new Set(types.hits.map((hit) => hit.documentId))).toEqual(
      new Set([ids['kettle']!.id, ids['garden']!.id]),
    );
    expect(types.facets.contentType).toEqual({ 'text/html': 1, 'text/plain': 1 });

    const wiki = await search('keyword', 'owls', {
      filters: { metadata: { source: 'wiki', reviewed: true } },
    });
    expect(new Set(wiki.hits.map((hit) => hit.documentId))).toEqual(new Set([ids['guide']!.id]));
    const none = await search('keyword', 'owls', {
      filters: { metadata: { source: 'wiki', reviewed: false } },
    });
    expect(none.hits).toEqual([]);
    expect(none.facets).toEqual({ contentType: {}, tags: {} });

    const spring = await search('keyword', 'owl or kettle', {
      filters: { created_after: '2025-01-10T00:00:00Z', created_before: '2025-06-01T00:00:00.001Z' },
    });
    expect(new Set(spring.hits.map((hit) => hit.documentId))).toEqual(
      new Set([ids['kettle']!.id, ids['garden']!.id]),
    );
  });

  it.each(modes)('%s: one statement per search, hits and facets together', async (mode) => {
    if (mode !== 'keyword' && !vectors) return;
    const before = counted.statements;
    const result = await search(mode, 'owls hunt mice', { filters: { tags: ['birds'] } });
    expect(counted.statements - before).toBe(1);
    expect(result.hits.length).toBeGreaterThan(0);
    expect(Object.keys(result.facets.tags).length).toBeGreaterThan(0);
  });

  it.each(modes)(
    '%s: a long query or one of tsquery metacharacters is answered, not an error',
    async (mode) => {
      if (mode !== 'keyword' && !vectors) return;
      const long = 'owls hunt & mice | (night) '.repeat(400).slice(0, 10_000);
      const hostile = [
        long,
        `!:&|()<*'"\\`,
        "owl:* & !(mice | 'hoot') <-> \"",
        'the and of',
        ':*',
        '"unterminated',
        'a'.repeat(3_000),
        'ÿ̶ú 🦉 owls',
      ];
      for (const query of hostile) {
        const result = await search(mode, query);
        expect(Array.isArray(result.hits)).toBe(true);
      }
      // The long one matches what its words match.
      const { hits } = await search(mode, long);
      if (mode === 'keyword') expect(hits.map((hit) => hit.chunkId)).toEqual([ids['guide']!.chunkIds[0]]);
    },
  );

  it('answers nothing from a deleted base, another tenant’s base, or an empty one', async () => {
    for (const mode of vectors ? modes : (['keyword'] as const)) {
      expect(await search(mode, 'owls hunt mice', { on: deletedBase })).toMatchObject({
        hits: [],
        facets: { contentType: {}, tags: {} },
      });
      // The tenant's id with the other tenant's base: the statement checks both.
      expect(
        await search(mode, 'owls hunt mice', { on: { ...otherTenantBase, tenantId: base.tenantId } }),
      ).toMatchObject({ hits: [], facets: { contentType: {}, tags: {} } });
      const empty = await new Fixture(client).base(base.tenantId);
      expect(await search(mode, 'owls', { on: empty })).toEqual({
        hits: [],
        facets: { contentType: {}, tags: {} },
        validUntil: null,
      });
    }
  });

  it('leaves the facets out when asked, in one statement that answers the same hits', async () => {
    for (const mode of vectors ? modes : (['keyword'] as const)) {
      const full = await search(mode, 'owls hunt mice', { filters: { tags: ['birds'] } });
      const before = counted.statements;
      const hits = await store.searchHits(request(mode, 'owls hunt mice', { filters: { tags: ['birds'] } }));
      expect(counted.statements - before).toBe(1);
      expect(hits).toEqual({ hits: full.hits, validUntil: full.validUntil });
    }
    expect(searchStatement(request('hybrid', 'owls'), {}, { facets: false }).text).not.toContain(
      'unnest(tags)',
    );
  });

  it('says how long the result holds: until the first expiry ahead among the base’s documents', async () => {
    const result = await search('keyword', 'owl');
    expect(result.validUntil?.getTime()).toBe(expiring.getTime());
    // At a time past it, the document is gone from hits and facets.
    const later = await search('keyword', 'owl walk', { now: new Date(expiring.getTime() + 1) });
    expect(later.hits.map((hit) => hit.documentId)).not.toContain(ids['walk']!.id);
    expect(later.facets.tags['events']).toBeUndefined();
    expect(later.validUntil).toBeNull();
  });

  withVectors(
    'keeps scanning the HNSW index past ef_search until the filters pass enough chunks (iterative scan), or compares the few chunks filters leave one by one',
    async () => {
      // 150 chunks close to the query, then 3 far ones in the only document the filter lets through.
      const fixture = new Fixture(client);
      const crowded = await fixture.base(base.tenantId);
      const near = 'lighthouse keeper logbook storm lantern';
      for (let d = 0; d < 5; d += 1) {
        await fixture.document(crowded, {
          title: `Lighthouse log ${d}`,
          tags: ['noise'],
          chunks: Array.from({ length: 30 }, (_, i) => ({ text: `${near} entry ${d * 30 + i}` })),
        });
      }
      const needle = await fixture.document(crowded, {
        title: 'Recipes',
        tags: ['needle'],
        chunks: [
          { text: 'Bake the bread at a high heat.' },
          { text: 'Knead the dough until smooth.' },
          { text: 'Proof overnight in a cool room.' },
        ],
      });
      await client.query('ANALYZE knowledge_chunks');
      const needleSearch = request('semantic', near, {
        on: crowded,
        filters: { tags: ['needle'] },
        limit: 5,
      });
      // HNSW alone, its first batch (ef_search) smaller than the 150 near chunks.
      const hnswOnly = { exactSearchBelow: 0, efSearch: 40 };
      const loopsOf = (nodes: ReturnType<typeof planNodes>, index: string) =>
        nodes.filter((node) => node['Index Name'] === index).map((node) => node['Actual Loops']);
      // Steer the planner to the index, as it chooses on a base of 100,000 chunks.
      await client.query('SET enable_seqscan = off; SET enable_bitmapscan = off; SET enable_sort = off');
      try {
        const { plan } = await explain(counted.db, searchStatement(needleSearch, hnswOnly), ['ANALYZE']);
        expect(loopsOf(planNodes(plan), 'knowledge_chunks_hnsw_384')).toEqual([1]);
        // The first 40 candidates are all noise: without the iterative scan nothing would pass.
        const viaIndex = await new KnowledgeSearchRepository(counted.db, hnswOnly).search(needleSearch);
        expect(viaIndex.hits.map((hit) => hit.chunkId).sort()).toEqual([...needle.chunkIds].sort());

        // By default, 3 chunks are too few for the index: compared one by one, the same hits.
        const adaptive = await explain(counted.db, searchStatement(needleSearch), ['ANALYZE']);
        const nodes = planNodes(adaptive.plan);
        expect(loopsOf(nodes, 'knowledge_chunks_hnsw_384')).toEqual([0]);
        expect(loopsOf(nodes, 'knowledge_chunks_document_id_generation_ordinal_key')).toContain(1);
        expect((await store.search(needleSearch)).hits).toEqual(viaIndex.hits);
      } finally {
        await client.query('RESET enable_seqscan; RESET enable_bitmapscan; RESET enable_sort');
      }
    },
  );

  describe('through the service', () => {
    let clock: Date;
    let service: KnowledgeSearchService;

    const readBase = async (tenantId: string, id: string): Promise<KnowledgeBase> => {
      const { rows } = await client.query<{ version: number }>(
        'SELECT version FROM knowledge_bases WHERE id = $1 AND tenant_id = $2 AND deleted_at IS NULL',
        [id, tenantId],
      );
      if (!rows[0]) throw notFound('knowledge base');
      return { ...base, version: rows[0].version };
    };

    beforeAll(() => {
      clock = new Date();
      const cache = new TwoTierCache(new MemoryCache(60_000, 1_000), undefined, {
        l2TtlSeconds: 60,
        negativeTtlSeconds: 5,
        negativeL1TtlMs: 5_000,
      });
      service = new KnowledgeSearchService(
        readBase,
        store,
        cache,
        async () => new LocalEmbedder(dimensions),
        () => clock,
      );
    });

    it('answers a repeated search from the cache, and searches again once the base’s version moves', async () => {
      const body = {
        query: 'owls hunt',
        mode: 'keyword' as const,
        limit: 10,
        filters: { tags: ['guide', 'birds'] },
      };
      const before = counted.statements;
      const first = await service.search(base.tenantId, base.id, body);
      expect(first).toMatchObject({ cached: false, mode: 'keyword' });
      expect(counted.statements - before).toBe(1);

      // The same request, its tags in another order: no statement.
      const again = await service.search(base.tenantId, base.id, {
        ...body,
        filters: { tags: ['birds', 'guide'] },
      });
      expect(again).toMatchObject({ cached: true, hits: first.hits, facets: first.facets });
      expect(counted.statements - before).toBe(1);

      await client.query('UPDATE knowledge_bases SET version = version + 1 WHERE id = $1', [base.id]);
      const moved = await service.search(base.tenantId, base.id, body);
      expect(moved.cached).toBe(false);
      expect(counted.statements - before).toBe(2);
    });

    it('counts the facets of a filter set once, for every query with those filters', async () => {
      const texts: string[] = [];
      const recording = new KnowledgeSearchService(
        readBase,
        new KnowledgeSearchRepository({
          query: async (text, values) => {
            texts.push(text);
            return counted.db.query(text, values);
          },
        }),
        new TwoTierCache(new MemoryCache(60_000, 1_000), undefined, {
          l2TtlSeconds: 60,
          negativeTtlSeconds: 5,
          negativeL1TtlMs: 5_000,
        }),
        async () => new LocalEmbedder(dimensions),
        () => clock,
      );
      const filters = { tags: ['birds'] };
      const first = await recording.search(base.tenantId, base.id, {
        query: 'owls',
        mode: 'keyword',
        limit: 10,
        filters,
      });
      const second = await recording.search(base.tenantId, base.id, {
        query: 'mice',
        mode: 'hybrid',
        limit: 10,
        filters,
      });
      expect(texts).toHaveLength(2);
      expect(texts[0]).toContain('unnest(tags)');
      expect(texts[1]).not.toContain('unnest(tags)');
      expect(second.facets).toEqual(first.facets);
      expect(second.facets).toEqual({
        contentType: { 'application/pdf': 1, 'text/html': 1, 'text/markdown': 1 },
        tags: { birds: 3, guide: 1, lab: 1 },
      });
    });

    it('does not serve a cached result past the expiry of a document it saw', async () => {
      const body = { query: 'owl walk', mode: 'keyword' as const, limit: 10 };
      const seen = await service.search(base.tenantId, base.id, body);
      expect(seen.hits.map((hit) => hit.documentId)).toContain(ids['walk']!.id);
      expect((await service.search(base.tenantId, base.id, body)).cached).toBe(true);

      clock = new Date(expiring.getTime() + 1_000);
      const after = await service.search(base.tenantId, base.id, body);
      expect(after.cached).toBe(false);
      expect(after.hits.map((hit) => hit.documentId)).not.toContain(ids['walk']!.id);
    });
  });
};

describe('knowledge search on embedded PostgreSQL (PGlite, pgvector 0.8.7)', () => {
  const url = useEmbeddedPostgres();
  knowledgeSearchChecks(url, true);
});

describeRealServers('knowledge search on PostgreSQL 15', (servers) => {
  knowledgeSearchChecks(() => servers.postgresUrl, !skipRealVectors);
});
