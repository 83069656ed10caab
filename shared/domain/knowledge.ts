import * as z from 'zod/mini';
import type { ChunkingSettings } from './chunking.ts';
import type { EmbeddingModel } from './embedding.ts';

/**
 * Knowledge: bases of documents that agents search and cite. A base fixes its embedding model
 * and text-search language at creation (vectors of two models, or stems of two languages, do
 * not compare); documents are ingested asynchronously into chunks; search is keyword, semantic
 * or both fused.
 */

/** Dimensions a base may have: each has its own HNSW index (migration 0010). */
export const embeddingDimensions = [256, 384, 512, 768, 1024, 1536, 3072] as const;

/**
 * Text search configurations a base may use: PostgreSQL 15's built-in ones (PGlite has
 * them too). `simple` does no stemming: the choice for mixed or unlisted languages.
 */
export const textSearchLanguages = [
  'simple',
  'arabic',
  'armenian',
  'basque',
  'catalan',
  'danish',
  'dutch',
  'english',
  'finnish',
  'french',
  'german',
  'greek',
  'hindi',
  'hungarian',
  'indonesian',
  'irish',
  'italian',
  'lithuanian',
  'nepali',
  'norwegian',
  'portuguese',
  'romanian',
  'russian',
  'serbian',
  'spanish',
  'swedish',
  'tamil',
  'turkish',
  'yiddish',
] as const;
export type TextSearchLanguage = (typeof textSearchLanguages)[number];
export const defaultTextSearchLanguage: TextSearchLanguage = 'english';

