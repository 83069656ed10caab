import { defaultChunking } from '#domain/chunking.ts';
import type { EmbeddingModel } from '#domain/embedding.ts';
import type { FieldError } from '#domain/errors.ts';
import { notFound, ProblemError, preconditionFailed, validationFailed } from '#domain/errors.ts';
import { isUuid, newId } from '#domain/ids.ts';
import { jobTypes, newJob } from '#domain/jobs.ts';
import {
  type BulkDocumentsBody,
  type CreateDocumentBody,
  type CreateKnowledgeBaseBody,
  type CreateUploadBody,
  defaultTextSearchLanguage,
  embeddingDimensions,
  type KnowledgeBase,
  type KnowledgeBaseSummary,
  type KnowledgeContentType,
  type KnowledgeDocument,
  knowledgeContentTypes,
  maxUploadBytes,
  type UpdateDocumentBody,
  type UpdateKnowledgeBaseBody,
  uploadKey,
  uploadTicketSeconds,
} from '#domain/knowledge.ts';
import { config } from '#runtime/config.ts';
import type {
  DocumentPageQuery,
  DocumentPatch,
  DocumentSource,
  DocumentStore,
  JobQueue,
  KnowledgeBasePatch,
  KnowledgeBaseStore,
  NewDocument,
  PageQuery,
  UploadStore,
  UploadTicket,
  VersionedCache,
} from './ports.ts';
import { enqueueCommitted, type Page, pageOf, readThrough, settled, toCached } from './resources.ts';

/**
 * Where a base is cached. Every change of what search sees in it bumps its version and puts
 * the new version here (search keys its own cache by that version): a writer outside this
 * service that bumps it (ingestion's finish) puts the base it read back the same way.
 */
export const knowledgeBaseCacheKey = (tenantId: string, id: string): string => `kb:${tenantId}:${id}`;

/** The job that ingests one generation of a document; the generation makes a re-post a new job. */
export const ingestJob = (
  document: Pick<KnowledgeDocument, 'id' | 'tenantId' | 'generation'>,
  trace?: string,
) =>
  newJob(
    jobTypes.ingestDocument,
    document.tenantId,
    { document_id: document.id, generation: String(document.generation) },
    `ingest:${document.id}:${document.generation}`,
    trace,
  );

/** Why no embedder can serve a model (shared/adapters/embeddings/registry.ts), or undefined. */
export type EmbeddingModelCheck = (model: EmbeddingModel) => Promise<string | undefined>;

const baseResource = 'knowledge base';
const documentResource = 'document';

/** Each tag once, in the order given. */
const distinct = (tags: readonly string[]): string[] => [...new Set(tags)];

const uploadTooLarge = () =>
  new ProblemError(
    413,
    'payload-too-large',
    'Content Too Large',
    `An uploaded document may be at most ${maxUploadBytes / 1024 / 1024} MB.`,
  );

const unsupportedContentType = (given: string) =>
  new ProblemError(
    415,
    'unsupported-content-type',
    'Unsupported Media Type',
    `content_type "${given.slice(0, 200)}" is not one the platform reads: ${knowledgeContentTypes.join(', ')}.`,
  );

/** The media type of a content_type (parameters and case dropped), if ingestion reads it. */
const knowledgeContentType = (value: string): KnowledgeContentType | undefined => {
  const type = value.split(';', 1)[0]!.trim().toLowerCase();
  return (knowledgeContentTypes as readonly string[]).includes(type)
    ? (type as KnowledgeContentType)
    : undefined;
};

/** Standard base64, padded or not; whitespace (line breaks of MIME encoders) is ignored. */
const base64Text = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}(?:==)?|[A-Za-z0-9+/]{3}=?)?$/;

const decodeBase64 = (text: string): Buffer | undefined => {
  const compact = text.replace(/[\t\n\r ]+/g, '');
  return compact !== '' && base64Text.test(compact) ? Buffer.from(compact, 'base64') : undefined;
};

