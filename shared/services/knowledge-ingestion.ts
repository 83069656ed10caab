import * as z from 'zod/mini';
import { jobQueue } from '#adapters/aws/job-queue.ts';
import { embedderFor } from '#adapters/embeddings/registry.ts';
import { ExtractionError, extractText } from '#adapters/extraction/text.ts';
import { database } from '#adapters/postgres/db.ts';
import { EmbeddingCacheRepository } from '#adapters/postgres/embedding-cache.ts';
import { IngestionRepository } from '#adapters/postgres/knowledge-ingestion.ts';
import { uploadStore } from '#adapters/uploads/store.ts';
import { type ChunkingSettings, chunkText, estimateTokens } from '#domain/chunking.ts';
import type { Embedder, EmbeddingModel } from '#domain/embedding.ts';
import { newId } from '#domain/ids.ts';
import { type JobEnvelope, NonRetryableError } from '#domain/jobs.ts';
import { type KnowledgeBase, parseUploadKey, providedChunk } from '#domain/knowledge.ts';
import { LlmError } from '#domain/llm.ts';
import { functions } from '#manifest';
import { config } from '#runtime/config.ts';
import { logger, metrics } from '#runtime/observability.ts';
import type { JobContext } from '#workers/consumer.ts';
import { onContainerReset, sharedCache } from './container.ts';
import { embedWithCache, textHash } from './embedding.ts';
import { ingestJob, knowledgeBaseCacheKey } from './knowledge.ts';
import type { EmbeddingCache, IngestionClaim, IngestionStore, JobQueue, NewChunk } from './ports.ts';
import { toCached } from './resources.ts';
import { sweepDocuments } from './sweeper.ts';

/**
 * The `knowledge.ingest` job: a document's generation from its source to searchable chunks.
 * Claim (a lease) → extract → chunk with the base's settings → per batch of
 * `embeddingBatchSize` chunks: embed what the cache lacks, write the batch in one statement →
 * finish (the generation becomes the searchable one in one statement). Until then search shows
 * the previous generation, or nothing: a document is never half-searchable.
 *
 * A retry resumes after the chunks already written; a document too big for one invocation
 * continues in a message of its own. What no retry can fix (unreadable content, no text, a
 * vector of the wrong length) fails the document with its reason, as does the last attempt of a
 * retryable failure: nothing stays in processing for ever, and nothing is left half-indexed.
 */

/** Which generation of which document a job ingests. */
export interface IngestionTarget {
  readonly tenantId: string;
  readonly documentId: string;
  readonly generation: number;
}

/** The job of a document's generation, as the document routes send it: for continuations and the sweeper. */
export const ingestionJob = (target: IngestionTarget): JobEnvelope =>
  ingestJob({ id: target.documentId, tenantId: target.tenantId, generation: target.generation });

/** The target a job names: by document and generation, or by the key of an uploaded file. */
export const targetOf = (job: JobEnvelope): IngestionTarget => {
  const uploadKey = job.ids['upload_key'];
  if (uploadKey !== undefined) {
    const target = parseUploadKey(uploadKey);
    if (!target) throw new NonRetryableError(`knowledge.ingest job for an unknown upload key "${uploadKey}"`);
    return target;
  }
  const documentId = job.ids['document_id'];
  const generation = Number(job.ids['generation']);
  if (!documentId || !Number.isInteger(generation) || generation < 1) {
    throw new NonRetryableError('knowledge.ingest job without document_id and generation');
  }
  return { tenantId: job.tenant_id, documentId, generation };
};

/**
 * Claims of one generation before it fails as unable to finish: retries, sweeps and
 * continuations together. A continuation is ~45 s of work, so this is minutes of ingestion,
 * far beyond what a 50 MB file needs, and it stops a document that kills its worker every time
 * (out of memory, say) from being swept back for ever.
 */
export const maxIngestionAttempts = 10;

/** Claims an upload document may wait for its file (a sweep every SWEEPER_STALE_SECONDS between them). */
const uploadWaitAttempts = 4;

/** Failures no retry can fix: the document fails with this message as its reason. */
export class IngestionRefusal extends Error {
  override name = 'IngestionRefusal';
}

/** An upload document whose file has not landed yet: its upload's event will bring the job again. */
class NotUploaded extends Error {}

/**
 * Whether an embedder's vectors go through the embedding cache: a provider's do (each call costs
 * money, quota and a round trip), the local embedder's do not. It computes a chunk's vector in
 * about 0.4 ms of the worker's CPU, while looking it up and storing it costs more than that (two
 * statements a batch, ~0.3 ms of database time a chunk plus its vector's text both ways;
 * load/knowledge-ingestion.ts), and an unchanged document calls no provider either way.
 */
