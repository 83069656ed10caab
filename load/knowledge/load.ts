/**
 * Loads the benchmark's knowledge bases into a migrated database: documents in one multi-row
 * INSERT per base, chunks in multi-row INSERTs of 1,000 (generated and embedded on two worker
 * threads while the main thread inserts), with the HNSW and GIN indexes dropped during the load
 * and built after it (the migration's own definitions, read back from the catalogue, so the
 * planner matches them as it does in production), then measured apart: build time, and the
 * cost of inserting with both indexes in place.
 */
import { randomUUID } from 'node:crypto';
import { Worker } from 'node:worker_threads';
import type pg from 'pg';
import { type CorpusShape, type GeneratedDocument, generateCorpus } from './corpus.ts';
import { type ChunkBatch, chunkRows, type EmbedTask } from './embed-worker.ts';

export interface BenchBase {
  readonly key: string;
  readonly id: string;
  readonly tenantId: string;
  readonly shape: CorpusShape;
  readonly deleted?: boolean;
  readonly documentIds: string[];
  readonly documents: GeneratedDocument[];
}

export const benchTenants = {
  acme: '0190f000-0000-7000-8000-00000000a001',
  globex: '0190f000-0000-7000-8000-00000000a002',
} as const;

export const dimensions = 384;
const language = 'english';

/** The base searched, and the others that make tenant scope, base scope and deletion real. */
export const benchBases = (chunks: number): Omit<BenchBase, 'documentIds' | 'documents'>[] => [
  {
    key: 'main',
    id: '0190f000-0000-7000-8000-0000000b0001',
    tenantId: benchTenants.acme,
    shape: { seed: 13, documents: Math.round(chunks / 10), chunks, topics: 60 },
  },
  {
    key: 'sibling',
    id: '0190f000-0000-7000-8000-0000000b0002',
    tenantId: benchTenants.acme,
    shape: { seed: 14, documents: 200, chunks: 2_000, topics: 20 },
  },
  {
    key: 'other-tenant',
    id: '0190f000-0000-7000-8000-0000000b0003',
    tenantId: benchTenants.globex,
    shape: { seed: 13, documents: 300, chunks: 3_000, topics: 60 },
  },
  {
    key: 'deleted',
    id: '0190f000-0000-7000-8000-0000000b0004',
    tenantId: benchTenants.acme,
    shape: { seed: 15, documents: 100, chunks: 1_000, topics: 20 },
    deleted: true,
  },
];

const documentStatus = (state: GeneratedDocument['state']) =>
  state === 'archived' ? 'archived' : state === 'processing' || state === 'failed' ? state : 'ready';

export interface LoadFigures {
  readonly chunks: number;
  readonly documents: number;
  readonly loadSeconds: number;
  readonly chunksPerSecondWithoutIndexes: number;
  readonly hnswBuildSeconds: number;
  readonly ginBuildSeconds: number;
  readonly analyzeSeconds: number;
  /** Chunks inserted in batches of 64 (the ingestion's) with both indexes in place. */
  readonly indexedInsert: {
    chunks: number;
    seconds: number;
    chunksPerSecond: number;
    hnswShareOfTime: number;
  };
  readonly tableSize: string;
  readonly hnswIndexSize: string;
  readonly ginIndexSize: string;
}

const secondsSince = (t: number) => Math.round((performance.now() - t) / 10) / 100;

/** A worker thread embedding documents [from, to) of a corpus; `next()` answers its next batch (empty at the end). */
const embedWorker = (task: EmbedTask) => {
  const entry = JSON.stringify(new URL('./embed-worker.ts', import.meta.url).href);
  // A worker thread does not inherit tsx's module hooks: it registers its own.
  const worker = new Worker(
    `import('tsx/esm/api').then(({ register }) => { register(); return import(${entry}); })`,
    { eval: true, workerData: task },
  );
  return {
    next: () =>
      new Promise<ChunkBatch>((resolve, reject) => {
        const failed = (error: Error) => reject(error);
        worker.once('error', failed);
        worker.once('message', (batch: ChunkBatch) => {
          worker.off('error', failed);
          resolve(batch);
        });
        worker.postMessage('next');
      }),
    stop: () => worker.terminate(),
  };
};

const insertChunks = `
  INSERT INTO knowledge_chunks (id, tenant_id, knowledge_base_id, document_id, generation, ordinal,
                                heading, text, token_count, search_vector, dimensions, embedding)
  SELECT gen_random_uuid(), $1, $2, u.document_id, u.generation, u.ordinal, u.heading, u.text, u.tokens,
         setweight(to_tsvector('${language}', u.title), 'A')
           || setweight(to_tsvector('${language}', u.heading), 'B')
           || to_tsvector('${language}', u.text),
         ${dimensions}, u.embedding::real[]
    FROM unnest($3::uuid[], $4::int[], $5::int[], $6::text[], $7::text[], $8::int[], $9::text[], $10::text[])
         AS u(document_id, generation, ordinal, heading, text, tokens, title, embedding)`;

