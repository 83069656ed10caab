import { createHash } from 'node:crypto';
import type { JobQueue } from '../adapters/aws/job-queue.ts';
import type { TwoTierCache } from '../adapters/cache/two-tier.ts';
import type { ExecutionRepository } from '../adapters/postgres/executions.ts';
import type { Execution, ExecutionSettings } from '../domain/execution.ts';
import { attemptError, executionSettings } from '../domain/execution.ts';
import { isUuid } from '../domain/ids.ts';
import type { JobEnvelope } from '../domain/jobs.ts';
import { isRetryable, jobTypes, NonRetryableError, newJob } from '../domain/jobs.ts';
import type { LlmRequest, LlmResult, ProviderName } from '../domain/llm.ts';
import { costUsd } from '../domain/pricing.ts';
import { logger, metrics, metricsEnabled } from '../runtime/observability.ts';
import type { JobContext } from '../workers/consumer.ts';

/** Calls the agent's provider chain. */
export type CompleteCall = (
  settings: ExecutionSettings,
  request: Omit<LlmRequest, 'model' | 'timeoutMs'>,
) => Promise<LlmResult>;

/** The execution was cancelled while its model call ran: the call was abandoned, nothing is written. */
export class ExecutionCancelled extends Error {
  override name = 'ExecutionCancelled';
}

/** Seed 000: an execution slower than this raises an alert on the default queue. */
export const slowExecutionMs = 30_000;

/** Tenant-scoped: one tenant's prompt never answers another's, even when identical. */
export const llmCacheKey = (
  tenantId: string,
  settings: ExecutionSettings,
  systemPrompt: string,
  input: unknown,
) => {
  const primary = settings.targets[0]!;
  const digest = createHash('sha256')
    .update(
      JSON.stringify([
        primary.provider,
        primary.model,
        systemPrompt,
        input,
        settings.temperature ?? null,
        settings.maxTokens ?? null,
      ]),
    )
    .digest('base64url');
  return `llm:${tenantId}:${digest}`;
};

/** The model's answer to an execution, from the provider chain or the response cache. */
export interface Answer {
  readonly output: string;
  readonly provider: string;
  readonly modelUsed: string;
  readonly inputTokens: number;
  readonly outputTokens: number;
  readonly cached: boolean;
}

/** What an answer costs: nothing from the response cache, nor from the built-in local provider, whatever model it plays. */
export const answerCostUsd = (answer: Answer): number =>
  answer.cached || answer.provider === 'local'
    ? 0
    : costUsd(answer.modelUsed, answer.inputTokens, answer.outputTokens);

interface CachedAnswer {
  readonly output: string;
  readonly inputTokens: number;
  readonly outputTokens: number;
  readonly provider: string;
  readonly model: string;
}

export interface CallWatch {
  readonly signal: AbortSignal;
  readonly stop: () => void;
}

/**
 * A model call's abort signal: `abandoned` is asked every interval (one indexed read, and
 * none for calls that answer within the first) and aborts with the error it returns; a
 * timeout, if given, aborts with its own.
 */
export const watchCall = (options: {
  intervalMs: number;
  abandoned: () => Promise<Error | undefined>;
  timeout?: { ms: number; error: () => Error };
}): CallWatch => {
  const controller = new AbortController();
  const poll = setInterval(() => {
    options
      .abandoned()
      .then((reason) => {
        if (reason) controller.abort(reason);
      })
      .catch(() => {});
  }, options.intervalMs);
  poll.unref();
  const timeout = options.timeout
    ? setTimeout(() => controller.abort(options.timeout!.error()), options.timeout.ms)
    : undefined;
  timeout?.unref();
  return {
    signal: controller.signal,
    stop: () => {
      clearInterval(poll);
      clearTimeout(timeout);
    },
  };
};

/**
 * The model's answer to a call, from the tenant's response cache or the provider chain
 * (then cached). `watch` starts only for a real call: it gives the signal that abandons
 * it (cancellation, timeout); an abandoned call throws `cancelled()`'s error.
 */
export const answerCall = async (
  complete: CompleteCall,
  cache: TwoTierCache,
  call: {
    tenantId: string;
    settings: ExecutionSettings;
    systemPrompt: string;
    input: unknown;
    watch: () => CallWatch;
    cancelled: (signal: AbortSignal) => Error;
  },
): Promise<Answer> => {
  const { settings } = call;
  const key =
    settings.cacheTtlSeconds > 0
      ? llmCacheKey(call.tenantId, settings, call.systemPrompt, call.input)
      : undefined;
  if (key) {
    const hit = await cache.peek<CachedAnswer>(key);
    if (hit) {
      metrics.addMetric('LlmCacheHits', 'Count', 1);
      return { ...hit, modelUsed: hit.model, cached: true };
    }
  }
  const watch = call.watch();
  let result: LlmResult;
  try {
    result = await complete(settings, {
      systemPrompt: call.systemPrompt,
      input: call.input as LlmRequest['input'],
      signal: watch.signal,
      ...(settings.temperature !== undefined && { temperature: settings.temperature }),
      ...(settings.maxTokens !== undefined && { maxTokens: settings.maxTokens }),
    });
  } catch (error) {
    if (watch.signal.aborted) throw call.cancelled(watch.signal);
    throw error;
  } finally {
    watch.stop();
  }
  if (key) {
    const cached: CachedAnswer = {
      output: result.output,
      inputTokens: result.inputTokens,
      outputTokens: result.outputTokens,
      provider: result.provider,
      model: result.model,
    };
    await cache.put(key, 1, cached, settings.cacheTtlSeconds);
  }
  return { ...result, modelUsed: result.model, cached: false };
};

