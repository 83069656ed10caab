import { describe, expect, it } from 'vitest';
import {
  candidatesFor,
  KnowledgeSearchRepository,
  searchStatement,
} from '#adapters/postgres/knowledge-search.ts';
import type { Embedder, EmbeddingModel } from '#domain/embedding.ts';
import { ProblemError } from '#domain/errors.ts';
import type { KnowledgeBase, SearchBody, SearchFilters, SearchMode } from '#domain/knowledge.ts';
import { searchBody } from '#domain/knowledge.ts';
import { LlmError } from '#domain/llm.ts';
import {
  type ExpiringSearchStore,
  KnowledgeSearchService,
  searchCacheKey,
  searchCacheTtlSeconds,
} from '#services/knowledge-search.ts';
import type { SearchRequest, VersionedCache } from '#services/ports.ts';

const base = (overrides: Partial<KnowledgeBase> = {}): KnowledgeBase => ({
  id: '0190f000-0000-7000-8000-0000000b0001',
  tenantId: '0190f000-0000-7000-8000-00000000a001',
  name: 'handbook',
  description: null,
  embedding: { provider: 'local', model: 'switchyard-hashing-v1', dimensions: 384 },
  language: 'english',
  chunking: { sizeTokens: 400, overlapTokens: 50 },
  version: 3,
  createdAt: new Date('2025-01-01T00:00:00Z'),
  updatedAt: new Date('2025-01-01T00:00:00Z'),
  ...overrides,
});

const body = (input: Record<string, unknown>): SearchBody => searchBody.parse(input);

const request = (mode: SearchMode, overrides: Partial<SearchRequest> = {}): SearchRequest => ({
  base: base(),
  query: 'owls hunt',
  mode,
  queryVector: [0.6, 0.8, ...new Array<number>(382).fill(0)],
  filters: {},
  limit: 10,
  now: new Date('2026-01-01T00:00:00Z'),
  ...overrides,
});

describe('the search cache key', () => {
  const key = (input: Record<string, unknown>, on = base()) => searchCacheKey(on.tenantId, on, body(input));

  it('is the same for requests that ask the same thing', () => {
    const plain = key({
      query: 'owls',
      filters: { tags: ['a', 'b'], content_type: ['text/plain', 'text/html'] },
    });
    expect(
      key({
        query: 'owls',
        mode: 'hybrid',
        limit: 10,
        filters: { content_type: ['text/html', 'text/plain', 'text/html'], tags: ['b', 'a', 'b'] },
      }),
    ).toBe(plain);
    expect(key({ query: 'owls', filters: { created_after: '2025-01-01T02:00:00+02:00' } })).toBe(
      key({ query: 'owls', filters: { created_after: '2025-01-01T00:00:00Z' } }),
    );
  });

  it('differs by tenant, base, version and every part of the request', () => {
    const plain = key({ query: 'owls' });
    expect(plain).toMatch(
      /^ksearch:0190f000-0000-7000-8000-00000000a001:0190f000-0000-7000-8000-0000000b0001:3:/,
    );
    const others = [
      key({ query: 'owl' }),
      key({ query: 'owls', mode: 'keyword' }),
      key({ query: 'owls', limit: 11 }),
      key({ query: 'owls', filters: { tags: ['a'] } }),
      key({ query: 'owls', filters: { metadata: { source: 'wiki' } } }),
      key({ query: 'owls' }, base({ version: 4 })),
      key({ query: 'owls' }, base({ id: '0190f000-0000-7000-8000-0000000b0002' })),
      searchCacheKey('0190f000-0000-7000-8000-00000000a002', base(), body({ query: 'owls' })),
    ];
    expect(new Set([plain, ...others]).size).toBe(others.length + 1);
  });
});

