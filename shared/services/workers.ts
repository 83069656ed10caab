import { createHash } from 'node:crypto';
import { jobQueue } from '#adapters/aws/job-queue.ts';
import { type AuditEvent, AuditRepository } from '#adapters/postgres/audit.ts';
import { database } from '#adapters/postgres/db.ts';
import { RetrievalLogRepository } from '#adapters/postgres/knowledge-retrievals.ts';
import type { ExecutionSettings } from '#domain/execution.ts';
import { toExecutionResource } from '#domain/execution.ts';
import type { JobEnvelope } from '#domain/jobs.ts';
import { NonRetryableError } from '#domain/jobs.ts';
import { isProviderName, type ProviderName, providerNames } from '#domain/llm.ts';
import { functions } from '#manifest';
import { ConfigError, config } from '#runtime/config.ts';
import { logger, metrics } from '#runtime/observability.ts';
import type { JobContext, JobHandlers } from '#workers/consumer.ts';
import { AttemptPipeline, type CompleteCall, CompletionAnnouncer } from './attempt-pipeline.ts';
import {
  agentService,
  executionRepository,
  onContainerReset,
  sharedCache,
  workflowRunRepository,
  workflowService,
} from './container.ts';
import { executionAttempts } from './execution-runner.ts';
import { ingestDocument, sweepStalledDocuments } from './knowledge-ingestion.ts';
import { lazyKnowledgeRetriever } from './knowledge-retrieval.ts';
import { runRetention } from './retention.ts';
import { sweepKind } from './sweeper.ts';
import { stepAttempts } from './workflow-runner.ts';

/**
 * The handler of every job type, and the container-wide objects they share. Which queue's
 * worker runs each, whether in batches, and on what clock: shared/manifest.ts `jobs`.
 */

/** The lease outlives one invocation of the worker (its timeout + 30 s), so only a dead worker loses it. */
const claimLeaseSeconds = (): number =>
  config().claimLeaseSeconds ?? functions.workerHigh.timeoutSeconds + 30;

const defaultProvider = (): ProviderName => {
  const configured = config().defaultProvider;
  if (!isProviderName(configured)) {
    // A typo must not quietly run the fake model.
    throw new ConfigError(
      `SWITCHYARD_DEFAULT_PROVIDER must be one of ${providerNames.join(', ')}, got "${configured}"`,
    );
  }
  return configured;
};

/** The provider chain, loaded on the first model call and kept (not re-imported per call). */
let llmModules:
  | Promise<[typeof import('#adapters/llm/chain.ts'), typeof import('#adapters/llm/registry.ts')]>
  | undefined;

const completeWithChain: CompleteCall = async (settings: ExecutionSettings, request) => {
  llmModules ??= Promise.all([import('#adapters/llm/chain.ts'), import('#adapters/llm/registry.ts')]);
  const [{ completeWithFallback }, { providerFor }] = await llmModules;
  const result = await completeWithFallback(settings.targets, request, providerFor);
  if (result.attempts.length > 1) metrics.addMetric('LlmFallbacks', 'Count', result.attempts.length - 1);
  return result;
};

let provider: ProviderName | undefined;
/** Read at the first model call (a sweep never needs it), then kept. */
const providerOnce = (): ProviderName => {
  provider ??= defaultProvider();
  return provider;
};

/**
 * Executions and workflow steps: one attempt pipeline, announcer and sweep, each given its
 * kind. Built on first use; the pipeline (with the response cache) only where jobs run.
 */
