import type { CallRecord, ExecutionError, RunRequest } from '#domain/execution.ts';
import { type RetrievalRow, toRetrievalRecord } from './knowledge-retrievals.ts';

// Columns that agent executions, workflow runs and workflow steps have alike, and what they read as.

/** What an execution and a workflow run keep of the request that started them. */
export interface RequestRow {
  id: string;
  tenant_id: string;
  input: string | Record<string, unknown>;
  metadata: Record<string, unknown> | null;
}

export const toRunRequest = (row: RequestRow): RunRequest => ({
  id: row.id,
  tenantId: row.tenant_id,
  input: row.input,
  metadata: row.metadata,
});

/** Where an execution and a workflow step record their model call (`callColumns` writes it). */
export interface CallRow {
  output: string | null;
  error: ExecutionError | null;
  provider: string | null;
  model_used: string | null;
  input_tokens: number | null;
  output_tokens: number | null;
  /** numeric: a string from a column, a number from JSON. */
  cost_usd: string | number | null;
  cached: boolean;
  /** Read where a client sees the unit (`latestRetrieval`): what its answer was grounded in. */
  retrieval?: RetrievalRow | null;
}

export const toCallRecord = (row: CallRow): CallRecord => ({
  output: row.output,
  error: row.error,
  provider: row.provider,
  modelUsed: row.model_used,
  inputTokens: row.input_tokens,
  outputTokens: row.output_tokens,
  costUsd: row.cost_usd === null ? null : Number(row.cost_usd),
  cached: row.cached,
  ...(row.retrieval && { retrieval: toRetrievalRecord(row.retrieval) }),
});
