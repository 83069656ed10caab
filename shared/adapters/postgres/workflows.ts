import type { KnowledgeUse, SearchMode } from '#domain/knowledge.ts';
import type {
  StepDefinition,
  StepFailureMode,
  Workflow,
  WorkflowStats,
  WorkflowSummary,
  WorkflowWithSteps,
} from '#domain/workflow.ts';
import type {
  CreatedWorkflow,
  EarlierInsert,
  RowIdempotency,
  WorkflowPageQuery,
  WorkflowPatch,
  WorkflowStore,
  WorkflowWrite,
} from '#services/ports.ts';
import type { Database, Queryable } from './db.ts';
import { earlierInsert } from './keyed-insert.ts';

interface WorkflowRow {
  id: string;
  tenant_id: string;
  name: string;
  description: string | null;
  on_step_failure: StepFailureMode;
  webhook_url: string | null;
  version: number;
  step_count: number;
  created_at: Date;
  updated_at: Date;
}

interface StepJson {
  key: string;
  position: number;
  agent_id: string;
  input_template: string;
  depends_on: string[];
  max_attempts: number;
  backoff_seconds: number;
  timeout_seconds: number;
  knowledge: StoredStepKnowledge | null;
}

/**
 * The `knowledge` column (migration 0012): NULL inherits the agent's, `{"off": true}` turns it
 * off (an object, since the steps' JSON aggregate renders SQL NULL and JSON null alike), else the
 * step's own use in the API's spelling.
 */
type StoredStepKnowledge = { off: true } | { knowledge_base_ids: string[]; top_k: number; mode: SearchMode };

const storedKnowledge = (knowledge: KnowledgeUse | null): StoredStepKnowledge =>
  knowledge
    ? { knowledge_base_ids: [...knowledge.baseIds], top_k: knowledge.topK, mode: knowledge.mode }
    : { off: true };

const stepKnowledge = (stored: StoredStepKnowledge | null): KnowledgeUse | null | undefined => {
  if (stored === null) return undefined;
  if ('off' in stored) return null;
  return { baseIds: stored.knowledge_base_ids, topK: stored.top_k, mode: stored.mode };
};

/** The step columns every read and copy of a version takes. */
const stepColumns =
  'key, position, agent_id, input_template, depends_on, max_attempts, backoff_seconds, timeout_seconds, knowledge';

const workflowColumns =
  'id, tenant_id, name, description, on_step_failure, webhook_url, version, step_count, created_at, updated_at';
const qualifiedWorkflowColumns = workflowColumns
  .split(', ')
  .map((column) => `w.${column}`)
  .join(', ');

/** The steps of the workflow's current version, as one JSON array in the same row. */
const stepsJson = `(SELECT json_agg(json_build_object(
      'key', s.key, 'position', s.position, 'agent_id', s.agent_id, 'input_template', s.input_template,
      'depends_on', s.depends_on, 'max_attempts', s.max_attempts, 'backoff_seconds', s.backoff_seconds,
      'timeout_seconds', s.timeout_seconds, 'knowledge', s.knowledge) ORDER BY s.position)
    FROM workflow_steps s WHERE s.workflow_id = w.id AND s.version = w.version) AS steps`;

const toWorkflow = (row: WorkflowRow): Workflow => ({
  id: row.id,
  tenantId: row.tenant_id,
  name: row.name,
  description: row.description,
  onStepFailure: row.on_step_failure,
  webhookUrl: row.webhook_url,
  version: row.version,
  stepCount: row.step_count,
  createdAt: row.created_at,
  updatedAt: row.updated_at,
});

export const toStepDefinition = (step: StepJson): StepDefinition => {
  const knowledge = stepKnowledge(step.knowledge ?? null);
  return {
    key: step.key,
    position: step.position,
    agentId: step.agent_id,
    inputTemplate: step.input_template,
    dependsOn: step.depends_on,
    maxAttempts: step.max_attempts,
    backoffSeconds: step.backoff_seconds,
    timeoutSeconds: step.timeout_seconds,
    ...(knowledge !== undefined && { knowledge }),
  };
};

