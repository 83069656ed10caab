import { createHash } from 'node:crypto';
import { embedderFor } from '#adapters/embeddings/registry.ts';
import { database } from '#adapters/postgres/db.ts';
import { KnowledgeSearchRepository } from '#adapters/postgres/knowledge-search.ts';
import type { Embedder, EmbeddingModel } from '#domain/embedding.ts';
import { notFound, ProblemError } from '#domain/errors.ts';
import { isUuid } from '#domain/ids.ts';
import type {
  KnowledgeBase,
  SearchBody,
  SearchFacets,
  SearchHit,
  SearchMode,
  SearchResult,
} from '#domain/knowledge.ts';
import { LlmError } from '#domain/llm.ts';
import { metrics, metricsEnabled } from '#runtime/observability.ts';
import { knowledgeService, onContainerReset, sharedCache } from './container.ts';
import { canonicalJson } from './idempotency.ts';
import type { KnowledgeSearchStore, SearchRequest, VersionedCache } from './ports.ts';

/**
 * How long a search's answer is kept (at most; less when a document it saw expires sooner).
 * The key holds the base's version, so a change to the base or to what search sees in it is a
 * miss at once; the TTL only bounds what the cache holds.
 */
export const searchCacheTtlSeconds = 60;

/**
 * The search store, answering with how long its result holds (the earliest expiry ahead among
 * the base's documents), and able to leave the facets out when they are known or not wanted.
 */
export interface ExpiringSearchStore extends KnowledgeSearchStore {
  search(request: SearchRequest): Promise<SearchResult & Expiring>;
  searchHits(request: SearchRequest): Promise<{ readonly hits: readonly SearchHit[] } & Expiring>;
}

interface Expiring {
  readonly validUntil: Date | null;
}

/** What the caches keep (JSON: the expiry as a string): a search's answer, or a filter set's facets. */
interface CachedHits {
  readonly hits: readonly SearchHit[];
  readonly validUntil: string | null;
}
interface CachedSearch extends CachedHits {
  readonly facets: SearchFacets;
}
interface CachedFacets {
  readonly facets: SearchFacets;
  readonly validUntil: string | null;
}

export interface HitsAnswer {
  readonly hits: readonly SearchHit[];
  readonly mode: SearchMode;
  /** Answered from the search cache (no statement, no embedding). */
  readonly cached: boolean;
  readonly tookMs: number;
  /** Tokens the query's embedding took (0: keyword, or from the cache), and the model that priced them. */
  readonly embeddingTokens: number;
  readonly embeddingModel: string;
}

export interface SearchAnswer extends HitsAnswer {
  readonly facets: SearchFacets;
}

/**
 * The request as the cache key hashes it: defaults applied, filter lists sorted and deduplicated,
 * so that requests asking the same thing share an entry.
 */
export const canonicalSearch = (body: SearchBody): unknown => {
  const filters = body.filters ?? {};
  const sorted = (list: readonly string[] | undefined) => (list ? [...new Set(list)].sort() : undefined);
  return {
    query: body.query,
    mode: body.mode,
    limit: body.limit,
    filters: {
      ...filters,
      tags: sorted(filters.tags),
      content_type: sorted(filters.content_type),
      // An instant, not its spelling: +02:00 and Z name the same one.
      created_after: filters.created_after && new Date(filters.created_after).toISOString(),
      created_before: filters.created_before && new Date(filters.created_before).toISOString(),
    },
  };
};

const sha256 = (value: unknown) => createHash('sha256').update(canonicalJson(value)).digest('base64url');

/** Tenant-scoped, and moved on by the base's version: no entry is ever deleted. `hits`: an answer without facets. */
export const searchCacheKey = (
  tenantId: string,
  base: KnowledgeBase,
  body: SearchBody,
  what: 'search' | 'hits' = 'search',
): string => `k${what}:${tenantId}:${base.id}:${base.version}:${sha256(canonicalSearch(body))}`;