export const worthCaching = (embedder: EmbeddingModel): boolean => embedder.provider !== 'local';

/** No cache: every text is embedded. */
const noCache: EmbeddingCache = {
  getMany: async () => new Map(),
  putMany: async () => {},
};

/** A chunk to write, before its id and vector. */
interface PlannedChunk {
  readonly text: string;
  readonly heading: string | null;
  readonly tokens: number;
  /** The client's own vector (documents posted with chunks), used as given. */
  readonly embedding?: readonly number[];
}

export type IngestionOutcome =
  /** Nothing to do: done already, superseded, deleted, or another worker holds the lease. */
  | { readonly kind: 'skipped' }
  | { readonly kind: 'ready'; readonly chunks: number }
  | { readonly kind: 'failed'; readonly reason: string }
  /** The claim went void on the way (deleted, replaced, base deleted): stopped, nothing written after. */
  | { readonly kind: 'stopped' }
  /** Out of time: the rest is another message's. */
  | { readonly kind: 'continued'; readonly chunksDone: number }
  /** An upload document whose file is not there yet. */
  | { readonly kind: 'waiting' };

export interface IngestionSettings {
  /** Chunks per batch: one provider call (at most) and one insert each. */
  readonly batchSize: number;
  readonly leaseSeconds: number;
  /** Past this much work in one invocation, the rest continues in a message of its own. */
  readonly continueWithinMs: number;
}

export interface IngestionDependencies {
  readonly store: IngestionStore;
  readonly cache: EmbeddingCache;
  readonly embedderFor: (model: EmbeddingModel) => Promise<Embedder>;
  /** Continuations go back on the queue. */
  readonly queue: JobQueue;
  /** An uploaded file's bytes (null: not uploaded); undefined where no upload store is configured. */
  readonly readUpload: (key: string) => Promise<Uint8Array | null | undefined>;
  /** Puts the base a finished ingestion left (its version moved) where the API and search read it. */
  readonly rememberBase?: (base: KnowledgeBase) => Promise<void>;
}

const chunksSchema = z.array(providedChunk);

/** The chunker's settings as a base holds them; the chunker allows at most half a chunk of overlap. */
const chunkingOf = (settings: ChunkingSettings): ChunkingSettings => ({
  sizeTokens: settings.sizeTokens,
  overlapTokens: Math.min(settings.overlapTokens, Math.floor(settings.sizeTokens / 2)),
});

/**
 * What the embedder reads for a chunk: the document's title and the chunk's heading path above
 * its text, so a passage that never names its subject still lands near it. The stored text
 * (what search shows and agents cite) is the chunk's alone.
 */
export const embeddingInput = (title: string, chunk: { text: string; heading: string | null }): string =>
  `${chunk.heading ? `${title} > ${chunk.heading}` : title}\n\n${chunk.text}`;

export class DocumentIngestion {
  constructor(
    private readonly deps: IngestionDependencies,
    private readonly settings: IngestionSettings,
  ) {}

  async ingest(target: IngestionTarget, options: { finalAttempt?: boolean } = {}): Promise<IngestionOutcome> {
    const started = performance.now();
    const { store } = this.deps;
    const claim = await store.claim(
      target.tenantId,
      target.documentId,
      target.generation,
      this.settings.leaseSeconds,
    );
    if (!claim) return { kind: 'skipped' };
    // What this attempt paid for, recorded however it ends.
    const usage: Usage = { providerCalls: 0, cachedTexts: 0, embeddedTexts: 0, inputTokens: 0, written: 0 };
    try {
      if (claim.attempts > maxIngestionAttempts) {
        throw new IngestionRefusal(`the ingestion did not finish in ${maxIngestionAttempts} attempts`);
      }
      const chunks = await this.plan(claim);
      return await this.write(claim, chunks, started, usage);
    } catch (error) {
      if (error instanceof NotUploaded) {
        if (claim.attempts < uploadWaitAttempts) {
          await store.release(claim);
          return { kind: 'waiting' };
        }
        return this.failed(claim, 'no file arrived at the upload URL before it expired');
      }
      const reason = refusalReason(error);
      if (reason !== undefined) return this.failed(claim, reason);
      if (options.finalAttempt) {
        logger.error('document ingestion failed on its last attempt', { ...target, error: errorText(error) });
        return this.failed(claim, `the ingestion failed on every attempt (last: ${publicReason(error)})`);
      }
      // Retried by the queue: the lease goes now, so the retry can claim at once.
      await store.release(claim);
      throw error;
    } finally {
      record(usage);
    }
  }

