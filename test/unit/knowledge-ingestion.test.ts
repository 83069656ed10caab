import { describe, expect, it } from 'vitest';
import { LocalEmbedder } from '#adapters/embeddings/local.ts';
import { ExtractionError } from '#adapters/extraction/text.ts';
import type { Embedder } from '#domain/embedding.ts';
import { NonRetryableError, newJob } from '#domain/jobs.ts';
import { type KnowledgeBase, uploadedFileJob, uploadKey } from '#domain/knowledge.ts';
import { LlmError } from '#domain/llm.ts';
import {
  DocumentIngestion,
  embeddingInput,
  ingestionJob,
  targetOf,
  worthCaching,
} from '#services/knowledge-ingestion.ts';
import type { IngestionClaim, IngestionStore, NewChunk } from '#services/ports.ts';

const tenantId = '0190a000-0000-7000-8000-000000000001';
const documentId = '0190a000-0000-7000-8000-000000000002';

describe('the knowledge.ingest job envelope', () => {
  it('names a generation of a document, and back', () => {
    const job = ingestionJob({ tenantId, documentId, generation: 3 });
    expect(job).toMatchObject({
      type: 'knowledge.ingest',
      tenant_id: tenantId,
      ids: { document_id: documentId, generation: '3' },
      idempotency_key: `ingest:${documentId}:3`,
    });
    expect(targetOf(job)).toEqual({ tenantId, documentId, generation: 3 });
  });

  it('or names it by the key of an uploaded file, as the storage event brings it', () => {
    const job = uploadedFileJob(uploadKey(tenantId, documentId, 2), new Date().toISOString());
    expect(targetOf(job)).toEqual({ tenantId, documentId, generation: 2 });
  });

  it('refuses for good an envelope that names no generation', () => {
    const bad = [
      newJob('knowledge.ingest', tenantId, {}, 'k'),
      newJob('knowledge.ingest', tenantId, { document_id: documentId }, 'k'),
      newJob('knowledge.ingest', tenantId, { document_id: documentId, generation: '0' }, 'k'),
      newJob('knowledge.ingest', tenantId, { document_id: documentId, generation: '1.5' }, 'k'),
      newJob('knowledge.ingest', '', { upload_key: 'uploads/elsewhere' }, 'k'),
    ];
    for (const job of bad) expect(() => targetOf(job)).toThrow(NonRetryableError);
  });
});

describe('what ingestion embeds and caches', () => {
  it('puts the title and heading path above the chunk’s text', () => {
    expect(embeddingInput('Owls', { text: 'They hoot.', heading: 'Calls > Hooting' })).toBe(
      'Owls > Calls > Hooting\n\nThey hoot.',
    );
    expect(embeddingInput('Owls', { text: 'They hoot.', heading: null })).toBe('Owls\n\nThey hoot.');
  });

  it('caches a provider’s vectors, not the local embedder’s', () => {
    expect(worthCaching(new LocalEmbedder(384))).toBe(false);
    expect(worthCaching({ provider: 'openai', model: 'text-embedding-3-small', dimensions: 1536 })).toBe(
      true,
    );
    expect(
      worthCaching({ provider: 'bedrock', model: 'amazon.titan-embed-text-v2:0', dimensions: 1024 }),
    ).toBe(true);
  });
});

/**
 * An in-memory store of one document (the SQL is tested on PGlite and PostgreSQL in
 * test/integration/knowledge-ingestion.test.ts): which failures fail the document, and which
 * are left to the queue's retries.
 */