/**
 * Completion of an execution, whatever its outcome: metrics, then the webhook and slow
 * alert jobs on the default queue, then the mark that it was announced. A crash between
 * the commit and the mark is repaired by the sweeper (at least once; receivers dedupe
 * on the event id).
 */
export class ExecutionAnnouncer {
  constructor(
    private readonly repository: ExecutionRepository,
    private readonly queue: JobQueue,
  ) {}

  /**
   * Tokens by model for the dashboard: one single-metric (its own `model` dimension) per
   * model and call, summed, since each single-metric is an object and a log line of its own.
   */
  tokensByModel(executions: readonly Execution[]): void {
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
  }

  /** `alreadyAnnounced`: the completing statement found nothing to send; only metrics remain. */
  async announce(
    execution: Execution,
    hasWebhook: boolean,
    alreadyAnnounced = false,
    tokensCounted = false,
  ): Promise<void> {
    if (!tokensCounted) this.tokensByModel([execution]);
    const duration =
      execution.startedAt && execution.completedAt
        ? execution.completedAt.getTime() - execution.startedAt.getTime()
        : 0;
    metrics.addMetric(`Executions_${execution.status}`, 'Count', 1);
    metrics.addMetric('ExecutionDuration', 'Milliseconds', duration);
    const jobs: Promise<void>[] = [];
    const ids = { execution_id: execution.id };
    if (hasWebhook) {
      jobs.push(
        this.queue.enqueue(
          newJob(
            jobTypes.deliverWebhook,
            execution.tenantId,
            ids,
            `webhook:${execution.id}:${execution.version}`,
          ),
        ),
      );
    }
    if (duration > slowExecutionMs) {
      jobs.push(
        this.queue.enqueue(
          newJob(
            jobTypes.slowExecutionAlert,
            execution.tenantId,
            ids,
            `slow:${execution.id}:${execution.version}`,
          ),
        ),
      );
    }
    await Promise.all(jobs);
    if (!alreadyAnnounced || jobs.length > 0) await this.repository.markAnnounced([execution.id]);
  }
}

/**
 * Runs `agent.execute` jobs. Idempotent by construction: the claim only starts an attempt
 * on a queued execution (or one whose worker's lease ran out), and the result is written
 * only if that attempt still owns it — a redelivered message never calls the model twice
 * for a finished execution, and a cancelled one discards its late answer.
 */
export class ExecutionRunner {
  constructor(
    private readonly repository: ExecutionRepository,
    private readonly announcer: ExecutionAnnouncer,
    private readonly complete: CompleteCall,
    private readonly cache: TwoTierCache,
    private readonly queue: JobQueue,
    private readonly options: {
      leaseSeconds: number;
      defaultProvider: ProviderName;
      cancellationPollMs?: number;
    },
  ) {}

  /**
   * Runs an SQS batch of `agent.execute` jobs with one claim and one completion statement
   * for all of them; the model calls run in parallel. Answers each job with undefined
   * (done: delete the message) or the error to report for it (retry or dead-letter).
   */
  async runBatch(items: readonly { job: JobEnvelope; context: JobContext }[]): Promise<unknown[]> {
    const outcomes: unknown[] = items.map(() => undefined);
    const keys: { tenantId: string; id: string }[] = [];
    items.forEach(({ job }, i) => {
      const id = job.ids['execution_id'];
      if (id && isUuid(id)) keys.push({ tenantId: job.tenant_id, id });
      else outcomes[i] = new NonRetryableError('agent.execute job without a valid execution_id');
    });
    const claimed = await this.repository.claimMany(keys, this.options.leaseSeconds);

    type Answered = { execution: Execution; hasWebhook: boolean; answer: Answer };
    const answered: Answered[] = [];
    await Promise.all(
      items.map(async ({ job, context }, i) => {
        if (outcomes[i] !== undefined) return;
        const id = job.ids['execution_id']!;
        const claim = claimed.get(id);
        try {
          if (!claim) {
            await this.settleRefusal(job, id);
            return;
          }
          answered.push({ ...claim, answer: await this.answer(claim.execution) });
        } catch (error) {
          outcomes[i] = claim
            ? await this.failAttempt(claim.execution, claim.hasWebhook, error, context)
            : error;
        }
      }),
    );

    const done = await this.recordAnswers(answered);
    this.announcer.tokensByModel([...done.values()]);
    await Promise.all(
      answered.map(async ({ execution, hasWebhook }) => {
        const finished = done.get(execution.id);
        if (!finished) {
          metrics.addMetric('ExecutionResultsDiscarded', 'Count', 1); // cancelled meanwhile
          return;
        }
        try {
          await this.announcer.announce(finished, hasWebhook, finished.announced, true);
        } catch (error) {
          // The result is committed; the sweeper re-announces what did not get out.
          logger.warn('completion not announced yet', {
            executionId: execution.id,
            error: (error as Error).message,
          });
        }
      }),
    );
    return outcomes;
  }

