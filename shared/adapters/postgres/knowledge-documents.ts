import { createHash } from 'node:crypto';
import type {
  DocumentStatus,
  KnowledgeBase,
  KnowledgeContentType,
  KnowledgeDocument,
} from '#domain/knowledge.ts';
import type {
  BulkDocumentChange,
  ConditionalWrite,
  DocumentPageQuery,
  DocumentPatch,
  DocumentStore,
  NewDocument,
} from '#services/ports.ts';
import type { Queryable } from './db.ts';
import { knowledgeBaseColumns, knowledgeBaseColumnsAs, knowledgeBaseFrom } from './knowledge-bases.ts';
import { chunksSourceKey } from './knowledge-ingestion.ts';

type DocumentWrite = ConditionalWrite<{ document: KnowledgeDocument; base: KnowledgeBase }>;

interface DocumentRow {
  id: string;
  tenant_id: string;
  knowledge_base_id: string;
  external_id: string | null;
  title: string;
  description: string | null;
  content_type: string;
  tags: string[];
  metadata: Record<string, unknown>;
  expires_at: Date | null;
  status: DocumentStatus;
  failure_reason: string | null;
  generation: number;
  searchable_generation: number | null;
  chunk_count: number;
  chunks_done: number;
  chunks_total: number | null;
  source_bytes: number | null;
  version: number;
  created_at: Date;
  updated_at: Date;
}

/** Everything but the source: no read of the API ever carries it (up to 1 MB a row). */
const documentColumns =
  'id, tenant_id, knowledge_base_id, external_id, title, description, content_type, tags, metadata, ' +
  'expires_at, status, failure_reason, generation, searchable_generation, chunk_count, chunks_done, ' +
  'chunks_total, source_bytes, version, created_at, updated_at';

const toDocument = (row: DocumentRow): KnowledgeDocument => ({
  id: row.id,
  tenantId: row.tenant_id,
  knowledgeBaseId: row.knowledge_base_id,
  externalId: row.external_id,
  title: row.title,
  description: row.description,
  // Written only from the domain's list (the service checks it: 415 otherwise).
  contentType: row.content_type as KnowledgeContentType,
  tags: row.tags,
  metadata: row.metadata,
  expiresAt: row.expires_at,
  status: row.status,
  failureReason: row.failure_reason,
  generation: row.generation,
  searchableGeneration: row.searchable_generation,
  chunkCount: row.chunk_count,
  chunksDone: row.chunks_done,
  chunksTotal: row.chunks_total,
  sourceBytes: row.source_bytes,
  version: row.version,
  createdAt: row.created_at,
  updatedAt: row.updated_at,
});

/** The document `$3`, at one of the versions `$4` when If-Match names any, as alias `d`. */
const matches = (d: string) => `${d}.id = $3 AND ($4::int[] IS NULL OR ${d}.version = ANY ($4::int[]))`;

/**
 * The base's version, bumped first in every statement that changes what search sees: the
 * search cache is keyed by it, and locking the base before the document in every write
 * (one order) keeps two writes on one document from deadlocking.
 */
const bumpBase = (documentCondition: string) =>
  `UPDATE knowledge_bases SET version = version + 1
    WHERE tenant_id = $1 AND id = $2 AND deleted_at IS NULL
      AND EXISTS (SELECT 1 FROM knowledge_documents x WHERE x.knowledge_base_id = $2 AND ${documentCondition})
    RETURNING ${knowledgeBaseColumns}`;

/** A bulk change's new status for document `d`: archived from ready or failed; ready again only if it has a searchable generation. */
const bulkStatus = (d: string) => `CASE
    WHEN $4::text = 'archived' AND ${d}.status IN ('ready', 'failed') THEN 'archived'
    WHEN $4::text = 'ready' AND ${d}.status = 'archived' AND ${d}.searchable_generation IS NOT NULL THEN 'ready'
    ELSE ${d}.status END`;

/** A bulk change's new tags for document `d`: added ones after its own, removed ones out, each once, in first-seen order. */
const bulkTags = (d: string) => `ARRAY(
    SELECT t FROM unnest(${d}.tags || $5::text[]) WITH ORDINALITY AS u (t, i)
     WHERE t <> ALL ($6::text[]) GROUP BY t ORDER BY min(i))`;

const bulkChanges = (d: string) =>
  `${d}.id = ANY ($3::uuid[]) AND (${bulkStatus(d)} <> ${d}.status OR ${bulkTags(d)} <> ${d}.tags)`;

/**
 * Documents of knowledge bases (migration 0010). Every write is one statement that also bumps
 * its base's version and answers the base as it left it, so the service can cache that
 * version: search results are cached under it.
 */
export class KnowledgeDocumentRepository implements DocumentStore {
  constructor(private readonly db: Queryable) {}

