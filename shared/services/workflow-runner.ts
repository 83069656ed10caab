import type { Agent } from '#domain/agent.ts';
import { ProblemError } from '#domain/errors.ts';
import { executionSettings } from '#domain/execution.ts';
import { isUuid } from '#domain/ids.ts';
import { NonRetryableError } from '#domain/jobs.ts';
import type { ProviderName } from '#domain/llm.ts';
import { retryDelaySeconds } from '#domain/retry.ts';
import type { StepDefinition } from '#domain/workflow.ts';
import {
  downstreamOf,
  RenderedInputTooLarge,
  referencedSteps,
  renderTemplate,
  slowWorkflowMs,
  stepBackoff,
  stepId,
  stepLimits,
  stepSettings,
} from '#domain/workflow.ts';
import { config } from '#runtime/config.ts';
import { metrics } from '#runtime/observability.ts';
import { type AttemptKind, AttemptsSpent } from './attempt-pipeline.ts';
import type { ClaimedStep, FinishedRun, JobQueue, StepAnswer, StepAttemptStore, StepKey } from './ports.ts';
import { stepJob } from './workflows.ts';

/** A claimed step with its definition and rendered input, ready to call its agent. */
interface PreparedStep {
  readonly claim: ClaimedStep;
  readonly steps: readonly StepDefinition[];
  /** Undefined when the pinned version has no such step: the attempt fails, and its run with it. */
  readonly definition: StepDefinition | undefined;
  readonly input: string;
  /** Why the step cannot run (no definition, input over the size cap): the attempt fails with it. */
  readonly unusable?: Error;
}

/**
 * Workflow steps as an attempt kind (`workflow.step` jobs). A step's retries are its own: a
 * retryable failure with attempts left queues it again and sends a new message after the
 * step's backoff. The completion also releases the dependents whose last dependency just
 * finished (fan-in, exactly once) and finishes runs; the finished runs are what is announced.
 */
