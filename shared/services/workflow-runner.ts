import type { JobQueue } from '../adapters/aws/job-queue.ts';
import type { TwoTierCache } from '../adapters/cache/two-tier.ts';
import type {
  ClaimedStep,
  FinishedRun,
  StepAnswer,
  WorkflowRunRepository,
} from '../adapters/postgres/workflow-runs/index.ts';
import { stepId } from '../adapters/postgres/workflow-runs/index.ts';
import type { Agent } from '../domain/agent.ts';
import { ProblemError } from '../domain/errors.ts';
import { attemptError, executionSettings } from '../domain/execution.ts';
import { isUuid } from '../domain/ids.ts';
import type { JobEnvelope } from '../domain/jobs.ts';
import { isRetryable, jobTypes, NonRetryableError, newJob } from '../domain/jobs.ts';
import type { ProviderName } from '../domain/llm.ts';
import { retryDelaySeconds } from '../domain/retry.ts';
import type { StepDefinition } from '../domain/workflow.ts';
import {
  downstreamOf,
  RenderedInputTooLarge,
  referencedSteps,
  renderTemplate,
  slowWorkflowMs,
  stepBackoff,
  stepLimits,
} from '../domain/workflow.ts';
import { config } from '../runtime/config.ts';
import { logger, metrics } from '../runtime/observability.ts';
import type { JobContext } from '../workers/consumer.ts';
import {
  answerCall,
  answerCostUsd,
  type CallWatch,
  type CompleteCall,
  watchCall,
} from './execution-runner.ts';
import { stepJob } from './workflows.ts';

/** The run was cancelled or failed while the step's call ran: abandoned, nothing written. */
class StepAbandoned extends Error {
  override name = 'StepAbandoned';
}

/** The step's own timeout ran out: a retryable failure of the attempt. */
class StepTimedOut extends Error {
  override name = 'StepTimedOut';
}

/**
 * Completion of a run, whatever its outcome — the same path as agent executions: metrics,
 * then the webhook and slow alert jobs on the default queue, then the mark that it was
 * announced. A crash in between is repaired by the sweeper (at least once).
 */
export class WorkflowAnnouncer {
  constructor(
    private readonly runs: WorkflowRunRepository,
    private readonly queue: JobQueue,
  ) {}

  async announce(finished: readonly FinishedRun[]): Promise<void> {
    if (finished.length === 0) return;
    const jobs: Promise<void>[] = [];
    for (const run of finished) {
      const duration =
        run.startedAt && run.completedAt ? run.completedAt.getTime() - run.startedAt.getTime() : 0;
      metrics.addMetric(`WorkflowExecutions_${run.status}`, 'Count', 1);
      metrics.addMetric('WorkflowDuration', 'Milliseconds', duration);
      const ids = { workflow_execution_id: run.id };
      if (run.hasWebhook) {
        jobs.push(
          this.queue.enqueue(
            newJob(jobTypes.deliverWebhook, run.tenantId, ids, `webhook:${run.id}:${run.version}`),
          ),
        );
      }
      if (duration > slowWorkflowMs) {
        jobs.push(
          this.queue.enqueue(
            newJob(jobTypes.slowExecutionAlert, run.tenantId, ids, `slow:${run.id}:${run.version}`),
          ),
        );
      }
    }
    await Promise.all(jobs);
    // Runs with no webhook and not slow were marked announced by the statement that finished them.
    await this.runs.markAnnounced(finished.filter((run) => !run.announced).map((run) => run.id));
  }
}

/** A claimed step with its definition and rendered input, ready to call its agent. */
interface PreparedStep {
  readonly claim: ClaimedStep;
  readonly definition: StepDefinition;
  readonly steps: readonly StepDefinition[];
  readonly input: string;
  readonly index: number;
  /** Why the input could not be rendered (over the size cap): the attempt fails with it. */
  readonly unrenderable?: Error;
}

/**
 * Runs `workflow.step` jobs, a whole SQS batch at a time: one claim transaction, the model
 * calls in parallel, one completion transaction that also releases the dependents whose
 * last dependency just finished (fan-in, exactly once) and finishes runs. A redelivered
 * message finds its step finished (or running under a live lease) and does nothing.
 */