describe('the search statement', () => {
  const placeholders = (text: string) => new Set([...text.matchAll(/\$(\d+)/g)].map((m) => Number(m[1])));

  const cases: [SearchMode, SearchFilters][] = [
    ['keyword', {}],
    ['semantic', {}],
    ['hybrid', {}],
    ['hybrid', { tags: ['a'], content_type: ['text/plain'], metadata: { n: 1 } }],
    ['semantic', { created_after: '2025-01-01T00:00:00Z', created_before: '2026-01-01T00:00:00Z' }],
  ];
  it.each(cases)('%s with filters %j uses every parameter it sends', (mode, filters) => {
    const { text, values } = searchStatement(request(mode, { filters }));
    expect(placeholders(text)).toEqual(new Set(values.map((_, i) => i + 1)));
  });

  it('compares vectors exactly as the migration indexes them, and sets pgvector up inside it', () => {
    const { text } = searchStatement(request('semantic'));
    expect(text).toContain('c.embedding::vector(384) <=> ');
    expect(text).toContain('::vector(384))');
    expect(text).toContain('c.dimensions = 384');
    expect(text).toContain("set_config('hnsw.iterative_scan', 'relaxed_order', true)");
    expect(text).toContain("set_config('hnsw.ef_search'");
    const wide = searchStatement(
      request('semantic', {
        base: base({ embedding: { provider: 'openai', model: 'text-embedding-3-large', dimensions: 3072 } }),
        queryVector: new Array<number>(3072).fill(0.01),
      }),
    );
    expect(wide.text).toContain('c.embedding::halfvec(3072) <=> ');
    expect(wide.text).toContain('c.dimensions = 3072');
  });

  it('has no semantic branch for keyword search, or for a query that embeds to the zero vector', () => {
    const keyword = searchStatement(request('keyword'));
    expect(keyword.text).not.toContain('<=>');
    expect(keyword.text).not.toContain('hnsw');
    const wordless = searchStatement(
      request('hybrid', { query: '!:&|()', queryVector: new Array(384).fill(0) }),
    );
    expect(wordless.text).not.toContain('<=>');
    expect(wordless.text).toContain('ts_rank_cd');
    const semantic = searchStatement(request('semantic'));
    expect(semantic.text).not.toContain('ts_rank_cd');
  });

  it('asks each ranking for max(2 × limit, 20) candidates to fuse, and for limit alone', () => {
    expect(candidatesFor('hybrid', 1)).toBe(20);
    expect(candidatesFor('hybrid', 10)).toBe(20);
    expect(candidatesFor('hybrid', 50)).toBe(100);
    expect(candidatesFor('keyword', 10)).toBe(10);
    expect(candidatesFor('semantic', 50)).toBe(50);
  });

  it('tells a database without pgvector from other failures', async () => {
    const failing = (error: unknown) =>
      new KnowledgeSearchRepository({
        query: async () => {
          throw error;
        },
      });
    const missing = Object.assign(new Error('type "vector" does not exist'), { code: '42704' });
    const refused = failing(missing).search(request('semantic'));
    await expect(refused).rejects.toBeInstanceOf(ProblemError);
    await expect(refused).rejects.toMatchObject({ status: 501, slug: 'semantic-search-unavailable' });
    const other = Object.assign(new Error('relation "knowledge_chunks" does not exist'), { code: '42P01' });
    await expect(failing(other).search(request('keyword'))).rejects.toBe(other);
  });
});

