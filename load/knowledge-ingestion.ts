/**
 * `npm run load:knowledge-ingestion -- [--path worker|http] [--documents N] [--sections S]
 *   [--rounds R] [--invocations I] [--clients C] [--fast-db] [--without-hnsw]`
 *
 * Document ingestion end to end with the local embedder, in chunks per second, on a throwaway
 * PostgreSQL 15 with pgvector and its durable defaults (or DATABASE_URL; --fast-db: fsync,
 * synchronous_commit and full_page_writes off, said so in the output). Each round ingests N new
 * markdown documents of S sections (about a 400-token chunk each, the default chunking), whose
 * rarer words are the round's own, so no text repeats an earlier round's: first ingestions.
 *
 *   --path worker (default): the worker alone. Documents are inserted with SQL, as the document
 *     route stores them, and their `knowledge.ingest` jobs go to the default queue's consumer
 *     (functions/workers/default.ts's handler) in this process: SQS events of 10 records, I
 *     invocations in flight (Lambda runs up to 10 containers of it; this is one process on
 *     this machine's cores). Timed from the first invocation to the last document ready.
 *   --path http: `npm start` (bin/dev.ts) in its own process, C clients posting the documents to
 *     `POST /v1/knowledge-bases/{id}/documents`; its in-process queue and workers ingest them.
 *     Timed from the first document's created_at to the last one's ready (its updated_at).
 *
 * --without-hnsw drops the HNSW index of 384 dimensions first (semantic search then scans): not a
 * figure of the product, the share of the index in it.
 *
 * Reported per round: chunks, seconds, chunks/s, CPU ms per chunk of this process (the server's,
 * for http) and of PostgreSQL, and the machine's load average (others' work shares its cores);
 * for http also how long the posting took and a document's median time to ready. Then the median
 * of the rounds. Then where the time goes, measured apart: (worker path) one document at a time
 * through an ingestion whose dependencies are timed (claim, embedding, the chunk inserts, finish,
 * and the rest: extraction and chunking; the local embedder's vectors skip the cache), and
 * one batch of 64 chunks inserted under variants in rolled-back transactions (as written;
 * without the HNSW index; without the GIN index too; without computing the tsvector), which
 * splits the insert into HNSW maintenance, GIN, tsvector and the rest.
 * Writes load/results/knowledge-ingestion.json. Loopback only; bounded in count and time.
 */
import { randomUUID } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { SQSEvent, SQSRecord } from 'aws-lambda';
import pg from 'pg';
import { startPostgres } from '../test/support/real-servers.ts';
import { ownCpuMs, parentPid, processTreeCpuMs } from './support/cpu-time.ts';
import { lambdaContext } from './support/lambda-events.ts';
import { startLocalServer } from './support/local-server.ts';

const { values } = parseArgs({
  options: {
    path: { type: 'string', default: 'worker' },
    documents: { type: 'string', default: '400' },
    sections: { type: 'string', default: '16' },
    rounds: { type: 'string', default: '3' },
    invocations: { type: 'string', default: '3' },
    clients: { type: 'string', default: '8' },
    'fast-db': { type: 'boolean', default: false },
    // Attribution only: the same run without the HNSW index of 384 dimensions, said so in the output.
    'without-hnsw': { type: 'boolean', default: false },
  },
});
const path = values.path;
const documents = Number(values.documents);
const sections = Number(values.sections);
const rounds = Number(values.rounds);
const invocations = Number(values.invocations);
const clients = Number(values.clients);
if (
  !(
    (path === 'worker' || path === 'http') &&
    documents > 0 &&
    documents <= 20_000 &&
    sections > 0 &&
    sections <= 200 &&
    rounds > 0 &&
    rounds <= 10 &&
    invocations > 0 &&
    invocations <= 50 &&
    clients > 0 &&
    clients <= 200
  )
) {
  throw new Error(
    '--path worker|http, --documents 1..20000, --sections 1..200, --rounds 1..10, --invocations 1..50, --clients 1..200',
  );
}

// Quiet, and no EMF metrics: this process runs the worker's code in the worker path.
process.env['POWERTOOLS_LOG_LEVEL'] ??= 'ERROR';
process.env['POWERTOOLS_METRICS_DISABLED'] = 'true';