/** The bytes a document is stored as: its text, its decoded PDF, or its chunks as JSON. */
const sourceOf = (
  body: CreateDocumentBody,
  contentType: KnowledgeContentType,
  base: KnowledgeBase,
): DocumentSource => {
  if ((body.content === undefined) === (body.chunks === undefined)) {
    throw validationFailed([{ field: 'content', detail: 'give exactly one of content or chunks' }]);
  }
  if (body.chunks) {
    // Vectors the client computed must come from the base's model: at least its dimensions.
    const errors: FieldError[] = body.chunks.flatMap((chunk, i) =>
      chunk.embedding && chunk.embedding.length !== base.embedding.dimensions
        ? [
            {
              field: `chunks.${i}.embedding`,
              detail: `has ${chunk.embedding.length} dimensions; the knowledge base's embedding model (${base.embedding.provider} ${base.embedding.model}) has ${base.embedding.dimensions}`,
            },
          ]
        : [],
    );
    if (errors.length > 0) throw validationFailed(errors);
    return { kind: 'chunks', bytes: Buffer.from(JSON.stringify(body.chunks), 'utf8') };
  }
  const content = body.content!;
  if (content === '') throw validationFailed([{ field: 'content', detail: 'must not be empty' }]);
  if (contentType !== 'application/pdf') return { kind: 'inline', bytes: Buffer.from(content, 'utf8') };
  const pdf = decodeBase64(content);
  if (!pdf) {
    throw validationFailed([{ field: 'content', detail: 'an application/pdf document is sent as base64' }]);
  }
  return { kind: 'inline', bytes: pdf };
};

/** The row a post or an upload writes: the fields the two share, the source each has. */
const newDocument = (
  tenantId: string,
  base: KnowledgeBase,
  id: string,
  body: CreateDocumentBody | CreateUploadBody,
  contentType: KnowledgeContentType,
  source: DocumentSource,
  sourceBytes: number | null,
): NewDocument => ({
  id,
  tenantId,
  knowledgeBaseId: base.id,
  externalId: body.external_id ?? null,
  title: body.title,
  description: body.description ?? null,
  contentType,
  tags: distinct(body.tags ?? []),
  metadata: body.metadata ?? {},
  expiresAt: body.expires_at ? new Date(body.expires_at) : null,
  source,
  sourceBytes,
  now: new Date(),
});

/**
 * Knowledge bases and their documents, as the API sees them. Every read and write is scoped
 * by tenant, and a document route reads its base first (through the cache): a base that is
 * gone, deleted or another tenant's answers 404 for its documents too. Every write that
 * changes what search sees bumps the base's version in its own statement, and the new version
 * goes into the cache, so the search cache keyed by it is never stale.
 */
export class KnowledgeService {
  constructor(
    private readonly bases: KnowledgeBaseStore,
    private readonly documents: DocumentStore,
    private readonly queue: JobQueue,
    private readonly cache: VersionedCache,
    private readonly modelRefusal: EmbeddingModelCheck,
    /** The upload store, if the stage has one (loaded on the first upload). */
    private readonly uploads: () => Promise<UploadStore | undefined> = async () => undefined,
  ) {}

  /**
   * Only the name is required: the stage's default embedding model, the `english` text-search
   * configuration and 400/50-token chunks otherwise. A model no embedder can serve is refused
   * (422) before anything is written: the model is fixed for the base's life.
   */
  async createBase(tenantId: string, body: CreateKnowledgeBaseBody): Promise<KnowledgeBase> {
    const embedding: EmbeddingModel = body.embedding_model ?? config().defaultEmbeddingModel;
    const refusal = !(embeddingDimensions as readonly number[]).includes(embedding.dimensions)
      ? `the stage's default embedding model has ${embedding.dimensions} dimensions, not one of ${embeddingDimensions.join(', ')}: name a model`
      : await this.modelRefusal(embedding);
    if (refusal) throw validationFailed([{ field: 'embedding_model', detail: refusal }]);
    const now = new Date();
    const base = await this.bases.insert({
      id: newId(),
      tenantId,
      name: body.name,
      description: body.description ?? null,
      embedding: { provider: embedding.provider, model: embedding.model, dimensions: embedding.dimensions },
      language: body.text_search_language ?? defaultTextSearchLanguage,
      chunking: body.chunking
        ? { sizeTokens: body.chunking.size_tokens, overlapTokens: body.chunking.overlap_tokens }
        : defaultChunking,
      version: 1,
      createdAt: now,
      updatedAt: now,
    });
    await this.rememberBase(base);
    return base;
  }

  /** A live base of the tenant, through the two-tier cache (search reads it this way too); else 404. */
  async getBase(tenantId: string, id: string): Promise<KnowledgeBase> {
    // Not a UUID: no row can match, and PostgreSQL would refuse the cast.
    if (!isUuid(id)) throw notFound(baseResource);
    return readThrough(
      this.cache,
      knowledgeBaseCacheKey(tenantId, id),
      () => this.bases.findById(tenantId, id),
      baseResource,
    );
  }

