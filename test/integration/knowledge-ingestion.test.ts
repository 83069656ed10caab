import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalEmbedder } from '#adapters/embeddings/local.ts';
import type { Queryable } from '#adapters/postgres/db.ts';
import { EmbeddingCacheRepository } from '#adapters/postgres/embedding-cache.ts';
import { chunksSourceKey, IngestionRepository } from '#adapters/postgres/knowledge-ingestion.ts';
import { migrate } from '#adapters/postgres/migrate.ts';
import { chunkText } from '#domain/chunking.ts';
import type { Embedder } from '#domain/embedding.ts';
import type { JobEnvelope } from '#domain/jobs.ts';
import { type KnowledgeBase, uploadKey } from '#domain/knowledge.ts';
import { LlmError } from '#domain/llm.ts';
import {
  DocumentIngestion,
  embeddingInput,
  type IngestionSettings,
  ingestionJob,
  maxIngestionAttempts,
  targetOf,
} from '#services/knowledge-ingestion.ts';
import type { IngestionStore } from '#services/ports.ts';
import { runRetention } from '#services/retention.ts';
import { sweepDocuments } from '#services/sweeper.ts';
import { useEmbeddedPostgres } from '../support/embedded-postgres.ts';
import { describeRealServers } from '../support/real-servers.ts';

/** A handbook of seven short sections: a chunk each, four batches of two. */
const handbook = (edit = ''): string =>
  [
    '# Owls',
    'Owls are birds of prey that hunt mostly at night. Their hearing is sharp enough to find a mouse under snow.',
    '## Hooting',
    `Owls hoot to claim a territory and to call a mate. Each species has its own call.${edit}`,
    '## Feathers',
    'Soft fringes on the flight feathers break up the air, so an owl flies almost without a sound.',
    '## Eyes',
    'An owl cannot move its eyes in their sockets; it turns its whole head instead, up to 270 degrees.',
    '## Pellets',
    'Owls swallow small prey whole and bring up the bones and fur as pellets, which researchers collect.',
    '## Nests',
    'Many owls do not build nests: they take over old nests of crows, hollows in trees, or barn lofts.',
    '## Lifespan',
    'A barn owl in the wild lives about four years; in captivity some have lived for more than twenty.',
  ].join('\n\n');

const chunking = { sizeTokens: 50, overlapTokens: 10 };
const batchSize = 2;
const settings: IngestionSettings = { batchSize, leaseSeconds: 90, continueWithinMs: 60_000 };
const dimensions = 384;

/**
 * A provider's model (whose calls cost, so its vectors are cached), counting its calls and the
 * texts it embeds; the vectors are the local embedder's, computed offline.
 */
const countingEmbedder = () => {
  const local = new LocalEmbedder(dimensions);
  const counts = { calls: 0, texts: [] as string[] };
  const embedder: Embedder = {
    provider: 'openai',
    model: 'text-embedding-3-small',
    dimensions: local.dimensions,
    embed: (texts, options) => {
      counts.calls += 1;
      counts.texts.push(...texts);
      return local.embed(texts, options);
    },
  };
  return { embedder, counts };
};

