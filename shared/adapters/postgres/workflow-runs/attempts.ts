import type { ExecutionError } from '#domain/execution.ts';
import { isUuid } from '#domain/ids.ts';
import type { StepFailureMode } from '#domain/workflow.ts';
import { stepId, stepOutputPattern } from '#domain/workflow.ts';
import type { ClaimedStep, FinishedRun, StepAnswer, StepKey } from '#services/ports.ts';
import type { Database } from '../db.ts';
import { callColumns } from '../executions.ts';
import { settleRuns } from './finish.ts';
import { type FinishedRunRow, toFinishedRun } from './rows.ts';

// A step attempt's life: claimed (with a lease), then completed, released, retried or failed.

/**
 * The statement that locks runs in id order, opening every transaction that changes a
 * run's steps (failure here; claim and completion take the same locks the same way first
 * thing in their functions, migration 0005): concurrent completions of one run's steps
 * serialise (the fan-in count is exact) and no two transactions ever wait on each other
 * in opposite orders (no deadlock). It goes out with BEGIN in one round trip, so the ids
 * are literals: UUIDs only, anything else cannot match a run and is left out.
 */
const lockRuns = (ids: readonly string[]): string => {
  const literals = [...new Set(ids.filter(isUuid))].map((id) => `'${id}'`);
  if (literals.length === 0) return 'SELECT 1';
  return `SELECT 1 FROM workflow_executions WHERE id IN (${literals.join(', ')}) ORDER BY id FOR NO KEY UPDATE`;
};

/**
 * Starts attempts of queued steps (or running ones whose lease ran out: their worker
 * died) of runs still going, and marks those runs running. One function call for a batch.
 */
export async function claim(
  db: Database,
  keys: readonly { executionId: string; key: string }[],
  leaseSeconds: number,
): Promise<Map<string, ClaimedStep>> {
  if (keys.length === 0) return new Map();
  // claim_workflow_steps (migration 0005, where its SQL lives): the run locks, then the
  // claim, committed as the call ends, in one round trip; the function keeps its plan.
  const rows = await db.query<{
    execution_id: string;
    key: string;
    attempts: number;
    agent_id: string;
    tenant_id: string;
    workflow_id: string;
    workflow_version: number;
    on_step_failure: StepFailureMode;
    input: string | Record<string, unknown>;
    outputs: Record<string, string | null> | null;
  }>('SELECT * FROM claim_workflow_steps($1::uuid[], $2::text[], $3::float8, $4::text)', [
    keys.map((k) => k.executionId),
    keys.map((k) => k.key),
    leaseSeconds,
    stepOutputPattern,
  ]);
  return new Map(
    rows.map((row) => [
      stepId(row.execution_id, row.key),
      {
        executionId: row.execution_id,
        key: row.key,
        attempt: row.attempts,
        agentId: row.agent_id,
        tenantId: row.tenant_id,
        workflowId: row.workflow_id,
        workflowVersion: row.workflow_version,
        onStepFailure: row.on_step_failure,
        input: row.input,
        outputs: row.outputs ?? {},
      },
    ]),
  );
}

/**
 * Records the answers of a batch of steps, each only if its attempt still owns the
 * step, and in the same function call (one transaction): rolls usage up, counts each dependent's finished
 * dependencies down — a dependent whose count reaches 0 is queued, by exactly one
 * completion, however many finish at once — and finishes the runs with nothing left.
 * Returns the steps to enqueue (after commit) and the runs finished.
 */
export async function complete(
  db: Database,
  answers: readonly StepAnswer[],
): Promise<{
  done: Set<string>;
  released: StepKey[];
  finished: FinishedRun[];
}> {
  if (answers.length === 0) return { done: new Set(), released: [], finished: [] };
  const edges = answers.flatMap((a) =>
    a.dependents.map((dependent) => ({ executionId: a.executionId, from: a.key, key: dependent })),
  );
  // complete_workflow_steps (migration 0005, where its SQL lives): the run locks, then the
  // completion, committed as the call ends — one round trip, the shared rollup rows held for
  // no client round trip, and the function keeps its plan.
  const rows = await db.query<{
    done: { execution_id: string; key: string }[] | null;
    released: { execution_id: string; key: string; tenant_id: string }[] | null;
    finished: FinishedRunRow[] | null;
  }>(
    `SELECT done_steps AS done, released_steps AS released, finished_runs AS finished
         FROM complete_workflow_steps($1::uuid[], $2::text[], $3::int[], $4::text[], $5::text[], $6::text[],
                                      $7::text[], $8::text[], $9::int[], $10::int[], $11::numeric[], $12::boolean[],
                                      $13::uuid[], $14::text[], $15::text[])`,
    [
      answers.map((a) => a.executionId),
      answers.map((a) => a.key),
      answers.map((a) => a.attempt),
      answers.map((a) => a.renderedInput),
      answers.map((a) => a.model),
      ...callColumns(answers.map((a) => a.call)),
      edges.map((e) => e.executionId),
      edges.map((e) => e.from),
      edges.map((e) => e.key),
    ],
  );
  const result = rows[0]!;
  return {
    done: new Set((result.done ?? []).map((row) => stepId(row.execution_id, row.key))),
    released: (result.released ?? []).map((row) => ({
      executionId: row.execution_id,
      key: row.key,
      tenantId: row.tenant_id,
    })),
    finished: (result.finished ?? []).map(toFinishedRun),
  };
}

