import type { KnowledgeBase, KnowledgeContentType } from '#domain/knowledge.ts';
import type { DocumentSource, IngestionClaim, IngestionStore, NewChunk } from '#services/ports.ts';
import type { Queryable } from './db.ts';
import { knowledgeBaseColumnsAs, knowledgeBaseFrom } from './knowledge-bases.ts';

/**
 * Ingestion's side of knowledge_documents and knowledge_chunks (migration 0010). A claim is a
 * lease on one generation of a document, fenced by `attempts`: every write names the attempt
 * that claimed, so a worker whose lease was taken over (or whose document was deleted, failed,
 * replaced, or whose base was deleted) writes nothing and learns that its claim is void. Each
 * write is one statement: the document's row is updated first (taking its lock) and the chunks
 * are written only if that update found the claim still live.
 */

interface ClaimRow extends Record<string, unknown> {
  title: string;
  content_type: string;
  source: Buffer | null;
  source_key: string | null;
  attempts: number;
  chunks_done: number;
  last_chunk_sha256: string | null;
}

/**
 * How the document routes store a document's source: an upload's object key in `source_key`;
 * inline bodies as bytes in `source`; chunks the client cut itself as the JSON of that array
 * in `source`, marked by `source_key` = 'chunks'.
 */
export const chunksSourceKey = 'chunks';

const sourceOf = (row: Pick<ClaimRow, 'source' | 'source_key'>): DocumentSource => {
  if (row.source_key !== null && row.source_key !== chunksSourceKey) {
    return { kind: 'upload', key: row.source_key };
  }
  const bytes = new Uint8Array(row.source ?? new Uint8Array());
  return row.source_key === chunksSourceKey ? { kind: 'chunks', bytes } : { kind: 'inline', bytes };
};

/** The claim's generation, still the document's, still in processing, its base not deleted. */
const liveClaim = `d.id = $1 AND d.generation = $2 AND d.attempts = $3 AND d.status = 'processing'
     AND EXISTS (SELECT 1 FROM knowledge_bases b WHERE b.id = d.knowledge_base_id AND b.deleted_at IS NULL)`;

/**
 * A vector as an array literal: unnest of a two-dimensional array would flatten it. Each number
 * is rounded to single precision first (the column is real[]), so PostgreSQL reads back exactly
 * that float4. Written in JavaScript's shortest form: 6× quicker here than nine significant
 * digits (toPrecision), for ~30 % more characters to parse there, less CPU in all.
 */
const vectorLiteral = (vector: readonly number[]): string => {
  let literal = '{';
  for (let i = 0; i < vector.length; i += 1) {
    if (i > 0) literal += ',';
    literal += Math.fround(vector[i]!);
  }
  return `${literal}}`;
};

export class IngestionRepository implements IngestionStore {
  constructor(private readonly db: Queryable) {}

  async claim(
    tenantId: string,
    documentId: string,
    generation: number,
    leaseSeconds: number,
  ): Promise<IngestionClaim | null> {
    const [row] = await this.db.query<ClaimRow>(
      `UPDATE knowledge_documents d
          SET claimed_until = now() + make_interval(secs => $4), attempts = d.attempts + 1
         FROM knowledge_bases b
        WHERE d.id = $2 AND d.tenant_id = $1 AND d.generation = $3 AND d.status = 'processing'
          AND (d.claimed_until IS NULL OR d.claimed_until < now())
          AND b.id = d.knowledge_base_id AND b.deleted_at IS NULL
       RETURNING d.title, d.content_type, d.source, d.source_key, d.attempts, d.chunks_done,
         (SELECT encode(sha256(convert_to(c.text, 'UTF8')), 'hex') FROM knowledge_chunks c
           WHERE c.document_id = d.id AND c.generation = d.generation AND c.ordinal = d.chunks_done - 1
         ) AS last_chunk_sha256, ${knowledgeBaseColumnsAs('b')}`,
      [tenantId, documentId, generation, leaseSeconds],
    );
    if (!row) return null;
    return {
      tenantId,
      documentId,
      generation,
      base: knowledgeBaseFrom(row),
      title: row.title,
      // Written only from the domain's list (the document routes check it).
      contentType: row.content_type as KnowledgeContentType,
      source: sourceOf(row),
      attempts: row.attempts,
      leaseSeconds,
      chunksDone: row.chunks_done,
      lastChunkSha256: row.last_chunk_sha256,
    };
  }

