import type { FieldError } from '#domain/errors.ts';
import { notFound, validationFailed } from '#domain/errors.ts';
import { isUuid, newId } from '#domain/ids.ts';
import { jobTypes, newJob } from '#domain/jobs.ts';
import type {
  CreateWorkflowBody,
  CreateWorkflowRunBody,
  StepBody,
  StepDefinition,
  StepRun,
  UpdateWorkflowBody,
  Workflow,
  WorkflowRun,
  WorkflowStats,
  WorkflowSummary,
  WorkflowWithSteps,
} from '#domain/workflow.ts';
import { buildDefinition, isRunFinished, isStepKey, missingInputs } from '#domain/workflow.ts';
import { orEarlier, replayOrRefuse } from './idempotency.ts';
import type {
  CreatedWorkflow,
  JobQueue,
  RowIdempotency,
  RunPageQuery,
  StartContext,
  VersionedCache,
  WorkflowPageQuery,
  WorkflowPatch,
  WorkflowRunStore,
  WorkflowStore,
  WorkflowWrite,
} from './ports.ts';
import {
  cancelled,
  enqueueCommitted,
  newWebhook,
  type Page,
  pageOf,
  pollUntil,
  readThrough,
  settled,
  toCached,
  webhookChange,
} from './resources.ts';

export type { Page } from './resources.ts';

export const workflowCacheKey = (tenantId: string, id: string) => `workflow:${tenantId}:${id}`;
export const workflowStepsCacheKey = (tenantId: string, id: string) => `workflow-steps:${tenantId}:${id}`;
/** A version's steps never change: cached under the version, read by every step of every run. */
export const workflowVersionCacheKey = (workflowId: string, version: number) =>
  `workflow-version:${workflowId}:${version}`;

export const stepJob = (run: { executionId: string; key: string; tenantId: string }, trace?: string) =>
  newJob(
    jobTypes.runWorkflowStep,
    run.tenantId,
    { workflow_execution_id: run.executionId, step: run.key },
    `step:${run.executionId}:${run.key}`,
    trace,
  );

/** The definition of a body's steps, or 422 with every problem in it. */
const definitionOf = (steps: readonly StepBody[]): StepDefinition[] => {
  const built = buildDefinition(steps);
  if (!built.ok) throw validationFailed(built.errors);
  const badIds: FieldError[] = [];
  steps.forEach((step, i) => {
    if (!isUuid(step.agent_id)) badIds.push({ field: `steps.${i}.agent_id`, detail: 'no such agent' });
  });
  if (badIds.length > 0) throw validationFailed(badIds);
  return built.steps;
};

/**
 * Workflow definitions and runs as the API sees them. Definitions are cached (two keys:
 * without and with steps, so a plain GET never loads steps); a version's steps are
 * immutable and cached for the workers. Starting a run commits it with all its steps
 * before answering 202, then enqueues the steps without dependencies.
 */
export class WorkflowService {
  constructor(
    private readonly workflows: WorkflowStore,
    private readonly runs: WorkflowRunStore,
    private readonly queue: JobQueue,
    private readonly cache: VersionedCache,
  ) {}

  /**
   * Under an Idempotency-Key the workflow an earlier request created with the same body comes
   * back (`replayed`; 422 for another body), with its webhook secret if it has not changed
   * since, even if its steps' agents have been deleted since.
   */
  async create(
    tenantId: string,
    body: CreateWorkflowBody,
    idempotency?: RowIdempotency,
  ): Promise<{ workflow: WorkflowWithSteps; webhookSecret?: string; replayed: boolean }> {
    const steps = definitionOf(body.steps);
    const webhook = body.webhook_url ? newWebhook(body.webhook_url) : null;
    const now = new Date();
    const { row, replayed } = await orEarlier<CreatedWorkflow>(
      idempotency,
      async () => {
        const inserted = await this.workflows.insert(
          {
            id: newId(),
            tenantId,
            name: body.name,
            description: body.description ?? null,
            onStepFailure: body.on_step_failure ?? 'fail',
            webhookUrl: webhook?.url ?? null,
            createdAt: now,
            updatedAt: now,
          },
          steps,
          webhook?.secret ?? null,
          idempotency,
        );
        if (inserted.kind === 'existing') return replayOrRefuse(inserted, idempotency);
        const written = this.settle(inserted, steps);
        return { row: { workflow: written, webhookSecret: webhook?.secret ?? null }, replayed: false };
      },
      (key) => this.workflows.findByKey(tenantId, key),
    );
    if (!replayed) await this.remember(row.workflow);
    // A replay shows the secret the first answer showed, unless a later write changed the workflow.
    const shown = replayed && row.workflow.version !== 1 ? null : row.webhookSecret;
    return shown
      ? { workflow: row.workflow, webhookSecret: shown, replayed }
      : { workflow: row.workflow, replayed };
  }