  /**
   * One statement for the batch's answers. If it fails (a database blip), the claims are
   * handed back before the batch fails, so the retried messages claim them at once
   * instead of finding them held by a lease nobody works under.
   */
  private async recordAnswers(
    answered: readonly { execution: Execution; hasWebhook: boolean; answer: Answer }[],
  ): Promise<Map<string, Execution & { announced: boolean }>> {
    try {
      return await this.recordAnswersOnce(answered);
    } catch (error) {
      await this.repository
        .release(answered.map(({ execution }) => ({ id: execution.id, attempt: execution.attempts })))
        .catch((releaseError: unknown) =>
          logger.warn('claims not released; redelivered messages wait for the lease', {
            error: (releaseError as Error).message,
          }),
        );
      throw error;
    }
  }

  private recordAnswersOnce(
    answered: readonly { execution: Execution; hasWebhook: boolean; answer: Answer }[],
  ): Promise<Map<string, Execution & { announced: boolean }>> {
    return this.repository.succeedMany(
      answered.map(({ execution, hasWebhook, answer }) => ({
        id: execution.id,
        attempt: execution.attempts,
        call: { ...answer, costUsd: answerCostUsd(answer) },
        // Without a webhook, a fast run has no event to send: marked announced in the same statement.
        silentUnderMs: hasWebhook ? null : slowExecutionMs,
      })),
    );
  }

  /**
   * A claim was refused. Held by a live lease: the job comes back when the lease ends, so
   * if that attempt's worker died (or its batch failed without handing the claim back),
   * the execution is taken over then rather than at the next sweep; if the attempt
   * finishes first, the returning job finds it finished and does nothing. Finished: it
   * may still owe its completion events.
   */
  private async settleRefusal(job: JobEnvelope, id: string): Promise<void> {
    const tenantId = job.tenant_id;
    const refusal = await this.repository.claimRefusal(tenantId, id);
    if (refusal.kind === 'missing') logger.warn('execution not found; dropping its job', { executionId: id });
    if (refusal.kind === 'leased') {
      await this.queue.enqueue(job, { delaySeconds: Math.ceil(refusal.secondsLeft) + 1 });
      metrics.addMetric('JobsDeferredToLeaseEnd', 'Count', 1);
      return;
    }
    if (refusal.kind !== 'finished' || refusal.announced) return;
    const execution = await this.repository.findById(tenantId, id);
    if (execution) await this.announcer.announce(execution, await this.hasWebhook(execution));
  }

  /** An attempt failed: give up now, give up for good on the last attempt, or queue it for the retry. */
  private async failAttempt(
    execution: Execution,
    hasWebhook: boolean,
    error: unknown,
    context: JobContext,
  ): Promise<unknown> {
    if (error instanceof ExecutionCancelled) {
      metrics.addMetric('ExecutionResultsDiscarded', 'Count', 1);
      return undefined; // Cancelled meanwhile: the message is done with.
    }
    if (!isRetryable(error) || context.finalAttempt) {
      const code = isRetryable(error) ? 'retries_exhausted' : 'provider_error';
      const failed = await this.repository.fail(execution.id, attemptError(error, code), execution.attempts);
      if (failed) await this.announcer.announce(failed, hasWebhook);
    } else {
      await this.repository.requeue(execution.id, execution.attempts, attemptError(error, 'retrying'));
    }
    return error;
  }

  /**
   * Aborts the model call when the execution is cancelled meanwhile: one indexed read per
   * interval, and none at all for calls that answer within the first interval.
   */
  private watchForCancellation(execution: Execution): CallWatch {
    return watchCall({
      intervalMs: this.options.cancellationPollMs ?? 2_000,
      abandoned: async () =>
        (await this.repository.statusOf(execution.tenantId, execution.id)) === 'cancelled'
          ? new ExecutionCancelled()
          : undefined,
    });
  }

  private async hasWebhook(execution: Execution): Promise<boolean> {
    // Only on the rare re-announce path; the claim answers it on the hot path.
    return this.repository.agentHasWebhook(execution.agentId);
  }

  private async answer(execution: Execution): Promise<Answer> {
    const settings = executionSettings(
      execution.model,
      execution.configuration,
      this.options.defaultProvider,
    );
    return answerCall(this.complete, this.cache, {
      tenantId: execution.tenantId,
      settings,
      systemPrompt: execution.systemPrompt,
      input: execution.input,
      watch: () => this.watchForCancellation(execution),
      cancelled: () => new ExecutionCancelled(),
    });
  }
}