const executionWork = () => {
  const kind = executionAttempts(executionRepository(), { defaultProvider: providerOnce });
  return { kind, announcer: new CompletionAnnouncer(kind, jobQueue()) };
};
const stepWork = () => {
  const kind = stepAttempts({
    runs: workflowRunRepository(),
    queue: jobQueue(),
    stepsOfVersion: (workflowId, version) => workflowService().stepsOfVersion(workflowId, version),
    findAgent: (tenantId, agentId) => agentService().get(tenantId, agentId),
    defaultProvider: providerOnce,
  });
  return { kind, announcer: new CompletionAnnouncer(kind, jobQueue()) };
};
/** Retrieval for agents with knowledge, the same for executions and steps (the search code loads on first use). */
const knowledgeRetrieval = () => ({
  retriever: lazyKnowledgeRetriever(),
  log: new RetrievalLogRepository(database()),
});
const executionPipeline = () => {
  executions ??= executionWork();
  return new AttemptPipeline(
    executions.kind,
    executions.announcer,
    completeWithChain,
    sharedCache(),
    jobQueue(),
    { leaseSeconds: claimLeaseSeconds(), knowledge: knowledgeRetrieval() },
  );
};
const stepPipeline = () => {
  steps ??= stepWork();
  return new AttemptPipeline(steps.kind, steps.announcer, completeWithChain, sharedCache(), jobQueue(), {
    leaseSeconds: claimLeaseSeconds(),
    // 5 s short of the worker's timeout: a continued step's call must end before the invocation does.
    continueWithinMs: (functions.workerHigh.timeoutSeconds - 5) * 1000,
    knowledge: knowledgeRetrieval(),
  });
};

let executions: ReturnType<typeof executionWork> | undefined;
let steps: ReturnType<typeof stepWork> | undefined;
let executionRunner: ReturnType<typeof executionPipeline> | undefined;
let stepRunner: ReturnType<typeof stepPipeline> | undefined;
onContainerReset(() => {
  provider = undefined;
  executions = undefined;
  steps = undefined;
  executionRunner = undefined;
  stepRunner = undefined;
});