export class WorkflowStepRunner {
  constructor(
    private readonly runs: WorkflowRunRepository,
    private readonly stepsOfVersion: (workflowId: string, version: number) => Promise<StepDefinition[]>,
    private readonly findAgent: (tenantId: string, agentId: string) => Promise<Agent>,
    private readonly complete: CompleteCall,
    private readonly cache: TwoTierCache,
    private readonly queue: JobQueue,
    private readonly announcer: WorkflowAnnouncer,
    private readonly options: {
      leaseSeconds: number;
      defaultProvider: ProviderName;
      cancellationPollMs?: number;
      /**
       * Released steps run in the same invocation while this long minus the longest step
       * timeout has not passed since it began (0: never; each released step gets a message).
       */
      continueWithinMs?: number;
      /** Cap of a rendered step input (default: SWITCHYARD_MAX_STEP_INPUT_BYTES). */
      maxStepInputBytes?: number;
    },
  ) {}

  async runBatch(items: readonly { job: JobEnvelope; context: JobContext }[]): Promise<unknown[]> {
    const started = Date.now();
    const outcomes: unknown[] = items.map(() => undefined);
    const keys = items.map(({ job }, i) => {
      const executionId = job.ids['workflow_execution_id'];
      const key = job.ids['step'];
      if (executionId && isUuid(executionId) && key) return { executionId, key };
      outcomes[i] = new NonRetryableError('workflow.step job without a valid workflow_execution_id and step');
      return undefined;
    });
    const fail = (index: number, error: unknown) => {
      outcomes[index] = error;
    };
    const first = await this.run(keys, fail);
    if (first.unclaimed.length > 0) await this.deferToLeaseEnd(first.unclaimed, items, keys, fail);
    let released = first.released;
    // The steps this batch released run here and now, while their longest timeout still fits
    // in the invocation: no queue round trip between a step and the next. They are claimed
    // like any other (a lease, no message), so a worker dying meanwhile leaves them to the sweeper.
    while (released.length > 0 && this.mayContinue(started)) {
      metrics.addMetric('WorkflowStepsContinued', 'Count', released.length);
      ({ released } = await this.run(released, (_index, error) =>
        logger.warn('a continued step could not be recorded; the sweeper will retry it', {
          error: (error as Error).message,
        }),
      ));
    }
    await this.afterCommit(released);
    return outcomes;
  }

  private maxInputBytes(): number {
    return this.options.maxStepInputBytes ?? config().maxStepInputBytes;
  }

  private mayContinue(started: number): boolean {
    const budgetMs = this.options.continueWithinMs ?? 0;
    return Date.now() - started + stepLimits.maxTimeoutSeconds * 1000 < budgetMs;
  }

  /**
   * Steps held by a live lease when their message came: the job comes back when the lease
   * ends, so a step whose worker died (or whose batch failed without handing it back) is
   * taken over then, not at the next sweep; one that finishes first is left alone then.
   */
  private async deferToLeaseEnd(
    unclaimed: readonly { executionId: string; key: string }[],
    items: readonly { job: JobEnvelope }[],
    keys: readonly ({ executionId: string; key: string } | undefined)[],
    fail: (index: number, error: unknown) => void,
  ): Promise<void> {
    const leased = await this.runs.leaseSecondsLeft(unclaimed);
    await Promise.all(
      keys.map(async (key, index) => {
        const secondsLeft = key ? leased.get(stepId(key.executionId, key.key)) : undefined;
        const item = items[index];
        if (secondsLeft === undefined || !item) return;
        try {
          await this.queue.enqueue(item.job, { delaySeconds: Math.ceil(secondsLeft) + 1 });
          metrics.addMetric('JobsDeferredToLeaseEnd', 'Count', 1);
        } catch (error) {
          fail(index, error);
        }
      }),
    );
  }

