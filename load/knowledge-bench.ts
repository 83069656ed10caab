/**
 * `npm run bench:knowledge -- [--chunks 100000] [--searches 300] [--warmup 30] [--recall-queries 100]
 * [--ef-search 40,100,200,400] [--keep]`
 *
 * Knowledge search at scale on PostgreSQL 15 + pgvector (issue 13's figures). A throwaway durable
 * PostgreSQL (test/support/real-servers.ts; or DATABASE_URL, reused if it holds this load),
 * migrated, then loaded (load/knowledge/): one base of `--chunks` chunks in chunks/10 documents,
 * text with prose's statistics (English stop words, topic-dependent Zipf content words, bursty
 * key terms; ~200–400 tokens a chunk), vectors from the local embedder (384 dimensions), tags,
 * content types, metadata and dates, 2% archived, 1% expired, 1% mid-re-ingestion; and three
 * other bases (the tenant's, another tenant's with the same vocabulary, a deleted one). The HNSW
 * and GIN indexes (the migration's own definitions) are built after the load; the build times
 * and the cost of inserting with both in place are reported.
 *
 * Then, with the production code (KnowledgeSearchService over KnowledgeSearchRepository on a
 * createDatabase pool; the base as the cache answers it; no query repeats, so no search is
 * answered from the search cache):
 *   - `--searches` searches per mode (keyword, semantic, hybrid), each with a filter (tag,
 *     content types, metadata, created range, or two of these), the modes interleaved, after
 *     `--warmup` uncounted ones: p50 / p95 / p99 of the one statement and of the service call,
 *     with the facets counted by every statement, then (other queries) with the facets cached
 *     by filters as the service does; the five slowest statements of each mode;
 *   - keyword latency by the number of chunks the query matches;
 *   - HNSW recall@10 of semantic search against exact search (the same statement with index
 *     scans off) for `--recall-queries` short queries and as many passages, each with a filter
 *     and without, at each `--ef-search`, strict and as ann-benchmarks counts ties (within 0.001
 *     of the exact tenth distance), with the latency of those statements;
 *   - filtered semantic search at several thresholds of exact search, against all-exact;
 *   - keyword with the matches ranked capped at several sizes;
 *   - the indexes each mode's statement reads, on the big base and on a base of 2,000 chunks.
 * Writes load/results/knowledge-bench.json and prints tables. Goals (issue): p95 ≤ 30 ms per
 * mode, recall@10 ≥ 0.95. Not part of `npm test`.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { MemoryCache } from '#adapters/cache/memory.ts';
import { TwoTierCache } from '#adapters/cache/two-tier.ts';
import { embedderFor } from '#adapters/embeddings/registry.ts';
import { createDatabase, type Queryable } from '#adapters/postgres/db.ts';
import { KnowledgeBaseRepository } from '#adapters/postgres/knowledge-bases.ts';
import {
  candidatesFor,
  exactSearchBelow,
  hnswEfSearch,
  KnowledgeSearchRepository,
  maxRankedMatches,
  type SearchTuning,
  searchStatement,
} from '#adapters/postgres/knowledge-search.ts';
import { migrate } from '#adapters/postgres/migrate.ts';
import type { KnowledgeBase, SearchBody, SearchFilters, SearchMode } from '#domain/knowledge.ts';
import { KnowledgeSearchService } from '#services/knowledge-search.ts';
import type { SearchRequest, VersionedCache } from '#services/ports.ts';
import { type RunningServer, startPostgres } from '../test/support/real-servers.ts';
import { explain, planNodes } from '../test/support/workflow-fixture.ts';
import { markdownTable, quantile } from './bench/stats.ts';
import { benchSources, benchTags, corpusEpoch, generateCorpus, random } from './knowledge/corpus.ts';
import { benchBases, type LoadFigures, loadKnowledge } from './knowledge/load.ts';

const { values } = parseArgs({
  options: {
    chunks: { type: 'string', default: '100000' },
    searches: { type: 'string', default: '300' },
    warmup: { type: 'string', default: '30' },
    'recall-queries': { type: 'string', default: '100' },
    'ef-search': { type: 'string', default: '40,100,200,400' },
    keep: { type: 'boolean', default: false },
  },
});
const chunks = Number(values.chunks);
const searches = Number(values.searches);
const warmup = Number(values.warmup);
const recallQueries = Number(values['recall-queries']);
const efValues = values['ef-search'].split(',').map(Number);
const whole = (n: number, low: number, high: number) => Number.isInteger(n) && n >= low && n <= high;
if (
  !whole(chunks, 1_000, 2_000_000) ||
  !whole(searches, 10, 10_000) ||
  !whole(warmup, 0, 1_000) ||
  !whole(recallQueries, 10, 1_000) ||
  !efValues.every((ef) => whole(ef, 1, 1_000))
) {
  throw new Error(
    '--chunks 1000..2000000, --searches 10..10000, --warmup 0..1000, --recall-queries 10..1000, --ef-search 1..1000,…',
  );
}

const modes: readonly SearchMode[] = ['keyword', 'semantic', 'hybrid'];
const started = Date.now();
const step = (text: string) => console.error(`[${((Date.now() - started) / 1000).toFixed(0)} s] ${text}`);
const round = (x: number, digits = 2) => Math.round(x * 10 ** digits) / 10 ** digits;
const startLoad = loadavg()[0]!;

interface Percentiles {
  readonly n: number;
  readonly p50: number;
  readonly p95: number;
  readonly p99: number;
  readonly max: number;
}
const percentiles = (samples: readonly number[]): Percentiles => {
  const sorted = [...samples].sort((a, b) => a - b);
  return {
    n: sorted.length,
    p50: round(quantile(sorted, 0.5)),
    p95: round(quantile(sorted, 0.95)),
    p99: round(quantile(sorted, 0.99)),
    max: round(sorted.at(-1)!),
  };
};

let server: RunningServer | undefined;
const givenUrl = process.env['DATABASE_URL'];
if (!givenUrl) {
  step('starting a throwaway PostgreSQL 15 (durable settings)');
  server = await startPostgres({ durable: true });
}
const url = givenUrl ?? server!.url;
// Loading and exact searches run statements of seconds: a client of its own, no statement timeout.
const admin = new pg.Client({ connectionString: url });
await admin.connect();
const db = createDatabase({ connectionString: url, max: 2 });

try {
  const versions = (
    await admin.query<{ pg: string; vector: string | null }>(
      `SELECT current_setting('server_version') AS pg,
              (SELECT default_version FROM pg_available_extensions WHERE name = 'vector') AS vector`,
    )
  ).rows[0]!;
  if (!versions.vector) throw new Error('this PostgreSQL has no pgvector: see .ci/vendor/README.md');
  await migrate(url);

  // ---- the data ------------------------------------------------------------------------------------

  const [mainShape] = benchBases(chunks);
  const loaded = (
    await admin.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM knowledge_chunks WHERE knowledge_base_id = $1',
      [mainShape!.id],
    )
  ).rows[0]!.n;
  let load: LoadFigures | null = null;
  if (loaded === chunks) step(`reusing the ${loaded} chunks already loaded`);
  else {
    if (loaded > 0) throw new Error('DATABASE_URL holds a knowledge bench of another size: drop it first');
    step(`loading ${chunks} chunks in one base, and three other bases`);
    load = (await loadKnowledge(admin, chunks, step)).figures;
    step(`loaded: ${JSON.stringify(load)}`);
  }
  const bases = new KnowledgeBaseRepository(db);
  const base = (await bases.findById(mainShape!.tenantId, mainShape!.id))!;
  const sibling = benchBases(chunks).find((b) => b.key === 'sibling')!;
  const siblingBase = (await bases.findById(sibling.tenantId, sibling.id))!;
  const shape = (
    await admin.query<Record<string, number>>(
      `SELECT count(*)::int AS chunks,
              count(*) FILTER (WHERE knowledge_base_id = $1)::int AS chunks_in_base,
              (SELECT count(*)::int FROM knowledge_documents WHERE knowledge_base_id = $1) AS documents_in_base,
              (SELECT count(*)::int FROM knowledge_documents d WHERE knowledge_base_id = $1
                  AND searchable_generation IS NOT NULL AND status <> 'archived'
                  AND (expires_at IS NULL OR expires_at > now())) AS searchable_documents_in_base,
              avg(token_count)::int AS average_tokens
         FROM knowledge_chunks`,
      [base.id],
    )
  ).rows[0]!;

  // How fast this machine runs PostgreSQL's executor, to read the figures by: a million rows counted.
  const calibration: number[] = [];
  for (let i = 0; i < 5; i += 1) {
    const t = performance.now();
    await admin.query('SELECT count(*) FROM generate_series(1, 1000000)');
    calibration.push(performance.now() - t);
  }

  // ---- the queries ---------------------------------------------------------------------------------

  const corpus = generateCorpus(mainShape!.shape);
  const rng = random(2026);
  const pick = <T>(list: readonly T[]) => list[Math.floor(rng() * list.length)]!;
  const popularTag = () => benchTags[Math.floor(rng() ** 2 * 10)]!;
  const contentTypes = ['text/markdown', 'text/plain', 'text/html', 'application/pdf'] as const;
  const day = 86_400_000;
  const daysAgo = (n: number) => new Date(corpusEpoch.getTime() - n * day).toISOString();
  /** Every search carries a filter, in turn: a tag, content types, metadata, a date range, or two. */
  const filterFor = (i: number): SearchFilters => {
    switch (i % 6) {
      case 0:
        return { tags: [popularTag()] };
      case 1:
        return { content_type: [pick(contentTypes), pick(contentTypes)] };
      case 2:
        return { metadata: { source: pick(benchSources) } };
      case 3:
        return { created_after: daysAgo(200 + Math.floor(rng() * 400)) };
      case 4:
        return { tags: [popularTag()], content_type: [pick(contentTypes)] };
      default:
        return {
          metadata: { year: 2019 + Math.floor(rng() * 7) },
          created_before: daysAgo(Math.floor(rng() * 300)),
        };
    }
  };
  const seen = new Set<string>();
  const nextQuery = () => {
    for (;;) {
      const query = corpus.query(rng);
      if (!seen.has(query)) {
        seen.add(query);
        return query;
      }
    }
  };
  const workload = Array.from({ length: warmup + searches }, (_, i) => ({
    query: nextQuery(),
    filters: filterFor(i),
  }));
  const secondWorkload = Array.from({ length: warmup + searches }, (_, i) => ({
    query: nextQuery(),
    filters: filterFor(i),
  }));
  const recallSet = Array.from({ length: recallQueries }, (_, i) => ({
    query: nextQuery(),
    filters: filterFor(i),
  }));

  // ---- latency -------------------------------------------------------------------------------------

  let lastStatementMs = 0;
  const timed: Queryable = {
    query: async (text, params) => {
      const t = performance.now();
      try {
        return await db.query(text, params);
      } finally {
        lastStatementMs = performance.now() - t;
      }
    },
  };
  const store = new KnowledgeSearchRepository(timed);
  const newCache = () =>
    new TwoTierCache(new MemoryCache(60_000, 100_000), undefined, {
      l2TtlSeconds: 60,
      negativeTtlSeconds: 5,
      negativeL1TtlMs: 5_000,
    });
  // The service as production composes it; and one whose cache never holds facets, so every
  // search counts them in its statement (the issue's "hits, highlights and facets together").
  const service = new KnowledgeSearchService(async () => base, store, newCache(), embedderFor);
  const withoutFacetCache = (cache: VersionedCache): VersionedCache => ({
    get: (key, load) => cache.get(key, load),
    put: (key, version, value, ttl) => cache.put(key, version, value, ttl),
    peek: async <T>(key: string) => (key.startsWith('kfacets:') ? undefined : cache.peek<T>(key)),
  });
  const countingService = new KnowledgeSearchService(
    async () => base,
    store,
    withoutFacetCache(newCache()),
    embedderFor,
  );

  interface Sample {
    readonly query: string;
    readonly filters: SearchFilters;
    readonly statementMs: number;
    readonly serviceMs: number;
    readonly hits: number;
  }
  /** The workload through a service, the modes interleaved in a rotating order; the samples after the warm-up. */
  const run = async (through: KnowledgeSearchService, queries: typeof workload) => {
    const samples = Object.fromEntries(modes.map((mode) => [mode, [] as Sample[]]));
    for (const [i, { query, filters }] of queries.entries()) {
      for (let m = 0; m < modes.length; m += 1) {
        const mode = modes[(i + m) % modes.length]!;
        const body: SearchBody = { query, mode, filters, limit: 10 };
        const t = performance.now();
        const answer = await through.search(base.tenantId, base.id, body);
        const serviceMs = performance.now() - t;
        if (answer.cached)
          throw new Error('a search was answered from the cache: the workload repeats itself');
        if (i >= warmup) {
          samples[mode]!.push({
            query,
            filters,
            statementMs: lastStatementMs,
            serviceMs,
            hits: answer.hits.length,
          });
        }
      }
    }
    return samples;
  };
  const summary = (samples: Record<string, Sample[]>) =>
    Object.fromEntries(
      modes.map((mode) => {
        const list = samples[mode]!;
        return [
          mode,
          {
            statementMs: percentiles(list.map((x) => x.statementMs)),
            serviceMs: percentiles(list.map((x) => x.serviceMs)),
            averageHits: round(list.reduce((n, x) => n + x.hits, 0) / list.length, 1),
            slowest: [...list]
              .sort((x, y) => y.statementMs - x.statementMs)
              .slice(0, 5)
              .map((x) => ({ query: x.query, filters: x.filters, statementMs: round(x.statementMs) })),
          },
        ];
      }),
    );
  step(`searching, facets counted by every statement: ${warmup} uncounted and ${searches} counted per mode`);
  const counted = await run(countingService, workload);
  const latency = summary(counted);
  step(`searching again (other queries), facets cached by filters as the service does`);
  const cachedFacets = summary(await run(service, secondWorkload));
  const samples = Object.fromEntries(
    modes.map((mode) => [mode, { statement: counted[mode]!.map((x) => x.statementMs) }]),
  );

  // Keyword latency against the number of chunks the query matches in the base (filters aside).
  step('counting each keyword query’s matches');
  const keywordByMatches = new Map<string, number[]>();
  const buckets = [
    [0, 1_000],
    [1_000, 5_000],
    [5_000, 20_000],
    [20_000, Number.POSITIVE_INFINITY],
  ] as const;
  for (const [i, { query }] of workload.slice(warmup).entries()) {
    const matches = (
      await admin.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM knowledge_chunks
          WHERE knowledge_base_id = $1 AND search_vector @@ websearch_to_tsquery('english', $2)`,
        [base.id, query],
      )
    ).rows[0]!.n;
    const [low, high] = buckets.find(([lo, hi]) => matches >= lo && matches < hi)!;
    const label = `${low}–${Number.isFinite(high) ? high : '∞'}`;
    keywordByMatches.set(label, [...(keywordByMatches.get(label) ?? []), samples['keyword']!.statement[i]!]);
  }
  const keywordMatches = buckets
    .map(([low, high]) => `${low}–${Number.isFinite(high) ? high : '∞'}`)
    .filter((label) => keywordByMatches.has(label))
    .map((label) => ({ matches: label, statementMs: percentiles(keywordByMatches.get(label)!) }));

  // ---- recall --------------------------------------------------------------------------------------

  const semanticRequest = async (
    query: string,
    filters: SearchFilters,
    on: KnowledgeBase = base,
  ): Promise<SearchRequest> => {
    const embedder = await embedderFor(on.embedding);
    const { vectors } = await embedder.embed([query], { purpose: 'query' });
    return {
      base: on,
      query,
      mode: 'semantic',
      queryVector: vectors[0]!,
      filters,
      limit: 10,
      now: new Date(),
    };
  };
  /** Chunk ids and distances, nearest first. */
  interface Neighbours {
    readonly ids: string[];
    readonly distances: number[];
  }
  const neighbours = (
    hits: readonly { chunk_id?: string; chunkId?: string; score: number }[],
  ): Neighbours => ({
    ids: hits.map((hit) => (hit.chunk_id ?? hit.chunkId)!),
    distances: hits.map((hit) => 1 - hit.score),
  });
  /** The same statement with index scans off: a sequential scan, every distance computed, exact. */
  const exactSearch = async (request: SearchRequest): Promise<Neighbours> => {
    const { text, values: params } = searchStatement(request);
    await admin.query('BEGIN');
    try {
      await admin.query('SET LOCAL enable_indexscan = off');
      const { rows } = await admin.query<{ hits: { chunk_id: string; score: number }[] }>(text, params);
      return neighbours(rows[0]!.hits);
    } finally {
      await admin.query('COMMIT');
    }
  };
  // Short queries (the workload's) and passages; each with its filter and without.
  type Group = `${'short' | 'passage'} ${'filtered' | 'unfiltered'}`;
  const groups: Group[] = ['short filtered', 'short unfiltered', 'passage filtered', 'passage unfiltered'];
  step(
    `exact search for ${recallQueries} short queries and ${recallQueries} passages, with their filters and without`,
  );
  const recallCases: { group: Group; request: SearchRequest; exact: Neighbours }[] = [];
  for (const { query, filters } of recallSet) {
    const passage = corpus.passage(rng);
    for (const group of groups) {
      const text = group.startsWith('short') ? query : passage;
      const request = await semanticRequest(text, group.endsWith(' filtered') ? filters : {});
      const exact = await exactSearch(request);
      if (exact.ids.length > 0) recallCases.push({ group, request, exact });
    }
  }
  const exactMs: number[] = [];
  for (const { request } of recallCases.slice(0, 10)) {
    const t = performance.now();
    await exactSearch(request);
    exactMs.push(performance.now() - t);
  }
  /**
   * recall@10: the share of the exact ten found. `ties`: as ann-benchmarks counts it, a hit
   * counts when its distance is within 0.001 of the exact tenth's (near-ties are common here).
   */
  const recallOf = (found: Neighbours, exact: Neighbours) => {
    const k = Math.min(10, exact.ids.length);
    const threshold = exact.distances[k - 1]! + 1e-3;
    return {
      strict: found.ids.filter((id) => exact.ids.includes(id)).length / k,
      ties: Math.min(1, found.distances.filter((d) => d <= threshold).length / k),
    };
  };
  const mean = (xs: readonly number[]) => round(xs.reduce((a, b) => a + b, 0) / xs.length, 3);
  const sweep = [];
  for (const efSearch of efValues) {
    step(`recall and latency at hnsw.ef_search = ${efSearch}`);
    // HNSW alone: the exact branch for selective filters is measured below.
    const tuned = new KnowledgeSearchRepository(timed, {
      efSearch,
      exactSearchBelow: 0,
    } satisfies SearchTuning);
    const byGroup = new Map<Group, { strict: number[]; ties: number[]; ms: number[] }>(
      groups.map((group) => [group, { strict: [], ties: [], ms: [] }]),
    );
    for (const { group, request, exact } of recallCases) {
      // Hits alone, as most searches run (facets known from the cache) and agents retrieve.
      const { hits } = await tuned.searchHits(request);
      const recall = recallOf(neighbours(hits), exact);
      const into = byGroup.get(group)!;
      into.strict.push(recall.strict);
      into.ties.push(recall.ties);
      into.ms.push(lastStatementMs);
    }
    sweep.push({
      efSearch,
      groups: Object.fromEntries(
        [...byGroup].map(([group, { strict, ties, ms }]) => [
          group,
          {
            queries: strict.length,
            recallAt10: mean(strict),
            recallAt10WithTies: mean(ties),
            semanticStatementMs: percentiles(ms),
          },
        ]),
      ),
    });
  }

  // Semantic with filters: from how few chunks exact search beats the filtered HNSW scan, and
  // what recall each threshold gives (against searching every filtered query exactly), over the
  // first 100 queries of the workload (all-exact takes a quarter of a second a query).
  const thresholds = [0, 2_000, 5_000, 1_000_000_000];
  const thresholdQueries = workload.slice(warmup, warmup + 100);
  const exactSweep = [];
  let exactTop: string[][] = [];
  for (const threshold of [...thresholds].reverse()) {
    step(`semantic, exact below ${threshold} chunks`);
    const tuned = new KnowledgeSearchRepository(timed, {
      exactSearchBelow: threshold,
    } satisfies SearchTuning);
    const ms: number[] = [];
    const tops: string[][] = [];
    for (const { query, filters } of thresholdQueries) {
      const { hits } = await tuned.searchHits(await semanticRequest(query, filters));
      ms.push(lastStatementMs);
      tops.push(hits.map((hit) => hit.chunkId));
    }
    if (threshold === thresholds.at(-1)) exactTop = tops;
    exactSweep.unshift({
      exactSearchBelow: threshold,
      statementMs: percentiles(ms),
      recallAt10: mean(
        tops.map(
          (top, i) =>
            top.filter((id) => exactTop[i]!.includes(id)).length /
            Math.max(1, Math.min(10, exactTop[i]!.length)),
        ),
      ),
    });
  }

  // Keyword: what capping the matches ranked buys, and what it costs (top 10s that change).
  const caps = [null, 5_000, 2_000];
  const keywordCaps = [];
  let uncappedTop: string[][] = [];
  for (const cap of caps) {
    step(`keyword with ${cap === null ? 'every match' : `at most ${cap} matches`} ranked`);
    const tuned = new KnowledgeSearchRepository(timed, { maxRankedMatches: cap } satisfies SearchTuning);
    const ms: number[] = [];
    const tops: string[][] = [];
    for (const { query, filters } of workload.slice(warmup)) {
      const { hits } = await tuned.search({
        base,
        query,
        mode: 'keyword',
        filters,
        limit: 10,
        now: new Date(),
      });
      ms.push(lastStatementMs);
      tops.push(hits.map((hit) => hit.chunkId));
    }
    if (cap === null) uncappedTop = tops;
    keywordCaps.push({
      maxRankedMatches: cap,
      statementMs: percentiles(ms),
      top10Unchanged: mean(tops.map((top, i) => (top.join() === uncappedTop[i]!.join() ? 1 : 0))),
    });
  }

  // ---- plans ---------------------------------------------------------------------------------------

  const indexesRead = async (request: SearchRequest) => {
    const { plan, executionMs } = await explain(
      { query: async (text, params) => (await admin.query(text, params as unknown[])).rows },
      searchStatement(request),
      ['ANALYZE'],
    );
    // The nodes that ran: a branch behind a one-time filter that failed is planned, never run.
    const nodes = planNodes(plan).filter((node) => node['Actual Loops'] !== 0);
    return {
      indexes: [
        ...new Set(nodes.map((node) => node['Index Name']).filter((name) => name !== undefined)),
      ].sort(),
      seqScans: [
        ...new Set(nodes.filter((n) => n['Node Type'] === 'Seq Scan').map((n) => n['Relation Name'])),
      ].sort(),
      executionMs: round(executionMs ?? Number.NaN),
    };
  };
  step('plans');
  const sample = workload[warmup]!;
  const plans: Record<string, unknown> = {};
  for (const mode of modes) {
    const request = { ...(await semanticRequest(sample.query, sample.filters)), mode };
    plans[`${mode} (main base, ${shape['chunks_in_base']} chunks)`] = await indexesRead(request);
  }
  // A small base among many chunks of the same dimensions: does the planner search it exactly?
  const small: number[] = [];
  let smallPlan: unknown;
  for (const { query } of recallSet.slice(0, 30)) {
    const request = await semanticRequest(query, {}, siblingBase);
    smallPlan ??= await indexesRead(request);
    await store.search(request);
    small.push(lastStatementMs);
  }
  plans[`semantic (a base of ${sibling.shape.chunks} chunks)`] = {
    ...(smallPlan as object),
    statementMs: percentiles(small),
  };

  // ---- report --------------------------------------------------------------------------------------

  const result = {
    date: new Date().toISOString(),
    machine: {
      cpus: cpus().length,
      model: cpus()[0]?.model,
      loadAverageAtStart: round(startLoad),
      loadAverageAtEnd: round(loadavg()[0]!),
      // A typical server core counts these million rows in 60–100 ms.
      postgresCountMillionRowsMs: round(percentiles(calibration).p50),
    },
    postgres: versions.pg,
    pgvector: versions.vector,
    shape,
    settings: {
      limit: 10,
      efSearch: hnswEfSearch,
      iterativeScan: 'relaxed_order',
      hybridCandidates: candidatesFor('hybrid', 10),
      exactSearchBelow,
      maxRankedMatches,
      searchesPerMode: searches,
      warmupPerMode: warmup,
    },
    load,
    latency,
    latencyWithFacetCache: cachedFacets,
    keywordMatches,
    recall: { exactSearchMs: percentiles(exactMs), sweep },
    exactSweep,
    keywordCaps,
    plans,
    seconds: Math.round((Date.now() - started) / 1000),
  };
  const dir = resolve(import.meta.dirname, 'results');
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'knowledge-bench.json'), `${JSON.stringify(result, null, 2)}\n`);
  console.log(JSON.stringify(result, null, 2));
  console.log(
    `\n${markdownTable(
      ['facets cached by filters', 'statement p50', 'p95', 'p99', 'service p50', 'p95', 'p99'],
      modes.map((mode) => {
        const { statementMs, serviceMs } = cachedFacets[mode]!;
        return [
          mode,
          statementMs.p50,
          statementMs.p95,
          statementMs.p99,
          serviceMs.p50,
          serviceMs.p95,
          serviceMs.p99,
        ].map(String);
      }),
    )}`,
  );
  console.log(
    `\n${markdownTable(
      ['facets in every statement', 'statement p50', 'p95', 'p99', 'service p50', 'p95', 'p99', 'hits'],
      modes.map((mode) => {
        const { statementMs, serviceMs, averageHits } = latency[mode]!;
        return [
          mode,
          statementMs.p50,
          statementMs.p95,
          statementMs.p99,
          serviceMs.p50,
          serviceMs.p95,
          serviceMs.p99,
          averageHits,
        ].map(String);
      }),
    )}`,
  );
  console.log(
    `\n${markdownTable(
      ['ef_search', ...groups.flatMap((group) => [`${group}: recall@10`, 'with ties', 'p95 ms'])],
      sweep.map((s) => [
        String(s.efSearch),
        ...groups.flatMap((group) => {
          const g = s.groups[group]!;
          return [g.recallAt10, g.recallAt10WithTies, g.semanticStatementMs.p95].map(String);
        }),
      ]),
    )}`,
  );
  console.log(
    `\n${markdownTable(
      ['semantic, filtered: exact below (chunks)', 'p50', 'p95', 'p99', 'recall@10 vs all exact'],
      exactSweep.map((e) =>
        [e.exactSearchBelow, e.statementMs.p50, e.statementMs.p95, e.statementMs.p99, e.recallAt10].map(
          String,
        ),
      ),
    )}`,
  );
  console.log(
    `\n${markdownTable(
      ['keyword: matches ranked', 'p50', 'p95', 'p99', 'top 10 as uncapped'],
      keywordCaps.map((k) =>
        [
          k.maxRankedMatches ?? 'all',
          k.statementMs.p50,
          k.statementMs.p95,
          k.statementMs.p99,
          k.top10Unchanged,
        ].map(String),
      ),
    )}`,
  );
  console.log(
    `\n${markdownTable(
      ['keyword matches', 'queries', 'statement p50', 'p95'],
      keywordMatches.map((k) =>
        [k.matches, k.statementMs.n, k.statementMs.p50, k.statementMs.p95].map(String),
      ),
    )}`,
  );
  step(`done in ${result.seconds} s; wrote load/results/knowledge-bench.json`);
} finally {
  await admin.end();
  await db.close();
  if (values.keep && server) {
    console.error(`--keep: PostgreSQL stays up at ${server.url} (DATABASE_URL=${server.url}) until Ctrl-C`);
    setInterval(() => {}, 1 << 30);
    process.once('SIGINT', () => void server?.stop().then(() => process.exit(0)));
  } else await server?.stop();
}
