import { describe, expect, it } from 'vitest';
import { SqsJobQueue } from '#adapters/aws/job-queue.ts';
import type { SqsApi, SqsBatchEntry } from '#adapters/aws/sqs-api.ts';
import { jobTypes, newJob } from '#domain/jobs.ts';
import {
  type JobDef,
  jobDefOf,
  jobs,
  localIntervalMs,
  type QueueName,
  queues,
  scheduledJobs,
} from '#manifest';
import { dispatchOf, type JobHandlers } from '#workers/consumer.ts';
import { type FunctionAccess, functionAccess } from '../../lib/access.ts';
import { eventSchedule } from '../../lib/constructs/schedules.ts';

const declared: readonly JobDef[] = Object.values(jobs);
const consumerOf = (queue: QueueName) => queues.find((q) => q.name === queue)!.consumer;

/** What a job needs that a function does not have: empty when the function can run it. */
const missingAccess = (job: JobDef, access: FunctionAccess): string[] => {
  const missing: string[] = [];
  for (const need of ['database', 'cache', 'llm', 'internet'] as const) {
    if (job.needs[need] && !access[need]) missing.push(need);
  }
  for (const type of job.enqueues) {
    const target = jobDefOf(type)?.queue;
    if (!target) missing.push(`enqueues undeclared ${type}`);
    else if (!access.sendsTo?.includes(target)) missing.push(`sendsTo ${target} (${type})`);
  }
  if (!access.deadLettersTo?.includes(job.queue)) missing.push(`deadLettersTo ${job.queue}`);
  return missing;
};

describe('job declarations', () => {
  it('declare each job type once', () => {
    const types = declared.map((job) => job.type);
    expect(new Set(types).size).toBe(types.length);
    for (const [name, job] of Object.entries(jobs)) {
      expect(jobTypes[name as keyof typeof jobTypes]).toBe(job.type);
      expect(jobDefOf(job.type)).toBe(job);
    }
    expect(jobDefOf('no.such.job')).toBeUndefined();
  });

  it.each(declared.map((job) => [job.type, job] as const))(
    '%s lands on a consumer that has all its handler needs',
    (_type, job) => {
      const consumer = consumerOf(job.queue);
      expect(missingAccess(job, functionAccess[consumer]), `${job.type} on ${consumer}`).toEqual([]);
    },
  );

  it('would catch a job that needs the cache on the low worker (the cache.warm bug)', () => {
    const onLow: JobDef = { ...jobs.warmCaches, queue: 'low' };
    expect(missingAccess(onLow, functionAccess[consumerOf('low')])).toEqual(['cache']);
    const warmer: FunctionAccess = functionAccess[consumerOf(jobs.warmCaches.queue)];
    expect(warmer.cache).toBe(true);
  });
});

describe('dispatch', () => {
  /** A handler table whose every handler names its job type. */
  const table = Object.fromEntries(
    declared.map((job) => [job.type, () => job.type]),
  ) as unknown as JobHandlers;

  it.each(queues.map((q) => [q.name] as const))(
    "gives the %s queue's consumer exactly the job types declared on it, batched as declared",
    (queue) => {
      const { jobs: single, batchJobs } = dispatchOf(queue, table);
      const on = declared.filter((job) => job.queue === queue);
      expect(Object.keys(single).sort()).toEqual(
        on
          .filter((j) => !j.batch)
          .map((j) => j.type)
          .sort(),
      );
      expect(Object.keys(batchJobs).sort()).toEqual(
        on
          .filter((j) => j.batch)
          .map((j) => j.type)
          .sort(),
      );
      for (const [type, handler] of Object.entries({ ...single, ...batchJobs })) {
        expect((handler as unknown as () => string)()).toBe(type);
      }
    },
  );
});

describe('enqueue', () => {
  const urls: Record<QueueName, string> = { high: 'url-high', default: 'url-default', low: 'url-low' };
  const recording = () => {
    const sent: { url: string; entries: readonly SqsBatchEntry[] }[] = [];
    const client = {
      sendMessageBatch: async (input: { QueueUrl: string; Entries: readonly SqsBatchEntry[] }) => {
        sent.push({ url: input.QueueUrl, entries: input.Entries });
        return { Successful: input.Entries.map((e) => ({ Id: e.Id })), Failed: [] };
      },
    } as unknown as SqsApi;
    return {
      queue: new SqsJobQueue(
        () => client,
        (q) => urls[q],
      ),
      sent,
    };
  };

  it('puts each job type on its declared queue, the envelope as it was given', async () => {
    const { queue, sent } = recording();
    for (const job of declared) {
      const envelope = newJob(job.type, 'tenant', { id: '1' }, `key:${job.type}`);
      await queue.enqueue(envelope);
      const last = sent.at(-1)!;
      expect(last.url, job.type).toBe(urls[job.queue]);
      expect(JSON.parse(last.entries[0]!.MessageBody)).toEqual(envelope);
      expect(last.entries[0]!.MessageAttributes).toEqual({
        type: { DataType: 'String', StringValue: job.type },
      });
    }
  });

  it('keeps the delay, and batches the sends of one turn per queue', async () => {
    const { queue, sent } = recording();
    const step = newJob(jobTypes.runWorkflowStep, 't', {}, 'k1');
    await Promise.all([
      queue.enqueue(step, { delaySeconds: 12.4 }),
      queue.enqueue(newJob(jobTypes.executeAgent, 't', {}, 'k2')),
      queue.enqueue(newJob(jobTypes.recordAudit, 't', {}, 'k3')),
    ]);
    expect(sent.map((s) => [s.url, s.entries.length])).toEqual([
      ['url-high', 2],
      ['url-low', 1],
    ]);
    expect(sent[0]!.entries[0]!.DelaySeconds).toBe(12);
    expect(sent[0]!.entries[1]!.DelaySeconds).toBeUndefined();
  });

  it('refuses an undeclared job type, and a named queue other than the declared one', async () => {
    const { queue, sent } = recording();
    await expect(queue.enqueue(newJob('no.such.job', 't', {}, 'k'))).rejects.toThrow(/not declared/);
    await expect(queue.enqueue('low', newJob(jobTypes.executeAgent, 't', {}, 'k'))).rejects.toThrow(
      /high queue, not low/,
    );
    expect(sent).toEqual([]);
    await queue.enqueue('high', newJob(jobTypes.executeAgent, 't', {}, 'k'));
    expect(sent.map((s) => s.url)).toEqual(['url-high']);
  });
});

describe('schedules', () => {
  it('run the sweeper every minute, warming every 5 minutes, retention daily at 03:17 UTC', () => {
    const expressions = Object.fromEntries(
      scheduledJobs().map((job) => [job.type, eventSchedule(job.schedule).expressionString]),
    );
    expect(expressions).toEqual({
      'executions.sweep': 'rate(1 minute)',
      'cache.warm': 'rate(5 minutes)',
      'retention.cleanup': 'cron(17 3 * * ? *)',
    });
  });

  it('run locally at the AWS rate, except retention (dev data), the sweeper overridable', () => {
    const local = (env: Record<string, string> = {}) =>
      Object.fromEntries(scheduledJobs().map((job) => [job.type, localIntervalMs(job.schedule, env)]));
    expect(local()).toEqual({
      'executions.sweep': 60_000,
      'cache.warm': 300_000,
      'retention.cleanup': undefined,
    });
    expect(local({ SWEEPER_INTERVAL_MS: '500' })['executions.sweep']).toBe(500);
    expect(local({ SWEEPER_INTERVAL_MS: 'soon' })['executions.sweep']).toBe(60_000);
  });
});
