import { createHash } from 'node:crypto';
import { embedderFor } from '#adapters/embeddings/registry.ts';
import { database } from '#adapters/postgres/db.ts';
import { KnowledgeSearchRepository } from '#adapters/postgres/knowledge-search.ts';
import type { Embedder, EmbeddingModel } from '#domain/embedding.ts';
import { notFound, ProblemError } from '#domain/errors.ts';
import { isUuid } from '#domain/ids.ts';
import type { KnowledgeBase, SearchBody, SearchMode, SearchResult } from '#domain/knowledge.ts';
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

/** The search store, answering with how long its result holds (the earliest expiry ahead it saw). */
export interface ExpiringSearchStore extends KnowledgeSearchStore {
  search(request: SearchRequest): Promise<SearchResult & { readonly validUntil: Date | null }>;
}

/** A search's answer as the cache keeps it: JSON, the expiry as a string. */
interface CachedSearch extends SearchResult {
  readonly validUntil: string | null;
}

export interface SearchAnswer extends SearchResult {
  readonly mode: SearchMode;
  /** Answered from the search cache (no statement, no embedding). */
  readonly cached: boolean;
  readonly tookMs: number;
  /** Tokens the query's embedding took (0: keyword, or from the cache), and the model that priced them. */
  readonly embeddingTokens: number;
  readonly embeddingModel: string;
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

/** Tenant-scoped, and moved on by the base's version: no entry is ever deleted. */
export const searchCacheKey = (tenantId: string, base: KnowledgeBase, body: SearchBody): string => {
  const hash = createHash('sha256')
    .update(canonicalJson(canonicalSearch(body)))
    .digest('base64url');
  return `ksearch:${tenantId}:${base.id}:${base.version}:${hash}`;
};

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

  async search(tenantId: string, baseId: string, body: SearchBody): Promise<SearchAnswer> {
    const started = performance.now();
    if (!isUuid(baseId)) throw notFound('knowledge base');
    const base = await this.readBase(tenantId, baseId);
    const key = searchCacheKey(tenantId, base, body);
    const now = this.clock();
    const held = await this.cache.peek<CachedSearch>(key);
    if (held && (held.validUntil === null || new Date(held.validUntil) > now)) {
      return this.answer(base, body.mode, held, true, started, 0);
    }

    const embedded = body.mode === 'keyword' ? undefined : await this.embedQuery(base, body.query);
    const queryVector = embedded?.vector;
    const result = await this.store.search({
      base,
      query: body.query,
      mode: body.mode,
      ...(queryVector && { queryVector }),
      filters: body.filters ?? {},
      limit: body.limit,
      now,
    });
    const ttl = Math.min(
      searchCacheTtlSeconds,
      result.validUntil ? Math.floor((result.validUntil.getTime() - now.getTime()) / 1000) : Infinity,
    );
    const answer = { hits: result.hits, facets: result.facets };
    if (ttl >= 1) {
      const cached: CachedSearch = { ...answer, validUntil: result.validUntil?.toISOString() ?? null };
      await this.cache.put(key, base.version, cached, ttl);
    }
    return this.answer(base, body.mode, answer, false, started, embedded?.tokens ?? 0);
  }

  private async embedQuery(
    base: KnowledgeBase,
    query: string,
  ): Promise<{ vector: number[]; tokens: number }> {
    try {
      const embedder = await this.embedderFor(base.embedding);
      const { vectors, inputTokens } = await embedder.embed([query], { purpose: 'query' });
      return { vector: vectors[0]!, tokens: inputTokens };
    } catch (error) {
      if (error instanceof LlmError) throw embeddingFailed(error);
      throw error;
    }
  }

  private answer(
    base: KnowledgeBase,
    mode: SearchMode,
    result: SearchResult,
    cached: boolean,
    started: number,
    embeddingTokens: number,
  ): SearchAnswer {
    const tookMs = Math.round((performance.now() - started) * 10) / 10;
    if (metricsEnabled()) {
      // Its own dimension: the dashboard's latency by mode.
      const single = metrics.singleMetric();
      single.addDimension('mode', mode);
      single.addMetric('KnowledgeSearchLatency', 'Milliseconds', tookMs);
      single.addMetric(cached ? 'KnowledgeSearchCacheHits' : 'KnowledgeSearchCacheMisses', 'Count', 1);
    }
    return {
      hits: result.hits,
      facets: result.facets,
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