/**
 * Gives claimed steps back (queued, no lease) when their batch failed before recording
 * anything: the redelivered message can claim them at once instead of waiting for the lease.
 */
export async function release(
  db: Database,
  steps: readonly { executionId: string; key: string; attempt: number }[],
): Promise<void> {
  if (steps.length === 0) return;
  await db.query(
    `UPDATE workflow_step_runs s SET status = 'queued', lease_until = NULL, ready_at = now(), updated_at = now()
         FROM unnest($1::uuid[], $2::text[], $3::int[]) AS k(execution_id, key, attempt)
        WHERE s.execution_id = k.execution_id AND s.key = k.key AND s.status = 'running' AND s.attempts = k.attempt`,
    [steps.map((s) => s.executionId), steps.map((s) => s.key), steps.map((s) => s.attempt)],
  );
}

/**
 * How long the live leases of steps that could not be claimed have left, by step id
 * (the rare path: a redelivered message while an attempt runs, or after a crash).
 */
export async function leaseSecondsLeft(
  db: Database,
  keys: readonly { executionId: string; key: string }[],
): Promise<Map<string, number>> {
  if (keys.length === 0) return new Map();
  const rows = await db.query<{ execution_id: string; key: string; seconds_left: number }>(
    `SELECT s.execution_id, s.key, GREATEST(0, EXTRACT(EPOCH FROM s.lease_until - now()))::float8 AS seconds_left
         FROM workflow_step_runs s
         JOIN unnest($1::uuid[], $2::text[]) AS k(execution_id, key) ON s.execution_id = k.execution_id AND s.key = k.key
        WHERE s.status = 'running' AND s.lease_until > now()`,
    [keys.map((k) => k.executionId), keys.map((k) => k.key)],
  );
  return new Map(rows.map((row) => [stepId(row.execution_id, row.key), row.seconds_left]));
}

/** A failed attempt with attempts left: queued again, due after the backoff. */
export async function retry(
  db: Database,
  step: { executionId: string; key: string; attempt: number },
  error: ExecutionError,
  delaySeconds: number,
) {
  const rows = await db.query<{ key: string }>(
    `UPDATE workflow_step_runs SET status = 'queued', error = $4::jsonb, lease_until = NULL,
              ready_at = now() + make_interval(secs => $5), updated_at = now()
        WHERE execution_id = $1 AND key = $2 AND status = 'running' AND attempts = $3
        RETURNING key`,
    [step.executionId, step.key, step.attempt, JSON.stringify(error), delaySeconds],
  );
  return rows.length > 0;
}

/**
 * A step failed for good. "fail": the run fails and every open step is cancelled
 * (running ones have their results discarded). "continue": the steps downstream of it
 * are skipped and the others go on; the run fails once nothing is left open.
 */
export async function fail(
  db: Database,
  step: { executionId: string; key: string; attempt?: number },
  error: ExecutionError,
  mode: StepFailureMode,
  downstream: readonly string[],
): Promise<{ failed: boolean; finished: FinishedRun[] }> {
  return db.transaction(
    async (tx) => {
      // No usage to roll up: a failed attempt's call, if any, returned no usage to count.
      const failed = await tx.query<{ key: string }>(
        `UPDATE workflow_step_runs SET status = 'failed', error = $4::jsonb, completed_at = now(),
                lease_until = NULL, updated_at = now()
          WHERE execution_id = $1 AND key = $2 AND status IN ('queued', 'running', 'waiting')
            AND ($3::int IS NULL OR attempts = $3)
          RETURNING key`,
        [step.executionId, step.key, step.attempt ?? null, JSON.stringify(error)],
      );
      if (failed.length === 0) return { failed: false, finished: [] };
      if (mode === 'fail') {
        await tx.query(
          `UPDATE workflow_step_runs SET status = 'cancelled', completed_at = now(), lease_until = NULL, updated_at = now()
            WHERE execution_id = $1 AND status IN ('waiting', 'queued', 'running')`,
          [step.executionId],
        );
        await tx.query(
          `UPDATE workflow_executions SET error = $2::jsonb WHERE id = $1 AND status IN ('queued', 'running')`,
          [
            step.executionId,
            JSON.stringify({ code: 'step_failed', message: `step "${step.key}" failed: ${error.message}` }),
          ],
        );
      } else if (downstream.length > 0) {
        await tx.query(
          `UPDATE workflow_step_runs SET status = 'skipped', completed_at = now(), updated_at = now()
            WHERE execution_id = $1 AND key = ANY($2::text[]) AND status = 'waiting'`,
          [step.executionId, downstream],
        );
      }
      return { failed: true, finished: await settleRuns(tx, [step.executionId]) };
    },
    { opening: lockRuns([step.executionId]) },
  );
}