/** The ingestion checks on one database (`url` is read once its server runs). */
const ingestionChecks = (url: () => string) => {
  let client: pg.Client;
  let db: Queryable;
  /** Every statement sent, in order. */
  const statements: string[] = [];
  const tenantId = randomUUID();
  const queued: JobEnvelope[] = [];
  const queue = {
    enqueue: async (job: JobEnvelope) => {
      queued.push(job);
    },
  };
  const uploads = new Map<string, Uint8Array>();
  /** The bases finished ingestions put in the cache, in order. */
  const remembered: KnowledgeBase[] = [];

  const ingestionWith = (
    embedder: Embedder,
    store: IngestionStore = new IngestionRepository(db),
    overrides: Partial<IngestionSettings> = {},
  ) =>
    new DocumentIngestion(
      {
        store,
        cache: new EmbeddingCacheRepository(db),
        embedderFor: async () => embedder,
        queue,
        readUpload: async (key) => uploads.get(key) ?? null,
        rememberBase: async (base) => {
          remembered.push(base);
        },
      },
      { ...settings, ...overrides },
    );

  const newBase = async (language = 'english'): Promise<string> => {
    const id = randomUUID();
    await db.query(
      `INSERT INTO knowledge_bases (id, tenant_id, name, embedding_provider, embedding_model, embedding_dimensions,
                                    text_search_language, chunk_size_tokens, chunk_overlap_tokens, created_at, updated_at)
       VALUES ($1, $2, 'Handbooks', 'local', 'switchyard-hashing-v1', $3, $4, $5, $6, now(), now())`,
      [id, tenantId, dimensions, language, chunking.sizeTokens, chunking.overlapTokens],
    );
    return id;
  };

  interface DocumentSeed {
    readonly baseId: string;
    readonly title?: string;
    readonly contentType?: string;
    readonly source?: Uint8Array | string;
    readonly sourceKey?: string;
    readonly expiresAt?: Date;
    readonly createdAt?: Date;
  }

  let documents = 0;
  /**
   * A document in processing at generation 1, as the document routes insert it. Its title is
   * its own unless given: the title is embedded with each chunk, so no two tests share cache entries.
   */
  const newDocument = async (seed: DocumentSeed): Promise<{ documentId: string; generation: number }> => {
    const documentId = randomUUID();
    const source = typeof seed.source === 'string' ? Buffer.from(seed.source) : seed.source;
    await db.query(
      `INSERT INTO knowledge_documents (id, tenant_id, knowledge_base_id, title, content_type, status, source,
                                        source_key, source_bytes, expires_at, created_at, updated_at)
       VALUES ($1, $2, $3, $4, $5, 'processing', $6, $7, $8, $9, $10, $10)`,
      [
        documentId,
        tenantId,
        seed.baseId,
        seed.title ?? `Handbook ${++documents}`,
        seed.contentType ?? 'text/markdown',
        source ?? null,
        seed.sourceKey ?? null,
        source?.length ?? null,
        seed.expiresAt ?? null,
        seed.createdAt ?? new Date(),
      ],
    );
    return { documentId, generation: 1 };
  };

  /** A new generation of a document with a new source, as re-posting its external id does. */
  const replace = async (documentId: string, source: string): Promise<number> => {
    const [row] = await db.query<{ generation: number }>(
      `UPDATE knowledge_documents
          SET generation = generation + 1, status = 'processing', failure_reason = NULL, source = $2,
              chunks_done = 0, chunks_total = NULL, claimed_until = NULL, attempts = 0, updated_at = now()
        WHERE id = $1 RETURNING generation`,
      [documentId, Buffer.from(source)],
    );
    return row!.generation;
  };

  interface DocumentRow {
    status: string;
    failure_reason: string | null;
    generation: number;
    searchable_generation: number | null;
    chunk_count: number;
    chunks_done: number;
    chunks_total: number | null;
    claimed_until: Date | null;
    attempts: number;
  }
  const documentRow = async (documentId: string): Promise<DocumentRow | undefined> =>
    (await db.query<DocumentRow>('SELECT * FROM knowledge_documents WHERE id = $1', [documentId]))[0];

  /** What search shows of a document: the chunks of its searchable generation, in order. */
  const searchable = async (documentId: string) =>
    db.query<{ text: string; generation: number; ordinal: number }>(
      `SELECT c.text, c.generation, c.ordinal FROM knowledge_chunks c
         JOIN knowledge_documents d ON d.id = c.document_id AND c.generation = d.searchable_generation
        WHERE d.id = $1 ORDER BY c.ordinal`,
      [documentId],
    );

  const chunkRows = async (documentId: string) =>
    db.query<{ id: string; generation: number; ordinal: number; text: string; heading: string | null }>(
      'SELECT id, generation, ordinal, text, heading FROM knowledge_chunks WHERE document_id = $1 ORDER BY generation, ordinal',
      [documentId],
    );

  const expectedChunks = (text: string) => chunkText(text, chunking);

  beforeAll(async () => {
    await migrate(url());
    client = new pg.Client({ connectionString: url() });
    await client.connect();
    db = {
      query: async (text, values) => {
        statements.push(text);
        return (await client.query(text, values as unknown[])).rows;
      },
    };
    await db.query('INSERT INTO tenants (id, name) VALUES ($1, $2)', [tenantId, `ingestion-${tenantId}`]);
  }, 60_000);
  afterAll(async () => {
    await client?.end();
  });

  it('ingests a document: ready with its chunk count and progress, each batch written in one statement', async () => {
    const baseId = await newBase();
    const target = {
      tenantId,
      ...(await newDocument({ baseId, title: 'The owl handbook', source: handbook() })),
    };
    const { embedder, counts } = countingEmbedder();
    const expected = expectedChunks(handbook());
    expect(expected.length).toBeGreaterThan(2 * batchSize);

    const before = statements.length;
    const outcome = await ingestionWith(embedder).ingest(target);
    const sent = statements.slice(before);

    expect(outcome).toEqual({ kind: 'ready', chunks: expected.length });
    const batches = Math.ceil(expected.length / batchSize);
    expect(sent.filter((text) => text.includes('INSERT INTO knowledge_chunks'))).toHaveLength(batches);
    // One provider call per batch: every chunk was new.
    expect(counts.calls).toBe(batches);
    expect(await documentRow(target.documentId)).toMatchObject({
      status: 'ready',
      failure_reason: null,
      searchable_generation: 1,
      chunk_count: expected.length,
      chunks_done: expected.length,
      chunks_total: expected.length,
      claimed_until: null,
      attempts: 1,
    });
    const rows = await chunkRows(target.documentId);
    expect(rows.map((row) => row.text)).toEqual(expected.map((chunk) => chunk.text));
    expect(rows.map((row) => row.heading)).toEqual(expected.map((chunk) => chunk.heading ?? null));
    expect(rows.map((row) => row.ordinal)).toEqual(expected.map((_, i) => i));
    // The base's version moved, so cached searches of it are not served again; the base as
    // the statement left it went to the cache.
    const [base] = await db.query<{ version: number }>('SELECT version FROM knowledge_bases WHERE id = $1', [
      baseId,
    ]);
    expect(base?.version).toBe(2);
    expect(remembered.at(-1)).toMatchObject({
      id: baseId,
      tenantId,
      version: 2,
      embedding: { provider: 'local', model: 'switchyard-hashing-v1', dimensions },
      chunking,
      language: 'english',
    });
    // Vectors of the base's dimensions, embedding the title and heading with the text.
    const [stored] = await db.query<{ embedding: number[]; dimensions: number }>(
      'SELECT embedding, dimensions FROM knowledge_chunks WHERE document_id = $1 AND ordinal = 2',
      [target.documentId],
    );
    expect(stored?.dimensions).toBe(dimensions);
    const [vector] = (
      await new LocalEmbedder(dimensions).embed([
        embeddingInput('The owl handbook', { text: rows[2]!.text, heading: rows[2]!.heading }),
      ])
    ).vectors;
    expect(Math.max(...stored!.embedding.map((x, i) => Math.abs(x - vector![i]!)))).toBeLessThan(1e-6);
    // Another job for the same generation finds nothing to do.
    expect(await ingestionWith(embedder).ingest(target)).toEqual({ kind: 'skipped' });
  });

  it('stores search vectors in the base’s language, the title and heading weighted above the text', async () => {
    const baseId = await newBase();
    const target = {
      tenantId,
      ...(await newDocument({ baseId, title: 'Nocturnal raptors', source: handbook() })),
    };
    await ingestionWith(countingEmbedder().embedder).ingest(target);
    const match = (query: string) =>
      db.query<{ ordinal: number; weight: string }>(
        `SELECT ordinal, ts_rank(search_vector, q)::text AS weight
           FROM knowledge_chunks, websearch_to_tsquery('english', $2) AS q
          WHERE document_id = $1 AND search_vector @@ q ORDER BY ordinal`,
        [target.documentId, query],
      );
    // Stemmed: "pellet" finds the chunk about pellets, in the text.
    const pellets = await match('pellet researchers');
    expect(pellets.length).toBeGreaterThan(0);
    const pelletChunks = (await chunkRows(target.documentId)).filter((row) => row.text.includes('pellets'));
    expect(pellets.map((row) => row.ordinal)).toEqual(pelletChunks.map((row) => row.ordinal));
    // The title is in every chunk's vector; a heading in its section's chunks.
    expect((await match('nocturnal raptor')).length).toBe((await chunkRows(target.documentId)).length);
    const [vector] = await db.query<{ search_vector: string }>(
      `SELECT search_vector::text FROM knowledge_chunks WHERE document_id = $1 AND heading = 'Owls > Eyes'`,
      [target.documentId],
    );
    expect(vector?.search_vector).toMatch(/'eye':\d+A/);
    expect(vector?.search_vector).toMatch(/'raptor':\d+A/);
  });

  it('resumes after a crash mid-way: the chunks written stay, the rest is written once', async () => {
    const baseId = await newBase();
    const target = { tenantId, ...(await newDocument({ baseId, source: handbook(' A crash fixture.') })) };
    const expected = expectedChunks(handbook(' A crash fixture.'));
    // The worker dies during its third batch: it never releases its lease.
    const { embedder: local } = countingEmbedder();
    let calls = 0;
    const dying: Embedder = {
      ...local,
      embed: (texts, options) => {
        calls += 1;
        if (calls === 3) throw new Error('the worker died');
        return local.embed(texts, options);
      },
    };
    const repository = new IngestionRepository(db);
    const crashed: IngestionStore = {
      claim: (...args) => repository.claim(...args),
      writeChunks: (...args) => repository.writeChunks(...args),
      finish: (...args) => repository.finish(...args),
      fail: (...args) => repository.fail(...args),
      release: async () => {},
      stalled: (...args) => repository.stalled(...args),
    };
    await expect(ingestionWith(dying, crashed).ingest(target)).rejects.toThrow('the worker died');
    expect(await documentRow(target.documentId)).toMatchObject({
      status: 'processing',
      chunks_done: 2 * batchSize,
      chunks_total: expected.length,
      searchable_generation: null,
    });
    const written = await chunkRows(target.documentId);
    expect(written).toHaveLength(2 * batchSize);
    expect(await searchable(target.documentId)).toEqual([]);

    // While its lease lasts, a redelivered message finds the document taken.
    const { embedder, counts } = countingEmbedder();
    expect(await ingestionWith(embedder).ingest(target)).toEqual({ kind: 'skipped' });
    // The lease runs out (as time would make it); the retry resumes after the chunks written.
    await db.query(
      "UPDATE knowledge_documents SET claimed_until = now() - interval '1 second' WHERE id = $1",
      [target.documentId],
    );
    expect(await ingestionWith(embedder).ingest(target)).toEqual({ kind: 'ready', chunks: expected.length });
    expect(counts.texts).toHaveLength(expected.length - 2 * batchSize);
    const all = await chunkRows(target.documentId);
    expect(all.map((row) => row.text)).toEqual(expected.map((chunk) => chunk.text));
    // The chunks of the first attempt were not written again.
    expect(all.slice(0, 2 * batchSize).map((row) => row.id)).toEqual(written.map((row) => row.id));
    expect(await documentRow(target.documentId)).toMatchObject({ status: 'ready', attempts: 2 });
  });

  it('gives its lease back when it fails in a way a retry can mend, so the retry claims at once', async () => {
    const baseId = await newBase();
    const target = { tenantId, ...(await newDocument({ baseId, source: handbook(' A retry fixture.') })) };
    const { embedder: local } = countingEmbedder();
    let calls = 0;
    const flaky: Embedder = {
      ...local,
      embed: (texts, options) => {
        calls += 1;
        if (calls === 2) throw new LlmError('openai: 503 overloaded', 'openai', true);
        return local.embed(texts, options);
      },
    };
    await expect(ingestionWith(flaky).ingest(target)).rejects.toThrow('503 overloaded');
    expect(await documentRow(target.documentId)).toMatchObject({
      status: 'processing',
      claimed_until: null,
      chunks_done: batchSize,
    });
    expect(await ingestionWith(flaky).ingest(target)).toMatchObject({ kind: 'ready' });
  });

  it('fails the document on the last attempt of a retryable failure, with a reason and no chunks', async () => {
    const baseId = await newBase();
    const target = {
      tenantId,
      ...(await newDocument({ baseId, source: handbook(' A last-attempt fixture.') })),
    };
    const { embedder: local } = countingEmbedder();
    let calls = 0;
    const failing: Embedder = {
      ...local,
      embed: (texts, options) => {
        calls += 1;
        if (calls >= 2) throw new LlmError('openai: 429 rate limited', 'openai', true);
        return local.embed(texts, options);
      },
    };
    await expect(ingestionWith(failing).ingest(target)).rejects.toThrow('429');
    const outcome = await ingestionWith(failing).ingest(target, { finalAttempt: true });
    expect(outcome).toMatchObject({ kind: 'failed' });
    const row = await documentRow(target.documentId);
    expect(row).toMatchObject({ status: 'failed', searchable_generation: null, claimed_until: null });
    expect(row?.failure_reason).toContain('429 rate limited');
    expect(await chunkRows(target.documentId)).toEqual([]);
  });

  it('a replacement is never half visible: search sees the old generation until the new one is complete', async () => {
    const baseId = await newBase();
    const { documentId } = await newDocument({ baseId, source: 'The first edition, one chunk only.' });
    const { embedder } = countingEmbedder();
    await ingestionWith(embedder).ingest({ tenantId, documentId, generation: 1 });
    const first = await searchable(documentId);
    expect(first.map((row) => row.text)).toEqual(['The first edition, one chunk only.']);

    const generation = await replace(documentId, handbook());
    const repository = new IngestionRepository(db);
    const seen: { text: string; generation: number }[][] = [];
    const watched: IngestionStore = {
      claim: (...args) => repository.claim(...args),
      writeChunks: async (...args) => {
        const written = await repository.writeChunks(...args);
        seen.push(await searchable(documentId));
        return written;
      },
      finish: (...args) => repository.finish(...args),
      fail: (...args) => repository.fail(...args),
      release: (...args) => repository.release(...args),
      stalled: (...args) => repository.stalled(...args),
    };
    await ingestionWith(embedder, watched).ingest({ tenantId, documentId, generation });
    expect(seen.length).toBeGreaterThan(2);
    // Between batches, exactly the first edition.
    for (const view of seen) expect(view).toEqual(first);
    const after = await searchable(documentId);
    expect(after.map((row) => row.text)).toEqual(expectedChunks(handbook()).map((chunk) => chunk.text));
    // The first edition's chunks are gone with the switch.
    expect((await chunkRows(documentId)).every((row) => row.generation === generation)).toBe(true);
    // A job of the superseded generation has nothing to do.
    expect(await ingestionWith(embedder).ingest({ tenantId, documentId, generation: 1 })).toEqual({
      kind: 'skipped',
    });
  });

  it('an unparsable PDF fails with a reason, leaving no chunk and the previous generation searchable', async () => {
    const baseId = await newBase();
    const garbage = Buffer.from('%PDF-1.7\nthis is not really a PDF at all\u0000\u0001\u0002');
    const fresh = await newDocument({ baseId, contentType: 'application/pdf', source: garbage });
    const { embedder, counts } = countingEmbedder();
    const outcome = await ingestionWith(embedder).ingest({ tenantId, ...fresh });
    expect(outcome).toMatchObject({ kind: 'failed' });
    const row = await documentRow(fresh.documentId);
    expect(row?.status).toBe('failed');
    expect(row?.failure_reason).toMatch(/PDF could not be read/);
    expect(await chunkRows(fresh.documentId)).toEqual([]);
    expect(counts.calls).toBe(0);

    // A replacement that cannot be read leaves the ready generation searchable.
    const { documentId } = await newDocument({ baseId, source: 'An edition that can be read.' });
    await ingestionWith(embedder).ingest({ tenantId, documentId, generation: 1 });
    const generation = await replace(documentId, '');
    await db.query(`UPDATE knowledge_documents SET content_type = 'application/pdf' WHERE id = $1`, [
      documentId,
    ]);
    await db.query('UPDATE knowledge_documents SET source = $2 WHERE id = $1', [documentId, garbage]);
    expect(await ingestionWith(embedder).ingest({ tenantId, documentId, generation })).toMatchObject({
      kind: 'failed',
    });
    expect(await documentRow(documentId)).toMatchObject({ status: 'failed', searchable_generation: 1 });
    expect((await searchable(documentId)).map((chunk) => chunk.text)).toEqual([
      'An edition that can be read.',
    ]);
  });

  it('fails documents without text, and content of the wrong kind, at once', async () => {
    const baseId = await newBase();
    const { embedder } = countingEmbedder();
    const cases = [
      { contentType: 'text/plain', source: ' \n\n \t ', reason: 'the document has no text to index' },
      { contentType: 'application/json', source: '{"not": json', reason: 'the document is not valid JSON' },
      { contentType: 'text/plain', source: Buffer.from([0xff, 0xfe, 0x00]), reason: 'not valid UTF-8' },
    ];
    for (const { contentType, source, reason } of cases) {
      const document = await newDocument({ baseId, contentType, source });
      expect(await ingestionWith(embedder).ingest({ tenantId, ...document })).toMatchObject({
        kind: 'failed',
      });
      expect((await documentRow(document.documentId))?.failure_reason).toContain(reason);
    }
  });

  it('stops cleanly when the document is deleted mid-way, leaving nothing', async () => {
    const baseId = await newBase();
    const target = { tenantId, ...(await newDocument({ baseId, source: handbook(' A delete fixture.') })) };
    const repository = new IngestionRepository(db);
    let writes = 0;
    const deleting: IngestionStore = {
      claim: (...args) => repository.claim(...args),
      writeChunks: async (...args) => {
        writes += 1;
        const written = await repository.writeChunks(...args);
        if (writes === 1)
          await db.query('DELETE FROM knowledge_documents WHERE id = $1', [target.documentId]);
        return written;
      },
      finish: (...args) => repository.finish(...args),
      fail: (...args) => repository.fail(...args),
      release: (...args) => repository.release(...args),
      stalled: (...args) => repository.stalled(...args),
    };
    expect(await ingestionWith(countingEmbedder().embedder, deleting).ingest(target)).toEqual({
      kind: 'stopped',
    });
    expect(writes).toBe(2);
    expect(await chunkRows(target.documentId)).toEqual([]);
  });

  it('stops cleanly when the knowledge base is deleted mid-way: nothing more is written, nothing is searchable', async () => {
    const baseId = await newBase();
    const target = {
      tenantId,
      ...(await newDocument({ baseId, source: handbook(' A base-delete fixture.') })),
    };
    const repository = new IngestionRepository(db);
    let writes = 0;
    const deleting: IngestionStore = {
      claim: (...args) => repository.claim(...args),
      writeChunks: async (...args) => {
        writes += 1;
        const written = await repository.writeChunks(...args);
        if (writes === 1)
          await db.query('UPDATE knowledge_bases SET deleted_at = now() WHERE id = $1', [baseId]);
        return written;
      },
      finish: (...args) => repository.finish(...args),
      fail: (...args) => repository.fail(...args),
      release: (...args) => repository.release(...args),
      stalled: (...args) => repository.stalled(...args),
    };
    expect(await ingestionWith(countingEmbedder().embedder, deleting).ingest(target)).toEqual({
      kind: 'stopped',
    });
    expect(await chunkRows(target.documentId)).toHaveLength(batchSize);
    expect(await searchable(target.documentId)).toEqual([]);
    // Nothing claims it again; retention removes the rows (below).
    expect(await ingestionWith(countingEmbedder().embedder).ingest(target)).toEqual({ kind: 'skipped' });
  });

  it('re-ingesting an unchanged document makes no provider call; an edit embeds only the chunks that changed', async () => {
    const baseId = await newBase();
    const { documentId } = await newDocument({
      baseId,
      title: 'Cached handbook',
      source: handbook(' Cached.'),
    });
    const { embedder, counts } = countingEmbedder();
    await ingestionWith(embedder).ingest({ tenantId, documentId, generation: 1 });
    const firstCalls = counts.calls;
    expect(firstCalls).toBeGreaterThan(0);

    const unchanged = await replace(documentId, handbook(' Cached.'));
    expect(
      await ingestionWith(embedder).ingest({ tenantId, documentId, generation: unchanged }),
    ).toMatchObject({
      kind: 'ready',
    });
    expect(counts.calls).toBe(firstCalls);

    const edited = handbook(' Cached, then edited: the barn owl screeches rather than hoots.');
    const generation = await replace(documentId, edited);
    counts.texts.length = 0;
    await ingestionWith(embedder).ingest({ tenantId, documentId, generation });
    const inputs = (text: string) =>
      expectedChunks(text).map((chunk) =>
        embeddingInput('Cached handbook', { ...chunk, heading: chunk.heading ?? null }),
      );
    const before = new Set(inputs(handbook(' Cached.')));
    const changed = inputs(edited).filter((input) => !before.has(input));
    expect(changed.length).toBeGreaterThan(0);
    expect(changed.length).toBeLessThan(expectedChunks(edited).length);
    expect(counts.texts.sort()).toEqual(changed.sort());
  });

  it('does not cache the local embedder’s vectors: computing one costs less than looking it up', async () => {
    const baseId = await newBase();
    const target = { tenantId, ...(await newDocument({ baseId, source: handbook(' Local.') })) };
    const from = statements.length;
    expect(await ingestionWith(new LocalEmbedder(dimensions)).ingest(target)).toMatchObject({
      kind: 'ready',
    });
    expect(statements.slice(from).filter((text) => text.includes('embedding_cache'))).toEqual([]);
  });

  it('stores the vectors a client sent as given, embeds the chunks without one, and refuses a wrong dimension', async () => {
    const baseId = await newBase();
    const given = Array.from({ length: dimensions }, (_, i) => Math.sin(i + 1) / 7);
    const chunks = [
      { text: 'A chunk the client embedded.', heading: 'Mine', embedding: given },
      { text: 'A chunk left to the platform.' },
    ];
    const target = {
      tenantId,
      ...(await newDocument({
        baseId,
        title: 'Provided',
        contentType: 'text/plain',
        source: JSON.stringify(chunks),
        sourceKey: chunksSourceKey,
      })),
    };
    const { embedder, counts } = countingEmbedder();
    expect(await ingestionWith(embedder).ingest(target)).toEqual({ kind: 'ready', chunks: 2 });
    expect(counts.texts).toEqual([embeddingInput('Provided', { text: chunks[1]!.text, heading: null })]);
    const rows = await db.query<{ text: string; heading: string | null; embedding: number[] }>(
      'SELECT text, heading, embedding FROM knowledge_chunks WHERE document_id = $1 ORDER BY ordinal',
      [target.documentId],
    );
    expect(rows.map((row) => [row.text, row.heading])).toEqual([
      ['A chunk the client embedded.', 'Mine'],
      ['A chunk left to the platform.', null],
    ]);
    // Exactly the client's numbers, to the column's single precision (which the text form
    // PostgreSQL answers in gives back exactly as a float4).
    expect(rows[0]!.embedding.map((x) => Math.fround(x))).toEqual(given.map((x) => Math.fround(x)));

    const wrong = {
      tenantId,
      ...(await newDocument({
        baseId,
        contentType: 'text/plain',
        source: JSON.stringify([{ text: 'Short vector.', embedding: [0.5, 0.5] }]),
        sourceKey: chunksSourceKey,
      })),
    };
    const outcome = await ingestionWith(embedder).ingest(wrong);
    expect(outcome).toEqual({
      kind: 'failed',
      reason: "chunk 0 has an embedding of 2 dimensions; the knowledge base's model has 384",
    });
    expect(await chunkRows(wrong.documentId)).toEqual([]);
  });

  it('ingests an uploaded file once it has landed, and fails one that never arrives', async () => {
    const baseId = await newBase();
    const documentId = randomUUID();
    const key = uploadKey(tenantId, documentId, 1);
    await db.query(
      `INSERT INTO knowledge_documents (id, tenant_id, knowledge_base_id, title, content_type, status, source_key, created_at, updated_at)
       VALUES ($1, $2, $3, 'Uploaded', 'text/html', 'processing', $4, now(), now())`,
      [documentId, tenantId, baseId, key],
    );
    const { embedder } = countingEmbedder();
    // Its job is named by the upload's key; before the file is there, it waits.
    const target = targetOf({
      ...ingestionJob({ tenantId, documentId, generation: 1 }),
      ids: { upload_key: key },
    });
    expect(target).toEqual({ tenantId, documentId, generation: 1 });
    expect(await ingestionWith(embedder).ingest(target)).toEqual({ kind: 'waiting' });
    expect(await documentRow(documentId)).toMatchObject({ status: 'processing', claimed_until: null });
    uploads.set(key, Buffer.from('<h1>Barn owls</h1><p>They nest in barns and church towers.</p>'));
    expect(await ingestionWith(embedder).ingest(target)).toEqual({ kind: 'ready', chunks: 1 });
    expect((await chunkRows(documentId)).map((row) => [row.heading, row.text])).toEqual([
      ['Barn owls', '# Barn owls\n\nThey nest in barns and church towers.'],
    ]);

    const { documentId: lost } = await newDocument({
      baseId,
      sourceKey: uploadKey(tenantId, randomUUID(), 1),
    });
    const outcomes = [];
    for (let attempt = 0; attempt < 4; attempt += 1) {
      outcomes.push(
        (await ingestionWith(embedder).ingest({ tenantId, documentId: lost, generation: 1 })).kind,
      );
    }
    expect(outcomes).toEqual(['waiting', 'waiting', 'waiting', 'failed']);
    expect((await documentRow(lost))?.failure_reason).toBe(
      'no file arrived at the upload URL before it expired',
    );
  });

  it('continues a long document in a message of its own when its time is up', async () => {
    const baseId = await newBase();
    const target = {
      tenantId,
      ...(await newDocument({ baseId, source: handbook(' A continuation fixture.') })),
    };
    const { embedder } = countingEmbedder();
    queued.length = 0;
    const hurried = ingestionWith(embedder, undefined, { continueWithinMs: 0 });
    expect(await hurried.ingest(target)).toEqual({ kind: 'continued', chunksDone: batchSize });
    expect(queued).toHaveLength(1);
    expect(targetOf(queued[0]!)).toEqual(target);
    // The lease is free for the continuation, which goes on where the last one stopped.
    expect(await documentRow(target.documentId)).toMatchObject({
      claimed_until: null,
      chunks_done: batchSize,
    });
    const outcome = await ingestionWith(embedder).ingest(targetOf(queued[0]!));
    expect(outcome).toMatchObject({ kind: 'ready' });
  });

  it(`fails a document claimed ${maxIngestionAttempts} times without finishing`, async () => {
    const baseId = await newBase();
    const target = { tenantId, ...(await newDocument({ baseId, source: handbook() })) };
    await db.query('UPDATE knowledge_documents SET attempts = $2 WHERE id = $1', [
      target.documentId,
      maxIngestionAttempts,
    ]);
    expect(await ingestionWith(countingEmbedder().embedder).ingest(target)).toEqual({
      kind: 'failed',
      reason: `the ingestion did not finish in ${maxIngestionAttempts} attempts`,
    });
  });

  it('the sweeper sends again the documents nobody is ingesting, once per staleness', async () => {
    const baseId = await newBase();
    // A worker died holding it; a message lost before any claim; one in good hands.
    const dead = await newDocument({ baseId, source: 'dead worker' });
    await db.query(
      "UPDATE knowledge_documents SET claimed_until = now() - interval '1 second', attempts = 1 WHERE id = $1",
      [dead.documentId],
    );
    const lost = await newDocument({ baseId, source: 'lost message' });
    await db.query(
      "UPDATE knowledge_documents SET updated_at = now() - interval '10 minutes' WHERE id = $1",
      [lost.documentId],
    );
    const held = await newDocument({ baseId, source: 'held' });
    await db.query(
      "UPDATE knowledge_documents SET claimed_until = now() + interval '1 minute' WHERE id = $1",
      [held.documentId],
    );
    const repository = new IngestionRepository(db);
    queued.length = 0;
    expect(
      await sweepDocuments(repository, queue, ingestionJob, { staleSeconds: 300 }),
    ).toBeGreaterThanOrEqual(2);
    const resent = queued.map(targetOf).filter((target) => target.tenantId === tenantId);
    expect(resent).toContainEqual({ tenantId, ...dead });
    expect(resent).toContainEqual({ tenantId, ...lost });
    expect(resent.map((target) => target.documentId)).not.toContain(held.documentId);
    // The touch: the next sweep leaves them to the messages just sent.
    queued.length = 0;
    await sweepDocuments(repository, queue, ingestionJob, { staleSeconds: 300 });
    expect(queued.map((job) => targetOf(job).documentId)).not.toContain(dead.documentId);
    expect(queued.map((job) => targetOf(job).documentId)).not.toContain(lost.documentId);
    // The message sent again ingests it.
    expect(await ingestionWith(countingEmbedder().embedder).ingest({ tenantId, ...dead })).toMatchObject({
      kind: 'ready',
    });
  });

  it('retention purges expired documents, deleted knowledge bases past their grace and old cache entries', async () => {
    const now = new Date();
    const hour = 3_600_000;
    const baseId = await newBase();
    const { embedder } = countingEmbedder();
    // Expired an hour ago, expiring in an hour, never expiring.
    const expired = await newDocument({
      baseId,
      source: 'Expired.',
      expiresAt: new Date(now.getTime() - hour),
    });
    const expiring = await newDocument({
      baseId,
      source: 'Expiring.',
      expiresAt: new Date(now.getTime() + hour),
    });
    const kept = await newDocument({ baseId, source: 'Kept.' });
    for (const document of [expired, expiring, kept])
      await ingestionWith(embedder).ingest({ tenantId, ...document });

    // Deleted two days ago, with more documents than a batch; deleted an hour ago.
    const gone = await newBase();
    const goneDocuments = [];
    for (let i = 0; i < 5; i += 1) {
      const document = await newDocument({ baseId: gone, source: `Document ${i} of a deleted base.` });
      await ingestionWith(embedder).ingest({ tenantId, ...document });
      goneDocuments.push(document.documentId);
    }
    await db.query("UPDATE knowledge_bases SET deleted_at = now() - interval '2 days' WHERE id = $1", [gone]);
    const recent = await newBase();
    const recentDocument = await newDocument({ baseId: recent, source: 'Recently deleted.' });
    await ingestionWith(embedder).ingest({ tenantId, ...recentDocument });
    await db.query("UPDATE knowledge_bases SET deleted_at = now() - interval '1 hour' WHERE id = $1", [
      recent,
    ]);

    // Cache entries: one made 100 days ago, the rest now.
    await db.query(
      `UPDATE embedding_cache SET created_at = now() - interval '100 days'
        WHERE ctid = (SELECT ctid FROM embedding_cache WHERE tenant_id = $1 LIMIT 1)`,
      [tenantId],
    );
    const count = async (sql: string, values: unknown[] = []) =>
      Number((await db.query<{ n: string }>(sql, values))[0]!.n);
    const cacheBefore = await count('SELECT count(*) AS n FROM embedding_cache');
    const versionBefore = await count('SELECT version AS n FROM knowledge_bases WHERE id = $1', [baseId]);

    const dry = await runRetention(db, { now, dryRun: true, batchSize: 2 });
    const tally = (report: typeof dry) =>
      Object.fromEntries(
        report.knowledge.map((t) => [t.table, { deleted: t.deleted, cascaded: t.cascaded }]),
      );
    expect(tally(dry)).toEqual({
      knowledge_documents: { deleted: 1, cascaded: 1 },
      knowledge_bases: { deleted: 1, cascaded: 10 },
      embedding_cache: { deleted: 1, cascaded: 0 },
      knowledge_retrievals: { deleted: 0, cascaded: 0 },
    });

    const report = await runRetention(db, { now, batchSize: 2, budgetMs: null });
    expect(tally(report)).toEqual(tally(dry));
    expect(report.complete).toBe(true);
    // Documents of the deleted base went two a batch, then the base.
    expect(report.knowledge.find((t) => t.table === 'knowledge_bases')?.batches).toBeGreaterThanOrEqual(4);

    expect(await documentRow(expired.documentId)).toBeUndefined();
    expect(await chunkRows(expired.documentId)).toEqual([]);
    expect(await documentRow(expiring.documentId)).toBeDefined();
    expect(await documentRow(kept.documentId)).toBeDefined();
    expect(await count('SELECT version AS n FROM knowledge_bases WHERE id = $1', [baseId])).toBe(
      versionBefore + 1,
    );
    expect(await count('SELECT count(*) AS n FROM knowledge_bases WHERE id = $1', [gone])).toBe(0);
    expect(
      await count('SELECT count(*) AS n FROM knowledge_documents WHERE id = ANY($1::uuid[])', [
        goneDocuments,
      ]),
    ).toBe(0);
    expect(
      await count('SELECT count(*) AS n FROM knowledge_chunks WHERE knowledge_base_id = $1', [gone]),
    ).toBe(0);
    // Within its grace: kept, with its rows.
    expect(
      await count('SELECT count(*) AS n FROM knowledge_chunks WHERE knowledge_base_id = $1', [recent]),
    ).toBe(1);
    expect(await count('SELECT count(*) AS n FROM embedding_cache')).toBe(cacheBefore - 1);

    // Nothing left to do.
    const again = await runRetention(db, { now, batchSize: 2, budgetMs: null });
    expect(again.knowledge.reduce((sum, t) => sum + t.deleted + t.cascaded, 0)).toBe(0);
  });
};

describe('knowledge ingestion on embedded PostgreSQL (PGlite)', () => {
  const url = useEmbeddedPostgres();
  ingestionChecks(url);
});

describeRealServers('knowledge ingestion on PostgreSQL 15', (servers) => {
  ingestionChecks(() => servers.postgresUrl);
});