  /** The model and language are fixed; new chunking applies to documents ingested after it. */
  async updateBase(
    tenantId: string,
    id: string,
    body: UpdateKnowledgeBaseBody,
    expectedVersions: readonly number[] | undefined,
  ): Promise<KnowledgeBase> {
    if (!isUuid(id)) throw notFound(baseResource);
    const patch: KnowledgeBasePatch = {
      ...(body.name !== undefined && { name: body.name }),
      ...(body.description !== undefined && { description: body.description }),
      ...(body.chunking !== undefined && {
        chunking: { sizeTokens: body.chunking.size_tokens, overlapTokens: body.chunking.overlap_tokens },
      }),
    };
    if (Object.keys(patch).length === 0) {
      // Nothing to change: no new version, but the precondition still holds or fails.
      const current = await this.getBase(tenantId, id);
      if (expectedVersions && !expectedVersions.includes(current.version)) throw preconditionFailed();
      return current;
    }
    const { base } = settled(await this.bases.update(tenantId, id, patch, expectedVersions), baseResource);
    await this.rememberBase(base);
    return base;
  }

  /** Answers at once; its documents and chunks stay until retention removes them with it. */
  async deleteBase(
    tenantId: string,
    id: string,
    expectedVersions: readonly number[] | undefined,
  ): Promise<void> {
    if (!isUuid(id)) throw notFound(baseResource);
    const { base } = settled(await this.bases.softDelete(tenantId, id, expectedVersions), baseResource);
    await this.cache.put(knowledgeBaseCacheKey(tenantId, id), base.version, null);
  }

  async listBases(query: PageQuery): Promise<Page<KnowledgeBaseSummary>> {
    return pageOf(
      query,
      (q) => this.bases.page(q),
      (b) => ({ createdAt: b.createdAt, id: b.id }),
    );
  }

  /**
   * Stores the document with its source and answers it `processing`; its ingestion is enqueued
   * once the row is committed (a lost send is re-sent by the sweeper). The same `external_id`
   * again replaces the document: a new generation, while the old one stays searchable.
   */
  async addDocument(
    tenantId: string,
    baseId: string,
    body: CreateDocumentBody,
    trace?: string,
  ): Promise<{ document: KnowledgeDocument; replaced: boolean }> {
    const base = await this.getBase(tenantId, baseId);
    const contentType = knowledgeContentType(body.content_type);
    if (!contentType) throw unsupportedContentType(body.content_type);
    const source = sourceOf(body, contentType, base);
    const written = await this.documents.upsert(
      newDocument(
        tenantId,
        base,
        newId(),
        body,
        contentType,
        source,
        source.kind === 'upload' ? null : source.bytes.byteLength,
      ),
    );
    // Deleted between the read above and the write: as if it had been gone before.
    if (written.kind === 'base-gone') throw notFound(baseResource);
    await this.rememberBase(written.base);
    const { document } = written;
    await enqueueCommitted(() => this.queue.enqueue(ingestJob(document, trace)), 'document ingestion', {
      documentId: document.id,
      generation: String(document.generation),
    });
    return { document, replaced: written.kind === 'replaced' };
  }

  /**
   * A document whose file comes through a pre-signed upload (up to 50 MB, straight to the
   * store): the row first (`processing`, its source the upload key of its generation), then the
   * form to post the file with. Ingestion starts when the file lands (the store's event); a
   * file that never lands fails the document after the sweeper's few tries.
   */
  async addUpload(
    tenantId: string,
    baseId: string,
    body: CreateUploadBody,
  ): Promise<{ document: KnowledgeDocument; replaced: boolean; upload: UploadTicket }> {
    const base = await this.getBase(tenantId, baseId);
    const contentType = knowledgeContentType(body.content_type);
    if (!contentType) throw unsupportedContentType(body.content_type);
    if (body.size_bytes !== undefined && body.size_bytes > maxUploadBytes) throw uploadTooLarge();
    const store = await this.uploads();
    if (!store) {
      throw new ProblemError(
        503,
        'uploads-unavailable',
        'Service Unavailable',
        'Uploads are not configured on this stage (UPLOAD_BUCKET); send the document inline, up to 1 MB.',
      );
    }
    const id = newId();
    // A replacement's key is its new generation's (the statement makes it so).
    const source: DocumentSource = { kind: 'upload', key: uploadKey(tenantId, id, 1) };
    const written = await this.documents.upsert(
      newDocument(tenantId, base, id, body, contentType, source, null),
    );
    if (written.kind === 'base-gone') throw notFound(baseResource);
    await this.rememberBase(written.base);
    const { document } = written;
    const upload = await store.presign(
      uploadKey(tenantId, document.id, document.generation),
      contentType,
      maxUploadBytes,
      uploadTicketSeconds,
    );
    return { document, replaced: written.kind === 'replaced', upload };
  }