  /**
   * Claims, runs and completes steps; answers the steps their completions released, and
   * the steps that could not be claimed (finished, cancelled, or held by a live lease).
   */
  private async run(
    keys: readonly ({ executionId: string; key: string } | undefined)[],
    fail: (index: number, error: unknown) => void,
  ): Promise<{
    released: { executionId: string; key: string; tenantId: string }[];
    unclaimed: { executionId: string; key: string }[];
  }> {
    const wanted = keys.filter((k): k is { executionId: string; key: string } => k !== undefined);
    const claimed = await this.runs.claim(wanted, this.options.leaseSeconds);
    const unclaimed = wanted.filter((k) => !claimed.has(stepId(k.executionId, k.key)));
    if (claimed.size === 0) return { released: [], unclaimed };

    const answers: StepAnswer[] = [];
    let completed: Awaited<ReturnType<WorkflowRunRepository['complete']>>;
    try {
      const prepared = await this.prepare(keys, claimed, fail);
      await Promise.all(
        prepared.map(async (step) => {
          try {
            if (step.unrenderable) throw step.unrenderable;
            answers.push(await this.answer(step));
          } catch (error) {
            const failure = await this.failAttempt(step, error);
            if (failure !== undefined) fail(step.index, failure);
          }
        }),
      );
      completed = await this.runs.complete(answers);
    } catch (error) {
      // Nothing of the batch was recorded: hand the steps back so the retry can take them now.
      await this.runs.release([...claimed.values()]).catch(() => {});
      throw error;
    }
    const { done, released, finished } = completed;
    const discarded = answers.length - done.size;
    if (discarded > 0) metrics.addMetric('StepResultsDiscarded', 'Count', discarded); // cancelled meanwhile
    metrics.addMetric('WorkflowStepsSucceeded', 'Count', done.size);
    await this.announcer.announce(finished).catch((error: unknown) =>
      logger.warn('workflow completion not announced yet; the sweeper will', {
        error: (error as Error).message,
      }),
    );
    return { released, unclaimed };
  }

  /** Definitions (cached per pinned version); the outputs the templates read came with the claim. */
  private async prepare(
    keys: readonly ({ executionId: string; key: string } | undefined)[],
    claimed: Map<string, ClaimedStep>,
    fail: (index: number, error: unknown) => void,
  ): Promise<PreparedStep[]> {
    const found: {
      claim: ClaimedStep;
      definition: StepDefinition;
      steps: StepDefinition[];
      index: number;
    }[] = [];
    await Promise.all(
      keys.map(async (key, index) => {
        const claim = key && claimed.get(stepId(key.executionId, key.key));
        if (!claim) return;
        const steps = await this.stepsOfVersion(claim.workflowId, claim.workflowVersion);
        const definition = steps.find((step) => step.key === claim.key);
        if (!definition) {
          fail(index, new NonRetryableError(`the workflow version has no step "${claim.key}"`));
          return;
        }
        found.push({ claim, definition, steps, index });
      }),
    );
    return found.map((step): PreparedStep => {
      const read = Object.fromEntries(
        referencedSteps(step.definition.inputTemplate).map((key) => [
          key,
          Object.hasOwn(step.claim.outputs, key) ? (step.claim.outputs[key] ?? null) : null,
        ]),
      );
      try {
        return {
          ...step,
          input: renderTemplate(step.definition.inputTemplate, step.claim.input, read, this.maxInputBytes()),
        };
      } catch (error) {
        // The same input renders the same on every attempt: the step fails now, no retry.
        if (!(error instanceof RenderedInputTooLarge)) throw error;
        return { ...step, input: '', unrenderable: new NonRetryableError(error.message) };
      }
    });
  }