const insertBatch = (client: pg.Client, base: BenchBase, batch: ChunkBatch) =>
  client.query(insertChunks, [
    base.tenantId,
    base.id,
    batch.document.map((d) => base.documentIds[d]),
    batch.generation,
    batch.ordinal,
    batch.heading,
    batch.text,
    batch.tokens,
    batch.document.map((d) => base.documents[d]!.title),
    batch.embedding,
  ]);

/** Chunks of a base, embedded on two threads, inserted 1,000 a statement (one in flight while the next embeds). */
const loadChunks = async (client: pg.Client, base: BenchBase, batchSize: number): Promise<number> => {
  const half = Math.ceil(base.shape.documents / 2);
  const workers = [
    embedWorker({ shape: base.shape, from: 0, to: half, batchSize, dimensions }),
    embedWorker({ shape: base.shape, from: half, to: base.shape.documents, batchSize, dimensions }),
  ];
  let inserted = 0;
  try {
    await Promise.all(
      workers.map(async (worker) => {
        let next = worker.next();
        for (;;) {
          const batch = await next;
          if (batch.text.length === 0) return;
          next = worker.next();
          await insertBatch(client, base, batch);
          inserted += batch.text.length;
        }
      }),
    );
  } finally {
    await Promise.all(workers.map((worker) => worker.stop()));
  }
  return inserted;
};

const insertDocuments = async (client: pg.Client, base: BenchBase): Promise<void> => {
  const d = base.documents;
  await client.query(
    `INSERT INTO knowledge_documents (id, tenant_id, knowledge_base_id, title, content_type, tags, metadata,
                                      expires_at, status, failure_reason, generation, searchable_generation,
                                      chunk_count, chunks_total, chunks_done, created_at, updated_at)
     SELECT u.id, $1, $2, u.title, u.content_type, ARRAY(SELECT jsonb_array_elements_text(u.tags)), u.metadata,
            u.expires_at, u.status, CASE WHEN u.status = 'failed' THEN 'unreadable PDF' END,
            u.generation, 1, u.chunk_count, u.chunk_count, u.chunk_count, u.created_at, u.created_at
       FROM unnest($3::uuid[], $4::text[], $5::text[], $6::jsonb[], $7::jsonb[], $8::timestamptz[], $9::text[],
                   $10::int[], $11::int[], $12::timestamptz[])
            AS u(id, title, content_type, tags, metadata, expires_at, status, generation, chunk_count, created_at)`,
    [
      base.tenantId,
      base.id,
      base.documentIds,
      d.map((x) => x.title),
      d.map((x) => x.contentType),
      d.map((x) => JSON.stringify(x.tags)),
      d.map((x) => JSON.stringify(x.metadata)),
      d.map((x) => x.expiresAt),
      d.map((x) => documentStatus(x.state)),
      d.map((x) => (x.state === 'processing' || x.state === 'failed' ? 2 : 1)),
      d.map((x) => chunkRows(x.state, x.chunkCount).filter((row) => row.generation === 1).length),
      d.map((x) => x.createdAt),
    ],
  );
};

const indexDefinition = async (client: pg.Client, name: string): Promise<string> => {
  const { rows } = await client.query<{ def: string }>(
    'SELECT pg_get_indexdef(indexrelid) AS def FROM pg_index WHERE indexrelid = $1::regclass',
    [name],
  );
  if (!rows[0]) throw new Error(`no index ${name}: is pgvector installed?`);
  return rows[0].def;
};

/**
 * Loads every base (the main one with `chunks` chunks) into a database migrated to the latest
 * schema, and answers the bases and the load's figures.
 */