describe('KnowledgeSearchService', () => {
  const now = new Date('2026-01-01T00:00:00Z');
  const result = (validUntil: Date | null = null) => ({
    hits: [
      {
        documentId: 'd',
        title: 't',
        chunkId: 'c',
        text: 'owls hunt',
        highlight: '<mark>owls</mark> hunt',
        score: 0.5,
        rankKeyword: 1,
        rankSemantic: null,
      },
    ],
    facets: { contentType: { 'text/plain': 1 }, tags: {} },
    validUntil,
  });

  const setup = (options: { validUntil?: Date | null; embedError?: Error } = {}) => {
    const searches: (SearchRequest & { facets: boolean })[] = [];
    const embedded: { texts: readonly string[]; purpose: string | undefined }[] = [];
    const puts: { key: string; version: number; ttl: number | undefined }[] = [];
    const held = new Map<string, unknown>();
    const store: ExpiringSearchStore = {
      search: async (request) => {
        searches.push({ ...request, facets: true });
        return result(options.validUntil ?? null);
      },
      searchHits: async (request) => {
        searches.push({ ...request, facets: false });
        const { hits, validUntil } = result(options.validUntil ?? null);
        return { hits, validUntil };
      },
    };
    const cache: VersionedCache = {
      get: async () => null,
      peek: async <T>(key: string) => held.get(key) as T | undefined,
      put: async (key, version, value, ttl) => {
        puts.push({ key, version, ttl });
        held.set(key, value);
      },
    };
    const embedder = async (model: EmbeddingModel): Promise<Embedder> => ({
      ...model,
      embed: async (texts, embedOptions) => {
        embedded.push({ texts, purpose: embedOptions?.purpose });
        if (options.embedError) throw options.embedError;
        return { vectors: texts.map(() => [1, 0, 0]), inputTokens: 2 };
      },
    });
    const bases: string[] = [];
    const service = new KnowledgeSearchService(
      async (tenantId, id) => {
        bases.push(id);
        return base({ tenantId, id });
      },
      store,
      cache,
      embedder,
      () => now,
    );
    return { service, searches, embedded, puts, bases };
  };
  const tenant = '0190f000-0000-7000-8000-00000000a001';
  const baseId = '0190f000-0000-7000-8000-0000000b0001';

  it('embeds the query as a query for semantic and hybrid search, not for keyword search', async () => {
    const { service, searches, embedded } = setup();
    await service.search(tenant, baseId, body({ query: 'owls', mode: 'keyword' }));
    expect(embedded).toEqual([]);
    expect(searches[0]).not.toHaveProperty('queryVector');
    await service.search(tenant, baseId, body({ query: 'owls', mode: 'semantic' }));
    expect(embedded).toEqual([{ texts: ['owls'], purpose: 'query' }]);
    expect(searches[1]).toMatchObject({
      queryVector: [1, 0, 0],
      mode: 'semantic',
      now,
      limit: 10,
      filters: {},
    });
  });

  it('answers a repeat from the cache: no embedding, no statement', async () => {
    const { service, searches, embedded, puts } = setup();
    const first = await service.search(tenant, baseId, body({ query: 'owls' }));
    const again = await service.search(tenant, baseId, body({ query: 'owls', mode: 'hybrid' }));
    expect(first).toMatchObject({ cached: false, mode: 'hybrid' });
    expect(again).toMatchObject({ cached: true, mode: 'hybrid', hits: first.hits, facets: first.facets });
    expect(searches).toHaveLength(1);
    expect(embedded).toHaveLength(1);
    // The answer, and the facets of its filters apart.
    expect(puts).toEqual([
      { key: expect.stringMatching(/^kfacets:/), version: 3, ttl: searchCacheTtlSeconds },
      { key: expect.stringMatching(/^ksearch:/), version: 3, ttl: searchCacheTtlSeconds },
    ]);
  });

  it('counts the facets of a filter set once: searches with the same filters leave them out', async () => {
    const { service, searches } = setup();
    const filters = { tags: ['b', 'a'] };
    const first = await service.search(tenant, baseId, body({ query: 'owls', filters }));
    const other = await service.search(
      tenant,
      baseId,
      body({ query: 'kettles', mode: 'keyword', filters: { tags: ['a', 'b'] } }),
    );
    expect(searches.map((s) => [s.query, s.facets])).toEqual([
      ['owls', true],
      ['kettles', false],
    ]);
    expect(other.facets).toEqual(first.facets);
    // Other filters: counted again.
    await service.search(tenant, baseId, body({ query: 'owls', filters: { tags: ['a'] } }));
    expect(searches[2]?.facets).toBe(true);
  });

  it('answers hits alone without counting facets, cached apart from full answers', async () => {
    const { service, searches } = setup();
    const hits = await service.searchHits(tenant, baseId, body({ query: 'owls', limit: 5 }));
    expect(hits).toMatchObject({
      cached: false,
      mode: 'hybrid',
      embeddingTokens: 2,
      embeddingModel: 'switchyard-hashing-v1',
    });
    expect(hits).not.toHaveProperty('facets');
    expect((await service.searchHits(tenant, baseId, body({ query: 'owls', limit: 5 }))).cached).toBe(true);
    expect((await service.search(tenant, baseId, body({ query: 'owls', limit: 5 }))).cached).toBe(false);
    expect(searches.map((s) => s.facets)).toEqual([false, true]);
  });

  it('keeps a result no longer than the first expiry it saw, and not at all when that is under a second away', async () => {
    const soon = setup({ validUntil: new Date(now.getTime() + 12_500) });
    await soon.service.search(tenant, baseId, body({ query: 'owls' }));
    expect(soon.puts[0]?.ttl).toBe(12);
    const imminent = setup({ validUntil: new Date(now.getTime() + 900) });
    await imminent.service.search(tenant, baseId, body({ query: 'owls' }));
    expect(imminent.puts).toEqual([]);
  });

  it('answers 404 for an id that is no UUID without reading anything', async () => {
    const { service, bases, searches } = setup();
    await expect(service.search(tenant, 'not-a-uuid', body({ query: 'owls' }))).rejects.toMatchObject({
      status: 404,
    });
    expect(bases).toEqual([]);
    expect(searches).toEqual([]);
  });

  it('answers 503 when the embedding provider is unreachable, 502 when it refuses', async () => {
    const unreachable = setup({ embedError: new LlmError('timeout', 'openai', true) });
    await expect(unreachable.service.search(tenant, baseId, body({ query: 'owls' }))).rejects.toMatchObject({
      status: 503,
    });
    const refused = setup({ embedError: new LlmError('bad model', 'openai', false) });
    await expect(refused.service.search(tenant, baseId, body({ query: 'owls' }))).rejects.toMatchObject({
      status: 502,
    });
    expect(refused.searches).toEqual([]);
  });
});