/**
 * The facets of a filter set: they count the filtered documents whatever the query, so searches
 * with the same filters (a user refining a query) share them, and their statements leave the
 * counting out.
 */
export const facetsCacheKey = (tenantId: string, base: KnowledgeBase, body: SearchBody): string =>
  `kfacets:${tenantId}:${base.id}:${base.version}:${sha256((canonicalSearch(body) as { filters: unknown }).filters)}`;

/** Seconds an entry valid until `validUntil` may be kept from `now`: the TTL, or less. */
const ttlSeconds = (validUntil: Date | null, now: Date): number =>
  Math.min(
    searchCacheTtlSeconds,
    validUntil ? Math.floor((validUntil.getTime() - now.getTime()) / 1000) : Number.POSITIVE_INFINITY,
  );

const validAt = (entry: { validUntil: string | null } | undefined, now: Date): boolean =>
  entry !== undefined && (entry.validUntil === null || new Date(entry.validUntil) > now);

const earlier = (a: Date | null, b: Date | null): Date | null => (a && b ? (a < b ? a : b) : (a ?? b));

/** An embedding provider that fails the query's embedding: theirs, not the client's. */
const embeddingFailed = (error: LlmError): ProblemError =>
  error.retryable
    ? new ProblemError(
        503,
        'embedding-unavailable',
        'Service Unavailable',
        'The embedding provider cannot embed the query for the moment; retry shortly.',
        { headers: { 'retry-after': '2' } },
      )
    : new ProblemError(
        502,
        'embedding-failed',
        'Bad Gateway',
        `The embedding provider could not embed the query: ${error.message}`,
      );

/**
 * Search in a knowledge base: the base read through the cache (404 if it is not the tenant's
 * live base), then the answer from the search cache, or the query embedded (semantic and
 * hybrid) and the store's one statement.
 */
export class KnowledgeSearchService {
  constructor(
    /** The tenant's live base, or 404. */
    private readonly readBase: (tenantId: string, id: string) => Promise<KnowledgeBase>,
    private readonly store: ExpiringSearchStore,
    private readonly cache: VersionedCache,
    private readonly embedderFor: (model: EmbeddingModel) => Promise<Embedder>,
    private readonly clock: () => Date = () => new Date(),
  ) {}

  /** Hits and the facets of the filtered documents. */
  async search(tenantId: string, baseId: string, body: SearchBody): Promise<SearchAnswer> {
    const started = performance.now();
    const base = await this.base(tenantId, baseId);
    const key = searchCacheKey(tenantId, base, body);
    const now = this.clock();
    const held = await this.cache.peek<CachedSearch>(key);
    if (held && validAt(held, now))
      return { ...this.answer(base, body.mode, held.hits, true, started, 0), facets: held.facets };

    const facetsKey = facetsCacheKey(tenantId, base, body);
    const known = await this.cache.peek<CachedFacets>(facetsKey);
    const embedded = await this.embedQuery(base, body);
    const request = this.request(base, body, now, embedded);
    let hits: readonly SearchHit[];
    let facets: SearchFacets;
    let validUntil: Date | null;
    if (known && validAt(known, now)) {
      // The facets of these filters are known: the statement leaves the counting out.
      ({ hits, validUntil } = await this.store.searchHits(request));
      facets = known.facets;
      validUntil = earlier(validUntil, known.validUntil === null ? null : new Date(known.validUntil));
    } else {
      ({ hits, facets, validUntil } = await this.store.search(request));
      await this.keep<CachedFacets>(
        facetsKey,
        base,
        { facets, validUntil: validUntil?.toISOString() ?? null },
        now,
      );
    }
    await this.keep<CachedSearch>(
      key,
      base,
      { hits, facets, validUntil: validUntil?.toISOString() ?? null },
      now,
    );
    return { ...this.answer(base, body.mode, hits, false, started, embedded?.tokens ?? 0), facets };
  }

