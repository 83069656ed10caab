import { ProblemError } from '#domain/errors.ts';
import type { SearchFacets, SearchFilters, SearchHit, SearchMode, SearchResult } from '#domain/knowledge.ts';
import { rrfK } from '#domain/knowledge.ts';
import type { KnowledgeSearchStore, SearchRequest } from '#services/ports.ts';
import type { Queryable } from './db.ts';

/**
 * Candidates each ranking contributes: for hybrid search, enough before fusion that a hit ranked
 * low by one list and high by the other still meets its partner; for one ranking alone, the
 * hits asked for (a filtered HNSW scan walks the index until that many pass the filters, so
 * every extra candidate costs).
 */
export const candidatesFor = (mode: SearchMode, limit: number): number =>
  mode === 'hybrid' ? Math.max(limit * 2, 20) : limit;

/**
 * HNSW's search breadth (pgvector's default is 40). `npm run bench:knowledge`, 100,000 chunks of
 * local-embedder vectors, medians of 3: recall@10 of passages 0.81 → 0.89 from 100 to 200, of
 * 1–4-word queries 0.42 → 0.56, for 1–3 ms more at p95; 400 reaches 0.93 / 0.70 for 4–6 ms more.
 */
export const hnswEfSearch = 200;

/**
 * Keyword matches ranked, at most: ts_rank_cd reads each match's tsvector (out of line, in
 * TOAST), 10–17 µs a match on the benchmark's machine, so a query matching a third of 100,000
 * chunks would take a third of a second or more. A query matching more is ranked among the
 * first this many the GIN index yields (after the filters). In the benchmark's filtered
 * workload no query reached it: a bound on the worst case, not a cost.
 */
export const maxRankedMatches = 5_000;

/**
 * Filters that leave fewer chunks than this are searched exactly (every chunk of the filtered
 * documents compared) rather than through HNSW, whose filtered scan walks the graph until enough
 * pass, the longer the more selective the filters, and gives up after hnsw.max_scan_tuples
 * (20,000) with fewer hits than asked. The check costs a scan of up to this many documents:
 * +3 ms at p50 in the benchmark, whose filters are rarely that selective.
 */
export const exactSearchBelow = 2_000;

/** Most tags the tag facet lists (the most frequent first): a bound on the answer's size. */
export const maxTagFacets = 100;

/**
 * How long an answer may be served from a cache: the earliest `expires_at` still ahead among
 * the base's documents (the filters aside: a bound, cheap to read through the expiry index).
 * The hits and facets are exact until then; a document expiring then may change them.
 */
export interface Expiring {
  readonly validUntil: Date | null;
}

/** A search's hits without the facets: for callers that have them (the service's cache) or need none (agents). */
export interface StoredHits extends Expiring {
  readonly hits: readonly SearchHit[];
}

/** A search's answer, with how long it may be served from a cache. */
export interface StoredSearchResult extends SearchResult, Expiring {}

/** The SQL type a base's vectors are compared as: the migration's index expression, exactly. */
export const vectorType = (dimensions: number): string =>
  dimensions > 2000 ? `halfvec(${dimensions})` : `vector(${dimensions})`;

interface SearchRow {
  hits: {
    document_id: string;
    title: string;
    chunk_id: string;
    text: string;
    highlight: string;
    score: number;
    rank_keyword: number | null;
    rank_semantic: number | null;
  }[];
  /** Absent when the statement leaves the facets out. */
  content_types?: Record<string, number>;
  tags?: Record<string, number>;
  valid_until: Date | null;
}

/** Collects a statement's parameters: `add` answers the placeholder of a value. */
class Parameters {
  readonly values: unknown[] = [];
  add(value: unknown): string {
    this.values.push(value);
    return `$${this.values.length}`;
  }
}

/** The documents' conditions a search's filters add (on alias `d`): tags all, content types any. */
const filterConditions = (filters: SearchFilters, p: Parameters): string[] => {
  const conditions: string[] = [];
  if (filters.tags && filters.tags.length > 0) conditions.push(`d.tags @> ${p.add(filters.tags)}::text[]`);
  if (filters.content_type) conditions.push(`d.content_type = ANY (${p.add(filters.content_type)}::text[])`);
  if (filters.metadata && Object.keys(filters.metadata).length > 0) {
    conditions.push(`d.metadata @> ${p.add(JSON.stringify(filters.metadata))}::jsonb`);
  }
  if (filters.created_after) conditions.push(`d.created_at > ${p.add(filters.created_after)}::timestamptz`);
  if (filters.created_before) conditions.push(`d.created_at < ${p.add(filters.created_before)}::timestamptz`);
  return conditions;
};