  /**
   * Inserts the document, or — same base, same external id — starts a new generation of the
   * one there: new fields and source, `processing`, progress reset, while its
   * `searchable_generation` keeps the old chunks searchable until ingestion finishes. Nothing
   * when the base is not the tenant's live base.
   */
  async upsert(document: NewDocument): Promise<
    | {
        readonly kind: 'created' | 'replaced';
        readonly document: KnowledgeDocument;
        readonly base: KnowledgeBase;
      }
    | { readonly kind: 'base-gone' }
  > {
    const source = document.source;
    const bytes = source.kind === 'upload' ? null : Buffer.from(source.bytes);
    const rows = await this.db.query<DocumentRow & Record<string, unknown>>(
      `WITH base AS (
         UPDATE knowledge_bases SET version = version + 1
          WHERE tenant_id = $2 AND id = $3 AND deleted_at IS NULL
          RETURNING ${knowledgeBaseColumns}
       ), doc AS (
         INSERT INTO knowledge_documents AS k (id, tenant_id, knowledge_base_id, external_id, title, description,
                                               content_type, tags, metadata, expires_at, status, source, source_key,
                                               source_bytes, source_sha256, created_at, updated_at)
         SELECT $1, $2, base.id, $4, $5, $6, $7, $8::text[], $9::jsonb, $10::timestamptz, 'processing', $11::bytea,
                $12, $13, $14::bytea, $15, $15
           FROM base
         ON CONFLICT (knowledge_base_id, external_id) WHERE external_id IS NOT NULL DO UPDATE SET
           title = EXCLUDED.title,
           description = EXCLUDED.description,
           content_type = EXCLUDED.content_type,
           tags = EXCLUDED.tags,
           metadata = EXCLUDED.metadata,
           expires_at = EXCLUDED.expires_at,
           status = 'processing',
           failure_reason = NULL,
           generation = k.generation + 1,
           chunks_done = 0,
           chunks_total = NULL,
           source = EXCLUDED.source,
           -- An upload's key names the generation its file is for: the new one.
           source_key = CASE WHEN EXCLUDED.source_key LIKE 'uploads/%'
                             THEN format('uploads/%s/%s/%s', k.tenant_id, k.id, k.generation + 1)
                             ELSE EXCLUDED.source_key END,
           source_bytes = EXCLUDED.source_bytes,
           source_sha256 = EXCLUDED.source_sha256,
           claimed_until = NULL,
           attempts = 0,
           version = k.version + 1,
           updated_at = greatest(EXCLUDED.updated_at, k.updated_at + interval '1 millisecond')
         RETURNING ${documentColumns}
       )
       SELECT doc.*, ${knowledgeBaseColumnsAs('base')} FROM doc CROSS JOIN base`,
      [
        document.id,
        document.tenantId,
        document.knowledgeBaseId,
        document.externalId,
        document.title,
        document.description,
        document.contentType,
        document.tags,
        JSON.stringify(document.metadata),
        document.expiresAt,
        bytes,
        source.kind === 'upload' ? source.key : source.kind === 'chunks' ? chunksSourceKey : null,
        document.sourceBytes,
        bytes ? createHash('sha256').update(bytes).digest() : null,
        document.now,
      ],
    );
    const row = rows[0];
    if (!row) return { kind: 'base-gone' };
    // Only a replacement moves a document past its first generation.
    return {
      kind: row.generation > 1 ? 'replaced' : 'created',
      document: toDocument(row),
      base: knowledgeBaseFrom(row),
    };
  }

  async findById(tenantId: string, knowledgeBaseId: string, id: string): Promise<KnowledgeDocument | null> {
    const rows = await this.db.query<DocumentRow>(
      `SELECT ${documentColumns} FROM knowledge_documents
        WHERE tenant_id = $1 AND knowledge_base_id = $2 AND id = $3`,
      [tenantId, knowledgeBaseId, id],
    );
    return rows[0] ? toDocument(rows[0]) : null;
  }

  /** Newest first, keyset on (created_at, id): the (knowledge_base_id, created_at, id) index. */
  async page(query: DocumentPageQuery): Promise<KnowledgeDocument[]> {
    const values: unknown[] = [query.tenantId, query.knowledgeBaseId, query.limit];
    const where = ['tenant_id = $1', 'knowledge_base_id = $2'];
    const add = (condition: (p: string) => string, value: unknown) => {
      values.push(value);
      where.push(condition(`$${values.length}`));
    };
    if (query.status) add((p) => `status = ${p}`, query.status);
    if (query.contentType) add((p) => `content_type = ${p}`, query.contentType);
    if (query.tag) add((p) => `tags @> ARRAY[${p}::text]`, query.tag);
    if (query.createdAfter) add((p) => `created_at >= ${p}::timestamptz`, query.createdAfter);
    if (query.createdBefore) add((p) => `created_at < ${p}::timestamptz`, query.createdBefore);
    if (query.after) {
      values.push(query.after.createdAt, query.after.id);
      where.push(`(created_at, id) < ($${values.length - 1}::timestamptz, $${values.length}::uuid)`);
    }
    const rows = await this.db.query<DocumentRow>(
      `SELECT ${documentColumns} FROM knowledge_documents
        WHERE ${where.join(' AND ')}
        ORDER BY created_at DESC, id DESC
        LIMIT $3`,
      values,
    );
    return rows.map(toDocument);
  }

