import { createHash } from 'node:crypto';
import type { ExecutionError, ExecutionSettings, RunProgress, RunRequest } from '#domain/execution.ts';
import { attemptError } from '#domain/execution.ts';
import type { JobEnvelope } from '#domain/jobs.ts';
import { isRetryable, jobTypes, NonRetryableError, newJob } from '#domain/jobs.ts';
import { groundedSystemPrompt, maxQueryCharacters, type Retrieval } from '#domain/knowledge.ts';
import type { LlmRequest, LlmResult } from '#domain/llm.ts';
import { costUsd } from '#domain/pricing.ts';
import { logger, metrics } from '#runtime/observability.ts';
import type { JobContext } from '#workers/consumer.ts';
import type { JobQueue, RetrievalLog, Retriever, VersionedCache } from './ports.ts';

/**
 * The one life of a model-calling unit of work — an agent execution, a workflow step:
 * claim (a lease) → call (response cache, provider chain, cost) → complete (one statement
 * per batch) → announce (metrics, webhook, slow alert) → sweep (what fell between the
 * cracks). What differs between the two kinds is an `AttemptKind`: their statements, how a
 * retry is carried, and what their completions release.
 */

// ---------------------------------------------------------------------------------------
// Failures.

/** The unit was cancelled (or its run ended) while its call ran: the call is abandoned, nothing written. */
export class AttemptAbandoned extends Error {
  override name = 'AttemptAbandoned';
}

/** The unit's own time limit ran out: a retryable failure of the attempt. */
export class AttemptTimedOut extends Error {
  override name = 'AttemptTimedOut';
}

/** The worker of the last attempt died: its lease ran out and the work came back with no attempt left. */
export class AttemptsSpent extends NonRetryableError {
  override name = 'AttemptsSpent';
  constructor() {
    super('the worker running the last attempt stopped before finishing');
  }
}

/**
 * The one error mapping of a failed attempt: `timeout` (its own limit), `retrying` (an
 * attempt is left), `retries_exhausted` (retryable, but none is), or the kind's code for a
 * failure no retry can mend (`provider_error`, `step_error`).
 */
export const attemptFailure = (error: unknown, retrying: boolean, finalCode: string): ExecutionError =>
  attemptError(
    error,
    error instanceof AttemptTimedOut
      ? 'timeout'
      : retrying
        ? 'retrying'
        : error instanceof AttemptsSpent || isRetryable(error)
          ? 'retries_exhausted'
          : finalCode,
  );

// ---------------------------------------------------------------------------------------
// The call: response cache, provider chain, cost.

/** Calls the agent's provider chain. */
export type CompleteCall = (
  settings: ExecutionSettings,
  request: Omit<LlmRequest, 'model' | 'timeoutMs'>,
) => Promise<LlmResult>;

/**
 * Tenant-scoped: one tenant's prompt never answers another's, even when identical. With
 * knowledge, the retrieved chunk ids are part of it: a re-ingested or edited document (new
 * chunks) never gets an answer given from the old ones.
 */
export const llmCacheKey = (
  tenantId: string,
  settings: ExecutionSettings,
  systemPrompt: string,
  input: unknown,
  chunkIds: readonly string[] = [],
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
        ...(chunkIds.length > 0 ? [chunkIds] : []),
      ]),
    )
    .digest('base64url');
  return `llm:${tenantId}:${digest}`;
};

/** The model's answer to an attempt, from the provider chain or the response cache. */
export interface Answer {
  readonly output: string;
  readonly provider: string;
  readonly modelUsed: string;
  readonly inputTokens: number;
  readonly outputTokens: number;
  readonly cached: boolean;
  /** The passages the call was grounded in, when the agent uses knowledge. */
  readonly retrieval?: Retrieval;
}

/** What an answer costs: nothing from the response cache, nor from the built-in local provider, whatever model it plays. */
export const answerCostUsd = (answer: Answer): number =>
  (answer.cached || answer.provider === 'local'
    ? 0
    : costUsd(answer.modelUsed, answer.inputTokens, answer.outputTokens)) +
  (answer.retrieval?.embeddingCostUsd ?? 0);

