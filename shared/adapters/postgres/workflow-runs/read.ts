import type { StepRun, WorkflowRun, WorkflowRunStatus } from '#domain/workflow.ts';
import type { RunPageQuery } from '#services/ports.ts';
import type { Database } from '../db.ts';
import { latestRetrieval } from '../knowledge-retrievals.ts';
import { qualified, readPage } from '../sql.ts';
import { type RunRow, runColumns, type StepRow, stepsJson, toRun, toStepRun } from './rows.ts';

// Reading runs and steps.

/** A run, with its steps when asked, in one query. */
export async function findById(
  db: Database,
  tenantId: string,
  id: string,
  withSteps = true,
): Promise<{ run: WorkflowRun; steps: StepRun[] | undefined } | null> {
  const rows = await db.query<RunRow & { steps?: StepRow[] | null }>(
    `SELECT ${qualified('r', runColumns)}${withSteps ? `, ${stepsJson}` : ''}
         FROM workflow_executions r WHERE r.tenant_id = $1 AND r.id = $2`,
    [tenantId, id],
  );
  const row = rows[0];
  if (!row) return null;
  return { run: toRun(row), steps: withSteps ? (row.steps ?? []).map(toStepRun) : undefined };
}

/** One step of a run, with its whole input and output. */
export async function findStep(
  db: Database,
  tenantId: string,
  runId: string,
  key: string,
): Promise<StepRun | null> {
  const rows = await db.query<StepRow>(
    `SELECT s.key, s.position, s.agent_id, s.status, s.attempts, s.input, s.output, s.error, s.model, s.provider,
              s.model_used, s.input_tokens, s.output_tokens, s.cost_usd, s.cached, s.queued_at, s.started_at,
              s.completed_at, ${latestRetrieval("s.execution_id::text || '/' || s.key")} AS retrieval
         FROM workflow_step_runs s JOIN workflow_executions r ON r.id = s.execution_id
        WHERE r.tenant_id = $1 AND r.id = $2 AND s.key = $3`,
    [tenantId, runId, key],
  );
  return rows[0] ? toStepRun(rows[0]) : null;
}

export async function page(db: Database, query: RunPageQuery): Promise<WorkflowRun[]> {
  return readPage(
    db,
    {
      table: 'workflow_executions',
      columns: runColumns,
      filters: { tenant_id: query.tenantId, workflow_id: query.workflowId, status: query.status },
      timeColumn: 'created_at',
      limit: query.limit,
      after: query.after,
    },
    toRun,
  );
}

export async function statusOf(db: Database, id: string): Promise<WorkflowRunStatus | null> {
  const rows = await db.query<{ status: WorkflowRunStatus }>(
    'SELECT status FROM workflow_executions WHERE id = $1',
    [id],
  );
  return rows[0]?.status ?? null;
}

/** A finished run with its workflow's webhook, for delivery; null when the workflow has none now. */
export async function webhookTarget(
  db: Database,
  tenantId: string,
  id: string,
): Promise<{ run: WorkflowRun; steps: StepRun[]; url: string; secret: string } | null> {
  const rows = await db.query<
    RunRow & { steps: StepRow[] | null; webhook_url: string | null; webhook_secret: string | null }
  >(
    `SELECT ${qualified('r', runColumns)}, ${stepsJson}, w.webhook_url, w.webhook_secret
         FROM workflow_executions r JOIN workflows w ON w.id = r.workflow_id
        WHERE r.tenant_id = $1 AND r.id = $2`,
    [tenantId, id],
  );
  const row = rows[0];
  if (!row?.webhook_url || !row.webhook_secret) return null;
  return {
    run: toRun(row),
    steps: (row.steps ?? []).map(toStepRun),
    url: row.webhook_url,
    secret: row.webhook_secret,
  };
}