/**
 * Knowledge search in PostgreSQL: keyword (full text), semantic (pgvector HNSW, cosine) or
 * hybrid (reciprocal rank fusion of both), each in ONE statement that also answers the
 * highlights of the hits and (unless `searchHits`) the facets of the filtered documents, which
 * cost a pass over every one of them: a caller that knows them, or needs none, leaves them out.
 *
 * What a search may see: chunks of their document's searchable generation, of documents not
 * archived and not expired, matching the filters, in the tenant's live base. The documents'
 * conditions are written twice: as the `docs` CTE, which the facets count and the keyword
 * matches join (hashed), and as a semi-join of the semantic branch that the planner resolves
 * by primary key per candidate (the HNSW scan streams candidates in distance order, and only
 * a nested loop keeps that order).
 *
 * pgvector's settings are transaction-scoped `set_config` calls in a one-time filter of the
 * semantic branch: evaluated once, before the index scan fetches its first tuple (pgvector
 * reads them then), gone when the statement's implicit transaction ends. No SET, no extra
 * round trip, nothing left on a pooled connection (RDS Proxy does not pin for it).
 */
export class KnowledgeSearchRepository implements KnowledgeSearchStore {
  constructor(
    private readonly db: Queryable,
    private readonly tuning: SearchTuning = {},
  ) {}

  /** Hits and facets, in one statement. */
  async search(request: SearchRequest): Promise<StoredSearchResult> {
    const row = await this.run(request, true);
    const facets: SearchFacets = { contentType: row.content_types ?? {}, tags: row.tags ?? {} };
    return { hits: hitsOf(row), facets, validUntil: row.valid_until };
  }

  /** Hits alone, in one statement that neither reads nor counts the filtered documents for facets. */
  async searchHits(request: SearchRequest): Promise<StoredHits> {
    const row = await this.run(request, false);
    return { hits: hitsOf(row), validUntil: row.valid_until };
  }

  private async run(request: SearchRequest, facets: boolean): Promise<SearchRow> {
    const { text, values } = searchStatement(request, this.tuning, { facets });
    let rows: SearchRow[];
    try {
      rows = await this.db.query<SearchRow>(text, values);
    } catch (error) {
      throw missingVectorExtension(error) ?? error;
    }
    const row = rows[0];
    if (!row) throw new Error('the search statement answered no row');
    return row;
  }
}

const hitsOf = (row: SearchRow): SearchHit[] =>
  row.hits.map((hit) => ({
    documentId: hit.document_id,
    title: hit.title,
    chunkId: hit.chunk_id,
    text: hit.text,
    highlight: hit.highlight,
    score: hit.score,
    rankKeyword: hit.rank_keyword,
    rankSemantic: hit.rank_semantic,
  }));

/**
 * A server without pgvector has no `vector` type: semantic search cannot run there, which is
 * the deployment's limitation (Aurora, PGlite and CI have it), said as such.
 */
const missingVectorExtension = (error: unknown): ProblemError | undefined => {
  const { code, message } = error as { code?: unknown; message?: unknown };
  if (code !== '42704' || typeof message !== 'string' || !/type "(vector|halfvec)"/.test(message)) {
    return undefined;
  }
  return new ProblemError(
    501,
    'semantic-search-unavailable',
    'Semantic search unavailable',
    'This database has no pgvector extension: use mode "keyword", or install pgvector.',
  );
};

/** Settings the benchmark varies to measure their effect; the defaults are what production runs. */
export interface SearchTuning {
  readonly efSearch?: number;
  /** 0: never exact. */
  readonly exactSearchBelow?: number;
  /** null: rank every match. */
  readonly maxRankedMatches?: number | null;
}