interface CachedAnswer {
  readonly output: string;
  readonly inputTokens: number;
  readonly outputTokens: number;
  readonly provider: string;
  readonly model: string;
}

/** What a unit asks of the model. */
export interface ModelRequest {
  readonly tenantId: string;
  /** The agent's model, as configured (the answer says which one answered). */
  readonly model: string;
  readonly settings: ExecutionSettings;
  readonly systemPrompt: string;
  readonly input: unknown;
  /** The attempt's own time limit, if it has one. */
  readonly timeoutSeconds?: number;
  /** The unit (execution, step run) and attempt: where a retrieval for it is recorded. */
  readonly unit: { readonly id: string; readonly attempt: number };
  /** The chunks the system prompt was grounded in (set by the pipeline): part of the cache key. */
  readonly chunkIds?: readonly string[];
}

interface CallWatch {
  readonly signal: AbortSignal;
  readonly stop: () => void;
}

/**
 * A model call's abort signal: `abandoned` is asked every interval (one indexed read, and
 * none for calls that answer within the first) and aborts the call; a time limit, if
 * given, aborts it with `AttemptTimedOut`.
 */
const watchCall = (
  intervalMs: number,
  abandoned: () => Promise<boolean>,
  timeoutSeconds?: number,
): CallWatch => {
  const controller = new AbortController();
  const poll = setInterval(() => {
    abandoned()
      .then((yes) => {
        if (yes) controller.abort(new AttemptAbandoned());
      })
      .catch(() => {});
  }, intervalMs);
  poll.unref();
  const timeout =
    timeoutSeconds === undefined
      ? undefined
      : setTimeout(
          () => controller.abort(new AttemptTimedOut(`the step did not answer within ${timeoutSeconds} s`)),
          timeoutSeconds * 1000,
        );
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
 * The model's answer to a request, from the tenant's response cache or the provider chain
 * (then cached). `watch` starts only for a real call; an abandoned call throws the reason
 * it was abandoned (`AttemptAbandoned`, `AttemptTimedOut`).
 */
const answerCall = async (
  complete: CompleteCall,
  cache: VersionedCache,
  request: ModelRequest,
  watch: () => CallWatch,
): Promise<Answer> => {
  const { settings } = request;
  const key =
    settings.cacheTtlSeconds > 0
      ? llmCacheKey(request.tenantId, settings, request.systemPrompt, request.input, request.chunkIds)
      : undefined;
  if (key) {
    const hit = await cache.peek<CachedAnswer>(key);
    if (hit) {
      metrics.addMetric('LlmCacheHits', 'Count', 1);
      return { ...hit, modelUsed: hit.model, cached: true };
    }
  }
  const watching = watch();
  let result: LlmResult;
  try {
    result = await complete(settings, {
      systemPrompt: request.systemPrompt,
      input: request.input as LlmRequest['input'],
      signal: watching.signal,
      ...(settings.temperature !== undefined && { temperature: settings.temperature }),
      ...(settings.maxTokens !== undefined && { maxTokens: settings.maxTokens }),
    });
  } catch (error) {
    if (watching.signal.aborted) {
      const reason: unknown = watching.signal.reason;
      throw reason instanceof AttemptTimedOut ? reason : new AttemptAbandoned();
    }
    throw error;
  } finally {
    watching.stop();
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

/** What a unit's input asks, as a search query: its text (JSON as JSON), within a query's limit. */
const inputQuery = (input: unknown): string =>
  (typeof input === 'string' ? input : JSON.stringify(input)).slice(0, maxQueryCharacters);

// ---------------------------------------------------------------------------------------
// Announcing completions.

/** What finished and may owe completion events: an execution, a workflow run. */
export interface Completed extends Pick<RunRequest, 'id' | 'tenantId'>, RunProgress<string> {
  readonly hasWebhook: boolean;
  /** Marked announced by the statement that finished it (no webhook, not slow: nothing to send). */
  readonly announced: boolean;
}

/** How one kind's completions are announced. */
export interface CompletionKind<Done extends Completed> {
  /** The job id naming the finished thing in its webhook and slow-alert jobs. */
  readonly idName: 'execution_id' | 'workflow_execution_id';
  /** Metric names: `<finished>_<status>` counts, `<duration>` in milliseconds. */
  readonly metricNames: { readonly finished: string; readonly duration: string };
  /** Slower than this raises an alert on the default queue. */
  readonly slowMs: number;
  markAnnounced(ids: readonly string[]): Promise<void>;
  /** Metrics of its own over everything announced at once (tokens by model). */
  measure?(done: readonly Done[]): void;
}

/**
 * Completion of executions and runs, whatever their outcome: metrics, then the webhook and
 * slow alert jobs on the default queue, then — in one statement — the mark that they were
 * announced. A crash in between is repaired by the sweeper (at least once; receivers dedupe
 * on the event id). One whose jobs did not get out stays unmarked, and the first such
 * failure is thrown once the others are marked.
 */
export class CompletionAnnouncer<Done extends Completed> {
  constructor(
    private readonly kind: CompletionKind<Done>,
    private readonly queue: JobQueue,
  ) {}

  async announce(done: readonly Done[]): Promise<void> {
    if (done.length === 0) return;
    this.kind.measure?.(done);
    const { metricNames, idName, slowMs } = this.kind;
    const sent = await Promise.allSettled(
      done.map(async (unit) => {
        const duration =
          unit.startedAt && unit.completedAt ? unit.completedAt.getTime() - unit.startedAt.getTime() : 0;
        metrics.addMetric(`${metricNames.finished}_${unit.status}`, 'Count', 1);
        metrics.addMetric(metricNames.duration, 'Milliseconds', duration);
        const ids = { [idName]: unit.id };
        const jobs: Promise<void>[] = [];
        if (unit.hasWebhook) {
          const key = `webhook:${unit.id}:${unit.version}`;
          jobs.push(this.queue.enqueue(newJob(jobTypes.deliverWebhook, unit.tenantId, ids, key)));
        }
        if (duration > slowMs) {
          const key = `slow:${unit.id}:${unit.version}`;
          jobs.push(this.queue.enqueue(newJob(jobTypes.slowExecutionAlert, unit.tenantId, ids, key)));
        }
        await Promise.all(jobs);
        return !unit.announced || jobs.length > 0 ? unit.id : undefined;
      }),
    );
    await this.kind.markAnnounced(
      sent.flatMap((result) => (result.status === 'fulfilled' && result.value ? [result.value] : [])),
    );
    const failed = sent.find((result) => result.status === 'rejected');
    if (failed) throw failed.reason;
  }
}

// ---------------------------------------------------------------------------------------
// Attempts.

/**
 * One kind of unit (`Key` names one; `Claim` is an attempt started on it; `Answered` its
 * answer ready to record; `Done` what its completion finished) as the pipeline needs it.
 * Every state change is conditional on the attempt still owning its unit, so redelivered
 * messages, cancellations and two workers on one message resolve in the database.
 */
export interface AttemptKind<Key, Claim, Answered, Done extends Completed> extends CompletionKind<Done> {
  /** What the units are called in log lines. */
  readonly plural: string;
  /** The message of a job that names no valid unit (it fails alone, not retried). */
  readonly invalidJob: string;
  /** The error code of a failure no retry can mend. */
  readonly finalCode: string;
  /**
   * true: a failed attempt answers its error, so its message's redelivery (after the queue's
   * backoff) is the retry and the DLQ the end. false: the kind sends its own retry message
   * after its own backoff, and a recorded failure is done with.
   */
  readonly retriesOnQueue: boolean;
  /** The longest call an attempt may make, in seconds (bounds continuing in one invocation). */
  readonly longestCallSeconds: number;
  readonly metricNames: CompletionKind<Done>['metricNames'] & {
    /** Results thrown away: the unit was cancelled meanwhile. */
    readonly discarded: string;
    readonly succeeded?: string;
    /** Units released by a completion and run in the same invocation. */
    readonly continued?: string;
  };

  keyOf(job: JobEnvelope): Key | undefined;
  /** The key's identity, as in the claim's map. */
  idOf(key: Key): string;
  jobOf(key: Key): JobEnvelope;
  /** Starts attempts on the units free to run (queued, or whose lease ran out): one statement a batch. */
  claim(keys: readonly Key[], leaseSeconds: number): Promise<Map<string, Claim>>;
  /**
   * Why units were not claimed (the rare path): those held by a live lease, with the
   * seconds it has left; finished ones that still owe their completion events.
   */
  refused(keys: readonly Key[]): Promise<{ leased: Map<string, number>; unannounced: Done[] }>;
  /** What the attempt asks of the model; throws when it cannot run (a non-retryable error fails it). */
  request(claim: Claim): Promise<ModelRequest>;
  answered(claim: Claim, request: ModelRequest, answer: Answer, costUsd: number): Answered;
  /** Whether the unit was cancelled (or its run ended) while its call ran. */
  abandoned(claim: Claim): Promise<boolean>;
  /** Records a batch's answers in one statement: how many still owned their unit, what finished, what it released. */
  complete(answered: readonly Answered[]): Promise<{ done: number; finished: Done[]; released: Key[] }>;
  /** Hands claims back (queued, no lease) when their batch's completion failed. */
  release(claims: readonly Claim[]): Promise<void>;
  attemptsLeft(claim: Claim, context: JobContext | undefined): boolean;
  /** Queues the unit again after a retryable failure. */
  retry(claim: Claim, error: ExecutionError): Promise<void>;
  /** Fails the unit for good; answers what that finished. */
  fail(claim: Claim, error: ExecutionError): Promise<Done[]>;
  /**
   * For the sweeper: units nobody works on (queued past `staleSeconds`, or running past
   * their lease), to send again; those whose attempts are spent are failed here, and
   * answered for announcing.
   */
  takeStuck(staleSeconds: number, limit: number): Promise<{ resend: Key[]; failed: Done[] }>;
  /** For the sweeper: finished units whose completion events never reached the queue. */
  takeUnannounced(staleSeconds: number, limit: number): Promise<Done[]>;
}

/** A unit the pipeline works on: from a job of the batch (`item`, `index`), or released by a completion. */
interface Unit<Key> {
  readonly key: Key;
  readonly item?: { job: JobEnvelope; context: JobContext };
  readonly index?: number;
}

/**
 * Runs a kind's jobs, a whole SQS batch at a time: one claim statement, the model calls
 * in parallel, one completion statement. Idempotent by construction: the claim only starts
 * an attempt on a unit free to run, and an answer is recorded only if its attempt still
 * owns the unit — a redelivered message never calls the model twice for finished work.
 * Answers each job with undefined (done: delete the message) or the error to report for it.
 */
export class AttemptPipeline<Key, Claim, Answered, Done extends Completed> {
  constructor(
    private readonly kind: AttemptKind<Key, Claim, Answered, Done>,
    private readonly announcer: CompletionAnnouncer<Done>,
    private readonly complete: CompleteCall,
    private readonly cache: VersionedCache,
    private readonly queue: JobQueue,
    private readonly options: {
      leaseSeconds: number;
      cancellationPollMs?: number;
      /**
       * Units a batch's completions released run in the same invocation while this long
       * minus the longest call has not passed since it began (0: never; each gets a message).
       */
      continueWithinMs?: number;
      /** Retrieval for agents that use knowledge; without it such a unit fails (not retried). */
      knowledge?: { readonly retriever: Retriever; readonly log: RetrievalLog };
    },
  ) {}

  async runBatch(items: readonly { job: JobEnvelope; context: JobContext }[]): Promise<unknown[]> {
    const started = Date.now();
    const outcomes: unknown[] = items.map(() => undefined);
    const units: Unit<Key>[] = [];
    items.forEach((item, index) => {
      const key = this.kind.keyOf(item.job);
      if (key === undefined) outcomes[index] = new NonRetryableError(this.kind.invalidJob);
      else units.push({ key, item, index });
    });
    const report = (unit: Unit<Key>, error: unknown) => {
      if (unit.index !== undefined) outcomes[unit.index] = error;
      else {
        logger.warn('a continued attempt could not be recorded; the sweeper will retry it', {
          error: (error as Error).message,
        });
      }
    };
    let released = await this.attempt(units, report);
    // What this batch released runs here and now, while the longest call still fits in the
    // invocation: no queue round trip in between. It is claimed like any other (a lease, no
    // message), so a worker dying meanwhile leaves it to the sweeper.
    while (released.length > 0 && this.mayContinue(started)) {
      if (this.kind.metricNames.continued) {
        metrics.addMetric(this.kind.metricNames.continued, 'Count', released.length);
      }
      released = await this.attempt(
        released.map((key) => ({ key })),
        report,
      );
    }
    // The released units not run here get a message each; a lost send is the sweeper's to repair.
    try {
      await Promise.all(released.map((key) => this.queue.enqueue(this.kind.jobOf(key))));
    } catch (error) {
      logger.warn('released work not enqueued yet; the sweeper will', { error: (error as Error).message });
    }
    return outcomes;
  }

  private mayContinue(started: number): boolean {
    const budgetMs = this.options.continueWithinMs ?? 0;
    return Date.now() - started + this.kind.longestCallSeconds * 1000 < budgetMs;
  }

  /** Claims, calls and completes units; answers the units their completions released. */
  private async attempt(
    units: readonly Unit<Key>[],
    report: (unit: Unit<Key>, error: unknown) => void,
  ): Promise<Key[]> {
    const { kind } = this;
    const claimed = await kind.claim(
      units.map((unit) => unit.key),
      this.options.leaseSeconds,
    );
    const answered: Answered[] = [];
    await Promise.all([
      this.settleRefusals(
        units.filter((unit) => unit.item && !claimed.has(kind.idOf(unit.key))),
        report,
      ),
      ...units.map(async (unit) => {
        const claim = claimed.get(kind.idOf(unit.key));
        if (!claim) return;
        try {
          answered.push(await this.call(claim));
        } catch (error) {
          const outcome = await this.failAttempt(claim, error, unit.item?.context);
          if (outcome !== undefined) report(unit, outcome);
        }
      }),
    ]);
    if (claimed.size === 0) return [];

    let completion: Awaited<ReturnType<typeof kind.complete>>;
    try {
      completion = await kind.complete(answered);
    } catch (error) {
      // Nothing of the batch was recorded: hand the claims back, so the retried messages
      // claim them at once instead of finding them held by a lease nobody works under.
      await kind.release([...claimed.values()]).catch((releaseError: unknown) =>
        logger.warn('claims not released; redelivered messages wait for the lease', {
          error: (releaseError as Error).message,
        }),
      );
      throw error;
    }
    const discarded = answered.length - completion.done;
    if (discarded > 0) metrics.addMetric(kind.metricNames.discarded, 'Count', discarded); // cancelled meanwhile
    if (kind.metricNames.succeeded) metrics.addMetric(kind.metricNames.succeeded, 'Count', completion.done);
    await this.announce(completion.finished);
    return completion.released;
  }

  /** The answer's announcement; what does not get out, the sweeper announces later. */
  private async announce(finished: readonly Done[]): Promise<void> {
    await this.announcer
      .announce(finished)
      .catch((error: unknown) =>
        logger.warn('completion not announced yet; the sweeper will', { error: (error as Error).message }),
      );
  }

  /**
   * Units that could not be claimed. Held by a live lease: the job comes back when the
   * lease ends (a new message with that delay: no receive count spent), so if that
   * attempt's worker died (or its batch failed without handing the claim back), the unit is
   * taken over then rather than at the next sweep; if the attempt finishes first, the
   * returning job finds it finished and does nothing. Finished: it may still owe its
   * completion events.
   */
  private async settleRefusals(
    units: readonly Unit<Key>[],
    report: (unit: Unit<Key>, error: unknown) => void,
  ): Promise<void> {
    if (units.length === 0) return;
    let refusals: Awaited<ReturnType<AttemptKind<Key, Claim, Answered, Done>['refused']>>;
    try {
      refusals = await this.kind.refused(units.map((unit) => unit.key));
    } catch (error) {
      for (const unit of units) report(unit, error);
      return;
    }
    await Promise.all([
      this.announce(refusals.unannounced),
      ...units.map(async (unit) => {
        const secondsLeft = refusals.leased.get(this.kind.idOf(unit.key));
        if (secondsLeft === undefined || !unit.item) return;
        try {
          await this.queue.enqueue(unit.item.job, { delaySeconds: Math.ceil(secondsLeft) + 1 });
          metrics.addMetric('JobsDeferredToLeaseEnd', 'Count', 1);
        } catch (error) {
          report(unit, error);
        }
      }),
    ]);
  }

  private async call(claim: Claim): Promise<Answered> {
    const asked = await this.kind.request(claim);
    const { request, retrieval, recorded } = await this.ground(asked);
    const [called] = await Promise.all([
      answerCall(this.complete, this.cache, request, () =>
        watchCall(
          this.options.cancellationPollMs ?? 2_000,
          () => this.kind.abandoned(claim),
          request.timeoutSeconds,
        ),
      ),
      recorded,
    ]);
    const answer: Answer = retrieval ? { ...called, retrieval } : called;
    return this.kind.answered(claim, request, answer, answerCostUsd(answer));
  }

  /**
   * Retrieval before the call, for every kind alike: the passages of the agent's knowledge
   * bases for the input go into the system prompt, numbered for citing, and their chunk ids
   * into the response cache key; what was retrieved is recorded for the unit's attempt while
   * the model answers.
   */
  private async ground(
    request: ModelRequest,
  ): Promise<{ request: ModelRequest; retrieval?: Retrieval; recorded?: Promise<void> }> {
    const use = request.settings.knowledge;
    if (!use) return { request };
    const knowledge = this.options.knowledge;
    if (!knowledge) throw new NonRetryableError('knowledge retrieval is not available to this worker');
    const query = inputQuery(request.input);
    const retrieval = await knowledge.retriever.retrieve(request.tenantId, use, query);
    metrics.addMetric('KnowledgeRetrievals', 'Count', 1);
    metrics.addMetric('KnowledgeRetrievalDuration', 'Milliseconds', retrieval.durationMs);
    const recorded = knowledge.log.record(request.tenantId, request.unit.id, request.unit.attempt, retrieval);
    return {
      request: {
        ...request,
        systemPrompt: groundedSystemPrompt(request.systemPrompt, retrieval.passages),
        chunkIds: retrieval.passages.map((p) => p.chunkId),
      },
      retrieval,
      recorded,
    };
  }

  /**
   * An attempt failed: its result discarded (abandoned), queued for a retry (retryable,
   * attempts left), or the unit failed for good and announced. Answers the message's
   * outcome: the error when the queue carries the kind's retries, or when recording the
   * failure itself failed (the message is retried and the lease lets the sweeper take over).
   */
  private async failAttempt(claim: Claim, error: unknown, context: JobContext | undefined): Promise<unknown> {
    const { kind } = this;
    if (error instanceof AttemptAbandoned) {
      metrics.addMetric(kind.metricNames.discarded, 'Count', 1);
      return undefined; // Cancelled meanwhile: the message is done with.
    }
    const retrying = isRetryable(error) && kind.attemptsLeft(claim, context);
    try {
      if (retrying) await kind.retry(claim, attemptFailure(error, true, kind.finalCode));
      else await this.announce(await kind.fail(claim, attemptFailure(error, false, kind.finalCode)));
    } catch (recordError) {
      return recordError;
    }
    return kind.retriesOnQueue ? error : undefined;
  }
}
