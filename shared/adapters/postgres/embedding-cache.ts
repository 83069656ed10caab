import type { EmbeddingModel } from '#domain/embedding.ts';
import type { EmbeddingCache } from '#services/ports.ts';
import type { Queryable } from './db.ts';

/** The embedding cache in PostgreSQL (migration 0009): one statement to read a batch, one to write it. */
export class EmbeddingCacheRepository implements EmbeddingCache {
  constructor(private readonly db: Queryable) {}

  async getMany(
    tenantId: string,
    model: EmbeddingModel,
    hashes: readonly string[],
  ): Promise<Map<string, number[]>> {
    if (hashes.length === 0) return new Map();
    const rows = await this.db.query<{ hash: string; embedding: number[] }>(
      `SELECT encode(text_sha256, 'hex') AS hash, embedding
         FROM embedding_cache
        WHERE tenant_id = $1 AND provider = $2 AND model = $3 AND dimensions = $4
          AND text_sha256 = ANY (ARRAY(SELECT decode(h, 'hex') FROM unnest($5::text[]) AS h))`,
      [tenantId, model.provider, model.model, model.dimensions, hashes],
    );
    return new Map(rows.map((row) => [row.hash, row.embedding]));
  }

  async putMany(
    tenantId: string,
    model: EmbeddingModel,
    entries: readonly { hash: string; vector: number[] }[],
  ): Promise<void> {
    if (entries.length === 0) return;
    // Each vector as an array literal: unnest of a two-dimensional array would flatten it.
    await this.db.query(
      `INSERT INTO embedding_cache (tenant_id, provider, model, dimensions, text_sha256, embedding)
       SELECT $1, $2, $3, $4, decode(e.hash, 'hex'), e.embedding::real[]
         FROM unnest($5::text[], $6::text[]) AS e(hash, embedding)
       ON CONFLICT DO NOTHING`,
      [
        tenantId,
        model.provider,
        model.model,
        model.dimensions,
        entries.map((entry) => entry.hash),
        entries.map((entry) => `{${entry.vector.join(',')}}`),
      ],
    );
  }
}
