import type { ExecutionError } from '../../domain/execution.ts';
import { isUuid } from '../../domain/ids.ts';
import type {
  StepDefinition,
  StepFailureMode,
  StepRun,
  StepStatus,
  WorkflowRun,
  WorkflowRunStatus,
} from '../../domain/workflow.ts';
import { inlineStepTextChars, slowWorkflowMs, stepOutputPattern } from '../../domain/workflow.ts';
import type { Database, Queryable } from './db.ts';
import { type CompletedCall, callColumns, rollupShard } from './executions.ts';
import type { KeyedInsert, RowIdempotency } from './idempotency.ts';
import { sharedStatement } from './shared-statement.ts';
import { keysetPage, qualified } from './sql.ts';

interface RunRow {
  id: string;
  tenant_id: string;
  workflow_id: string;
  workflow_version: number;
  on_step_failure: StepFailureMode;
  status: WorkflowRunStatus;
  input: string | Record<string, unknown>;
  metadata: Record<string, unknown> | null;
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

interface StepRow {
  key: string;
  position: number;
  agent_id: string;
  status: StepStatus;
  attempts: number;
  input: string | null;
  output: string | null;
  error: ExecutionError | null;
  model: string | null;
  provider: string | null;
  model_used: string | null;
  input_tokens: number | null;
  output_tokens: number | null;
  cost_usd: string | number | null;
  cached: boolean;
  queued_at: Date | string | null;
  started_at: Date | string | null;
  completed_at: Date | string | null;
  input_truncated?: boolean | null;
  output_truncated?: boolean | null;
}

const runColumns = `id, tenant_id, workflow_id, workflow_version, on_step_failure, status, input, metadata, error,
  step_count, input_tokens, output_tokens, cost_usd, version, created_at, started_at, completed_at`;

/**
 * Steps as one JSON array in the run's row (one query for a run with its steps). Inputs and
 * outputs are clipped to `inlineStepTextChars` here, in the database, so a run of 50 large
 * steps is neither built nor sent whole: the step's own route has the full values.
 */
const stepsJson = `(SELECT json_agg(json_build_object(
      'key', s.key, 'position', s.position, 'agent_id', s.agent_id, 'status', s.status, 'attempts', s.attempts,
      'input', left(s.input, ${inlineStepTextChars}), 'input_truncated', char_length(s.input) > ${inlineStepTextChars},
      'output', left(s.output, ${inlineStepTextChars}), 'output_truncated', char_length(s.output) > ${inlineStepTextChars},
      'error', s.error, 'model', s.model, 'provider', s.provider,
      'model_used', s.model_used, 'input_tokens', s.input_tokens, 'output_tokens', s.output_tokens,
      'cost_usd', s.cost_usd, 'cached', s.cached, 'queued_at', s.queued_at, 'started_at', s.started_at,
      'completed_at', s.completed_at) ORDER BY s.position)
    FROM workflow_step_runs s WHERE s.execution_id = r.id) AS steps`;

// Dates come back as Date from columns and as strings from JSON.
const date = (value: Date | string | null): Date | null =>
  value === null ? null : value instanceof Date ? value : new Date(value);

const toRun = (row: RunRow): WorkflowRun => ({
  id: row.id,
  tenantId: row.tenant_id,
  workflowId: row.workflow_id,
  workflowVersion: row.workflow_version,
  status: row.status,
  input: row.input,
  metadata: row.metadata,
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

const toStepRun = (row: StepRow): StepRun => ({
  key: row.key,
  position: row.position,
  agentId: row.agent_id,
  status: row.status,
  attempts: row.attempts,
  input: row.input,
  output: row.output,
  error: row.error,
  model: row.model,
  provider: row.provider,
  modelUsed: row.model_used,
  inputTokens: row.input_tokens,
  outputTokens: row.output_tokens,
  costUsd: row.cost_usd === null ? null : Number(row.cost_usd),
  cached: row.cached,
  queuedAt: date(row.queued_at),
  startedAt: date(row.started_at),
  completedAt: date(row.completed_at),
  inputTruncated: row.input_truncated === true,
  outputTruncated: row.output_truncated === true,
});

/** A run that this transaction finished, with what its announcement needs. */
export type FinishedRun = WorkflowRun & { hasWebhook: boolean; announced: boolean };

/** A step attempt the claim started, with what running it needs. */
export interface ClaimedStep {
  readonly executionId: string;
  readonly key: string;
  readonly attempt: number;
  readonly agentId: string;
  readonly tenantId: string;
  readonly workflowId: string;
  readonly workflowVersion: number;
  readonly onStepFailure: StepFailureMode;
  readonly input: string | Record<string, unknown>;
  /** Outputs of the finished steps its template reads, by key. */
  readonly outputs: Readonly<Record<string, string | null>>;
}

export interface StepAnswer {
  readonly executionId: string;
  readonly key: string;
  readonly attempt: number;
  readonly renderedInput: string;
  readonly model: string;
  readonly call: CompletedCall;
  /** Steps that depend on this one (from the pinned definition). */
  readonly dependents: readonly string[];
}

/**
 * Finishes the runs among `ids` that have no open step left (succeeded, or failed by their
 * failed steps, with their steps' usage totals), in the caller's transaction, and rolls them
 * into the daily statistics in the same statement. complete_workflow_steps (migration 0005)
 * finishes runs the same way inside its statement: a change here is a new migration there.
 */
const settleRuns = async (tx: Queryable, ids: readonly string[]): Promise<FinishedRun[]> => {
  if (ids.length === 0) return [];
  const rows = await tx.query<RunRow & { has_webhook: boolean; announced: boolean }>(
    `WITH agg AS (
       SELECT s.execution_id,
              count(*) FILTER (WHERE s.status IN ('waiting', 'queued', 'running')) AS open,
              count(*) FILTER (WHERE s.status = 'failed') AS failed,
              array_agg(s.key ORDER BY s.position) FILTER (WHERE s.status = 'failed') AS failed_keys,
              COALESCE(sum(s.input_tokens), 0) AS input_tokens, COALESCE(sum(s.output_tokens), 0) AS output_tokens,
              COALESCE(sum(s.cost_usd), 0) AS cost_usd
         FROM workflow_step_runs s WHERE s.execution_id IN (SELECT unnest($1::uuid[]))
        GROUP BY s.execution_id
     ), finished AS (
       UPDATE workflow_executions r SET
              status = CASE WHEN agg.failed > 0 THEN 'failed' ELSE 'succeeded' END,
              error = CASE WHEN agg.failed > 0
                      THEN COALESCE(r.error, jsonb_build_object('code', 'steps_failed', 'message',
                             'steps failed: ' || array_to_string(agg.failed_keys, ', ')))
                      END,
              input_tokens = agg.input_tokens, output_tokens = agg.output_tokens,
              cost_usd = agg.cost_usd, completed_at = now(), version = r.version + 1, updated_at = now(),
              -- Nothing to send (no webhook, not slow): announced in this statement, no second write.
              notified_at = CASE
                WHEN NOT EXISTS (SELECT 1 FROM workflows w WHERE w.id = r.workflow_id AND w.webhook_url IS NOT NULL)
                 AND (r.started_at IS NULL OR now() - r.started_at <= make_interval(secs => ${slowWorkflowMs / 1000}))
                THEN now() END
         FROM agg
        WHERE r.id = agg.execution_id AND agg.open = 0 AND r.status IN ('queued', 'running')
        RETURNING ${qualified('r', runColumns)},
                  (SELECT w.webhook_url IS NOT NULL FROM workflows w WHERE w.id = r.workflow_id) AS has_webhook,
                  r.notified_at IS NOT NULL AS announced
     ), ${rollUpStats}
     SELECT * FROM finished`,
    [ids],
  );
  return rows.map((row) => ({ ...toRun(row), hasWebhook: row.has_webhook, announced: row.announced }));
};

/** The daily statistics rollup of the runs a statement just finished (`finished`). */
const rollUpStats = `
  stats AS (
    INSERT INTO workflow_stats_daily (workflow_id, day, shard, finished, succeeded, failed, duration_count,
                                      duration_ms)
    SELECT workflow_id, (created_at AT TIME ZONE 'UTC')::date, ${rollupShard}, count(*),
           count(*) FILTER (WHERE status = 'succeeded'), count(*) FILTER (WHERE status = 'failed'),
           count(started_at), COALESCE(sum(extract(epoch FROM completed_at - started_at) * 1000), 0)::bigint
      FROM finished
     GROUP BY 1, 2
     ORDER BY 1, 2 -- locked in key order: no deadlock between two transactions
    ON CONFLICT (workflow_id, day, shard) DO UPDATE SET
      finished = workflow_stats_daily.finished + EXCLUDED.finished,
      succeeded = workflow_stats_daily.succeeded + EXCLUDED.succeeded,
      failed = workflow_stats_daily.failed + EXCLUDED.failed,
      duration_count = workflow_stats_daily.duration_count + EXCLUDED.duration_count,
      duration_ms = workflow_stats_daily.duration_ms + EXCLUDED.duration_ms
  )`;

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

export interface NewRun {
  readonly id: string;
  readonly tenantId: string;
  readonly workflowId: string;
  readonly workflowVersion: number;
  readonly onStepFailure: StepFailureMode;
  readonly input: string | Record<string, unknown>;
  readonly metadata: Record<string, unknown> | null;
  readonly steps: readonly StepDefinition[];
  readonly createdAt: Date;
  /** The request's Idempotency-Key: one run per (tenant, workflow, key). */
  readonly idempotency?: RowIdempotency;
}

/** Runs per shared start statement (each brings its steps). */
const createBatchLimit = 16;

/** A run's Idempotency-Key with its scope (tenant, workflow), as one map key. */
const runKeyOf = (tenantId: string, workflowId: string, key: string) => `${tenantId}/${workflowId}/${key}`;

/**
 * Workflow runs and their steps. Every state change is conditional (a step completes only
 * if the attempt that ran it still owns it), so redelivered messages, a cancel racing a
 * worker, or two workers on one message resolve in Postgres.
 */
export class WorkflowRunRepository {
  constructor(private readonly db: Database) {}

  /**
   * A run and all its steps in one statement: roots queued, the others waiting on their
   * dependencies. Starts that arrive together (concurrent requests in one process) share it.
   * One under an Idempotency-Key that an earlier request already used is not created: the
   * earlier run comes back (`existing`), whatever crashed between its commit and now.
   */
  readonly createOrFind: (run: NewRun) => Promise<KeyedInsert<WorkflowRun>> = sharedStatement(
    (runs) => this.createMany(runs),
    createBatchLimit,
  );

  /** Creates a run; under a key already used, answers the earlier one. */
  async create(run: NewRun): Promise<WorkflowRun> {
    return (await this.createOrFind(run)).row;
  }

  private async createMany(runs: readonly NewRun[]): Promise<(KeyedInsert<WorkflowRun> | undefined)[]> {
    const steps = runs.flatMap((run) => run.steps.map((step) => ({ run, step })));
    // Without keys (the common case) the statement is the plain INSERT: no arbiter index to
    // check. With keys, a run not inserted (its key taken) gets no steps either.
    const keyed = runs.some((run) => run.idempotency);
    const rows = await this.db.query<RunRow>(
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
       )
       SELECT * FROM run`,
      [
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
      ],
    );
    const created = new Map(rows.map((row) => [row.id, toRun(row)]));
    const results: (KeyedInsert<WorkflowRun> | undefined)[] = runs.map((run) => {
      const row = created.get(run.id);
      return row && { kind: 'created', row };
    });
    // Not created under a key: an earlier request (or one earlier in this batch) holds it.
    // Read in a statement of its own, which sees what committed meanwhile. If that read fails,
    // only those requests fail (the others' runs are committed): their retry finds the run.
    const taken = runs.flatMap((run, i) =>
      results[i] === undefined && run.idempotency ? [{ ...run, key: run.idempotency.key }] : [],
    );
    if (taken.length > 0) {
      const found = await this.findByKeys(taken).catch(() => new Map<string, KeyedInsert<WorkflowRun>>());
      runs.forEach((run, i) => {
        if (results[i] === undefined && run.idempotency) {
          results[i] = found.get(runKeyOf(run.tenantId, run.workflowId, run.idempotency.key));
        }
      });
    }
    return results;
  }

  /** The run an Idempotency-Key started on this workflow, if any. */
  async findByKey(
    tenantId: string,
    workflowId: string,
    key: string,
  ): Promise<KeyedInsert<WorkflowRun> | undefined> {
    return (await this.findByKeys([{ tenantId, workflowId, key }])).get(runKeyOf(tenantId, workflowId, key));
  }

  private async findByKeys(
    keys: readonly { tenantId: string; workflowId: string; key: string }[],
  ): Promise<Map<string, KeyedInsert<WorkflowRun>>> {
    const rows = await this.db.query<RunRow & { idempotency_key: string; request_hash: string | null }>(
      `SELECT ${qualified('r', runColumns)}, r.idempotency_key, r.request_hash
         FROM workflow_executions r
         JOIN unnest($1::uuid[], $2::uuid[], $3::text[]) AS k(tenant_id, workflow_id, key)
           ON r.tenant_id = k.tenant_id AND r.workflow_id = k.workflow_id AND r.idempotency_key = k.key
        WHERE r.idempotency_key IS NOT NULL`,
      [keys.map((k) => k.tenantId), keys.map((k) => k.workflowId), keys.map((k) => k.key)],
    );
    return new Map(
      rows.map((row) => [
        runKeyOf(row.tenant_id, row.workflow_id, row.idempotency_key),
        { kind: 'existing', row: toRun(row), requestHash: row.request_hash },
      ]),
    );
  }

  /** A run, with its steps when asked, in one query. */
  async findById(
    tenantId: string,
    id: string,
    withSteps = true,
  ): Promise<{ run: WorkflowRun; steps: StepRun[] | undefined } | null> {
    const rows = await this.db.query<RunRow & { steps?: StepRow[] | null }>(
      `SELECT ${qualified('r', runColumns)}${withSteps ? `, ${stepsJson}` : ''}
         FROM workflow_executions r WHERE r.tenant_id = $1 AND r.id = $2`,
      [tenantId, id],
    );
    const row = rows[0];
    if (!row) return null;
    return { run: toRun(row), steps: withSteps ? (row.steps ?? []).map(toStepRun) : undefined };
  }

  /** One step of a run, with its whole input and output. */
  async findStep(tenantId: string, runId: string, key: string): Promise<StepRun | null> {
    const rows = await this.db.query<StepRow>(
      `SELECT s.key, s.position, s.agent_id, s.status, s.attempts, s.input, s.output, s.error, s.model, s.provider,
              s.model_used, s.input_tokens, s.output_tokens, s.cost_usd, s.cached, s.queued_at, s.started_at,
              s.completed_at
         FROM workflow_step_runs s JOIN workflow_executions r ON r.id = s.execution_id
        WHERE r.tenant_id = $1 AND r.id = $2 AND s.key = $3`,
      [tenantId, runId, key],
    );
    return rows[0] ? toStepRun(rows[0]) : null;
  }

  async page(query: {
    tenantId: string;
    workflowId: string;
    limit: number;
    status?: WorkflowRunStatus;
    after?: { createdAt: Date; id: string };
  }): Promise<WorkflowRun[]> {
    const { text, values } = keysetPage({
      table: 'workflow_executions',
      columns: runColumns,
      filters: { tenant_id: query.tenantId, workflow_id: query.workflowId, status: query.status },
      timeColumn: 'created_at',
      limit: query.limit,
      after: query.after,
    });
    const rows = await this.db.query<RunRow>(text, values);
    return rows.map(toRun);
  }

  /**
   * Starts attempts of queued steps (or running ones whose lease ran out: their worker
   * died) of runs still going, and marks those runs running. One function call for a batch.
   */
  async claim(
    keys: readonly { executionId: string; key: string }[],
    leaseSeconds: number,
  ): Promise<Map<string, ClaimedStep>> {
    if (keys.length === 0) return new Map();
    // claim_workflow_steps (migration 0005, where its SQL lives): the run locks, then the
    // claim, committed as the call ends, in one round trip; the function keeps its plan.
    const rows = await this.db.query<{
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
  async complete(answers: readonly StepAnswer[]): Promise<{
    done: Set<string>;
    released: { executionId: string; key: string; tenantId: string }[];
    finished: FinishedRun[];
  }> {
    if (answers.length === 0) return { done: new Set(), released: [], finished: [] };
    const edges = answers.flatMap((a) =>
      a.dependents.map((dependent) => ({ executionId: a.executionId, from: a.key, key: dependent })),
    );
    // complete_workflow_steps (migration 0005, where its SQL lives): the run locks, then the
    // completion, committed as the call ends — one round trip, the shared rollup rows held for
    // no client round trip, and the function keeps its plan.
    const rows = await this.db.query<{
      done: { execution_id: string; key: string }[] | null;
      released: { execution_id: string; key: string; tenant_id: string }[] | null;
      finished: (RunRow & { has_webhook: boolean; announced: boolean })[] | null;
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
      finished: (result.finished ?? []).map((row) => ({
        ...toRun(row),
        hasWebhook: row.has_webhook,
        announced: row.announced,
      })),
    };
  }

  /**
   * Gives claimed steps back (queued, no lease) when their batch failed before recording
   * anything: the redelivered message can claim them at once instead of waiting for the lease.
   */
  async release(steps: readonly { executionId: string; key: string; attempt: number }[]): Promise<void> {
    if (steps.length === 0) return;
    await this.db.query(
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
  async leaseSecondsLeft(
    keys: readonly { executionId: string; key: string }[],
  ): Promise<Map<string, number>> {
    if (keys.length === 0) return new Map();
    const rows = await this.db.query<{ execution_id: string; key: string; seconds_left: number }>(
      `SELECT s.execution_id, s.key, GREATEST(0, EXTRACT(EPOCH FROM s.lease_until - now()))::float8 AS seconds_left
         FROM workflow_step_runs s
         JOIN unnest($1::uuid[], $2::text[]) AS k(execution_id, key) ON s.execution_id = k.execution_id AND s.key = k.key
        WHERE s.status = 'running' AND s.lease_until > now()`,
      [keys.map((k) => k.executionId), keys.map((k) => k.key)],
    );
    return new Map(rows.map((row) => [stepId(row.execution_id, row.key), row.seconds_left]));
  }

  /** A failed attempt with attempts left: queued again, due after the backoff. */
  async retry(
    step: { executionId: string; key: string; attempt: number },
    error: ExecutionError,
    delaySeconds: number,
  ) {
    const rows = await this.db.query<{ key: string }>(
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
  async fail(
    step: { executionId: string; key: string; attempt?: number },
    error: ExecutionError,
    mode: StepFailureMode,
    downstream: readonly string[],
  ): Promise<{ failed: boolean; finished: FinishedRun[] }> {
    return this.db.transaction(
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

  /** Cancels a run that is still going: no further step is scheduled, queued ones are cancelled. */
  async cancel(tenantId: string, id: string): Promise<WorkflowRun | 'finished' | null> {
    return this.db.transaction(async (tx) => {
      const rows = await tx.query<RunRow>(
        `WITH finished AS (
           UPDATE workflow_executions SET status = 'cancelled', completed_at = now(), version = version + 1,
                  updated_at = now()
            WHERE tenant_id = $1 AND id = $2 AND status IN ('queued', 'running')
            RETURNING ${runColumns}
         ), ${rollUpStats}
         SELECT * FROM finished`,
        [tenantId, id],
      );
      if (!rows[0]) {
        const exists = await tx.query<{ exists: boolean }>(
          'SELECT EXISTS (SELECT 1 FROM workflow_executions WHERE tenant_id = $1 AND id = $2) AS exists',
          [tenantId, id],
        );
        return exists[0]?.exists ? 'finished' : null;
      }
      // The run's row is locked by the update above, as every change of its steps requires.
      await tx.query(
        `UPDATE workflow_step_runs SET status = 'cancelled', completed_at = now(), lease_until = NULL, updated_at = now()
          WHERE execution_id = $1 AND status IN ('waiting', 'queued', 'running')`,
        [id],
      );
      return toRun(rows[0]);
    });
  }

  async statusOf(id: string): Promise<WorkflowRunStatus | null> {
    const rows = await this.db.query<{ status: WorkflowRunStatus }>(
      'SELECT status FROM workflow_executions WHERE id = $1',
      [id],
    );
    return rows[0]?.status ?? null;
  }

  /** A finished run with its workflow's webhook, for delivery; null when the workflow has none now. */
  async webhookTarget(
    tenantId: string,
    id: string,
  ): Promise<{ run: WorkflowRun; steps: StepRun[]; url: string; secret: string } | null> {
    const rows = await this.db.query<
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

  async markAnnounced(ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return;
    // Rows locked in id order, as every transaction on runs does.
    await this.db.query(
      `UPDATE workflow_executions SET notified_at = now()
        WHERE id IN (SELECT id FROM workflow_executions WHERE id = ANY($1::uuid[]) ORDER BY id FOR NO KEY UPDATE)`,
      [ids],
    );
  }

  /**
   * Open steps nobody is working on: queued and due for `staleSeconds` (an enqueue that
   * was lost) or running past their lease (a worker that died). Touching them keeps the
   * next sweep from taking them again before the re-sent message is handled.
   */
  async takeStuckSteps(
    staleSeconds: number,
    limit: number,
  ): Promise<{ executionId: string; key: string; tenantId: string }[]> {
    const rows = await this.db.query<{ execution_id: string; key: string; tenant_id: string }>(
      `UPDATE workflow_step_runs SET ready_at = now(), updated_at = now()
        WHERE (execution_id, key) IN (
          SELECT execution_id, key FROM workflow_step_runs
           WHERE status IN ('queued', 'running') AND ready_at < now() - make_interval(secs => LEAST($1, 30))
             AND ((status = 'queued' AND ready_at < now() - make_interval(secs => $1))
                  OR (status = 'running' AND lease_until < now()))
           ORDER BY ready_at LIMIT $2
           FOR UPDATE SKIP LOCKED
        )
        RETURNING execution_id, key, tenant_id`,
      [staleSeconds, limit],
    );
    return rows.map((row) => ({ executionId: row.execution_id, key: row.key, tenantId: row.tenant_id }));
  }

  /** Finished runs whose completion events never reached the queue. */
  async takeUnannounced(staleSeconds: number, limit: number): Promise<FinishedRun[]> {
    const rows = await this.db.query<RunRow & { has_webhook: boolean; announced: boolean }>(
      `SELECT ${qualified('r', runColumns)},
              (SELECT w.webhook_url IS NOT NULL FROM workflows w WHERE w.id = r.workflow_id) AS has_webhook, false AS announced
         FROM workflow_executions r
        WHERE r.notified_at IS NULL AND r.completed_at IS NOT NULL
          AND r.completed_at < now() - make_interval(secs => $1)
        ORDER BY r.completed_at LIMIT $2`,
      [staleSeconds, limit],
    );
    return rows.map((row) => ({ ...toRun(row), hasWebhook: row.has_webhook, announced: row.announced }));
  }
}

/** A step's identity within a batch. */
export const stepId = (executionId: string, key: string): string => `${executionId}/${key}`;