const memoryStore = (source: IngestionClaim['source'], contentType: IngestionClaim['contentType']) => {
  const base: KnowledgeBase = {
    id: '0190a000-0000-7000-8000-000000000003',
    tenantId,
    name: 'Base',
    description: null,
    embedding: { provider: 'openai', model: 'text-embedding-3-small', dimensions: 8 },
    language: 'english',
    chunking: { sizeTokens: 50, overlapTokens: 40 },
    version: 1,
    createdAt: new Date(),
    updatedAt: new Date(),
  };
  const state = {
    status: 'processing' as 'processing' | 'ready' | 'failed',
    reason: null as string | null,
    leased: false,
    attempts: 0,
    chunks: [] as NewChunk[],
  };
  const store: IngestionStore = {
    async claim() {
      if (state.status !== 'processing' || state.leased) return null;
      state.leased = true;
      state.attempts += 1;
      return {
        tenantId,
        documentId,
        generation: 1,
        base,
        title: 'Doc',
        contentType,
        source,
        attempts: state.attempts,
        leaseSeconds: 90,
        chunksDone: state.chunks.length,
        lastChunkSha256: null,
      };
    },
    async writeChunks(_claim, chunks) {
      state.chunks.push(...chunks);
      return true;
    },
    async finish() {
      state.status = 'ready';
      state.leased = false;
      return { ...base, version: base.version + 1 };
    },
    async fail(_claim, reason) {
      state.status = 'failed';
      state.reason = reason;
      state.leased = false;
      state.chunks = [];
    },
    async release() {
      state.leased = false;
    },
    async stalled() {
      return [];
    },
  };
  return { store, state };
};

const ingestionWith = (store: IngestionStore, embed: Embedder['embed']) =>
  new DocumentIngestion(
    {
      store,
      cache: { getMany: async () => new Map(), putMany: async () => {} },
      embedderFor: async () => ({
        provider: 'openai',
        model: 'text-embedding-3-small',
        dimensions: 8,
        embed,
      }),
      queue: { enqueue: async () => {} },
      readUpload: async () => undefined,
    },
    { batchSize: 4, leaseSeconds: 90, continueWithinMs: 60_000 },
  );

const text = (value: string) => ({ kind: 'inline' as const, bytes: new TextEncoder().encode(value) });
const vectors = async (texts: readonly string[]) => ({
  vectors: texts.map(() => [1, 0, 0, 0, 0, 0, 0, 0]),
  inputTokens: texts.length,
});

describe('document ingestion’s failures', () => {
  it('fails at once what no retry can fix: a provider’s lasting refusal, unreadable content', async () => {
    const refused = memoryStore(text('Some words to embed.'), 'text/plain');
    const outcome = await ingestionWith(refused.store, async () => {
      throw new LlmError('openai: 400 input too long', 'openai', false);
    }).ingest({ tenantId, documentId, generation: 1 });
    expect(outcome).toEqual({
      kind: 'failed',
      reason: 'the embedding provider refused: openai: 400 input too long',
    });

    const unreadable = memoryStore(text('{"half": '), 'application/json');
    expect(
      await ingestionWith(unreadable.store, vectors).ingest({ tenantId, documentId, generation: 1 }),
    ).toEqual({
      kind: 'failed',
      reason: new ExtractionError('the document is not valid JSON').message,
    });
  });

  it('leaves a passing failure to the queue’s retry, its lease given back, and fails on the last attempt without internals', async () => {
    const { store, state } = memoryStore(text('Some words to embed.'), 'text/plain');
    const down = async () => {
      throw new Error('connect ECONNREFUSED 10.0.0.12:5432');
    };
    const ingestion = ingestionWith(store, down);
    await expect(ingestion.ingest({ tenantId, documentId, generation: 1 })).rejects.toThrow('ECONNREFUSED');
    expect(state).toMatchObject({ status: 'processing', leased: false });
    const last = await ingestion.ingest({ tenantId, documentId, generation: 1 }, { finalAttempt: true });
    expect(last).toEqual({
      kind: 'failed',
      reason: 'the ingestion failed on every attempt (last: an internal error)',
    });
  });

  it('chunks with the overlap the chunker allows when a base asks for more than half a chunk', async () => {
    const { store, state } = memoryStore(text('word '.repeat(400)), 'text/plain');
    expect(await ingestionWith(store, vectors).ingest({ tenantId, documentId, generation: 1 })).toMatchObject(
      {
        kind: 'ready',
      },
    );
    expect(state.chunks.length).toBeGreaterThan(1);
    expect(Math.max(...state.chunks.map((chunk) => chunk.tokens))).toBeLessThanOrEqual(50);
  });
});
