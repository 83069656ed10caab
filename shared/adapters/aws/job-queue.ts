import type { SendMessageBatchRequestEntry, SQSClient } from '@aws-sdk/client-sqs';
import type { JobEnvelope } from '../../domain/jobs.ts';
import type { QueueName } from '../../manifest.ts';
import { config } from '../../runtime/config.ts';
import { sqsClient, sqsCommands } from './clients.ts';

/** What services need of the queues: put jobs on them. */
export interface JobQueue {
  enqueue(queue: QueueName, job: JobEnvelope, options?: { delaySeconds?: number }): Promise<void>;
}

interface Pending {
  readonly entry: SendMessageBatchRequestEntry;
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
}

const sqsBatchLimit = 10;

/**
 * SQS producer. Sends that arrive together (a worker's batch, concurrent requests in the
 * local runtime) go out as one SendMessageBatch of up to 10, flushed on the next tick, so
 * batching never delays a lone message.
 */
export class SqsJobQueue implements JobQueue {
  private readonly pending = new Map<QueueName, Pending[]>();
  private sequence = 0;

  constructor(
    private readonly client: () => Promise<SQSClient>,
    private readonly urlOf: (queue: QueueName) => string,
  ) {}

  enqueue(queue: QueueName, job: JobEnvelope, options: { delaySeconds?: number } = {}): Promise<void> {
    return new Promise((resolve, reject) => {
      this.sequence = (this.sequence + 1) % 1_000_000;
      const entry: SendMessageBatchRequestEntry = {
        Id: `m${this.sequence}`,
        MessageBody: JSON.stringify(job),
        ...(options.delaySeconds && {
          DelaySeconds: Math.min(900, Math.max(0, Math.round(options.delaySeconds))),
        }),
        // Lets an operator see what a message is without parsing bodies (DLQ peek).
        MessageAttributes: { type: { DataType: 'String', StringValue: job.type } },
      };
      const waiting = this.pending.get(queue);
      if (waiting) {
        waiting.push({ entry, resolve, reject });
        if (waiting.length >= sqsBatchLimit) this.flush(queue);
        return;
      }
      this.pending.set(queue, [{ entry, resolve, reject }]);
      setImmediate(() => this.flush(queue));
    });
  }

  private flush(queue: QueueName): void {
    const batch = this.pending.get(queue);
    if (!batch || batch.length === 0) return;
    this.pending.delete(queue);
    void this.send(queue, batch);
  }

  private async send(queue: QueueName, batch: Pending[]): Promise<void> {
    try {
      const [{ SendMessageBatchCommand }, client] = await Promise.all([sqsCommands(), this.client()]);
      const result = await client.send(
        new SendMessageBatchCommand({ QueueUrl: this.urlOf(queue), Entries: batch.map((p) => p.entry) }),
      );
      const failed = new Map((result.Failed ?? []).map((f) => [f.Id, f]));
      for (const item of batch) {
        const failure = failed.get(item.entry.Id);
        if (failure)
          item.reject(new Error(`SQS refused a message: ${failure.Code} ${failure.Message ?? ''}`));
        else item.resolve();
      }
    } catch (error) {
      for (const item of batch) item.reject(error);
    }
  }
}

let shared: SqsJobQueue | undefined;

/** The container's job queue, on the queues the stack (or the local runtime) configured. */
export const jobQueue = (): JobQueue => {
  shared ??= new SqsJobQueue(sqsClient, (queue) => {
    const url = config().queueUrls[queue];
    if (!url) throw new Error(`QUEUE_URL_${queue.toUpperCase()} is not set`);
    return url;
  });
  return shared;
};

export const resetJobQueue = (): void => {
  shared = undefined;
};
