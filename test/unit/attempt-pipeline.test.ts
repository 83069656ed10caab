import { describe, expect, it } from 'vitest';
import { MemoryCache } from '#adapters/cache/memory.ts';
import { TwoTierCache } from '#adapters/cache/two-tier.ts';
import type { ExecutionError } from '#domain/execution.ts';
import { type JobEnvelope, NonRetryableError, newJob } from '#domain/jobs.ts';
import type { LlmResult } from '#domain/llm.ts';
import {
  type AttemptKind,
  AttemptPipeline,
  AttemptTimedOut,
  attemptFailure,
  type Completed,
  CompletionAnnouncer,
} from '#services/attempt-pipeline.ts';
import type { JobQueue } from '#services/ports.ts';
import type { JobContext } from '#workers/consumer.ts';

type Claim = { id: string; attempt: number };
type Done = Completed;

/** A kind over an in-memory table, recording what the pipeline asked of it. */
const fakeKind = (options: {
  retriesOnQueue: boolean;
  leased?: Record<string, number>;
  completeFails?: boolean;
  abandoned?: boolean;
  timeoutSeconds?: number;
}) => {
  const log: string[] = [];
  const kind: AttemptKind<string, Claim, { id: string; output: string }, Done> = {
    plural: 'things',
    idName: 'execution_id',
    metricNames: { finished: 'Things', duration: 'ThingDuration', discarded: 'ThingsDiscarded' },
    slowMs: 60_000,
    invalidJob: 'job without a thing',
    finalCode: 'thing_error',
    retriesOnQueue: options.retriesOnQueue,
    longestCallSeconds: 1,
    markAnnounced: async (ids) => {
      if (ids.length > 0) log.push(`mark ${ids.join(',')}`);
    },
    keyOf: (job) => job.ids['execution_id'],
    idOf: (key) => key,
    jobOf: (key) => newJob('agent.execute', 't', { execution_id: key }, key),
    claim: async (keys) => {
      log.push(`claim ${keys.join(',')}`);
      return new Map(
        keys.filter((k) => !(k in (options.leased ?? {}))).map((k) => [k, { id: k, attempt: 1 }]),
      );
    },
    refused: async (keys) => ({
      leased: new Map(keys.map((k) => [k, options.leased?.[k] ?? 0])),
      unannounced: [],
    }),
    request: async (claim) => {
      if (claim.id.startsWith('bad')) throw new NonRetryableError('bad input');
      if (claim.id.startsWith('flaky')) throw new Error('provider down');
      return {
        tenantId: 't',
        model: 'm',
        settings: { targets: [{ provider: 'local', model: 'm' }], cacheTtlSeconds: 0 } as never,
        systemPrompt: '',
        input: claim.id,
        unit: { id: claim.id, attempt: claim.attempt },
        ...(options.timeoutSeconds !== undefined && { timeoutSeconds: options.timeoutSeconds }),
      };
    },
    answered: (claim, _request, answer) => ({ id: claim.id, output: answer.output }),
    abandoned: async () => options.abandoned ?? false,
    complete: async (answered) => {
      log.push(`complete ${answered.map((a) => a.id).join(',')}`);
      if (options.completeFails) throw new Error('database blip');
      const finished = answered.map(
        (a): Done => ({
          id: a.id,
          tenantId: 't',
          status: 'succeeded',
          version: 2,
          startedAt: new Date(0),
          completedAt: new Date(10),
          hasWebhook: true,
          announced: false,
        }),
      );
      return { done: answered.length, finished, released: [] };
    },
    release: async (claims) => {
      log.push(`release ${claims.map((c) => c.id).join(',')}`);
    },
    attemptsLeft: (_claim, context) => !context?.finalAttempt,
    retry: async (claim, error: ExecutionError) => {
      log.push(`retry ${claim.id} ${error.code}`);
    },
    fail: async (claim, error: ExecutionError) => {
      log.push(`fail ${claim.id} ${error.code}`);
      return [];
    },
    takeStuck: async () => ({ resend: [], failed: [] }),
    takeUnannounced: async () => [],
  };
  const sent: { job: JobEnvelope; delaySeconds?: number }[] = [];
  const queue: JobQueue = {
    enqueue: async (job: JobEnvelope, send?: { delaySeconds?: number }) => {
      sent.push({ job, ...(send?.delaySeconds !== undefined && { delaySeconds: send.delaySeconds }) });
    },
  } as JobQueue;
  const model = async (_settings: unknown, request: { input: unknown; signal?: AbortSignal }) => {
    if (options.abandoned || options.timeoutSeconds !== undefined) {
      await new Promise((_resolve, reject) =>
        request.signal?.addEventListener('abort', () => reject(new Error('aborted'))),
      );
    }
    return {
      output: `answer to ${String(request.input)}`,
      provider: 'local',
      model: 'm',
      inputTokens: 1,
      outputTokens: 1,
    } as unknown as LlmResult;
  };
  const pipeline = new AttemptPipeline(
    kind,
    new CompletionAnnouncer(kind, queue),
    model,
    new TwoTierCache(new MemoryCache(1_000, 10), undefined, {
      l2TtlSeconds: 1,
      negativeTtlSeconds: 1,
      negativeL1TtlMs: 1_000,
    }),
    queue,
    { leaseSeconds: 60, cancellationPollMs: 5 },
  );
  return { pipeline, log, sent };
};