// ---------------------------------------------------------------------------------------
// The corpus: English-like markdown. Words follow Zipf's law over a vocabulary of 20,000, the
// hundred most frequent real function words, the rest made of syllables (a vocabulary this wide
// spreads the local embedder's vectors as prose does; a few hundred words would crowd them and
// make every HNSW insert search longer). Each round draws its own rarer words, so its texts are new.

const functionWords = `the of and to a in is that for it as was with be by on not he this are or his from at
which but have an they you were her she there been one all we their has would when if so no what more out up
into do any your can other about only new some could these two may first then most also over time very
through way after even made many where well those people than them its our should between each`
  .split(/\s+/)
  .filter((word) => word !== '');

/** A deterministic generator per round, so rounds are alike in shape and differ in words. */
const random = (seed: number) => {
  // Lehmer's generator: exact in doubles (48271 × 2³¹ < 2⁵³).
  let state = (seed % 2147483646) + 1;
  return () => {
    state = (state * 48271) % 2147483647;
    return (state - 1) / 2147483646;
  };
};

const syllables = 'ka ri to me sa lu ne po vi da re mo ti la fe gu ser lin tor pan dex mar vol'.split(' ');
const vocabularySize = 20_000;
/** The made-up word of a rank: its syllables spell the rank in base 23, with a round's mark for rare words. */
const wordOf = (rank: number, round: number): string => {
  if (rank < functionWords.length) return functionWords[rank]!;
  let word = '';
  for (let n = rank; n > 0; n = Math.floor(n / syllables.length)) word += syllables[n % syllables.length];
  return rank > 2_000 ? `${word}${round.toString(36)}` : word;
};
/** Zipf (s = 1) ranks by inverting its cumulative weights. */
const cumulative = (() => {
  const weights: number[] = [];
  let sum = 0;
  for (let rank = 1; rank <= vocabularySize; rank += 1) {
    sum += 1 / rank;
    weights.push(sum);
  }
  return weights.map((w) => w / sum);
})();
const zipfRank = (u: number): number => {
  let low = 0;
  let high = cumulative.length - 1;
  while (low < high) {
    const mid = (low + high) >> 1;
    if (cumulative[mid]! < u) low = mid + 1;
    else high = mid;
  }
  return low;
};

const corpus = (round: number, count: number): { title: string; content: string }[] => {
  const next = random(round * 7919 + 17);
  const word = () => wordOf(zipfRank(next()), round);
  const sentence = () => {
    const words = Array.from({ length: 8 + Math.floor(next() * 14) }, word);
    words[0] = words[0]!.charAt(0).toUpperCase() + words[0]!.slice(1);
    return `${words.join(' ')}.`;
  };
  const paragraph = () => Array.from({ length: 3 + Math.floor(next() * 3) }, sentence).join(' ');
  const rare = () => wordOf(2_001 + Math.floor(next() * (vocabularySize - 2_001)), round);
  return Array.from({ length: count }, (_, d) => {
    const title = `Handbook ${round}.${d}: ${rare()} and ${rare()}`;
    const body = Array.from(
      { length: sections },
      (_, s) => `## ${rare()} ${rare()} ${s + 1}\n\n${Array.from({ length: 4 }, paragraph).join('\n\n')}`,
    );
    return { title, content: `# ${title}\n\n${body.join('\n\n')}\n` };
  });
};

// ---------------------------------------------------------------------------------------
// Figures.

const median = (xs: readonly number[]): number => {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};
const round1 = (x: number) => Math.round(x * 10) / 10;
const round3 = (x: number) => Math.round(x * 1000) / 1000;

interface RoundResult {
  /** The machine's load average (1 minute) as the round ended: others' work shares the cores. */
  readonly loadAverage?: number;
  /** The http path: how long the posting took, and a document's median from accepted to ready. */
  readonly postingSeconds?: number;
  readonly medianSecondsToReady?: number;
  readonly documents: number;
  readonly chunks: number;
  readonly seconds: number;
  readonly chunksPerSecond: number;
  /** CPU ms per chunk: the process that ingests (this one, or the server), PostgreSQL, both. */
  readonly cpuMsPerChunk: { readonly ingesting: number; readonly postgres: number; readonly total: number };
}

// ---------------------------------------------------------------------------------------
// The database.

let database = process.env['DATABASE_URL'] ? 'DATABASE_URL' : '';
let stopPostgres: (() => Promise<void>) | undefined;
let server: Awaited<ReturnType<typeof startLocalServer>> | undefined;
let databaseUrl = process.env['DATABASE_URL'];