  async getDocument(tenantId: string, baseId: string, id: string): Promise<KnowledgeDocument> {
    const base = await this.getBase(tenantId, baseId);
    if (!isUuid(id)) throw notFound(documentResource);
    const document = await this.documents.findById(tenantId, base.id, id);
    if (!document) throw notFound(documentResource);
    return document;
  }

  async listDocuments(query: DocumentPageQuery): Promise<Page<KnowledgeDocument>> {
    await this.getBase(query.tenantId, query.knowledgeBaseId);
    return pageOf(
      query,
      (q) => this.documents.page(q),
      (d) => ({ createdAt: d.createdAt, id: d.id }),
    );
  }

  /** Title, description, tags, metadata, expiry: search shows them at once, with no re-ingestion. */
  async updateDocument(
    tenantId: string,
    baseId: string,
    id: string,
    body: UpdateDocumentBody,
    expectedVersions: readonly number[] | undefined,
  ): Promise<KnowledgeDocument> {
    const base = await this.getBase(tenantId, baseId);
    if (!isUuid(id)) throw notFound(documentResource);
    const patch: DocumentPatch = {
      ...(body.title !== undefined && { title: body.title }),
      ...(body.description !== undefined && { description: body.description }),
      ...(body.tags !== undefined && { tags: distinct(body.tags) }),
      ...(body.metadata !== undefined && { metadata: body.metadata }),
      ...(body.expires_at !== undefined && {
        expiresAt: body.expires_at === null ? null : new Date(body.expires_at),
      }),
    };
    if (Object.keys(patch).length === 0) {
      const current = await this.getDocument(tenantId, base.id, id);
      if (expectedVersions && !expectedVersions.includes(current.version)) throw preconditionFailed();
      return current;
    }
    const written = settled(
      await this.documents.update(tenantId, base.id, id, patch, expectedVersions),
      documentResource,
    );
    await this.rememberBase(written.base);
    return written.document;
  }

  /** A hard delete: its chunks go with it, and an ingestion in flight finds it gone. */
  async deleteDocument(
    tenantId: string,
    baseId: string,
    id: string,
    expectedVersions: readonly number[] | undefined,
  ): Promise<void> {
    const base = await this.getBase(tenantId, baseId);
    if (!isUuid(id)) throw notFound(documentResource);
    const written = settled(
      await this.documents.delete(tenantId, base.id, id, expectedVersions),
      documentResource,
    );
    await this.rememberBase(written.base);
  }

  /**
   * Status and tag changes of up to 1,000 documents in one statement. Answers the ids it
   * changed: ids not in the base, and documents already as asked, are left out.
   */
  async bulkDocuments(tenantId: string, baseId: string, body: BulkDocumentsBody): Promise<readonly string[]> {
    const base = await this.getBase(tenantId, baseId);
    const addTags = distinct(body.add_tags ?? []);
    const removeTags = distinct(body.remove_tags ?? []);
    if (body.set_status === undefined && addTags.length === 0 && removeTags.length === 0) {
      throw validationFailed([
        { field: '(body)', detail: 'give set_status, add_tags or remove_tags: there is nothing to change' },
      ]);
    }
    const both = addTags.filter((tag) => removeTags.includes(tag));
    if (both.length > 0) {
      throw validationFailed([
        { field: 'remove_tags', detail: `tags both added and removed: ${both.join(', ')}` },
      ]);
    }
    const { documentIds, base: bumped } = await this.documents.bulk(tenantId, base.id, {
      ids: body.document_ids,
      ...(body.set_status !== undefined && { setStatus: body.set_status }),
      addTags,
      removeTags,
    });
    if (bumped) await this.rememberBase(bumped);
    return documentIds;
  }

  /** Puts a version of a base in the cache (a newer one already there is kept). */
  rememberBase(base: KnowledgeBase): Promise<void> {
    return this.cache.put(knowledgeBaseCacheKey(base.tenantId, base.id), base.version, toCached(base));
  }
}