const item = (id: string | undefined, finalAttempt = false) => ({
  job: newJob('agent.execute', 't', id === undefined ? {} : { execution_id: id }, `k-${id}`),
  context: { queue: 'high', receiveCount: 1, finalAttempt } as unknown as JobContext,
});

describe('the attempt pipeline', () => {
  it('claims and completes a batch with one statement each, and announces what finished', async () => {
    const { pipeline, log, sent } = fakeKind({ retriesOnQueue: true });
    const outcomes = await pipeline.runBatch([item('a'), item('b'), item(undefined)]);
    expect(outcomes.slice(0, 2)).toEqual([undefined, undefined]);
    expect(outcomes[2]).toBeInstanceOf(NonRetryableError);
    expect(log).toEqual(['claim a,b', 'complete a,b', 'mark a,b']);
    expect(sent.map((s) => s.job.type)).toEqual(['webhook.deliver', 'webhook.deliver']);
  });

  it('defers a job whose unit is leased to the end of its lease', async () => {
    const { pipeline, sent } = fakeKind({ retriesOnQueue: true, leased: { a: 4.2 } });
    expect(await pipeline.runBatch([item('a')])).toEqual([undefined]);
    expect(sent).toEqual([expect.objectContaining({ delaySeconds: 6 })]);
  });

  it('hands the claims back when the completion fails, and fails the batch', async () => {
    const { pipeline, log } = fakeKind({ retriesOnQueue: true, completeFails: true });
    await expect(pipeline.runBatch([item('a')])).rejects.toThrow('database blip');
    expect(log).toEqual(['claim a', 'complete a', 'release a']);
  });

  it('retries through the queue (the error answers the message) or on its own (done)', async () => {
    const onQueue = fakeKind({ retriesOnQueue: true });
    const [queued] = await onQueue.pipeline.runBatch([item('flaky')]);
    expect(queued).toBeInstanceOf(Error);
    expect(onQueue.log).toContain('retry flaky retrying');
    const own = fakeKind({ retriesOnQueue: false });
    expect(await own.pipeline.runBatch([item('flaky')])).toEqual([undefined]);
    expect(own.log).toContain('retry flaky retrying');
  });

  it('fails for good on the last attempt or a non-retryable error, with one error mapping', async () => {
    const { pipeline, log } = fakeKind({ retriesOnQueue: true });
    await pipeline.runBatch([item('flaky', true), item('bad')]);
    expect(log).toContain('fail flaky retries_exhausted');
    expect(log).toContain('fail bad thing_error');
    expect(attemptFailure(new AttemptTimedOut('slow'), true, 'x').code).toBe('timeout');
  });

  it('discards the answer of a unit abandoned meanwhile, and times out a call past its limit', async () => {
    const abandoned = fakeKind({ retriesOnQueue: false, abandoned: true });
    expect(await abandoned.pipeline.runBatch([item('a')])).toEqual([undefined]);
    expect(abandoned.log).toEqual(['claim a', 'complete ']);
    const slow = fakeKind({ retriesOnQueue: false, timeoutSeconds: 0.02 });
    await slow.pipeline.runBatch([item('a')]);
    expect(slow.log).toContain('retry a timeout');
  });
});
