import type { JobEnvelope } from '#domain/jobs.ts';
import { jobDefOf, type QueueName } from '#manifest';
import { config } from '#runtime/config.ts';
import { MicroBatcher } from '#runtime/micro-batch.ts';
import type { EnqueueOptions, JobQueue } from '#services/ports.ts';
import { sqsApi } from './clients.ts';
import type { SqsApi, SqsBatchEntry } from './sqs-api.ts';

/** The queue a job travels on: its type's (shared/manifest.ts `jobs`). An unknown type is a bug, not a message. */
export const queueOf = (job: Pick<JobEnvelope, 'type'>): QueueName => {
  const def = jobDefOf(job.type);
  if (!def) throw new Error(`job type "${job.type}" is not declared in shared/manifest.ts`);
  return def.queue;
};

const sqsBatchLimit = 10;

/**
 * SQS producer. Sends that arrive together (a worker's batch, concurrent requests in the
 * local runtime) go out as one SendMessageBatch of up to 10 per queue (MicroBatcher), so
 * batching never delays a lone message.
 */
export class SqsJobQueue implements JobQueue {
  private readonly batchers = new Map<QueueName, MicroBatcher<SqsBatchEntry, void>>();
  private sequence = 0;

  constructor(
    private readonly client: () => SqsApi,
    private readonly urlOf: (queue: QueueName) => string,
  ) {}

  enqueue(job: JobEnvelope, options?: EnqueueOptions): Promise<void>;
  /**
   * @deprecated The queue is the job type's: name none. Kept for the contract suites under
   * test/support only; a queue other than the declared one is refused, never used.
   */
  enqueue(queue: QueueName, job: JobEnvelope, options?: EnqueueOptions): Promise<void>;
  enqueue(
    first: JobEnvelope | QueueName,
    second?: JobEnvelope | EnqueueOptions,
    third?: EnqueueOptions,
  ): Promise<void> {
    const [job, options = {}] =
      typeof first === 'string'
        ? [second as JobEnvelope, third]
        : [first, second as EnqueueOptions | undefined];
    let queue: QueueName;
    try {
      queue = queueOf(job);
      if (typeof first === 'string' && first !== queue) {
        throw new Error(`job type "${job.type}" travels on the ${queue} queue, not ${first}`);
      }
    } catch (error) {
      return Promise.reject(error);
    }
    this.sequence = (this.sequence + 1) % 1_000_000;
    return this.batcherOf(queue).add({
      Id: `m${this.sequence}`,
      MessageBody: JSON.stringify(job),
      ...(options.delaySeconds && {
        DelaySeconds: Math.min(900, Math.max(0, Math.round(options.delaySeconds))),
      }),
      // Lets an operator see what a message is without parsing bodies (DLQ peek).
      MessageAttributes: { type: { DataType: 'String', StringValue: job.type } },
    });
  }

  private batcherOf(queue: QueueName): MicroBatcher<SqsBatchEntry, void> {
    let batcher = this.batchers.get(queue);
    if (!batcher) {
      batcher = new MicroBatcher((entries) => this.send(queue, entries), sqsBatchLimit);
      this.batchers.set(queue, batcher);
    }
    return batcher;
  }

  private async send(
    queue: QueueName,
    entries: readonly SqsBatchEntry[],
  ): Promise<PromiseSettledResult<void>[]> {
    const result = await this.client().sendMessageBatch({ QueueUrl: this.urlOf(queue), Entries: entries });
    const failed = new Map((result.Failed ?? []).map((f) => [f.Id, f]));
    return entries.map((entry) => {
      const failure = failed.get(entry.Id);
      return failure
        ? {
            status: 'rejected',
            reason: new Error(`SQS refused a message: ${failure.Code} ${failure.Message ?? ''}`),
          }
        : { status: 'fulfilled', value: undefined };
    });
  }
}

let shared: SqsJobQueue | undefined;

/** The container's job queue, on the queues the stack (or the local runtime) configured. */
export const jobQueue = (): SqsJobQueue => {
  shared ??= new SqsJobQueue(sqsApi, (queue) => {
    const url = config().queueUrls[queue];
    if (!url) throw new Error(`QUEUE_URL_${queue.toUpperCase()} is not set`);
    return url;
  });
  return shared;
};

export const resetJobQueue = (): void => {
  shared = undefined;
};