  /** The document's chunks, in order: cut from its text, or as the client cut them. */
  private async plan(claim: IngestionClaim): Promise<PlannedChunk[]> {
    const { source } = claim;
    if (source.kind === 'chunks') return this.providedChunks(claim, source.bytes);
    let bytes: Uint8Array;
    if (source.kind === 'upload') {
      const uploaded = await this.deps.readUpload(source.key);
      if (uploaded === undefined)
        throw new IngestionRefusal('uploaded files cannot be read here: no upload store');
      if (uploaded === null) throw new NotUploaded();
      bytes = uploaded;
    } else {
      bytes = source.bytes;
    }
    const text = await extractText(claim.contentType, bytes);
    const chunks = chunkText(text, chunkingOf(claim.base.chunking));
    if (chunks.length === 0) throw new IngestionRefusal('the document has no text to index');
    return chunks.map((chunk) => ({
      text: chunk.text,
      heading: chunk.heading ?? null,
      tokens: chunk.tokens,
    }));
  }

  private providedChunks(claim: IngestionClaim, bytes: Uint8Array): PlannedChunk[] {
    let json: unknown;
    try {
      json = JSON.parse(new TextDecoder().decode(bytes));
    } catch {
      throw new IngestionRefusal('the document’s chunks are not JSON');
    }
    const parsed = chunksSchema.safeParse(json);
    if (!parsed.success || parsed.data.length === 0) {
      throw new IngestionRefusal('the document’s chunks are not a list of {text, heading?, embedding?}');
    }
    const { dimensions } = claim.base.embedding;
    return parsed.data.map((chunk, i) => {
      if (chunk.embedding) {
        if (chunk.embedding.length !== dimensions) {
          throw new IngestionRefusal(
            `chunk ${i} has an embedding of ${chunk.embedding.length} dimensions; the knowledge base's model has ${dimensions}`,
          );
        }
        // Stored in single precision, compared by angle: a value beyond float4, or no direction at all, cannot be searched.
        if (!chunk.embedding.every((x) => Number.isFinite(Math.fround(x)))) {
          throw new IngestionRefusal(`chunk ${i} has an embedding value beyond single precision`);
        }
        if (chunk.embedding.every((x) => Math.fround(x) === 0)) {
          throw new IngestionRefusal(
            `chunk ${i} has an embedding of zeros, which has no direction to compare`,
          );
        }
      }
      return {
        text: chunk.text,
        heading: chunk.heading ?? null,
        tokens: estimateTokens(chunk.text),
        ...(chunk.embedding && { embedding: chunk.embedding }),
      };
    });
  }

  private async write(
    claim: IngestionClaim,
    chunks: PlannedChunk[],
    started: number,
    usage: Usage,
  ): Promise<IngestionOutcome> {
    const { store, cache } = this.deps;
    const { batchSize } = this.settings;
    // Resume after what an earlier attempt wrote, if this chunking reproduces it (the base's
    // chunking may have changed since: then start over, overwriting).
    const last = claim.chunksDone > 0 ? chunks[claim.chunksDone - 1] : undefined;
    const resumeAt =
      last && claim.lastChunkSha256 !== null && textHash(last.text) === claim.lastChunkSha256
        ? claim.chunksDone
        : 0;
    const embedder = await this.deps.embedderFor(claim.base.embedding);
    for (let start = resumeAt; start < chunks.length; start += batchSize) {
      if (start > resumeAt && performance.now() - started > this.settings.continueWithinMs) {
        await store.release(claim);
        await this.deps.queue.enqueue(ingestionJob(claim));
        return { kind: 'continued', chunksDone: start };
      }
      const batch = chunks.slice(start, start + batchSize);
      const toEmbed = batch.filter((chunk) => chunk.embedding === undefined);
      const vectors: (readonly number[])[] = [];
      if (toEmbed.length > 0) {
        const embedded = await embedWithCache(
          claim.tenantId,
          toEmbed.map((chunk) => embeddingInput(claim.title, chunk)),
          embedder,
          worthCaching(embedder) ? cache : noCache,
          { batchSize },
        );
        vectors.push(...embedded.vectors);
        usage.providerCalls += embedded.providerCalls;
        usage.cachedTexts += embedded.cachedTexts;
        usage.embeddedTexts += embedded.embeddedTexts;
        usage.inputTokens += embedded.inputTokens;
      }
      let next = 0;
      const rows: NewChunk[] = batch.map((chunk, i) => ({
        id: newId(),
        ordinal: start + i,
        heading: chunk.heading,
        text: chunk.text,
        tokens: chunk.tokens,
        embedding: chunk.embedding ?? vectors[next++]!,
      }));
      if (!(await store.writeChunks(claim, rows, chunks.length))) return { kind: 'stopped' };
      usage.written += rows.length;
    }
    const base = await store.finish(claim, chunks.length);
    if (!base) return { kind: 'stopped' };
    // The base's new version, where search reads it: its cached results of the old one go unused.
    await this.deps.rememberBase?.(base).catch((error: unknown) =>
      logger.warn('could not cache the knowledge base after an ingestion', {
        knowledgeBaseId: base.id,
        error: errorText(error),
      }),
    );
    metrics.addMetric('DocumentsIngested', 'Count', 1);
    logger.info('document ingested', {
      tenantId: claim.tenantId,
      documentId: claim.documentId,
      generation: claim.generation,
      chunks: chunks.length,
      resumedAt: resumeAt,
      ...usage,
      ms: Math.round(performance.now() - started),
    });
    return { kind: 'ready', chunks: chunks.length };
  }

