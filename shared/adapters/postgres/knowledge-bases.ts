import type { KnowledgeBase, KnowledgeBaseSummary, TextSearchLanguage } from '#domain/knowledge.ts';
import type { ConditionalWrite, KnowledgeBasePatch, KnowledgeBaseStore, PageQuery } from '#services/ports.ts';
import type { Queryable } from './db.ts';
import { qualified } from './sql.ts';

type BaseWrite = ConditionalWrite<{ base: KnowledgeBase }>;

export interface KnowledgeBaseRow {
  id: string;
  tenant_id: string;
  name: string;
  description: string | null;
  embedding_provider: string;
  embedding_model: string;
  embedding_dimensions: number;
  text_search_language: string;
  chunk_size_tokens: number;
  chunk_overlap_tokens: number;
  version: number;
  created_at: Date;
  updated_at: Date;
}

export const knowledgeBaseColumns =
  'id, tenant_id, name, description, embedding_provider, embedding_model, embedding_dimensions, ' +
  'text_search_language, chunk_size_tokens, chunk_overlap_tokens, version, created_at, updated_at';

export const toKnowledgeBase = (row: KnowledgeBaseRow): KnowledgeBase => ({
  id: row.id,
  tenantId: row.tenant_id,
  name: row.name,
  description: row.description,
  embedding: {
    provider: row.embedding_provider,
    model: row.embedding_model,
    dimensions: row.embedding_dimensions,
  },
  // Written only from the domain's list (the request schema checks it).
  language: row.text_search_language as TextSearchLanguage,
  chunking: { sizeTokens: row.chunk_size_tokens, overlapTokens: row.chunk_overlap_tokens },
  version: row.version,
  createdAt: row.created_at,
  updatedAt: row.updated_at,
});

/** A base's columns beside other columns in one row, each as `kb_<column>` (from `alias`). */
export const knowledgeBaseColumnsAs = (alias: string): string =>
  knowledgeBaseColumns
    .split(',')
    .map((column) => `${alias}.${column.trim()} AS kb_${column.trim()}`)
    .join(', ');

/** The base a row read with `knowledgeBaseColumnsAs` carries. */
export const knowledgeBaseFrom = (row: Record<string, unknown>): KnowledgeBase => {
  const base: Record<string, unknown> = {};
  for (const column of knowledgeBaseColumns.split(',')) base[column.trim()] = row[`kb_${column.trim()}`];
  return toKnowledgeBase(base as unknown as KnowledgeBaseRow);
};

/**
 * Knowledge bases in PostgreSQL (migration 0010). Reads see live bases only: a soft-deleted
 * base is gone for the API, search and ingestion at once, and retention removes its rows.
 * Importable on its own (the search function reads bases through it).
 */
export class KnowledgeBaseRepository implements KnowledgeBaseStore {
  constructor(private readonly db: Queryable) {}

  async insert(base: KnowledgeBase): Promise<KnowledgeBase> {
    const rows = await this.db.query<KnowledgeBaseRow>(
      `INSERT INTO knowledge_bases (id, tenant_id, name, description, embedding_provider, embedding_model,
                                    embedding_dimensions, text_search_language, chunk_size_tokens,
                                    chunk_overlap_tokens, version, created_at, updated_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12)
       RETURNING ${knowledgeBaseColumns}`,
      [
        base.id,
        base.tenantId,
        base.name,
        base.description,
        base.embedding.provider,
        base.embedding.model,
        base.embedding.dimensions,
        base.language,
        base.chunking.sizeTokens,
        base.chunking.overlapTokens,
        base.version,
        base.createdAt,
      ],
    );
    return toKnowledgeBase(rows[0]!);
  }

  async findById(tenantId: string, id: string): Promise<KnowledgeBase | null> {
    const rows = await this.db.query<KnowledgeBaseRow>(
      `SELECT ${knowledgeBaseColumns} FROM knowledge_bases
        WHERE tenant_id = $1 AND id = $2 AND deleted_at IS NULL`,
      [tenantId, id],
    );
    return rows[0] ? toKnowledgeBase(rows[0]) : null;
  }