export const stepAttempts = (deps: {
  runs: StepAttemptStore;
  queue: JobQueue;
  stepsOfVersion: (workflowId: string, version: number) => Promise<StepDefinition[]>;
  findAgent: (tenantId: string, agentId: string) => Promise<Agent>;
  defaultProvider: () => ProviderName;
  /** Cap of a rendered step input (default: SWITCHYARD_MAX_STEP_INPUT_BYTES). */
  maxStepInputBytes?: number;
}): AttemptKind<StepKey, PreparedStep, StepAnswer, FinishedRun> => {
  const { runs } = deps;

  /** Definitions (cached per pinned version); the outputs the templates read came with the claim. */
  const prepare = async (claim: ClaimedStep): Promise<PreparedStep> => {
    const steps = await deps.stepsOfVersion(claim.workflowId, claim.workflowVersion);
    const definition = steps.find((step) => step.key === claim.key);
    if (!definition) {
      const unusable = new NonRetryableError(`the workflow version has no step "${claim.key}"`);
      return { claim, steps, definition, input: '', unusable };
    }
    const read = Object.fromEntries(
      referencedSteps(definition.inputTemplate).map((key) => [
        key,
        Object.hasOwn(claim.outputs, key) ? (claim.outputs[key] ?? null) : null,
      ]),
    );
    const maxBytes = deps.maxStepInputBytes ?? config().maxStepInputBytes;
    try {
      return {
        claim,
        steps,
        definition,
        input: renderTemplate(definition.inputTemplate, claim.input, read, maxBytes),
      };
    } catch (error) {
      // The same input renders the same on every attempt: the step fails now, no retry.
      if (!(error instanceof RenderedInputTooLarge)) throw error;
      return { claim, steps, definition, input: '', unusable: new NonRetryableError(error.message) };
    }
  };

  return {
    plural: 'workflow runs',
    idName: 'workflow_execution_id',
    metricNames: {
      finished: 'WorkflowExecutions',
      duration: 'WorkflowDuration',
      discarded: 'StepResultsDiscarded',
      succeeded: 'WorkflowStepsSucceeded',
      continued: 'WorkflowStepsContinued',
    },
    slowMs: slowWorkflowMs,
    invalidJob: 'workflow.step job without a valid workflow_execution_id and step',
    finalCode: 'step_error',
    retriesOnQueue: false,
    longestCallSeconds: stepLimits.maxTimeoutSeconds,
    markAnnounced: (ids) => runs.markAnnounced(ids),

    keyOf: (job) => {
      const executionId = job.ids['workflow_execution_id'];
      const key = job.ids['step'];
      return executionId && isUuid(executionId) && key
        ? { executionId, key, tenantId: job.tenant_id }
        : undefined;
    },
    idOf: (key) => stepId(key.executionId, key.key),
    jobOf: (key) => stepJob(key),

    async claim(keys, leaseSeconds) {
      const claimed = await runs.claim(keys, leaseSeconds);
      try {
        const prepared = await Promise.all(
          [...claimed].map(async ([id, claim]) => [id, await prepare(claim)] as const),
        );
        return new Map(prepared);
      } catch (error) {
        // Nothing of the batch was recorded: hand the steps back so the retry can take them now.
        await runs.release([...claimed.values()]).catch(() => {});
        throw error;
      }
    },
    async refused(keys) {
      return { leased: await runs.leaseSecondsLeft(keys), unannounced: [] };
    },

    async request(step) {
      const { claim, definition } = step;
      if (step.unusable || !definition) throw step.unusable;
      // The worker of the last attempt died; its lease ran out and the message came back.
      if (claim.attempt > definition.maxAttempts) throw new AttemptsSpent();
      let agent: Agent;
      try {
        agent = await deps.findAgent(claim.tenantId, claim.agentId);
      } catch (error) {
        if (error instanceof ProblemError && error.status === 404) {
          throw new NonRetryableError(`the step's agent ${claim.agentId} has been deleted`);
        }
        throw error;
      }
      if (agent.status === 'paused') throw new NonRetryableError(`the step's agent ${agent.id} is paused`);
      return {
        tenantId: claim.tenantId,
        model: agent.model,
        // The step's own knowledge, if it names any (or none), over the agent's.
        settings: stepSettings(
          executionSettings(agent.model, agent.configuration, deps.defaultProvider()),
          definition.knowledge,
        ),
        systemPrompt: agent.systemPrompt,
        input: step.input,
        timeoutSeconds: definition.timeoutSeconds,
        unit: { id: stepId(claim.executionId, claim.key), attempt: claim.attempt },
      };
    },
    answered: ({ claim, steps, input }, request, answer, costUsd) => ({
      executionId: claim.executionId,
      key: claim.key,
      attempt: claim.attempt,
      renderedInput: input,
      model: request.model,
      dependents: steps.filter((s) => s.dependsOn.includes(claim.key)).map((s) => s.key),
      call: { ...answer, costUsd },
    }),
    abandoned: async ({ claim }) => {
      const status = await runs.statusOf(claim.executionId);
      return status !== 'running' && status !== 'queued';
    },

    async complete(answers) {
      const { done, released, finished } = await runs.complete(answers);
      return { done: done.size, finished, released };
    },
    release: (steps) => runs.release(steps.map((step) => step.claim)),
    attemptsLeft: ({ claim, definition }) =>
      definition !== undefined && claim.attempt < definition.maxAttempts,
    async retry({ claim, definition }, error) {
      const delaySeconds = retryDelaySeconds(stepBackoff(definition!.backoffSeconds), claim.attempt);
      if (await runs.retry(claim, error, delaySeconds)) {
        metrics.addMetric('WorkflowStepRetries', 'Count', 1);
        await deps.queue.enqueue(stepJob(claim), { delaySeconds });
      }
    },
    async fail({ claim, steps, definition }, error) {
      const downstream = [...downstreamOf(steps, claim.key)];
      // A step its pinned version lacks cannot say what depends on it: its whole run fails.
      const mode = definition ? claim.onStepFailure : 'fail';
      const { finished } = await runs.fail(claim, error, mode, downstream);
      metrics.addMetric('WorkflowStepsFailed', 'Count', 1);
      return finished;
    },

    /** A step past its attempts is failed by the worker that claims it, not here. */
    async takeStuck(staleSeconds, limit) {
      return { resend: await runs.takeStuckSteps(staleSeconds, limit), failed: [] };
    },
    takeUnannounced: (staleSeconds, limit) => runs.takeUnannounced(staleSeconds, limit),
  };
};