export interface KnowledgeBase {
  readonly id: string;
  readonly tenantId: string;
  readonly name: string;
  readonly description: string | null;
  readonly embedding: EmbeddingModel;
  readonly language: TextSearchLanguage;
  readonly chunking: ChunkingSettings;
  /** Bumped by every change of the base or of what its search sees: ETag and search-cache key. */
  readonly version: number;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

/** A base in a list page, with its document count from the same query. */
export interface KnowledgeBaseSummary extends KnowledgeBase {
  readonly documentCount: number;
}

/** Content types ingestion reads (shared/adapters/extraction/text.ts). */
export const knowledgeContentTypes = [
  'text/plain',
  'text/markdown',
  'text/html',
  'application/json',
  'application/pdf',
] as const;
export type KnowledgeContentType = (typeof knowledgeContentTypes)[number];

export const documentStatuses = ['processing', 'ready', 'failed', 'archived'] as const;
export type DocumentStatus = (typeof documentStatuses)[number];

export interface KnowledgeDocument {
  readonly id: string;
  readonly tenantId: string;
  readonly knowledgeBaseId: string;
  readonly externalId: string | null;
  readonly title: string;
  readonly description: string | null;
  readonly contentType: KnowledgeContentType;
  readonly tags: readonly string[];
  readonly metadata: Readonly<Record<string, unknown>>;
  readonly expiresAt: Date | null;
  readonly status: DocumentStatus;
  readonly failureReason: string | null;
  /** The generation being (or last) ingested, and the one search shows (null: none yet). */
  readonly generation: number;
  readonly searchableGeneration: number | null;
  /** Chunks search shows for it. */
  readonly chunkCount: number;
  /** Progress of the ingestion in flight: chunks written of those the document splits into. */
  readonly chunksDone: number;
  readonly chunksTotal: number | null;
  readonly sourceBytes: number | null;
  readonly version: number;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

/** Inline document bodies: a request up to 1 MB. Larger files go through an upload. */
export const maxInlineDocumentBytes = 1024 * 1024;
/** An uploaded file, at most. */
export const maxUploadBytes = 50 * 1024 * 1024;
/** Chunks a client may send with precomputed vectors in one document. */
export const maxProvidedChunks = 2000;

export const knowledgeBasePageLimit = { min: 1, max: 100, fallback: 20 } as const;
export const documentPageLimit = { min: 1, max: 100, fallback: 20 } as const;
export const maxBulkDocuments = 1000;
export const maxSearchLimit = 50;
export const defaultSearchLimit = 10;
export const maxQueryCharacters = 10_000;

const name = z.string().check(z.trim(), z.minLength(1), z.maxLength(200));
const description = z.nullable(z.string().check(z.maxLength(2000)));
const tag = z.string().check(z.trim(), z.minLength(1), z.maxLength(100));
const tags = z.array(tag).check(z.maxLength(50));
const metadata = z.record(z.string().check(z.maxLength(100)), z.unknown());

export const embeddingModelBody = z.strictObject({
  provider: z.enum(['local', 'openai', 'bedrock']),
  model: z.string().check(z.trim(), z.minLength(1), z.maxLength(200)),
  dimensions: z.union(embeddingDimensions.map((d) => z.literal(d)) as [z.ZodMiniLiteral<256>]),
});

export const chunkingBody = z
  .strictObject({
    size_tokens: z.int().check(z.gte(50), z.lte(4000)),
    overlap_tokens: z.int().check(z.gte(0), z.lte(1000)),
  })
  .check(
    // More would repeat most of each chunk in the next; the chunker refuses it.
    z.refine((c) => c.overlap_tokens * 2 <= c.size_tokens, {
      message: 'overlap_tokens must be at most half of size_tokens',
      path: ['overlap_tokens'],
    }),
  );

export const createKnowledgeBaseBody = z.strictObject({
  name,
  description: z.optional(description),
  /** Defaults to the stage's embedding model (the local embedder under `npm start`). */
  embedding_model: z.optional(embeddingModelBody),
  text_search_language: z.optional(z.enum(textSearchLanguages)),
  chunking: z.optional(chunkingBody),
});
export type CreateKnowledgeBaseBody = z.infer<typeof createKnowledgeBaseBody>;

/** The model and language are fixed; new chunking applies to documents ingested after it. */
export const updateKnowledgeBaseBody = z.strictObject({
  name: z.optional(name),
  description: z.optional(description),
  chunking: z.optional(chunkingBody),
});
export type UpdateKnowledgeBaseBody = z.infer<typeof updateKnowledgeBaseBody>;

/** A chunk the client cut itself, optionally with its vector (of the base's dimensions: else 422). */
export const providedChunk = z.strictObject({
  text: z.string().check(z.minLength(1), z.maxLength(100_000)),
  heading: z.optional(z.string().check(z.maxLength(1000))),
  embedding: z.optional(z.array(z.number()).check(z.minLength(1), z.maxLength(16_000))),
});

/**
 * A document: `content` (base64 for application/pdf) for the platform to extract and chunk, or
 * `chunks` already cut (with or without vectors). The same `external_id` again replaces it.
 */
export const createDocumentBody = z.strictObject({
  external_id: z.optional(z.string().check(z.minLength(1), z.maxLength(300))),
  title: z.string().check(z.trim(), z.minLength(1), z.maxLength(500)),
  description: z.optional(description),
  content_type: z.string().check(z.minLength(1), z.maxLength(200)),
  content: z.optional(z.string()),
  chunks: z.optional(z.array(providedChunk).check(z.minLength(1), z.maxLength(maxProvidedChunks))),
  tags: z.optional(tags),
  metadata: z.optional(metadata),
  expires_at: z.optional(z.nullable(z.iso.datetime({ offset: true }))),
});
export type CreateDocumentBody = z.infer<typeof createDocumentBody>;

/** What changes without re-ingestion: the text stays, so the chunks do. */
export const updateDocumentBody = z.strictObject({
  title: z.optional(z.string().check(z.trim(), z.minLength(1), z.maxLength(500))),
  description: z.optional(description),
  tags: z.optional(tags),
  metadata: z.optional(metadata),
  expires_at: z.optional(z.nullable(z.iso.datetime({ offset: true }))),
});
export type UpdateDocumentBody = z.infer<typeof updateDocumentBody>;

/** Status and tag changes of many documents in one statement. */
export const bulkDocumentsBody = z.strictObject({
  document_ids: z.array(z.uuid()).check(z.minLength(1), z.maxLength(maxBulkDocuments)),
  /** archived hides documents from search; ready shows them again (if they were ingested). */
  set_status: z.optional(z.enum(['archived', 'ready'])),
  add_tags: z.optional(tags),
  remove_tags: z.optional(tags),
});
export type BulkDocumentsBody = z.infer<typeof bulkDocumentsBody>;

export const searchModes = ['keyword', 'semantic', 'hybrid'] as const;
export type SearchMode = (typeof searchModes)[number];

export const searchFilters = z.strictObject({
  /** Documents carrying all of these tags. */
  tags: z.optional(tags),
  /** Documents of any of these content types. */
  content_type: z.optional(z.array(z.enum(knowledgeContentTypes)).check(z.minLength(1))),
  /** Top-level metadata keys equal to these values (JSON containment). */
  metadata: z.optional(z.record(z.string(), z.union([z.string(), z.number(), z.boolean(), z.null()]))),
  created_after: z.optional(z.iso.datetime({ offset: true })),
  created_before: z.optional(z.iso.datetime({ offset: true })),
});
export type SearchFilters = z.infer<typeof searchFilters>;

export const searchBody = z.strictObject({
  query: z.string().check(z.trim(), z.minLength(1), z.maxLength(maxQueryCharacters)),
  mode: z._default(z.enum(searchModes), 'hybrid'),
  filters: z.optional(searchFilters),
  limit: z._default(z.int().check(z.gte(1), z.lte(maxSearchLimit)), defaultSearchLimit),
});
export type SearchBody = z.infer<typeof searchBody>;

export interface SearchHit {
  readonly documentId: string;
  readonly title: string;
  readonly chunkId: string;
  readonly text: string;
  /** The text with the query's terms marked (`<mark>…</mark>`); the text itself when none match. */
  readonly highlight: string;
  /** Higher is better: ts_rank_cd, cosine similarity, or the fused reciprocal-rank score. */
  readonly score: number;
  /** 1-based places in each list the hit was found in; null where it was not. */
  readonly rankKeyword: number | null;
  readonly rankSemantic: number | null;
}

/** Document counts over the filtered set, by content type and by tag. */
export interface SearchFacets {
  readonly contentType: Readonly<Record<string, number>>;
  readonly tags: Readonly<Record<string, number>>;
}

export interface SearchResult {
  readonly hits: readonly SearchHit[];
  readonly facets: SearchFacets;
}

/** Reciprocal rank fusion's constant (Cormack et al.): 60 damps the weight of the very top ranks. */
export const rrfK = 60;

export const chunkingResource = (c: ChunkingSettings) => ({
  size_tokens: c.sizeTokens,
  overlap_tokens: c.overlapTokens,
});

export const toKnowledgeBaseResource = (base: KnowledgeBase, documentCount?: number) => ({
  id: base.id,
  name: base.name,
  description: base.description,
  embedding_model: {
    provider: base.embedding.provider,
    model: base.embedding.model,
    dimensions: base.embedding.dimensions,
  },
  text_search_language: base.language,
  chunking: chunkingResource(base.chunking),
  ...(documentCount !== undefined && { document_count: documentCount }),
  created_at: base.createdAt.toISOString(),
  updated_at: base.updatedAt.toISOString(),
});

export const toDocumentResource = (document: KnowledgeDocument) => ({
  id: document.id,
  knowledge_base_id: document.knowledgeBaseId,
  external_id: document.externalId,
  title: document.title,
  description: document.description,
  content_type: document.contentType,
  tags: document.tags,
  metadata: document.metadata,
  expires_at: document.expiresAt?.toISOString() ?? null,
  status: document.status,
  failure_reason: document.failureReason,
  chunk_count: document.chunkCount,
  progress: { chunks_done: document.chunksDone, chunks_total: document.chunksTotal },
  source_bytes: document.sourceBytes,
  created_at: document.createdAt.toISOString(),
  updated_at: document.updatedAt.toISOString(),
});

export const toSearchHitResource = (hit: SearchHit) => ({
  document_id: hit.documentId,
  title: hit.title,
  chunk_id: hit.chunkId,
  text: hit.text,
  highlight: hit.highlight,
  score: hit.score,
  rank_keyword: hit.rankKeyword,
  rank_semantic: hit.rankSemantic,
});

/** How long a pre-signed upload stays usable. */
export const uploadTicketSeconds = 15 * 60;

/** Object keys of uploads: the tenant, document and generation they are for, read back by ingestion. */
export const uploadKey = (tenantId: string, documentId: string, generation: number): string =>
  `uploads/${tenantId}/${documentId}/${generation}`;

const uploadKeyPattern = /^uploads\/([0-9a-f-]{36})\/([0-9a-f-]{36})\/([1-9][0-9]{0,8})$/;

export const parseUploadKey = (
  key: string,
): { tenantId: string; documentId: string; generation: number } | undefined => {
  const match = uploadKeyPattern.exec(key);
  return match ? { tenantId: match[1]!, documentId: match[2]!, generation: Number(match[3]) } : undefined;
};

/** A document whose file comes through a pre-signed upload: the document's fields without the content. */
export const createUploadBody = z.strictObject({
  external_id: z.optional(z.string().check(z.minLength(1), z.maxLength(300))),
  title: z.string().check(z.trim(), z.minLength(1), z.maxLength(500)),
  description: z.optional(description),
  content_type: z.string().check(z.minLength(1), z.maxLength(200)),
  /** The file's size when the client knows it: over the limit → 413 before any upload. */
  size_bytes: z.optional(z.int().check(z.gte(1))),
  tags: z.optional(tags),
  metadata: z.optional(metadata),
  expires_at: z.optional(z.nullable(z.iso.datetime({ offset: true }))),
});
export type CreateUploadBody = z.infer<typeof createUploadBody>;

/**
 * The ingestion job a landed upload announces: S3 → EventBridge (an input transformer writes
 * this shape, lib/constructs/uploads.ts) → the default queue, and the local stand-in alike. The
 * key alone names the tenant, document and generation.
 */
export const uploadedFileJob = (key: string, time: string) => ({
  type: 'knowledge.ingest',
  tenant_id: '',
  ids: { upload_key: key },
  idempotency_key: `ingest:${key}`,
  enqueued_at: time,
});

// ---------------------------------------------------------------------------------------
// Agents answering from knowledge.

/** What an agent's `configuration.knowledge` asks: retrieve from these bases before each model call. */
export interface KnowledgeUse {
  readonly baseIds: readonly string[];
  readonly topK: number;
  readonly mode: SearchMode;
}

export const maxKnowledgeBasesPerAgent = 5;
export const maxTopK = 20;
export const defaultTopK = 5;

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * `configuration.knowledge` of an agent: `{ knowledge_base_ids: [id, …], top_k?, mode? }`.
 * Field errors for a malformed one (a 422 when the agent is written); undefined when absent.
 */
export const knowledgeUseErrors = (value: unknown): { field: string; detail: string }[] => {
  if (value === undefined) return [];
  const field = 'configuration.knowledge';
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return [{ field, detail: 'must be an object {knowledge_base_ids, top_k, mode}' }];
  }
  const errors: { field: string; detail: string }[] = [];
  const use = value as Record<string, unknown>;
  const ids = use['knowledge_base_ids'];
  if (
    !Array.isArray(ids) ||
    ids.length === 0 ||
    ids.length > maxKnowledgeBasesPerAgent ||
    !ids.every((id) => typeof id === 'string' && uuidPattern.test(id))
  ) {
    errors.push({
      field: `${field}.knowledge_base_ids`,
      detail: `must be 1 to ${maxKnowledgeBasesPerAgent} knowledge base ids`,
    });
  }
  const topK = use['top_k'];
  if (topK !== undefined && (!Number.isInteger(topK) || (topK as number) < 1 || (topK as number) > maxTopK)) {
    errors.push({ field: `${field}.top_k`, detail: `must be an integer from 1 to ${maxTopK}` });
  }
  const mode = use['mode'];
  if (mode !== undefined && !searchModes.includes(mode as SearchMode)) {
    errors.push({ field: `${field}.mode`, detail: `must be one of: ${searchModes.join(', ')}` });
  }
  for (const key of Object.keys(use)) {
    if (!['knowledge_base_ids', 'top_k', 'mode'].includes(key)) {
      errors.push({ field: `${field}.${key}`, detail: 'is not a knowledge setting' });
    }
  }
  return errors;
};

/** The knowledge an agent's configuration asks for, or undefined (none, or malformed: it was refused on write). */
export const knowledgeUseOf = (
  configuration: Readonly<Record<string, unknown>>,
): KnowledgeUse | undefined => {
  const value = configuration['knowledge'];
  if (value === undefined || knowledgeUseErrors(value).length > 0) return undefined;
  const use = value as { knowledge_base_ids: string[]; top_k?: number; mode?: SearchMode };
  return {
    baseIds: [...new Set(use.knowledge_base_ids.map((id) => id.toLowerCase()))],
    topK: use.top_k ?? defaultTopK,
    mode: use.mode ?? 'hybrid',
  };
};

/** A passage retrieved for a model call, as its citation records it. */
export interface Citation {
  readonly knowledgeBaseId: string;
  readonly documentId: string;
  readonly chunkId: string;
  readonly title: string;
  readonly score: number;
}

export interface RetrievedPassage extends Citation {
  readonly text: string;
}

/** What a retrieval found and cost, recorded with the execution or step it fed. */
export interface Retrieval {
  readonly passages: readonly RetrievedPassage[];
  readonly durationMs: number;
  /** Tokens of the query embeddings (zero for keyword searches and cached queries). */
  readonly embeddingTokens: number;
  readonly embeddingCostUsd: number;
}

/**
 * The system prompt with the passages, numbered as the answer should cite them. The passages
 * go into the system prompt, not the input: the input stays what the client sent.
 */
export const groundedSystemPrompt = (systemPrompt: string, passages: readonly RetrievedPassage[]): string => {
  if (passages.length === 0) {
    return `${systemPrompt}\n\nNo passage of the knowledge bases matched this request: say so if the answer depends on them.`;
  }
  const sources = passages.map((p, i) => `[${i + 1}] ${p.title}\n${p.text}`).join('\n\n');
  return (
    `${systemPrompt}\n\nAnswer from the numbered sources below where they are relevant, citing them as [1], [2], …; ` +
    `if they do not contain the answer, say so.\n\nSources:\n${sources}`
  );
};

export const toCitationResource = (citation: Citation) => ({
  knowledge_base_id: citation.knowledgeBaseId,
  document_id: citation.documentId,
  chunk_id: citation.chunkId,
  title: citation.title,
  score: citation.score,
});

/** What an execution or step shows of the retrieval behind its answer (its latest attempt's). */
export interface RetrievalRecord {
  readonly citations: readonly ReturnType<typeof toCitationResource>[];
  readonly durationMs: number;
  readonly embeddingTokens: number;
}

/** The fields a unit that used knowledge adds to its resource: citations and the retrieval's time. */
export const retrievalResource = (record: RetrievalRecord | null | undefined) =>
  record ? { citations: record.citations, timings: { retrieval_ms: record.durationMs } } : {};