  /** One statement; under If-Match only while the base still has one of `expectedVersions`. */
  async update(
    tenantId: string,
    id: string,
    patch: KnowledgeBasePatch,
    expectedVersions: readonly number[] | undefined,
  ): Promise<BaseWrite> {
    const rows = await this.db.query<KnowledgeBaseRow>(
      `UPDATE knowledge_bases SET
          name = COALESCE($3, name),
          description = CASE WHEN $4::boolean THEN $5 ELSE description END,
          chunk_size_tokens = COALESCE($6, chunk_size_tokens),
          chunk_overlap_tokens = COALESCE($7, chunk_overlap_tokens),
          version = version + 1,
          updated_at = greatest(now(), updated_at + interval '1 millisecond')
        WHERE tenant_id = $1 AND id = $2 AND deleted_at IS NULL
          AND ($8::int[] IS NULL OR version = ANY ($8::int[]))
        RETURNING ${knowledgeBaseColumns}`,
      [
        tenantId,
        id,
        patch.name ?? null,
        patch.description !== undefined,
        patch.description ?? null,
        patch.chunking?.sizeTokens ?? null,
        patch.chunking?.overlapTokens ?? null,
        expectedVersions ?? null,
      ],
    );
    if (rows[0]) return { kind: 'done', base: toKnowledgeBase(rows[0]) };
    return this.missOrStale(tenantId, id, expectedVersions);
  }

  /** Answers at once: search and ingestion see only live bases; the retention job removes the rows. */
  async softDelete(
    tenantId: string,
    id: string,
    expectedVersions: readonly number[] | undefined,
  ): Promise<BaseWrite> {
    const rows = await this.db.query<KnowledgeBaseRow>(
      `UPDATE knowledge_bases SET deleted_at = now(), version = version + 1
        WHERE tenant_id = $1 AND id = $2 AND deleted_at IS NULL
          AND ($3::int[] IS NULL OR version = ANY ($3::int[]))
        RETURNING ${knowledgeBaseColumns}`,
      [tenantId, id, expectedVersions ?? null],
    );
    if (rows[0]) return { kind: 'done', base: toKnowledgeBase(rows[0]) };
    return this.missOrStale(tenantId, id, expectedVersions);
  }

  /**
   * A page of live bases, newest first, each with its document count from a correlated count
   * over the documents' (knowledge_base_id, created_at, id) index: one statement.
   */
  async page(query: PageQuery): Promise<KnowledgeBaseSummary[]> {
    const values: unknown[] = [query.tenantId, query.limit];
    let keyset = '';
    if (query.after) {
      values.push(query.after.createdAt, query.after.id);
      keyset = 'AND (b.created_at, b.id) < ($3::timestamptz, $4::uuid)';
    }
    const rows = await this.db.query<KnowledgeBaseRow & { document_count: number }>(
      `SELECT ${qualified('b', knowledgeBaseColumns)},
              (SELECT count(*) FROM knowledge_documents d WHERE d.knowledge_base_id = b.id)::int AS document_count
         FROM knowledge_bases b
        WHERE b.tenant_id = $1 AND b.deleted_at IS NULL ${keyset}
        ORDER BY b.created_at DESC, b.id DESC
        LIMIT $2`,
      values,
    );
    return rows.map((row) => ({ ...toKnowledgeBase(row), documentCount: row.document_count }));
  }

  /** Nothing was written: gone, or (under If-Match) changed meanwhile — a second query only then. */
  private async missOrStale(
    tenantId: string,
    id: string,
    expectedVersions: readonly number[] | undefined,
  ): Promise<BaseWrite> {
    if (expectedVersions === undefined) return { kind: 'not-found' };
    return (await this.findById(tenantId, id)) ? { kind: 'stale' } : { kind: 'not-found' };
  }
}
