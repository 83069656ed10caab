import type { Execution } from '#domain/execution.ts';
import { executionSettings } from '#domain/execution.ts';
import { isUuid } from '#domain/ids.ts';
import type { ProviderName } from '#domain/llm.ts';
import { maxReceiveCount, queues } from '#manifest';
import { logger, metrics, metricsEnabled } from '#runtime/observability.ts';
import { type Answer, type AttemptKind, AttemptsSpent, attemptFailure } from './attempt-pipeline.ts';
import { executeJob } from './executions.ts';
import type { ExecutionAttemptStore } from './ports.ts';

/** Seed 000: an execution slower than this raises an alert on the default queue. */
export const slowExecutionMs = 30_000;

/** An execution finished, with what its announcement needs. */
export type FinishedExecution = Execution & { hasWebhook: boolean; announced: boolean };

type Claimed = { execution: Execution; hasWebhook: boolean };
type Answered = Claimed & { answer: Answer; costUsd: number };

const highQueue = queues.find((q) => q.name === 'high')!;

/**
 * Tokens by model for the dashboard: one single-metric (its own `model` dimension) per
 * model and call, summed, since each single-metric is an object and a log line of its own.
 */
const tokensByModel = (executions: readonly Execution[]): void => {
  if (!metricsEnabled() || executions.length === 0) return;
  const totals = new Map<string, { input: number; output: number }>();
  for (const execution of executions) {
    const model = execution.modelUsed ?? execution.model;
    const total = totals.get(model) ?? { input: 0, output: 0 };
    total.input += execution.inputTokens ?? 0;
    total.output += execution.outputTokens ?? 0;
    totals.set(model, total);
  }
  for (const [model, total] of totals) {
    const single = metrics.singleMetric();
    single.addDimension('model', model);
    single.addMetric('TokensIn', 'Count', total.input);
    single.addMetric('TokensOut', 'Count', total.output);
  }
};

/**
 * Agent executions as an attempt kind (`agent.execute` jobs): one execution a unit, its
 * retries carried by its message (redelivered after the queue's backoff, dead-lettered
 * when spent or not retryable). The claim answers whether the agent has a webhook, so the
 * hot path reads nothing else: one claim and one completion statement a batch.
 */
export const executionAttempts = (
  repository: ExecutionAttemptStore,
  options: { defaultProvider: () => ProviderName },
): AttemptKind<{ tenantId: string; id: string }, Claimed, Answered, FinishedExecution> => {
  /** Only on the rare re-announce paths; the claim answers it on the hot path. */
  const finished = async (execution: Execution): Promise<FinishedExecution> => ({
    ...execution,
    hasWebhook: await repository.agentHasWebhook(execution.agentId),
    announced: false,
  });
  return {
    plural: 'executions',
    idName: 'execution_id',
    metricNames: {
      finished: 'Executions',
      duration: 'ExecutionDuration',
      discarded: 'ExecutionResultsDiscarded',
    },
    slowMs: slowExecutionMs,
    invalidJob: 'agent.execute job without a valid execution_id',
    finalCode: 'provider_error',
    retriesOnQueue: true,
    longestCallSeconds: Number.POSITIVE_INFINITY,
    markAnnounced: (ids) => repository.markAnnounced(ids),
    measure: tokensByModel,

    keyOf: (job) => {
      const id = job.ids['execution_id'];
      return id && isUuid(id) ? { tenantId: job.tenant_id, id } : undefined;
    },
    idOf: (key) => key.id,
    jobOf: (key) => executeJob(key),
    claim: (keys, leaseSeconds) => repository.claimMany(keys, leaseSeconds),

    async refused(keys) {
      const leased = new Map<string, number>();
      const unannounced: FinishedExecution[] = [];
      await Promise.all(
        keys.map(async ({ tenantId, id }) => {
          const refusal = await repository.claimRefusal(tenantId, id);
          if (refusal.kind === 'missing')
            logger.warn('execution not found; dropping its job', { executionId: id });
          if (refusal.kind === 'leased') leased.set(id, refusal.secondsLeft);
          if (refusal.kind !== 'finished' || refusal.announced) return;
          const execution = await repository.findById(tenantId, id);
          if (execution) unannounced.push(await finished(execution));
        }),
      );
      return { leased, unannounced };
    },

    request: async ({ execution }) => ({
      tenantId: execution.tenantId,
      model: execution.model,
      settings: executionSettings(execution.model, execution.configuration, options.defaultProvider()),
      systemPrompt: execution.systemPrompt,
      input: execution.input,
      unit: { id: execution.id, attempt: execution.attempts },
    }),
    answered: (claim, _request, answer, costUsd) => ({ ...claim, answer, costUsd }),
    abandoned: async ({ execution }) =>
      (await repository.statusOf(execution.tenantId, execution.id)) === 'cancelled',

    async complete(answered) {
      const hasWebhook = new Map(answered.map((a) => [a.execution.id, a.hasWebhook]));
      const done = await repository.succeedMany(
        answered.map(({ execution, hasWebhook, answer, costUsd }) => ({
          id: execution.id,
          attempt: execution.attempts,
          call: { ...answer, costUsd },
          // Without a webhook, a fast run has no event to send: marked announced in the same statement.
          silentUnderMs: hasWebhook ? null : slowExecutionMs,
        })),
      );
      return {
        done: done.size,
        finished: [...done.values()].map((execution) => ({
          ...execution,
          hasWebhook: hasWebhook.get(execution.id) ?? false,
        })),
        released: [],
      };
    },
    release: (claims) =>
      repository.release(claims.map(({ execution }) => ({ id: execution.id, attempt: execution.attempts }))),
    attemptsLeft: (_claim, context) => !context?.finalAttempt,
    async retry({ execution }, error) {
      await repository.requeue(execution.id, execution.attempts, error);
    },
    async fail({ execution, hasWebhook }, error) {
      const failed = await repository.fail(execution.id, error, execution.attempts);
      return failed ? [{ ...failed, hasWebhook, announced: false }] : [];
    },

    async takeStuck(staleSeconds, limit) {
      const stuck = await repository.takeStuck(staleSeconds, limit);
      const resend: { tenantId: string; id: string }[] = [];
      const failed: FinishedExecution[] = [];
      for (const execution of stuck) {
        if (execution.attempts < maxReceiveCount(highQueue)) {
          resend.push(execution);
          continue;
        }
        // Its last attempt's worker died: the retries are spent.
        const done = await repository.fail(
          execution.id,
          attemptFailure(new AttemptsSpent(), false, 'provider_error'),
        );
        if (done) failed.push(await finished(done));
      }
      return { resend, failed };
    },
    async takeUnannounced(staleSeconds, limit) {
      const rows = await repository.takeUnannounced(staleSeconds, limit);
      const found = await Promise.all(rows.map((row) => repository.findById(row.tenantId, row.id)));
      return Promise.all(found.flatMap((execution) => (execution ? [finished(execution)] : [])));
    },
  };
};