/**
 * The agents of a definition, locked against deletion until the transaction commits
 * (FOR SHARE): an agent deleted meanwhile is reported missing, never referenced.
 */
const lockAgents = async (
  tx: Queryable,
  tenantId: string,
  steps: readonly StepDefinition[],
): Promise<string[]> => {
  const wanted = [...new Set(steps.map((step) => step.agentId))];
  const rows = await tx.query<{ id: string }>(
    `SELECT id FROM agents WHERE tenant_id = $1 AND id = ANY($2::uuid[]) AND deleted_at IS NULL FOR SHARE`,
    [tenantId, wanted],
  );
  const found = new Set(rows.map((row) => row.id));
  return wanted.filter((id) => !found.has(id));
};

const insertSteps = (tx: Queryable, workflowId: string, version: number, steps: readonly StepDefinition[]) =>
  tx.query(
    `INSERT INTO workflow_steps (workflow_id, version, key, position, agent_id, input_template, depends_on,
                                 max_attempts, backoff_seconds, timeout_seconds, knowledge)
     SELECT $1, $2, s.key, s.position, s.agent_id, s.input_template, ARRAY(SELECT jsonb_array_elements_text(s.depends_on)),
            s.max_attempts, s.backoff_seconds, s.timeout_seconds, s.knowledge
       FROM jsonb_to_recordset($3::jsonb) AS s(key text, position int, agent_id uuid, input_template text,
                                               depends_on jsonb, max_attempts int, backoff_seconds int, timeout_seconds int,
                                               knowledge jsonb)`,
    [
      workflowId,
      version,
      JSON.stringify(
        steps.map((step) => ({
          key: step.key,
          position: step.position,
          agent_id: step.agentId,
          input_template: step.inputTemplate,
          depends_on: step.dependsOn,
          max_attempts: step.maxAttempts,
          backoff_seconds: step.backoffSeconds,
          timeout_seconds: step.timeoutSeconds,
          // Left out to inherit: the column stays SQL NULL.
          ...(step.knowledge !== undefined && { knowledge: storedKnowledge(step.knowledge) }),
        })),
      ),
    ],
  );

/** Workflow definitions, their versions, lists and statistics. */
export class WorkflowRepository implements WorkflowStore {
  constructor(private readonly db: Database) {}

  /**
   * A workflow with its first version's steps, in one transaction. Under an Idempotency-Key
   * an earlier request already used, creates nothing and answers that request's workflow
   * (`existing`), whatever crashed between its commit and now.
   */
  async insert(
    workflow: Omit<Workflow, 'version' | 'stepCount'>,
    steps: readonly StepDefinition[],
    webhookSecret: string | null,
    idempotency?: RowIdempotency,
  ): Promise<WorkflowWrite | EarlierInsert<CreatedWorkflow>> {
    const written = await this.db.transaction(async (tx): Promise<WorkflowWrite | { kind: 'taken' }> => {
      const missing = await lockAgents(tx, workflow.tenantId, steps);
      if (missing.length > 0) return { kind: 'missing-agents', agentIds: missing };
      const rows = await tx.query<WorkflowRow>(
        `INSERT INTO workflows (id, tenant_id, name, description, on_step_failure, webhook_url, webhook_secret,
                                version, step_count, created_at, updated_at, idempotency_key, request_hash)
         VALUES ($1, $2, $3, $4, $5, $6, $7, 1, $8, $9, $9, $10, $11)
         ON CONFLICT (tenant_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
         RETURNING ${workflowColumns}`,
        [
          workflow.id,
          workflow.tenantId,
          workflow.name,
          workflow.description,
          workflow.onStepFailure,
          workflow.webhookUrl,
          webhookSecret,
          steps.length,
          workflow.createdAt,
          idempotency?.key ?? null,
          idempotency?.requestHash ?? null,
        ],
      );
      if (!rows[0]) return { kind: 'taken' };
      await insertSteps(tx, workflow.id, 1, steps);
      return { kind: 'done', workflow: { ...toWorkflow(rows[0]), steps } };
    });
    if (written.kind !== 'taken') return written;
    // Only a key conflict inserts nothing; the earlier row is read after this transaction,
    // in a statement that sees it (the INSERT waited for it to commit).
    const existing = idempotency && (await this.findByKey(workflow.tenantId, idempotency.key));
    if (!existing) throw new Error('the workflow insert wrote nothing and no row holds its key');
    return existing;
  }