  /** Fields only: the text, hence the chunks, stay (no re-ingestion). */
  async update(
    tenantId: string,
    knowledgeBaseId: string,
    id: string,
    patch: DocumentPatch,
    expectedVersions: readonly number[] | undefined,
  ): Promise<DocumentWrite> {
    const rows = await this.db.query<DocumentRow & Record<string, unknown>>(
      `WITH base AS (${bumpBase(matches('x'))}),
       doc AS (
         UPDATE knowledge_documents d SET
             title = COALESCE($5, d.title),
             description = CASE WHEN $6::boolean THEN $7 ELSE d.description END,
             tags = COALESCE($8::text[], d.tags),
             metadata = COALESCE($9::jsonb, d.metadata),
             expires_at = CASE WHEN $10::boolean THEN $11::timestamptz ELSE d.expires_at END,
             version = d.version + 1,
             updated_at = greatest(now(), d.updated_at + interval '1 millisecond')
          WHERE d.knowledge_base_id = (SELECT id FROM base) AND ${matches('d')}
          RETURNING ${documentColumns}
       )
       SELECT doc.*, ${knowledgeBaseColumnsAs('base')} FROM doc CROSS JOIN base`,
      [
        tenantId,
        knowledgeBaseId,
        id,
        expectedVersions ?? null,
        patch.title ?? null,
        patch.description !== undefined,
        patch.description ?? null,
        patch.tags ?? null,
        patch.metadata === undefined ? null : JSON.stringify(patch.metadata),
        patch.expiresAt !== undefined,
        patch.expiresAt ?? null,
      ],
    );
    if (rows[0]) return { kind: 'done', document: toDocument(rows[0]), base: knowledgeBaseFrom(rows[0]) };
    return this.missOrStale(tenantId, knowledgeBaseId, id, expectedVersions);
  }

  /** Its chunks go with it (ON DELETE CASCADE); an ingestion in flight then finds no row and stops. */
  async delete(
    tenantId: string,
    knowledgeBaseId: string,
    id: string,
    expectedVersions: readonly number[] | undefined,
  ): Promise<DocumentWrite> {
    const rows = await this.db.query<DocumentRow & Record<string, unknown>>(
      `WITH base AS (${bumpBase(matches('x'))}),
       doc AS (
         DELETE FROM knowledge_documents d
          WHERE d.knowledge_base_id = (SELECT id FROM base) AND ${matches('d')}
          RETURNING ${documentColumns}
       )
       SELECT doc.*, ${knowledgeBaseColumnsAs('base')} FROM doc CROSS JOIN base`,
      [tenantId, knowledgeBaseId, id, expectedVersions ?? null],
    );
    if (rows[0]) return { kind: 'done', document: toDocument(rows[0]), base: knowledgeBaseFrom(rows[0]) };
    return this.missOrStale(tenantId, knowledgeBaseId, id, expectedVersions);
  }

  /**
   * One statement for up to 1,000 documents: each gets its new status and tags computed from
   * its current row (a concurrent change is not overwritten with a stale value), and only
   * documents that change are written; the base's version moves only if some do.
   */
  async bulk(
    tenantId: string,
    knowledgeBaseId: string,
    change: BulkDocumentChange,
  ): Promise<{ readonly documentIds: readonly string[]; readonly base: KnowledgeBase | null }> {
    const rows = await this.db.query<{ ids: string[] } & Record<string, unknown>>(
      `WITH base AS (${bumpBase(bulkChanges('x'))}),
       doc AS (
         UPDATE knowledge_documents d SET
             status = ${bulkStatus('d')},
             tags = ${bulkTags('d')},
             version = d.version + 1,
             updated_at = greatest(now(), d.updated_at + interval '1 millisecond')
          WHERE d.knowledge_base_id = (SELECT id FROM base) AND ${bulkChanges('d')}
          RETURNING d.id
       )
       SELECT ARRAY(SELECT id FROM doc) AS ids, ${knowledgeBaseColumnsAs('base')}
         FROM (SELECT 1) AS one LEFT JOIN base ON true`,
      [
        tenantId,
        knowledgeBaseId,
        change.ids,
        change.setStatus ?? null,
        change.addTags ?? [],
        change.removeTags ?? [],
      ],
    );
    const row = rows[0]!;
    return { documentIds: row.ids, base: row['kb_id'] ? knowledgeBaseFrom(row) : null };
  }

  /** Nothing was written: gone, or (under If-Match) changed meanwhile — a second query only then. */
  private async missOrStale(
    tenantId: string,
    knowledgeBaseId: string,
    id: string,
    expectedVersions: readonly number[] | undefined,
  ): Promise<DocumentWrite> {
    if (expectedVersions === undefined) return { kind: 'not-found' };
    const rows = await this.db.query<{ exists: boolean }>(
      `SELECT EXISTS (
         SELECT 1 FROM knowledge_documents d JOIN knowledge_bases b ON b.id = d.knowledge_base_id
          WHERE d.tenant_id = $1 AND d.knowledge_base_id = $2 AND d.id = $3 AND b.deleted_at IS NULL
       ) AS exists`,
      [tenantId, knowledgeBaseId, id],
    );
    return rows[0]?.exists ? { kind: 'stale' } : { kind: 'not-found' };
  }
}