  private async answer(step: PreparedStep): Promise<StepAnswer> {
    const { claim, definition } = step;
    if (claim.attempt > definition.maxAttempts) {
      // The worker of the last attempt died; its lease ran out and the message came back.
      throw new NonRetryableError('the worker running the last attempt stopped before finishing');
    }
    let agent: Agent;
    try {
      agent = await this.findAgent(claim.tenantId, claim.agentId);
    } catch (error) {
      if (error instanceof ProblemError && error.status === 404) {
        throw new NonRetryableError(`the step's agent ${claim.agentId} has been deleted`);
      }
      throw error;
    }
    if (agent.status === 'paused') throw new NonRetryableError(`the step's agent ${agent.id} is paused`);
    const settings = executionSettings(agent.model, agent.configuration, this.options.defaultProvider);
    const answer = await answerCall(this.complete, this.cache, {
      tenantId: claim.tenantId,
      settings,
      systemPrompt: agent.systemPrompt,
      input: step.input,
      watch: () => this.watch(claim, definition.timeoutSeconds),
      cancelled: (signal) => (signal.reason instanceof StepTimedOut ? signal.reason : new StepAbandoned()),
    });
    return {
      executionId: claim.executionId,
      key: claim.key,
      attempt: claim.attempt,
      renderedInput: step.input,
      model: agent.model,
      dependents: step.steps.filter((s) => s.dependsOn.includes(claim.key)).map((s) => s.key),
      call: { ...answer, costUsd: answerCostUsd(answer) },
    };
  }

  /**
   * An attempt failed. With attempts left and a retryable error: queued again and a new
   * message sent after the step's backoff (so retries are the step's, not the queue's).
   * Otherwise the step fails and the run follows its `on_step_failure`. Answers the
   * message's outcome: done, unless recording the failure itself failed.
   */
  private async failAttempt(step: PreparedStep, error: unknown): Promise<unknown> {
    const { claim, definition } = step;
    if (error instanceof StepAbandoned) {
      metrics.addMetric('StepResultsDiscarded', 'Count', 1);
      return undefined;
    }
    const timedOut = error instanceof StepTimedOut;
    const retryable = timedOut || isRetryable(error);
    try {
      if (retryable && claim.attempt < definition.maxAttempts) {
        const delaySeconds = retryDelaySeconds(stepBackoff(definition.backoffSeconds), claim.attempt);
        const requeued = await this.runs.retry(
          claim,
          attemptError(error, timedOut ? 'timeout' : 'retrying'),
          delaySeconds,
        );
        if (requeued) {
          metrics.addMetric('WorkflowStepRetries', 'Count', 1);
          await this.queue.enqueue(stepJob(claim), { delaySeconds });
        }
        return undefined;
      }
      const code = timedOut ? 'timeout' : retryable ? 'retries_exhausted' : 'step_error';
      const downstream = [...downstreamOf(step.steps, claim.key)];
      const { finished } = await this.runs.fail(
        claim,
        attemptError(error, code),
        claim.onStepFailure,
        downstream,
      );
      metrics.addMetric('WorkflowStepsFailed', 'Count', 1);
      await this.announcer
        .announce(finished)
        .catch((announceError: unknown) =>
          logger.warn('workflow completion not announced yet', { error: (announceError as Error).message }),
        );
      return undefined;
    } catch (recordError) {
      // Nothing recorded: the message is retried by SQS and the step's lease lets the sweeper take over.
      return recordError;
    }
  }

  /** Enqueues the released steps not run here; a lost send is the sweeper's to repair. */
  private async afterCommit(released: readonly { executionId: string; key: string; tenantId: string }[]) {
    try {
      await Promise.all(released.map((step) => this.queue.enqueue(stepJob(step))));
    } catch (error) {
      logger.warn('released steps not enqueued yet; the sweeper will', { error: (error as Error).message });
    }
  }

  /** Abandons the call when the step times out, or when its run is cancelled or failed meanwhile. */
  private watch(claim: ClaimedStep, timeoutSeconds: number): CallWatch {
    return watchCall({
      intervalMs: this.options.cancellationPollMs ?? 2_000,
      abandoned: async () => {
        const status = await this.runs.statusOf(claim.executionId);
        return status === 'running' || status === 'queued' ? undefined : new StepAbandoned();
      },
      timeout: {
        ms: timeoutSeconds * 1000,
        error: () => new StepTimedOut(`the step did not answer within ${timeoutSeconds} s`),
      },
    });
  }
}