  /** The workflow an Idempotency-Key created (deleted or not), with its current steps. */
  async findByKey(tenantId: string, key: string): Promise<EarlierInsert<CreatedWorkflow> | undefined> {
    const rows = await this.db.query<
      WorkflowRow & { steps: StepJson[] | null; webhook_secret: string | null; request_hash: string | null }
    >(
      `SELECT ${qualifiedWorkflowColumns}, ${stepsJson}, w.webhook_secret, w.request_hash
         FROM workflows w WHERE w.tenant_id = $1 AND w.idempotency_key = $2`,
      [tenantId, key],
    );
    return earlierInsert(rows[0], (row) => ({
      workflow: { ...toWorkflow(row), steps: (row.steps ?? []).map(toStepDefinition) },
      webhookSecret: row.webhook_secret,
    }));
  }

  async findById(tenantId: string, id: string): Promise<Workflow | null> {
    const rows = await this.db.query<WorkflowRow>(
      `SELECT ${workflowColumns} FROM workflows WHERE tenant_id = $1 AND id = $2 AND deleted_at IS NULL`,
      [tenantId, id],
    );
    return rows[0] ? toWorkflow(rows[0]) : null;
  }

  /** The workflow and its current steps, in one query. */
  async findWithSteps(tenantId: string, id: string): Promise<WorkflowWithSteps | null> {
    const rows = await this.db.query<WorkflowRow & { steps: StepJson[] | null }>(
      `SELECT ${qualifiedWorkflowColumns}, ${stepsJson}
         FROM workflows w WHERE w.tenant_id = $1 AND w.id = $2 AND w.deleted_at IS NULL`,
      [tenantId, id],
    );
    const row = rows[0];
    return row ? { ...toWorkflow(row), steps: (row.steps ?? []).map(toStepDefinition) } : null;
  }

  /** The steps of one version: immutable, so cached without end by the caller. */
  async stepsOfVersion(workflowId: string, version: number): Promise<StepDefinition[]> {
    const rows = await this.db.query<StepJson>(
      `SELECT ${stepColumns} FROM workflow_steps WHERE workflow_id = $1 AND version = $2 ORDER BY position`,
      [workflowId, version],
    );
    return rows.map(toStepDefinition);
  }