/** A UUID derived from a job's idempotency key: a redelivered audit message inserts nothing. */
const idFromKey = (key: string): string => {
  const hex = createHash('sha256').update(key).digest('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-8${hex.slice(13, 16)}-a${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
};

const requireId = (job: JobEnvelope, name: string): string => {
  const value = job.ids[name];
  if (!value) throw new NonRetryableError(`${job.type} job without ${name}`);
  return value;
};

/** Executions of one SQS batch are claimed and completed with one statement each. */
const runExecutions = (items: readonly { job: JobEnvelope; context: JobContext }[]) => {
  executionRunner ??= executionPipeline();
  return executionRunner.runBatch(items);
};
const runWorkflowSteps = (items: readonly { job: JobEnvelope; context: JobContext }[]) => {
  stepRunner ??= stepPipeline();
  return stepRunner.runBatch(items);
};

/** Signs and posts a completion event (`<id>.<version>` is its id, so receivers can dedupe). */
const deliverEvent = async (event: {
  type: string;
  id: string;
  version: number;
  completedAt: Date | null;
  data: unknown;
  url: string;
  secret: string;
}): Promise<void> => {
  const { deliverWebhook } = await import('#adapters/webhooks/deliver.ts');
  const eventId = `${event.id}.${event.version}`;
  const body = JSON.stringify({
    id: eventId,
    type: event.type,
    created_at: (event.completedAt ?? new Date()).toISOString(),
    data: event.data,
  });
  const { url, secret } = event;
  const result = await deliverWebhook({
    url,
    secret,
    body,
    eventId,
    allowPrivate: config().webhooksAllowPrivate,
  });
  metrics.addMetric('WebhooksDelivered', 'Count', 1);
  logger.info('webhook delivered', { eventId, type: event.type, status: result.status, ms: result.ms });
};

const deliverCompletionEvent = async (job: JobEnvelope): Promise<void> => {
  const runId = job.ids['workflow_execution_id'];
  if (runId) {
    const target = await workflowRunRepository().webhookTarget(job.tenant_id, runId);
    if (!target) return; // The workflow's webhook was removed meanwhile: nothing to deliver.
    const { toRunResource } = await import('#domain/workflow.ts');
    const { run, steps } = target;
    const data = toRunResource(run, steps);
    return deliverEvent({ ...target, ...run, type: `workflow_execution.${run.status}`, data });
  }
  const target = await executionRepository().webhookTarget(job.tenant_id, requireId(job, 'execution_id'));
  if (!target) return; // The agent's webhook was removed meanwhile: nothing to deliver.
  const { execution } = target;
  const data = toExecutionResource(execution);
  await deliverEvent({ ...target, ...execution, type: `execution.${execution.status}`, data });
};

const alertSlowExecution = async (job: JobEnvelope): Promise<void> => {
  const runId = job.ids['workflow_execution_id'];
  if (runId) {
    const found = await workflowRunRepository().findById(job.tenant_id, runId, false);
    if (!found?.run.startedAt || !found.run.completedAt) return;
    const ms = found.run.completedAt.getTime() - found.run.startedAt.getTime();
    metrics.addMetric('SlowWorkflowExecutions', 'Count', 1);
    logger.warn('slow workflow execution', {
      workflowExecutionId: runId,
      workflowId: found.run.workflowId,
      ms,
    });
    return;
  }
  const executionId = requireId(job, 'execution_id');
  const execution = await executionRepository().findById(job.tenant_id, executionId);
  if (!execution?.startedAt || !execution.completedAt) return;
  const ms = execution.completedAt.getTime() - execution.startedAt.getTime();
  // The alert itself: a metric the SLO alarm watches, and a log line with the context.
  metrics.addMetric('SlowExecutions', 'Count', 1);
  logger.warn('slow execution', { executionId, agentId: execution.agentId, model: execution.model, ms });
};

/** An audit message as a row; a malformed one fails alone (non-retryable), not its batch. */
const auditRow = (job: JobEnvelope): AuditEvent => ({
  id: idFromKey(job.idempotency_key),
  at: new Date(job.ids['at'] ?? job.enqueued_at),
  action: requireId(job, 'action'),
  resourceType: requireId(job, 'resource_type'),
  resourceId: requireId(job, 'resource_id'),
  keyId: job.ids['key_id'] ?? null,
  requestId: job.ids['request_id'] ?? null,
});

/** Audit messages of one SQS batch go in with one multi-row insert. */
const recordAudits = async (items: readonly { job: JobEnvelope }[]) => {
  const outcomes: unknown[] = [];
  const rows: { tenantId: string; event: AuditEvent }[] = [];
  for (const { job } of items) {
    try {
      rows.push({ tenantId: job.tenant_id, event: auditRow(job) });
      outcomes.push(undefined);
    } catch (error) {
      outcomes.push(error);
    }
  }
  await new AuditRepository(database()).insertMany(rows);
  return outcomes;
};

const sweep = async (job: JobEnvelope): Promise<void> => {
  // A local start asks for every row queued before it began: its in-process queue was empty.
  const before = Date.parse(job.ids['queued_before'] ?? '');
  const staleSeconds = Number.isNaN(before)
    ? config().sweeperStaleSeconds
    : Math.max(0, Math.ceil((Date.now() - before) / 1000));
  executions ??= executionWork();
  steps ??= stepWork();
  await sweepKind(executions.kind, jobQueue(), executions.announcer, { staleSeconds });
  await sweepKind(steps.kind, jobQueue(), steps.announcer, { staleSeconds });
  // Ingestions whose lease lapsed or whose message was lost (an upload's event included).
  await sweepStalledDocuments(staleSeconds);
};

/** What ran in the last hour stays in the shared cache tier. */
const warm = async (): Promise<void> => {
  const { warmCaches } = await import('./cache-warming.ts');
  await warmCaches(database(), {
    agent: (tenantId, id) => agentService().get(tenantId, id),
    workflow: (tenantId, id) => workflowService().getWithSteps(tenantId, id),
  });
};

/** Within a time budget below the worker's timeout, the rest left to the next run. */
const cleanUp = async (): Promise<void> => {
  await runRetention(database());
};

/** Job type → handler; the queue, batching and schedule of each are its manifest declaration's. */
export const jobHandlers: JobHandlers = {
  'agent.execute': runExecutions,
  'workflow.step': runWorkflowSteps,
  'cache.warm': warm,
  'webhook.deliver': deliverCompletionEvent,
  'execution.slow_alert': alertSlowExecution,
  'knowledge.ingest': ingestDocument,
  'audit.record': recordAudits,
  'executions.sweep': sweep,
  'retention.cleanup': cleanUp,
};