  async get(tenantId: string, id: string): Promise<Workflow> {
    if (!isUuid(id)) throw notFound('workflow');
    return readThrough(
      this.cache,
      workflowCacheKey(tenantId, id),
      () => this.workflows.findById(tenantId, id),
      'workflow',
    );
  }

  async getWithSteps(tenantId: string, id: string): Promise<WorkflowWithSteps> {
    if (!isUuid(id)) throw notFound('workflow');
    return readThrough(
      this.cache,
      workflowStepsCacheKey(tenantId, id),
      () => this.workflows.findWithSteps(tenantId, id),
      'workflow',
    );
  }

  async update(
    tenantId: string,
    id: string,
    body: UpdateWorkflowBody,
    expectedVersions: readonly number[] | undefined,
  ): Promise<{ workflow: WorkflowWithSteps; webhookSecret?: string }> {
    if (!isUuid(id)) throw notFound('workflow');
    const steps = body.steps ? definitionOf(body.steps) : undefined;
    const webhook = webhookChange(body.webhook_url);
    const patch: WorkflowPatch = {
      ...(body.name !== undefined && { name: body.name }),
      ...(body.description !== undefined && { description: body.description }),
      ...(body.on_step_failure !== undefined && { onStepFailure: body.on_step_failure }),
      ...(webhook !== undefined && { webhook }),
      ...(steps && { steps }),
    };
    const written = this.settle(
      await this.workflows.update(tenantId, id, patch, expectedVersions),
      steps ?? [],
    );
    await this.remember(written);
    return webhook ? { workflow: written, webhookSecret: webhook.secret } : { workflow: written };
  }

  async delete(tenantId: string, id: string, expectedVersions: readonly number[] | undefined): Promise<void> {
    if (!isUuid(id)) throw notFound('workflow');
    const { version } = settled(await this.workflows.softDelete(tenantId, id, expectedVersions), 'workflow');
    await Promise.all([
      this.cache.put(workflowCacheKey(tenantId, id), version, null),
      this.cache.put(workflowStepsCacheKey(tenantId, id), version, null),
    ]);
  }

  async list(query: WorkflowPageQuery): Promise<Page<WorkflowSummary>> {
    return pageOf(
      query,
      (q) => this.workflows.page(q),
      (w) => ({ createdAt: w.createdAt, id: w.id }),
    );
  }

  async stats(tenantId: string, id?: string): Promise<WorkflowStats[]> {
    if (id !== undefined && !isUuid(id)) throw notFound('workflow');
    const rows = await this.workflows.stats(tenantId, id);
    if (id !== undefined && rows.length === 0) throw notFound('workflow');
    return rows;
  }

  /** The steps of a pinned version, for the workers: immutable, so cached under the version. */
  async stepsOfVersion(workflowId: string, version: number): Promise<StepDefinition[]> {
    const steps = await this.cache.get<StepDefinition[]>(
      workflowVersionCacheKey(workflowId, version),
      async () => {
        const found = await this.workflows.stepsOfVersion(workflowId, version);
        return found.length > 0 ? { version, value: found } : null;
      },
    );
    if (!steps) throw new Error(`workflow ${workflowId} has no version ${version}`);
    return steps;
  }