if (path === 'http') {
  server = await startLocalServer({ fastDatabase: values['fast-db'] });
  databaseUrl = server.databaseUrl;
  database = server.label;
  if (!databaseUrl) {
    await server.stop();
    throw new Error(
      'load:knowledge-ingestion measures on PostgreSQL: set DATABASE_URL or install PostgreSQL 15',
    );
  }
} else if (!databaseUrl) {
  const postgres = await startPostgres({ durable: !values['fast-db'] });
  stopPostgres = postgres.stop;
  databaseUrl = postgres.url;
  database = values['fast-db']
    ? 'throwaway PostgreSQL 15 with fsync, synchronous_commit and full_page_writes off (--fast-db: not a durable figure)'
    : 'throwaway PostgreSQL 15 (durable: default fsync and commit settings)';
}
const url = databaseUrl!;
process.env['DATABASE_URL'] = url;
process.env['DB_POOL_MAX'] ??= '20';

const { migrate } = await import('#adapters/postgres/migrate.ts');
if (path === 'worker') await migrate(url);
const client = new pg.Client({ connectionString: url });
await client.connect();
const [{ extversion } = { extversion: undefined }] = (
  await client.query<{ extversion: string }>("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
).rows;
if (!extversion)
  console.warn('pgvector is not installed: no HNSW index maintained, the figure is flattering');
if (values['without-hnsw']) {
  await client.query('DROP INDEX IF EXISTS knowledge_chunks_hnsw_384');
  database += '; WITHOUT the HNSW index (--without-hnsw: attribution, not a figure of the product)';
}
const backend = (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
const postmaster = parentPid(backend);
const postgresCpu = () => processTreeCpuMs(postmaster) ?? 0;

// ---------------------------------------------------------------------------------------
// A tenant and a base with the defaults: the local embedder (384 dimensions), 400/50 tokens, english.

let tenantId: string;
let baseId: string;
let serverHeaders: Record<string, string> = {};
if (server) {
  serverHeaders = { authorization: `Bearer ${server.apiKey}`, 'content-type': 'application/json' };
  const response = await fetch(`${server.url}/v1/knowledge-bases`, {
    method: 'POST',
    headers: serverHeaders,
    body: JSON.stringify({ name: 'load' }),
  });
  if (response.status !== 201) {
    await server.stop();
    throw new Error(`POST /v1/knowledge-bases: ${response.status} ${await response.text()}`);
  }
  baseId = ((await response.json()) as { id: string }).id;
  tenantId = (
    await client.query<{ tenant_id: string }>('SELECT tenant_id FROM knowledge_bases WHERE id = $1', [baseId])
  ).rows[0]!.tenant_id;
} else {
  tenantId = randomUUID();
  baseId = randomUUID();
  await client.query('INSERT INTO tenants (id, name) VALUES ($1, $2)', [tenantId, `load-${tenantId}`]);
  await client.query(
    `INSERT INTO knowledge_bases (id, tenant_id, name, embedding_provider, embedding_model, embedding_dimensions,
                                  chunk_size_tokens, chunk_overlap_tokens, created_at, updated_at)
     VALUES ($1, $2, 'load', 'local', 'switchyard-hashing-v1', 384, 400, 50, now(), now())`,
    [baseId, tenantId],
  );
}

/** Documents of a round inserted as the document route stores them: one statement. */
const insertDocuments = async (docs: readonly { title: string; content: string }[]): Promise<string[]> => {
  const ids = docs.map(() => randomUUID());
  await client.query(
    `INSERT INTO knowledge_documents (id, tenant_id, knowledge_base_id, title, content_type, status, source,
                                      source_bytes, created_at, updated_at)
     SELECT d.id, $1, $2, d.title, 'text/markdown', 'processing', convert_to(d.content, 'UTF8'),
            octet_length(d.content), now(), now()
       FROM unnest($3::uuid[], $4::text[], $5::text[]) AS d(id, title, content)`,
    [tenantId, baseId, ids, docs.map((d) => d.title), docs.map((d) => d.content)],
  );
  return ids;
};

const chunkCount = async (
  ids: readonly string[],
): Promise<{ ready: number; chunks: number; failed: number }> => {
  const { rows } = await client.query<{ ready: number; chunks: number; failed: number }>(
    `SELECT count(*) FILTER (WHERE status = 'ready')::int AS ready,
            count(*) FILTER (WHERE status = 'failed')::int AS failed,
            coalesce(sum(chunk_count) FILTER (WHERE status = 'ready'), 0)::int AS chunks
       FROM knowledge_documents WHERE id = ANY ($1::uuid[])`,
    [ids],
  );
  return rows[0]!;
};

// ---------------------------------------------------------------------------------------
// The worker path: the default queue's consumer, in this process.

const sqsRecord = (body: unknown, n: number): SQSRecord => ({
  messageId: `m${n}`,
  receiptHandle: `r${n}`,
  body: JSON.stringify(body),
  attributes: {
    ApproximateReceiveCount: '1',
    SentTimestamp: String(Date.now()),
    SenderId: 'load',
    ApproximateFirstReceiveTimestamp: String(Date.now()),
  },
  messageAttributes: {},
  md5OfBody: '',
  eventSource: 'aws:sqs',
  eventSourceARN: 'arn:aws:sqs:local:000000000000:default',
  awsRegion: 'local',
});

const workerRound = async (round: number): Promise<RoundResult> => {
  const [{ handler }, { ingestionJob }] = await Promise.all([
    import('../functions/workers/default.ts'),
    import('#services/knowledge-ingestion.ts'),
  ]);
  const ids = await insertDocuments(corpus(round, documents));
  const jobs = ids.map((documentId) => ingestionJob({ tenantId, documentId, generation: 1 }));
  const events: SQSEvent[] = [];
  for (let i = 0; i < jobs.length; i += 10) {
    events.push({ Records: jobs.slice(i, i + 10).map((job, j) => sqsRecord(job, i + j)) });
  }
  const cpu = { own: ownCpuMs(), postgres: postgresCpu() };
  const started = performance.now();
  let next = 0;
  let failures = 0;
  await Promise.all(
    Array.from({ length: invocations }, async () => {
      while (next < events.length) {
        const event = events[next++]!;
        const answer = await handler(event, lambdaContext('switchyard-worker-default', 60_000));
        failures += answer.batchItemFailures.length;
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  const own = ownCpuMs() - cpu.own;
  const postgres = postgresCpu() - cpu.postgres;
  const { ready, chunks, failed } = await chunkCount(ids);
  if (ready !== ids.length || failures > 0) {
    throw new Error(
      `round ${round}: ${ready} of ${ids.length} ready, ${failed} failed, ${failures} records failed`,
    );
  }
  return result(ids.length, chunks, seconds, own, postgres);
};

const result = (
  docs: number,
  chunks: number,
  seconds: number,
  ingesting: number,
  postgres: number,
): RoundResult => ({
  documents: docs,
  chunks,
  seconds: round3(seconds),
  chunksPerSecond: Math.round(chunks / seconds),
  cpuMsPerChunk: {
    ingesting: round3(ingesting / chunks),
    postgres: round3(postgres / chunks),
    total: round3((ingesting + postgres) / chunks),
  },
});

// ---------------------------------------------------------------------------------------
// The HTTP path: documents posted to npm start's runtime, until every one is ready.

const httpRound = async (round: number): Promise<RoundResult> => {
  const running = server!;
  const docs = corpus(round, documents);
  const ids: string[] = [];
  const cpu = { server: processTreeCpuMs(running.process.child.pid) ?? 0, postgres: postgresCpu() };
  let next = 0;
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (next < docs.length) {
        const doc = docs[next++]!;
        const response = await fetch(`${running.url}/v1/knowledge-bases/${baseId}/documents`, {
          method: 'POST',
          headers: serverHeaders,
          body: JSON.stringify({ title: doc.title, content: doc.content, content_type: 'text/markdown' }),
        });
        if (response.status !== 202)
          throw new Error(`POST …/documents: ${response.status} ${await response.text()}`);
        ids.push(((await response.json()) as { id: string }).id);
      }
    }),
  );
  // Until every one is ready, or nothing moved for a minute.
  let last = { ready: -1, at: Date.now() };
  for (;;) {
    const { ready, failed } = await chunkCount(ids);
    if (failed > 0) throw new Error(`round ${round}: ${failed} documents failed`);
    if (ready === ids.length) break;
    if (ready !== last.ready) last = { ready, at: Date.now() };
    else if (Date.now() - last.at > 60_000)
      throw new Error(`round ${round}: stuck at ${ready} of ${ids.length} ready`);
    await new Promise((done) => setTimeout(done, 50));
  }
  const serverCpu = (processTreeCpuMs(running.process.child.pid) ?? 0) - cpu.server;
  const postgres = postgresCpu() - cpu.postgres;
  const { rows } = await client.query<{ seconds: number; chunks: number; posting: number; latency: number }>(
    `SELECT extract(epoch FROM max(updated_at) - min(created_at))::float8 AS seconds, sum(chunk_count)::int AS chunks,
            extract(epoch FROM max(created_at) - min(created_at))::float8 AS posting,
            percentile_disc(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM updated_at - created_at))::float8 AS latency
       FROM knowledge_documents WHERE id = ANY ($1::uuid[])`,
    [ids],
  );
  const { seconds, chunks, posting, latency } = rows[0]!;
  return {
    ...result(ids.length, chunks, seconds, serverCpu, postgres),
    postingSeconds: round3(posting),
    medianSecondsToReady: round3(latency),
  };
};

// ---------------------------------------------------------------------------------------
// Where the time goes.

/** One document at a time through an ingestion whose every dependency is timed. */
const phases = async (): Promise<Record<string, number>> => {
  const [
    { database: sharedDatabase },
    { IngestionRepository },
    { EmbeddingCacheRepository },
    { LocalEmbedder },
    { DocumentIngestion },
  ] = await Promise.all([
    import('#adapters/postgres/db.ts'),
    import('#adapters/postgres/knowledge-ingestion.ts'),
    import('#adapters/postgres/embedding-cache.ts'),
    import('#adapters/embeddings/local.ts'),
    import('#services/knowledge-ingestion.ts'),
  ]);
  const db = sharedDatabase();
  const ms: Record<string, number> = {};
  const timed =
    <A extends unknown[], R>(name: string, f: (...args: A) => Promise<R>) =>
    async (...args: A): Promise<R> => {
      const started = performance.now();
      try {
        return await f(...args);
      } finally {
        ms[name] = (ms[name] ?? 0) + performance.now() - started;
      }
    };
  const store = new IngestionRepository(db);
  const cache = new EmbeddingCacheRepository(db);
  const local = new LocalEmbedder(384);
  const ingestion = new DocumentIngestion(
    {
      store: {
        claim: timed('claim', store.claim.bind(store)),
        writeChunks: timed('insert chunks', store.writeChunks.bind(store)),
        finish: timed('finish', store.finish.bind(store)),
        fail: store.fail.bind(store),
        release: store.release.bind(store),
        stalled: store.stalled.bind(store),
      },
      cache: {
        getMany: timed('embedding cache', cache.getMany.bind(cache)),
        putMany: timed('embedding cache', cache.putMany.bind(cache)),
      },
      embedderFor: async () => ({
        provider: local.provider,
        model: local.model,
        dimensions: local.dimensions,
        embed: timed('embedding (local)', local.embed.bind(local)),
      }),
      queue: { enqueue: async () => {} },
      readUpload: async () => null,
    },
    { batchSize: 64, leaseSeconds: 90, continueWithinMs: 60_000 },
  );
  // Extraction and chunking are the rest of an ingestion's time.
  const sample = corpus(100, 40);
  const ids = await insertDocuments(sample);
  const started = performance.now();
  for (const documentId of ids) await ingestion.ingest({ tenantId, documentId, generation: 1 });
  const total = performance.now() - started;
  const { chunks } = await chunkCount(ids);
  const accounted = Object.values(ms).reduce((sum, x) => sum + x, 0);
  ms['extraction, chunking and the rest'] = total - accounted;
  return Object.fromEntries(Object.entries(ms).map(([name, x]) => [name, round3(x / chunks)]));
};

/** One batch of 64 chunks inserted as writeChunks writes it, under variants, each rolled back. */
const insertVariants = async (): Promise<Record<string, number>> => {
  const { rows } = await client.query<{ document_id: string }>(
    `SELECT document_id FROM knowledge_chunks WHERE knowledge_base_id = $1 GROUP BY document_id
     HAVING count(*) >= 8 LIMIT 8`,
    [baseId],
  );
  const documentIds = rows.map((row) => row.document_id);
  const insert = (searchVector: string) => `
    INSERT INTO knowledge_chunks (id, tenant_id, knowledge_base_id, document_id, generation, ordinal, heading, text,
                                  token_count, search_vector, dimensions, embedding)
    SELECT gen_random_uuid(), c.tenant_id, c.knowledge_base_id, c.document_id, c.generation + 100, c.ordinal,
           c.heading, c.text, c.token_count, ${searchVector}, c.dimensions, c.embedding::text::real[]
      FROM knowledge_chunks c WHERE c.document_id = ANY ($1::uuid[]) AND c.ordinal < 8`;
  const full = insert(
    "setweight(to_tsvector('english'::regconfig, 'A title ' || coalesce(c.heading, '')), 'A') || to_tsvector('english'::regconfig, c.text)",
  );
  const variants: Record<string, { drop: string[]; sql: string }> = {
    'as written': { drop: [], sql: full },
    'without HNSW': { drop: ['knowledge_chunks_hnsw_384'], sql: full },
    'without HNSW and GIN': { drop: ['knowledge_chunks_hnsw_384', 'knowledge_chunks_search'], sql: full },
    'without HNSW, GIN, tsvector': {
      drop: ['knowledge_chunks_hnsw_384', 'knowledge_chunks_search'],
      sql: insert("''::tsvector"),
    },
  };
  const samples: Record<string, number[]> = {};
  for (let repeat = 0; repeat < 7; repeat += 1) {
    for (const [name, variant] of Object.entries(variants)) {
      await client.query('BEGIN');
      try {
        for (const index of variant.drop) await client.query(`DROP INDEX IF EXISTS ${index}`);
        const started = performance.now();
        const inserted = await client.query(variant.sql, [documentIds]);
        const ms = performance.now() - started;
        samples[name] = [...(samples[name] ?? []), ms / (inserted.rowCount ?? 1)];
      } finally {
        await client.query('ROLLBACK');
      }
    }
  }
  return Object.fromEntries(Object.entries(samples).map(([name, xs]) => [name, round3(median(xs))]));
};

// ---------------------------------------------------------------------------------------

const results: RoundResult[] = [];
try {
  console.log(
    `knowledge ingestion, ${path} path: ${documents} documents × ${sections} sections a round, ${rounds} rounds` +
      (path === 'worker' ? `, ${invocations} invocations in flight` : `, ${clients} clients`) +
      `\n${database}; pgvector ${extversion ?? 'absent'}; ${cpus().length} × ${cpus()[0]?.model ?? 'CPU'}`,
  );
  for (let round = 1; round <= rounds; round += 1) {
    const measured = path === 'worker' ? await workerRound(round) : await httpRound(round);
    const figure = { ...measured, loadAverage: round1(loadavg()[0]!) };
    results.push(figure);
    console.log(
      `round ${round}: ${figure.chunks} chunks of ${figure.documents} documents in ${figure.seconds} s: ` +
        `${figure.chunksPerSecond} chunks/s; CPU ms a chunk: ${figure.cpuMsPerChunk.ingesting} ingesting, ` +
        `${figure.cpuMsPerChunk.postgres} PostgreSQL; load average ${figure.loadAverage}` +
        (figure.postingSeconds === undefined
          ? ''
          : `; posted in ${figure.postingSeconds} s, median ${figure.medianSecondsToReady} s to ready`),
    );
  }
  const chunksPerSecond = median(results.map((r) => r.chunksPerSecond));
  console.log(`median of ${rounds}: ${Math.round(chunksPerSecond)} chunks/s`);
  const breakdown = path === 'worker' ? await phases() : undefined;
  if (breakdown) console.log('one document at a time, ms a chunk:', breakdown);
  const insert = await insertVariants();
  console.log('a chunk inserted (median of 7 batches), ms:', insert);
  await mkdir(join('load', 'results'), { recursive: true });
  await writeFile(
    join('load', 'results', 'knowledge-ingestion.json'),
    `${JSON.stringify(
      {
        date: new Date().toISOString(),
        path,
        database,
        pgvector: extversion ?? null,
        cpus: `${cpus().length} × ${cpus()[0]?.model ?? 'CPU'}`,
        documents,
        sections,
        invocations: path === 'worker' ? invocations : undefined,
        clients: path === 'http' ? clients : undefined,
        rounds: results,
        medianChunksPerSecond: chunksPerSecond,
        msPerChunkOneAtATime: breakdown,
        msPerChunkInserted: insert,
      },
      null,
      2,
    )}\n`,
  );
  console.log(`written: ${round1(chunksPerSecond)} chunks/s to load/results/knowledge-ingestion.json`);
} finally {
  await client.end();
  if (path === 'worker') {
    const { closeDatabase } = await import('#adapters/postgres/db.ts');
    await closeDatabase();
  }
  await server?.stop();
  await stopPostgres?.();
}