  private async failed(claim: IngestionClaim, reason: string): Promise<IngestionOutcome> {
    await this.deps.store.fail(claim, reason);
    metrics.addMetric('DocumentIngestionFailures', 'Count', 1);
    logger.warn('document ingestion failed', {
      tenantId: claim.tenantId,
      documentId: claim.documentId,
      generation: claim.generation,
      reason,
    });
    return { kind: 'failed', reason };
  }
}

interface Usage {
  providerCalls: number;
  cachedTexts: number;
  embeddedTexts: number;
  inputTokens: number;
  written: number;
}

/** What embedding cost (the dashboard's embedding calls and cache hit ratio) and what was written. */
const record = (usage: Usage): void => {
  metrics.addMetric('ChunksIngested', 'Count', usage.written);
  metrics.addMetric('EmbeddingCalls', 'Count', usage.providerCalls);
  metrics.addMetric('EmbeddingCacheHits', 'Count', usage.cachedTexts);
  metrics.addMetric('EmbeddingCacheMisses', 'Count', usage.embeddedTexts);
  metrics.addMetric('EmbeddingTokens', 'Count', usage.inputTokens);
};

const errorText = (error: unknown): string => (error instanceof Error ? error.message : String(error));

/** The reason a document fails at once, or undefined for a failure worth retrying. */
const refusalReason = (error: unknown): string | undefined => {
  if (error instanceof IngestionRefusal || error instanceof ExtractionError) return error.message;
  // A provider's lasting refusal (a text too long for the model, a bad key): retrying is no use.
  if (error instanceof LlmError && !error.retryable)
    return `the embedding provider refused: ${error.message}`;
  return undefined;
};

/** What a tenant may read of a failure: a provider's words, not a database's internals. */
const publicReason = (error: unknown): string =>
  error instanceof LlmError ? `the embedding provider: ${error.message}` : 'an internal error';

// ---------------------------------------------------------------------------------------
// Composition: one ingestion per container, built on first use.

/** The lease outlives one invocation of the default worker (its timeout + 30 s), renewed by every batch. */
const leaseSeconds = functions.workerDefault.timeoutSeconds + 30;

let ingestion: DocumentIngestion | undefined;
onContainerReset(() => {
  ingestion = undefined;
});

export const documentIngestion = (): DocumentIngestion => {
  ingestion ??= new DocumentIngestion(
    {
      store: new IngestionRepository(database()),
      cache: new EmbeddingCacheRepository(database()),
      embedderFor,
      queue: jobQueue(),
      readUpload: async (key) => {
        const store = await uploadStore();
        return store ? store.read(key) : undefined;
      },
      // As the knowledge service puts a base whose version it moved: search keys its cache by it.
      rememberBase: (base) =>
        sharedCache().put(knowledgeBaseCacheKey(base.tenantId, base.id), base.version, toCached(base)),
    },
    {
      batchSize: config().embeddingBatchSize,
      leaseSeconds,
      // 15 s short of the worker's timeout: a batch in flight must end before the invocation does.
      continueWithinMs: (functions.workerDefault.timeoutSeconds - 15) * 1000,
    },
  );
  return ingestion;
};

/** The `knowledge.ingest` handler: done (acked) unless a retry can still help. */
export const ingestDocument = async (job: JobEnvelope, context: Pick<JobContext, 'finalAttempt'>) => {
  await documentIngestion().ingest(targetOf(job), { finalAttempt: context.finalAttempt });
};

/** The sweeper's part for documents: those nobody is ingesting go back on the queue. */
export const sweepStalledDocuments = (staleSeconds: number) =>
  sweepDocuments(new IngestionRepository(database()), jobQueue(), ingestionJob, { staleSeconds });