  /** Hits alone (agents' retrieval): no facets counted, cached apart from full answers. */
  async searchHits(tenantId: string, baseId: string, body: SearchBody): Promise<HitsAnswer> {
    const started = performance.now();
    const base = await this.base(tenantId, baseId);
    const key = searchCacheKey(tenantId, base, body, 'hits');
    const now = this.clock();
    const held = await this.cache.peek<CachedHits>(key);
    if (held && validAt(held, now)) return this.answer(base, body.mode, held.hits, true, started, 0);
    const embedded = await this.embedQuery(base, body);
    const { hits, validUntil } = await this.store.searchHits(this.request(base, body, now, embedded));
    await this.keep<CachedHits>(key, base, { hits, validUntil: validUntil?.toISOString() ?? null }, now);
    return this.answer(base, body.mode, hits, false, started, embedded?.tokens ?? 0);
  }

  private async base(tenantId: string, baseId: string): Promise<KnowledgeBase> {
    if (!isUuid(baseId)) throw notFound('knowledge base');
    return this.readBase(tenantId, baseId);
  }

  private request(
    base: KnowledgeBase,
    body: SearchBody,
    now: Date,
    embedded: { vector: number[] } | undefined,
  ): SearchRequest {
    return {
      base,
      query: body.query,
      mode: body.mode,
      ...(embedded && { queryVector: embedded.vector }),
      filters: body.filters ?? {},
      limit: body.limit,
      now,
    };
  }

  /** Caches what holds until `validUntil`, under the base's version; not at all when that is under a second away. */
  private async keep<T extends { validUntil: string | null }>(
    key: string,
    base: KnowledgeBase,
    value: T,
    now: Date,
  ): Promise<void> {
    const ttl = ttlSeconds(value.validUntil === null ? null : new Date(value.validUntil), now);
    if (ttl >= 1) await this.cache.put(key, base.version, value, ttl);
  }

  /** The query's embedding for semantic and hybrid search; none for keyword search. */
  private async embedQuery(
    base: KnowledgeBase,
    body: SearchBody,
  ): Promise<{ vector: number[]; tokens: number } | undefined> {
    if (body.mode === 'keyword') return undefined;
    try {
      const embedder = await this.embedderFor(base.embedding);
      const { vectors, inputTokens } = await embedder.embed([body.query], { purpose: 'query' });
      return { vector: vectors[0]!, tokens: inputTokens };
    } catch (error) {
      if (error instanceof LlmError) throw embeddingFailed(error);
      throw error;
    }
  }

  private answer(
    base: KnowledgeBase,
    mode: SearchMode,
    hits: readonly SearchHit[],
    cached: boolean,
    started: number,
    embeddingTokens: number,
  ): HitsAnswer {
    const tookMs = Math.round((performance.now() - started) * 10) / 10;
    if (metricsEnabled()) {
      // Its own dimension: the dashboard's latency by mode.
      const single = metrics.singleMetric();
      single.addDimension('mode', mode);
      single.addMetric('KnowledgeSearchLatency', 'Milliseconds', tookMs);
      single.addMetric(cached ? 'KnowledgeSearchCacheHits' : 'KnowledgeSearchCacheMisses', 'Count', 1);
    }
    return {
      hits,
      mode,
      cached,
      tookMs,
      embeddingTokens,
      embeddingModel: base.embedding.model,
    };
  }
}

let service: KnowledgeSearchService | undefined;

/** The container's search service, composed on first use: the base through the knowledge service's cache. */
export const knowledgeSearchService = (): KnowledgeSearchService => {
  service ??= new KnowledgeSearchService(
    (tenantId, id) => knowledgeService().getBase(tenantId, id),
    new KnowledgeSearchRepository(database()),
    sharedCache(),
    embedderFor,
  );
  return service;
};

onContainerReset(() => {
  service = undefined;
});