  /**
   * The chunks with their search vectors, computed here in the base's language: the title and
   * heading weighted A above the text, as keyword search ranks them. A chunk whose ordinal is
   * already there (an attempt that started over) is replaced.
   */
  async writeChunks(
    claim: IngestionClaim,
    chunks: readonly NewChunk[],
    chunksTotal: number,
  ): Promise<boolean> {
    if (chunks.length === 0) return true;
    const done = Math.max(...chunks.map((chunk) => chunk.ordinal)) + 1;
    const [row] = await this.db.query<{ live: number }>(
      `WITH doc AS (
         UPDATE knowledge_documents d
            SET chunks_done = $4, chunks_total = $5, claimed_until = now() + make_interval(secs => $6),
                version = d.version + 1, updated_at = now()
          WHERE ${liveClaim}
         RETURNING d.id, d.tenant_id, d.knowledge_base_id, d.title
       ), written AS (
         INSERT INTO knowledge_chunks (id, tenant_id, knowledge_base_id, document_id, generation, ordinal,
                                       heading, text, token_count, search_vector, dimensions, embedding)
         SELECT c.id, doc.tenant_id, doc.knowledge_base_id, doc.id, $2, c.ordinal, c.heading, c.text, c.tokens,
                setweight(to_tsvector($7::regconfig, doc.title || ' ' || coalesce(c.heading, '')), 'A')
                  || to_tsvector($7::regconfig, c.text),
                $8, c.embedding::real[]
           FROM doc, unnest($9::uuid[], $10::int[], $11::text[], $12::text[], $13::int[], $14::text[])
                  AS c(id, ordinal, heading, text, tokens, embedding)
         ON CONFLICT (document_id, generation, ordinal) DO UPDATE
            SET heading = EXCLUDED.heading, text = EXCLUDED.text, token_count = EXCLUDED.token_count,
                search_vector = EXCLUDED.search_vector, dimensions = EXCLUDED.dimensions,
                embedding = EXCLUDED.embedding
         RETURNING 1
       )
       SELECT (SELECT count(*) FROM doc)::int AS live`,
      [
        claim.documentId,
        claim.generation,
        claim.attempts,
        done,
        chunksTotal,
        claim.leaseSeconds,
        claim.base.language,
        claim.base.embedding.dimensions,
        chunks.map((chunk) => chunk.id),
        chunks.map((chunk) => chunk.ordinal),
        chunks.map((chunk) => chunk.heading),
        chunks.map((chunk) => chunk.text),
        chunks.map((chunk) => chunk.tokens),
        chunks.map((chunk) => vectorLiteral(chunk.embedding)),
      ],
    );
    return (row?.live ?? 0) > 0;
  }

  /**
   * One statement: the generation becomes the searchable one, every other generation's chunks
   * (and any beyond the count, left by an attempt that started over) go, and the base's
   * version moves so cached searches of it are not served again. The base's row is locked
   * before the document's, the order every document write of the API takes (else the two
   * could deadlock).
   */
  async finish(claim: IngestionClaim, chunkCount: number): Promise<KnowledgeBase | null> {
    const [row] = await this.db.query<Record<string, unknown>>(
      `WITH base AS MATERIALIZED (
         SELECT b.id FROM knowledge_bases b JOIN knowledge_documents d ON d.knowledge_base_id = b.id
          WHERE d.id = $1 AND b.deleted_at IS NULL
            FOR UPDATE OF b
       ), doc AS (
         UPDATE knowledge_documents d
            SET status = 'ready', searchable_generation = d.generation, chunk_count = $4,
                chunks_total = $4, chunks_done = $4, failure_reason = NULL, claimed_until = NULL,
                version = d.version + 1, updated_at = now()
           FROM base
          WHERE d.id = $1 AND d.generation = $2 AND d.attempts = $3 AND d.status = 'processing'
            AND d.knowledge_base_id = base.id
         RETURNING d.id, d.knowledge_base_id, d.generation
       ), dropped AS (
         DELETE FROM knowledge_chunks c USING doc
          WHERE c.document_id = doc.id AND (c.generation <> doc.generation OR c.ordinal >= $4)
       )
       UPDATE knowledge_bases b SET version = b.version + 1 FROM doc WHERE b.id = doc.knowledge_base_id
       RETURNING ${knowledgeBaseColumnsAs('b')}`,
      [claim.documentId, claim.generation, claim.attempts, chunkCount],
    );
    return row ? knowledgeBaseFrom(row) : null;
  }

  /** The generation's chunks go; `searchable_generation` stays, so the previous one is still searched. */
  async fail(claim: IngestionClaim, reason: string): Promise<void> {
    await this.db.query(
      `WITH doc AS (
         UPDATE knowledge_documents d
            SET status = 'failed', failure_reason = $4, chunks_done = 0, claimed_until = NULL,
                version = d.version + 1, updated_at = now()
          WHERE d.id = $1 AND d.generation = $2 AND d.attempts = $3 AND d.status = 'processing'
         RETURNING d.id, d.generation
       )
       DELETE FROM knowledge_chunks c USING doc WHERE c.document_id = doc.id AND c.generation = doc.generation`,
      [claim.documentId, claim.generation, claim.attempts, reason],
    );
  }

  async release(claim: IngestionClaim): Promise<void> {
    await this.db.query(
      `UPDATE knowledge_documents SET claimed_until = NULL
        WHERE id = $1 AND generation = $2 AND attempts = $3 AND status = 'processing'`,
      [claim.documentId, claim.generation, claim.attempts],
    );
  }

  /**
   * Through the partial index of documents in processing. The touch clears the lease and moves
   * `updated_at` on: the message sent again claims at once, and if that one is lost too, the
   * document is taken again `staleSeconds` later. Documents of deleted bases are left to retention.
   */
  async stalled(
    staleSeconds: number,
    limit: number,
  ): Promise<readonly { tenantId: string; documentId: string; generation: number }[]> {
    const rows = await this.db.query<{ id: string; tenant_id: string; generation: number }>(
      `UPDATE knowledge_documents SET claimed_until = NULL, updated_at = now()
        WHERE id IN (
          SELECT d.id FROM knowledge_documents d
           WHERE d.status = 'processing'
             AND (d.claimed_until < now()
                  OR (d.claimed_until IS NULL AND d.updated_at < now() - make_interval(secs => $1)))
             AND EXISTS (SELECT 1 FROM knowledge_bases b WHERE b.id = d.knowledge_base_id AND b.deleted_at IS NULL)
           ORDER BY d.updated_at LIMIT $2
           FOR UPDATE OF d SKIP LOCKED
        )
        RETURNING id, tenant_id, generation`,
      [staleSeconds, limit],
    );
    return rows.map((row) => ({ tenantId: row.tenant_id, documentId: row.id, generation: row.generation }));
  }
}