  /**
   * A new version: the row is locked (and the If-Match versions checked) first; the steps
   * are the new ones, or the previous version's carried over.
   */
  async update(
    tenantId: string,
    id: string,
    patch: WorkflowPatch,
    expectedVersions: readonly number[] | undefined,
  ): Promise<WorkflowWrite> {
    return this.db.transaction(async (tx) => {
      const current = await tx.query<{ version: number }>(
        'SELECT version FROM workflows WHERE tenant_id = $1 AND id = $2 AND deleted_at IS NULL FOR UPDATE',
        [tenantId, id],
      );
      const version = current[0]?.version;
      if (version === undefined) return { kind: 'not-found' };
      if (expectedVersions && !expectedVersions.includes(version)) return { kind: 'stale' };
      if (patch.steps) {
        const missing = await lockAgents(tx, tenantId, patch.steps);
        if (missing.length > 0) return { kind: 'missing-agents', agentIds: missing };
      }
      const rows = await tx.query<WorkflowRow>(
        `UPDATE workflows SET
            name = COALESCE($3, name),
            description = CASE WHEN $4::boolean THEN $5 ELSE description END,
            on_step_failure = COALESCE($6, on_step_failure),
            webhook_url = CASE WHEN $7::boolean THEN $8 ELSE webhook_url END,
            webhook_secret = CASE WHEN $7::boolean THEN $9 ELSE webhook_secret END,
            step_count = COALESCE($10, step_count),
            version = version + 1, updated_at = now()
          WHERE tenant_id = $1 AND id = $2
          RETURNING ${workflowColumns}`,
        [
          tenantId,
          id,
          patch.name ?? null,
          patch.description !== undefined,
          patch.description ?? null,
          patch.onStepFailure ?? null,
          patch.webhook !== undefined,
          patch.webhook?.url ?? null,
          patch.webhook?.secret ?? null,
          patch.steps?.length ?? null,
        ],
      );
      const workflow = toWorkflow(rows[0]!);
      let steps: readonly StepDefinition[];
      if (patch.steps) {
        steps = patch.steps;
        await insertSteps(tx, id, workflow.version, steps);
      } else {
        const carried = await tx.query<StepJson>(
          `INSERT INTO workflow_steps (workflow_id, version, ${stepColumns})
           SELECT workflow_id, $3, ${stepColumns}
             FROM workflow_steps WHERE workflow_id = $1 AND version = $2
           RETURNING ${stepColumns}`,
          [id, version, workflow.version],
        );
        steps = carried.map(toStepDefinition).sort((a, b) => a.position - b.position);
      }
      return { kind: 'done', workflow: { ...workflow, steps } };
    });
  }

  async softDelete(
    tenantId: string,
    id: string,
    expectedVersions: readonly number[] | undefined,
  ): Promise<{ kind: 'done'; version: number } | { kind: 'not-found' } | { kind: 'stale' }> {
    const rows = await this.db.query<{ version: number }>(
      `UPDATE workflows SET deleted_at = now(), version = version + 1, updated_at = now()
        WHERE tenant_id = $1 AND id = $2 AND deleted_at IS NULL AND ($3::int[] IS NULL OR version = ANY($3::int[]))
        RETURNING version`,
      [tenantId, id, expectedVersions ?? null],
    );
    if (rows[0]) return { kind: 'done', version: rows[0].version };
    if (expectedVersions === undefined) return { kind: 'not-found' };
    return (await this.findById(tenantId, id)) ? { kind: 'stale' } : { kind: 'not-found' };
  }

  /**
   * One query for a page (seed 000's N+1 fixed), whose cost does not grow with the runs:
   * the count is the finished runs of the daily rollups (retention deletes runs and their
   * rollup days together) plus the unfinished ones (a small partial index), the latest is
   * one index probe. `q` is a case-insensitive prefix of the name, served by the
   * expression index on lower(name).
   */
  async page(query: WorkflowPageQuery): Promise<WorkflowSummary[]> {
    const values: unknown[] = [query.tenantId, query.limit];
    let where = 'w.tenant_id = $1 AND w.deleted_at IS NULL';
    if (query.q) {
      values.push(`${query.q.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`);
      where += ` AND lower(w.name) LIKE $${values.length}`;
    }
    if (query.after) {
      values.push(query.after.createdAt, query.after.id);
      where += ` AND (w.created_at, w.id) < ($${values.length - 1}::timestamptz, $${values.length}::uuid)`;
    }
    const rows = await this.db.query<
      WorkflowRow & { execution_count: string; last_execution_at: Date | null }
    >(
      `SELECT ${qualifiedWorkflowColumns}, s.execution_count, s.last_execution_at
         FROM workflows w
         CROSS JOIN LATERAL (
           SELECT (SELECT COALESCE(sum(d.finished), 0) FROM workflow_stats_daily d WHERE d.workflow_id = w.id)
                + (SELECT count(*) FROM workflow_executions a
                    WHERE a.workflow_id = w.id AND a.status IN ('queued', 'running')) AS execution_count,
                  (SELECT e.created_at FROM workflow_executions e WHERE e.workflow_id = w.id
                    ORDER BY e.created_at DESC, e.id DESC LIMIT 1) AS last_execution_at
         ) s
        WHERE ${where}
        ORDER BY w.created_at DESC, w.id DESC
        LIMIT $2`,
      values,
    );
    return rows.map((row) => ({
      ...toWorkflow(row),
      executionCount: Number(row.execution_count),
      lastExecutionAt: row.last_execution_at,
    }));
  }