  /**
   * Under an Idempotency-Key the run an earlier request started with the same body comes
   * back, in its current state (its roots enqueued again only while it is still queued; 422
   * for another body), even if its workflow has been deleted or changed since.
   */
  async start(
    tenantId: string,
    workflowId: string,
    body: CreateWorkflowRunBody,
    { trace, idempotency, audit }: StartContext = {},
  ): Promise<WorkflowRun> {
    let steps: readonly StepDefinition[] = [];
    const { row: run, replayed } = await orEarlier(
      idempotency,
      async () => {
        const workflow = await this.getWithSteps(tenantId, workflowId);
        const missing = missingInputs(workflow.steps, body.input);
        if (missing.length > 0) throw validationFailed(missing);
        steps = workflow.steps;
        const created = await this.runs.createOrFind({
          id: newId(),
          tenantId,
          workflowId: workflow.id,
          workflowVersion: workflow.version,
          onStepFailure: workflow.onStepFailure,
          input: body.input,
          metadata: body.metadata ?? null,
          steps: workflow.steps,
          createdAt: new Date(),
          ...(idempotency && { idempotency }),
          ...(audit && { audit }),
        });
        return replayOrRefuse(created, idempotency);
      },
      async (key) => (isUuid(workflowId) ? this.runs.findByKey(tenantId, workflowId, key) : undefined),
    );
    if (replayed) {
      // Still queued: its first request may have died between the commit and the sends, so
      // its roots are sent again (a duplicate message is harmless: the claim is idempotent).
      if (run.status !== 'queued') return run;
      steps = await this.stepsOfVersion(run.workflowId, run.workflowVersion);
    }
    const roots = steps.filter((step) => step.dependsOn.length === 0);
    await enqueueCommitted(
      () =>
        Promise.all(
          roots.map((step) =>
            this.queue.enqueue(stepJob({ executionId: run.id, key: step.key, tenantId }, trace)),
          ),
        ),
      'workflow run',
      { workflowExecutionId: run.id },
    );
    return run;
  }

  async getRun(tenantId: string, id: string): Promise<{ run: WorkflowRun; steps: StepRun[] }> {
    if (!isUuid(id)) throw notFound('workflow execution');
    const found = await this.runs.findById(tenantId, id);
    if (!found) throw notFound('workflow execution');
    return { run: found.run, steps: found.steps ?? [] };
  }

  /** One step of a run with its whole input and output (a run's view clips them). */
  async getRunStep(tenantId: string, id: string, key: string): Promise<StepRun> {
    if (!isUuid(id) || !isStepKey(key)) throw notFound('workflow execution step');
    const step = await this.runs.findStep(tenantId, id, key);
    if (!step) throw notFound('workflow execution step');
    return step;
  }

  /** Holds until the run is finished or `seconds` pass (20 ms to 500 ms between cheap reads). */
  async waitForFinish(
    tenantId: string,
    run: WorkflowRun,
    seconds: number,
  ): Promise<{ run: WorkflowRun; steps?: StepRun[] }> {
    return pollUntil<{ run: WorkflowRun; steps?: StepRun[] }>(
      { run },
      (current) => isRunFinished(current.run.status),
      () => this.getRun(tenantId, run.id),
      seconds,
    );
  }

  async listRuns(query: RunPageQuery): Promise<Page<WorkflowRun>> {
    await this.get(query.tenantId, query.workflowId);
    return pageOf(
      query,
      (q) => this.runs.page(q),
      (run) => ({ createdAt: run.createdAt, id: run.id }),
    );
  }

  async cancelRun(tenantId: string, id: string): Promise<WorkflowRun> {
    if (!isUuid(id)) throw notFound('workflow execution');
    return cancelled(await this.runs.cancel(tenantId, id), 'workflow execution');
  }

  private settle(result: WorkflowWrite, steps: readonly StepDefinition[]): WorkflowWithSteps {
    if (result.kind === 'missing-agents') {
      const missing = new Set(result.agentIds);
      throw validationFailed(
        steps.flatMap((step) =>
          missing.has(step.agentId)
            ? [{ field: `steps.${step.position}.agent_id`, detail: 'no such agent in this tenant' }]
            : [],
        ),
      );
    }
    return settled(result, 'workflow').workflow;
  }

  private async remember(workflow: WorkflowWithSteps): Promise<void> {
    const { steps, ...plain } = workflow;
    await Promise.all([
      this.cache.put(workflowCacheKey(workflow.tenantId, workflow.id), workflow.version, toCached(plain)),
      this.cache.put(
        workflowStepsCacheKey(workflow.tenantId, workflow.id),
        workflow.version,
        toCached(workflow),
      ),
      this.cache.put(workflowVersionCacheKey(workflow.id, workflow.version), workflow.version, steps),
    ]);
  }
}
