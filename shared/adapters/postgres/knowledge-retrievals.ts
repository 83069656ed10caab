import type { Retrieval, RetrievalRecord } from '#domain/knowledge.ts';
import { type Citation, toCitationResource } from '#domain/knowledge.ts';
import type { RetrievalLog } from '#services/ports.ts';
import type { Queryable } from './db.ts';

/**
 * The latest attempt's retrieval of a unit, as a JSON value for a read (null without one):
 * `unitIdSql` is the SQL of the unit's id as text. One primary-key lookup per row read.
 */
export const latestRetrieval = (unitIdSql: string): string =>
  `(SELECT jsonb_build_object('citations', kr.citations, 'duration_ms', kr.duration_ms,
            'embedding_tokens', kr.embedding_tokens)
      FROM knowledge_retrievals kr WHERE kr.unit_id = ${unitIdSql} ORDER BY kr.attempt DESC LIMIT 1)`;

/** The retrieval a read's `retrieval` column holds. */
export interface RetrievalRow {
  citations: RetrievalRecord['citations'];
  duration_ms: number;
  embedding_tokens: number;
}

export const toRetrievalRecord = (value: RetrievalRow | null | undefined): RetrievalRecord | null =>
  value
    ? { citations: value.citations, durationMs: value.duration_ms, embeddingTokens: value.embedding_tokens }
    : null;

const citationsOf = (retrieval: Retrieval): ReturnType<typeof toCitationResource>[] =>
  retrieval.passages.map(({ knowledgeBaseId, documentId, chunkId, title, score }: Citation) =>
    toCitationResource({ knowledgeBaseId, documentId, chunkId, title, score }),
  );

export class RetrievalLogRepository implements RetrievalLog {
  constructor(private readonly db: Queryable) {}

  /** One statement; a redelivered attempt writes its row again. */
  async record(tenantId: string, unitId: string, attempt: number, retrieval: Retrieval): Promise<void> {
    await this.db.query(
      `INSERT INTO knowledge_retrievals (unit_id, attempt, tenant_id, citations, duration_ms, embedding_tokens,
                                         embedding_cost_usd)
       VALUES ($1, $2, $3, $4::jsonb, $5, $6, $7)
       ON CONFLICT (unit_id, attempt) DO UPDATE
         SET citations = EXCLUDED.citations, duration_ms = EXCLUDED.duration_ms,
             embedding_tokens = EXCLUDED.embedding_tokens, embedding_cost_usd = EXCLUDED.embedding_cost_usd,
             created_at = now()`,
      [
        unitId,
        attempt,
        tenantId,
        JSON.stringify(citationsOf(retrieval)),
        Math.round(retrieval.durationMs),
        retrieval.embeddingTokens,
        retrieval.embeddingCostUsd,
      ],
    );
  }
}
