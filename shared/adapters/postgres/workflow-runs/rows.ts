import type { ExecutionError } from '#domain/execution.ts';
import type {
  StepFailureMode,
  StepRun,
  StepStatus,
  WorkflowRun,
  WorkflowRunStatus,
} from '#domain/workflow.ts';
import { inlineStepTextChars } from '#domain/workflow.ts';
import type { FinishedRun } from '#services/ports.ts';
import { latestRetrieval } from '../knowledge-retrievals.ts';
import { type CallRow, type RequestRow, toCallRecord, toRunRequest } from '../run-rows.ts';

// The rows of runs and steps as they come from the database, and what the repository makes of them.

export interface RunRow extends RequestRow {
  workflow_id: string;
  workflow_version: number;
  on_step_failure: StepFailureMode;
  status: WorkflowRunStatus;
  error: ExecutionError | null;
  step_count: number;
  input_tokens: string | number;
  output_tokens: string | number;
  cost_usd: string | number;
  version: number;
  created_at: Date | string;
  started_at: Date | string | null;
  completed_at: Date | string | null;
}

export interface StepRow extends CallRow {
  key: string;
  position: number;
  agent_id: string;
  status: StepStatus;
  attempts: number;
  input: string | null;
  model: string | null;
  queued_at: Date | string | null;
  started_at: Date | string | null;
  completed_at: Date | string | null;
  input_truncated?: boolean | null;
  output_truncated?: boolean | null;
}

export const runColumns = `id, tenant_id, workflow_id, workflow_version, on_step_failure, status, input, metadata, error,
  step_count, input_tokens, output_tokens, cost_usd, version, created_at, started_at, completed_at`;

/**
 * Steps as one JSON array in the run's row (one query for a run with its steps). Inputs and
 * outputs are clipped to `inlineStepTextChars` here, in the database, so a run of 50 large
 * steps is neither built nor sent whole: the step's own route has the full values.
 */
export const stepsJson = `(SELECT json_agg(json_build_object(
      'key', s.key, 'position', s.position, 'agent_id', s.agent_id, 'status', s.status, 'attempts', s.attempts,
      'input', left(s.input, ${inlineStepTextChars}), 'input_truncated', char_length(s.input) > ${inlineStepTextChars},
      'output', left(s.output, ${inlineStepTextChars}), 'output_truncated', char_length(s.output) > ${inlineStepTextChars},
      'error', s.error, 'model', s.model, 'provider', s.provider,
      'model_used', s.model_used, 'input_tokens', s.input_tokens, 'output_tokens', s.output_tokens,
      'cost_usd', s.cost_usd, 'cached', s.cached, 'queued_at', s.queued_at, 'started_at', s.started_at,
      'completed_at', s.completed_at,
      'retrieval', ${latestRetrieval("s.execution_id::text || '/' || s.key")}) ORDER BY s.position)
    FROM workflow_step_runs s WHERE s.execution_id = r.id) AS steps`;

// Dates come back as Date from columns and as strings from JSON.
const date = (value: Date | string | null): Date | null =>
  value === null ? null : value instanceof Date ? value : new Date(value);

export const toRun = (row: RunRow): WorkflowRun => ({
  ...toRunRequest(row),
  workflowId: row.workflow_id,
  workflowVersion: row.workflow_version,
  status: row.status,
  error: row.error,
  stepCount: row.step_count,
  inputTokens: Number(row.input_tokens),
  outputTokens: Number(row.output_tokens),
  costUsd: Number(row.cost_usd),
  version: row.version,
  createdAt: date(row.created_at)!,
  startedAt: date(row.started_at),
  completedAt: date(row.completed_at),
});

export const toStepRun = (row: StepRow): StepRun => ({
  key: row.key,
  position: row.position,
  agentId: row.agent_id,
  status: row.status,
  attempts: row.attempts,
  input: row.input,
  model: row.model,
  ...toCallRecord(row),
  queuedAt: date(row.queued_at),
  startedAt: date(row.started_at),
  completedAt: date(row.completed_at),
  inputTruncated: row.input_truncated === true,
  outputTruncated: row.output_truncated === true,
});

/** A finished run's row, with what its announcement needs. */
export type FinishedRunRow = RunRow & { has_webhook: boolean; announced: boolean };

export const toFinishedRun = (row: FinishedRunRow): FinishedRun => ({
  ...toRun(row),
  hasWebhook: row.has_webhook,
  announced: row.announced,
});
