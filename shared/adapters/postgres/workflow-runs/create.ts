import type { WorkflowRun } from '#domain/workflow.ts';
import type { KeyedInsert, NewRun } from '#services/ports.ts';
import { auditInserted } from '../audit.ts';
import type { Database } from '../db.ts';
import { findByKey as findKeyed, type KeyedTable, keyedInsertResults } from '../keyed-insert.ts';
import { type RunRow, runColumns, toRun } from './rows.ts';

// Starting runs: a run and all its steps in one statement, once per Idempotency-Key.

/** Runs per shared start statement (each brings its steps). */
export const createBatchLimit = 16;

/** Runs' Idempotency-Keys are scoped by (tenant, workflow). */
const keyedRuns: KeyedTable<RunRow, WorkflowRun> = {
  table: 'workflow_executions',
  alias: 'r',
  columns: runColumns,
  scope: 'workflow_id',
  toResource: toRun,
};

/**
 * Inserts the runs of a batch with their steps: roots queued, the others waiting on their
 * dependencies. A run under an Idempotency-Key already used is not inserted: the earlier one
 * comes back (`existing`), or undefined when it could not be read (that request fails alone):
 * `keyedInsertResults`.
 */
export async function createMany(
  db: Database,
  runs: readonly NewRun[],
): Promise<(KeyedInsert<WorkflowRun> | undefined)[]> {
  const steps = runs.flatMap((run) => run.steps.map((step) => ({ run, step })));
  // Without keys (the common case) the statement is the plain INSERT: no arbiter index to
  // check. With keys, a run not inserted (its key taken) gets no steps either.
  const keyed = runs.some((run) => run.idempotency);
  const values = [
    runs.map((run) => run.id),
    runs.map((run) => run.tenantId),
    runs.map((run) => run.workflowId),
    runs.map((run) => run.workflowVersion),
    runs.map((run) => run.onStepFailure),
    runs.map((run) => JSON.stringify(run.input)),
    runs.map((run) => (run.metadata === null ? null : JSON.stringify(run.metadata))),
    runs.map((run) => run.steps.length),
    runs.map((run) => run.createdAt),
    steps.map(({ run }) => run.id),
    steps.map(({ step }) => step.key),
    steps.map(({ run }) => run.tenantId),
    steps.map(({ step }) => step.position),
    steps.map(({ step }) => step.agentId),
    steps.map(({ step }) => step.dependsOn.length),
    steps.map(({ run }) => run.createdAt),
    ...(keyed
      ? [
          runs.map((run) => run.idempotency?.key ?? null),
          runs.map((run) => run.idempotency?.requestHash ?? null),
        ]
      : []),
  ];
  const audit = auditInserted('run', 'created_at', values.length + 1, runs);
  const rows = await db.query<RunRow>(
    `WITH run AS (
         INSERT INTO workflow_executions (id, tenant_id, workflow_id, workflow_version, on_step_failure, status,
                                          input, metadata, step_count, created_at, updated_at${
                                            keyed ? ', idempotency_key, request_hash' : ''
                                          })
         SELECT id, tenant_id, workflow_id, workflow_version, on_step_failure, 'queued', input, metadata,
                step_count, created_at, created_at${keyed ? ', idempotency_key, request_hash' : ''}
           FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::int[], $5::text[], $6::jsonb[], $7::jsonb[],
                       $8::int[], $9::timestamptz[]${keyed ? ', $17::text[], $18::text[]' : ''})
                AS r (id, tenant_id, workflow_id, workflow_version, on_step_failure, input, metadata, step_count,
                      created_at${keyed ? ', idempotency_key, request_hash' : ''})
         ${keyed ? 'ON CONFLICT (tenant_id, workflow_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING' : ''}
         RETURNING ${runColumns}
       ), steps AS (
         INSERT INTO workflow_step_runs (execution_id, key, tenant_id, position, agent_id, status, pending_deps,
                                         queued_at, ready_at, updated_at)
         SELECT k.execution_id, k.key, k.tenant_id, k.position, k.agent_id,
                CASE WHEN k.deps = 0 THEN 'queued' ELSE 'waiting' END, k.deps,
                CASE WHEN k.deps = 0 THEN k.at END, CASE WHEN k.deps = 0 THEN k.at END, k.at
           FROM unnest($10::uuid[], $11::text[], $12::uuid[], $13::int[], $14::uuid[], $15::int[],
                       $16::timestamptz[])
                AS k (execution_id, key, tenant_id, position, agent_id, deps, at)
         ${keyed ? 'WHERE k.execution_id IN (SELECT id FROM run)' : ''}
       )${audit.cte}
       SELECT * FROM run`,
    [...values, ...audit.values],
  );
  return keyedInsertResults(db, keyedRuns, runs, rows, (run) => run.workflowId);
}

/** The run an Idempotency-Key started on this workflow, if any. */
export function findByKey(
  db: Database,
  tenantId: string,
  workflowId: string,
  key: string,
): Promise<KeyedInsert<WorkflowRun> | undefined> {
  return findKeyed(db, keyedRuns, { tenantId, scopeId: workflowId, key });
}