  /**
   * Seed 000's 30-day statistics, for one workflow or all of a tenant's, in one query.
   * The window is `created_at > now() - 30 days`. Whole UTC days after its first come
   * from the daily rollups (written when runs finish); the partial first day and the
   * runs still going are read from the runs themselves, through their indexes — so the
   * cost does not grow with the number of runs. `has_active_executions` is an EXISTS.
   */
  async stats(tenantId: string, workflowId?: string): Promise<WorkflowStats[]> {
    const rows = await this.db.query<{
      workflow_id: string;
      name: string;
      execution_count: string;
      success_count: string;
      failure_count: string;
      duration_ms: string;
      duration_count: string;
      active: boolean;
    }>(
      `WITH win AS (
         SELECT now() - interval '30 days' AS since,
                (date_trunc('day', (now() - interval '30 days') AT TIME ZONE 'UTC') + interval '1 day')
                  AT TIME ZONE 'UTC' AS whole_from
       )
       SELECT w.id AS workflow_id, w.name,
              COALESCE(r.finished, 0) + COALESCE(edge.runs, 0) + COALESCE(live.runs, 0) AS execution_count,
              COALESCE(r.succeeded, 0) + COALESCE(edge.succeeded, 0) AS success_count,
              COALESCE(r.failed, 0) + COALESCE(edge.failed, 0) AS failure_count,
              COALESCE(r.duration_ms, 0) + COALESCE(edge.duration_ms, 0) AS duration_ms,
              COALESCE(r.duration_count, 0) + COALESCE(edge.duration_count, 0) AS duration_count,
              EXISTS (SELECT 1 FROM workflow_executions a
                       WHERE a.workflow_id = w.id AND a.status IN ('queued', 'running')) AS active
         FROM workflows w
        CROSS JOIN win
         LEFT JOIN LATERAL (
           SELECT sum(d.finished) AS finished, sum(d.succeeded) AS succeeded, sum(d.failed) AS failed,
                  sum(d.duration_ms) AS duration_ms, sum(d.duration_count) AS duration_count
             FROM workflow_stats_daily d
            WHERE d.workflow_id = w.id AND d.day >= (win.whole_from AT TIME ZONE 'UTC')::date
         ) r ON true
         LEFT JOIN LATERAL (
           SELECT count(*) AS runs,
                  count(*) FILTER (WHERE e.status = 'succeeded') AS succeeded,
                  count(*) FILTER (WHERE e.status = 'failed') AS failed,
                  sum(extract(epoch FROM e.completed_at - e.started_at) * 1000)::bigint AS duration_ms,
                  count(e.completed_at - e.started_at) AS duration_count
             FROM workflow_executions e
            WHERE e.workflow_id = w.id AND e.created_at > win.since AND e.created_at < win.whole_from
         ) edge ON true
         LEFT JOIN LATERAL (
           SELECT count(*) AS runs FROM workflow_executions l
            WHERE l.workflow_id = w.id AND l.status IN ('queued', 'running') AND l.created_at >= win.whole_from
         ) live ON true
        WHERE w.tenant_id = $1 AND w.deleted_at IS NULL AND ($2::uuid IS NULL OR w.id = $2::uuid)
        ORDER BY execution_count DESC, w.id`,
      [tenantId, workflowId ?? null],
    );
    return rows.map((row) => ({
      workflowId: row.workflow_id,
      name: row.name,
      executionCount: Number(row.execution_count),
      successCount: Number(row.success_count),
      failureCount: Number(row.failure_count),
      avgDurationSeconds:
        Number(row.duration_count) > 0 ? Number(row.duration_ms) / Number(row.duration_count) / 1000 : 0,
      hasActiveExecutions: row.active,
    }));
  }
}