export const loadKnowledge = async (
  client: pg.Client,
  chunks: number,
  log: (text: string) => void,
): Promise<{ bases: BenchBase[]; figures: LoadFigures }> => {
  await client.query(
    `INSERT INTO tenants (id, name) VALUES ($1, 'bench-acme'), ($2, 'bench-globex') ON CONFLICT DO NOTHING`,
    [benchTenants.acme, benchTenants.globex],
  );
  const hnsw = 'knowledge_chunks_hnsw_384';
  const gin = 'knowledge_chunks_search';
  const hnswDefinition = await indexDefinition(client, hnsw);
  const ginDefinition = await indexDefinition(client, gin);
  await client.query(`DROP INDEX ${hnsw}; DROP INDEX ${gin}`);

  const bases: BenchBase[] = benchBases(chunks).map((base) => {
    const corpus = generateCorpus(base.shape);
    return { ...base, documents: corpus.documents, documentIds: corpus.documents.map(() => randomUUID()) };
  });
  const loadStarted = performance.now();
  let total = 0;
  for (const base of bases) {
    await client.query(
      `INSERT INTO knowledge_bases (id, tenant_id, name, embedding_provider, embedding_model, embedding_dimensions,
                                    text_search_language, chunk_size_tokens, chunk_overlap_tokens, created_at,
                                    updated_at, deleted_at)
       VALUES ($1, $2, $3, 'local', 'switchyard-hashing-v1', ${dimensions}, '${language}', 400, 50, now(), now(),
               CASE WHEN $4 THEN now() END)`,
      [base.id, base.tenantId, `bench ${base.key}`, base.deleted === true],
    );
    await insertDocuments(client, base);
    const t = performance.now();
    const n = await loadChunks(client, base, 1_000);
    total += n;
    log(`loaded base ${base.key}: ${base.documents.length} documents, ${n} chunks in ${secondsSince(t)} s`);
  }
  const loadSeconds = secondsSince(loadStarted);

  // One build at a time, all of the memory it wants: the graph of 100,000 × 384 fits in 1 GB.
  await client.query("SET maintenance_work_mem = '1GB'");
  let t = performance.now();
  await client.query(hnswDefinition);
  const hnswBuildSeconds = secondsSince(t);
  log(`HNSW index built in ${hnswBuildSeconds} s`);
  t = performance.now();
  await client.query(ginDefinition);
  const ginBuildSeconds = secondsSince(t);
  log(`GIN index built in ${ginBuildSeconds} s`);
  await client.query('RESET maintenance_work_mem');
  t = performance.now();
  await client.query('VACUUM ANALYZE knowledge_chunks, knowledge_documents, knowledge_bases');
  const analyzeSeconds = secondsSince(t);

  // Inserting with the indexes in place, as ingestion does: batches of 64 into the sibling base.
  const sibling = bases.find((base) => base.key === 'sibling')!;
  const probeShape: CorpusShape = { seed: 99, documents: 40, chunks: 2_000, topics: 20 };
  const probe: BenchBase = {
    ...sibling,
    key: 'probe',
    shape: probeShape,
    documents: generateCorpus(probeShape).documents.map((x) => ({ ...x, state: 'ready' as const })),
    documentIds: [],
  };
  probe.documentIds.push(...probe.documents.map(() => randomUUID()));
  await insertDocuments(client, probe);
  const batches: ChunkBatch[] = [];
  const worker = embedWorker({
    shape: probeShape,
    from: 0,
    to: probeShape.documents,
    batchSize: 64,
    dimensions,
  });
  for (;;) {
    const batch = await worker.next();
    if (batch.text.length === 0) break;
    batches.push(batch);
  }
  await worker.stop();
  const timeInserts = async () => {
    await client.query('BEGIN');
    const started = performance.now();
    for (const batch of batches) await insertBatch(client, probe, batch);
    const seconds = (performance.now() - started) / 1000;
    await client.query('ROLLBACK');
    return seconds;
  };
  // With both indexes, then without the HNSW one (in a transaction, rolled back): its share.
  const withBoth = await timeInserts();
  await client.query('BEGIN');
  await client.query(`DROP INDEX ${hnsw}`);
  const started = performance.now();
  for (const batch of batches) await insertBatch(client, probe, batch);
  const withoutHnsw = (performance.now() - started) / 1000;
  await client.query('ROLLBACK');
  const probeChunks = batches.reduce((n, batch) => n + batch.text.length, 0);
  await client.query('DELETE FROM knowledge_documents WHERE id = ANY($1::uuid[])', [probe.documentIds]);

  const sizes = (
    await client.query<{ table: string; hnsw: string; gin: string }>(
      `SELECT pg_size_pretty(pg_total_relation_size('knowledge_chunks')) AS table,
              pg_size_pretty(pg_relation_size('${hnsw}')) AS hnsw, pg_size_pretty(pg_relation_size('${gin}')) AS gin`,
    )
  ).rows[0]!;
  return {
    bases,
    figures: {
      chunks: total,
      documents: bases.reduce((n, base) => n + base.documents.length, 0),
      loadSeconds,
      chunksPerSecondWithoutIndexes: Math.round(total / loadSeconds),
      hnswBuildSeconds,
      ginBuildSeconds,
      analyzeSeconds,
      indexedInsert: {
        chunks: probeChunks,
        seconds: Math.round(withBoth * 100) / 100,
        chunksPerSecond: Math.round(probeChunks / withBoth),
        hnswShareOfTime: Math.round((1 - withoutHnsw / withBoth) * 100) / 100,
      },
      tableSize: sizes.table,
      hnswIndexSize: sizes.hnsw,
      ginIndexSize: sizes.gin,
    },
  };
};