/** The one statement of a search: its text and parameters. Exported for EXPLAIN in tests and the benchmark. */
export const searchStatement = (
  request: SearchRequest,
  tuning: SearchTuning = {},
  options: { facets?: boolean } = {},
): { text: string; values: unknown[] } => {
  const facets = options.facets ?? true;
  const { base, mode, filters, limit } = request;
  const p = new Parameters();
  const tenant = p.add(base.tenantId);
  const baseId = p.add(base.id);
  const language = p.add(base.language);
  const query = p.add(request.query);
  const now = p.add(request.now);
  // Added where a ranking uses it (a statement may have neither: no parameter may go unused).
  let candidatesParameter: string | undefined;
  const candidates = () => {
    candidatesParameter ??= p.add(candidatesFor(mode, limit));
    return candidatesParameter;
  };
  const filterSql = filterConditions(filters, p);
  const documentConditions = [
    `d.knowledge_base_id = ${baseId}`,
    `d.tenant_id = ${tenant}`,
    'd.searchable_generation IS NOT NULL',
    `d.status <> 'archived'`,
    `(d.expires_at IS NULL OR d.expires_at > ${now}::timestamptz)`,
    ...filterSql,
  ].join(' AND ');
  // The chunk `c` belongs to a document search may see, and to its searchable generation.
  const visibleChunk = `EXISTS (SELECT 1 FROM knowledge_documents d
                                 WHERE d.id = c.document_id AND d.searchable_generation = c.generation
                                   AND ${documentConditions})`;

  const keyword = mode !== 'semantic';
  // A query without words embeds to the zero vector, whose cosine distance is undefined: no neighbours.
  const vector =
    mode !== 'keyword' && request.queryVector?.some((x) => x !== 0) ? request.queryVector : undefined;

  // The match reads the query parsed once (an InitPlan): the planner cannot guess how many
  // chunks it finds, and so always reads them through the GIN index. Given the estimate of
  // the expression, it scans the table for common words, detoasting every tsvector: 50×
  // slower. The documents come from the docs CTE (hashed; the facets count the same rows).
  const rankedCap = tuning.maxRankedMatches === undefined ? maxRankedMatches : tuning.maxRankedMatches;
  const keywordBranch = keyword
    ? `SELECT m.id, ts_rank_cd(m.search_vector, (SELECT query FROM tsq))::float8 AS score
         FROM (SELECT c.id, c.search_vector
                 FROM knowledge_chunks c
                 JOIN docs d ON d.id = c.document_id AND d.generation = c.generation
                WHERE c.knowledge_base_id = ${baseId} AND c.tenant_id = ${tenant}
                  AND c.search_vector @@ (SELECT query FROM tsq)
                ${rankedCap === null ? '' : `LIMIT ${p.add(rankedCap)}`}) m
        ORDER BY score DESC, m.id
        LIMIT ${candidates()}`
    : 'SELECT NULL::uuid AS id, NULL::float8 AS score WHERE false';

  let semanticBranch = 'SELECT NULL::uuid AS id, NULL::float8 AS distance WHERE false';
  let fewChunks = '';
  if (vector) {
    const type = vectorType(base.embedding.dimensions);
    const literal = p.add(`[${vector.join(',')}]`);
    const distance = `(c.embedding::${type} <=> ${literal}::${type})`;
    // relaxed_order: the scan goes on past ef_search candidates until LIMIT has enough that
    // pass the filters (pgvector 0.8), in nearly distance order; the ranks re-sort them.
    const settings = `(SELECT set_config('hnsw.iterative_scan', 'relaxed_order', true)
                           || set_config('hnsw.ef_search', ${p.add(String(tuning.efSearch ?? hnswEfSearch))}, true)) IS NOT NULL`;
    const dimensions = Number(base.embedding.dimensions);
    const exactBelow = tuning.exactSearchBelow === undefined ? exactSearchBelow : tuning.exactSearchBelow;
    // With filters that leave few chunks, HNSW would walk much of the graph to find enough that
    // pass them: the chunks of the filtered documents are compared one by one instead (exact).
    // Both branches are planned; a one-time filter on the documents' chunk count runs one.
    const adaptive = filterSql.length > 0 && exactBelow > 0;
    const hnsw = `SELECT c.id, ${distance}::float8 AS distance
         FROM knowledge_chunks c
        WHERE c.knowledge_base_id = ${baseId} AND c.tenant_id = ${tenant}
          AND c.dimensions = ${dimensions}
          AND ${visibleChunk}
          AND ${settings}
          ${adaptive ? 'AND NOT (SELECT exact FROM few)' : ''}
        ORDER BY ${distance}
        LIMIT ${candidates()}`;
    // cosine_distance(), the function: no index serves it, so this branch stays exact.
    const exact = `SELECT c.id, cosine_distance(c.embedding::${type}, ${literal}::${type}) AS distance
         FROM docs d
         JOIN knowledge_chunks c ON c.document_id = d.id AND c.generation = d.generation
        WHERE c.dimensions = ${dimensions} AND (SELECT exact FROM few)
        ORDER BY distance
        LIMIT ${candidates()}`;
    semanticBranch = adaptive ? `(${hnsw}) UNION ALL (${exact})` : hnsw;
    if (adaptive) {
      const threshold = p.add(exactBelow);
      // From the docs CTE when the statement reads it anyway (facets, keyword); else from as
      // many documents as could hold that many chunks, at most, so broad filters stop early.
      fewChunks =
        facets || keyword
          ? `few AS MATERIALIZED (SELECT COALESCE(sum(chunk_count), 0) < ${threshold} AS exact FROM docs),`
          : `few AS MATERIALIZED (
               SELECT COALESCE(sum(chunk_count), 0) < ${threshold} AS exact
                 FROM (SELECT d.chunk_count FROM knowledge_documents d WHERE ${documentConditions} LIMIT ${threshold}) d
             ),`;
    }
  }

  // Each list ranked 1..N; the hits are fused (RRF) or one list's, best first, `limit` of them.
  const score =
    mode === 'hybrid'
      ? `COALESCE(1.0 / (${rrfK} + k.rank), 0) + COALESCE(1.0 / (${rrfK} + s.rank), 0)`
      : mode === 'keyword'
        ? 'k.score'
        : '1 - s.distance';

  const text = `
WITH tsq AS MATERIALIZED (SELECT websearch_to_tsquery(${language}::regconfig, ${query}) AS query),
live_base AS MATERIALIZED (
  SELECT 1 FROM knowledge_bases b WHERE b.id = ${baseId} AND b.tenant_id = ${tenant} AND b.deleted_at IS NULL
),
docs AS MATERIALIZED (
  SELECT d.id, d.searchable_generation AS generation, d.content_type, d.tags, d.chunk_count
    FROM knowledge_documents d
   WHERE ${documentConditions} AND EXISTS (SELECT 1 FROM live_base)
),
${fewChunks}
keyword AS MATERIALIZED (${keywordBranch}),
semantic AS MATERIALIZED (${semanticBranch}),
k AS (SELECT id, score, row_number() OVER (ORDER BY score DESC, id)::int AS rank FROM keyword),
s AS (SELECT id, distance, row_number() OVER (ORDER BY distance, id)::int AS rank FROM semantic),
ranked AS (
  SELECT COALESCE(k.id, s.id) AS id, k.rank AS rank_keyword, s.rank AS rank_semantic, (${score})::float8 AS score
    FROM k FULL JOIN s ON s.id = k.id
   WHERE EXISTS (SELECT 1 FROM live_base)
   ORDER BY score DESC, id
   LIMIT ${p.add(limit)}
),
hits AS (
  SELECT r.*, c.document_id, d.title, c.text,
         ts_headline(${language}::regconfig, c.text, (SELECT query FROM tsq),
                     'HighlightAll=true, StartSel=<mark>, StopSel=</mark>') AS highlight
    FROM ranked r
    JOIN knowledge_chunks c ON c.id = r.id
    JOIN knowledge_documents d ON d.id = c.document_id
)
SELECT
  (SELECT COALESCE(json_agg(json_build_object(
            'document_id', document_id, 'title', title, 'chunk_id', id, 'text', text,
            'highlight', highlight, 'score', score,
            'rank_keyword', rank_keyword, 'rank_semantic', rank_semantic)
          ORDER BY score DESC, id), '[]'::json) FROM hits) AS hits,
  ${
    facets
      ? `(SELECT COALESCE(json_object_agg(content_type, n ORDER BY content_type), '{}'::json)
     FROM (SELECT content_type, count(*) AS n FROM docs GROUP BY content_type) f) AS content_types,
  (SELECT COALESCE(json_object_agg(tag, n ORDER BY n DESC, tag), '{}'::json)
     FROM (SELECT tag, count(*) AS n FROM (SELECT unnest(tags) AS tag FROM docs) tagged
            GROUP BY tag ORDER BY n DESC, tag LIMIT ${maxTagFacets}) t) AS tags,`
      : ''
  }
  (SELECT min(d.expires_at) FROM knowledge_documents d
    WHERE d.knowledge_base_id = ${baseId} AND d.expires_at > ${now}::timestamptz) AS valid_until`;
  return { text, values: p.values };
};
