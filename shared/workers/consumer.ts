import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { sqsApi } from '#adapters/aws/clients.ts';
import type { JobEnvelope } from '#domain/jobs.ts';
import { isRetryable, jobEnvelope, NonRetryableError, retryAfterOf } from '#domain/jobs.ts';
import { isFinalAttempt, retryDelaySeconds } from '#domain/retry.ts';
import type { JobDefOf, JobType, QueueName } from '#manifest';
import { jobs, queues } from '#manifest';
import { config } from '#runtime/config.ts';
import { logger, metrics, metricsMiddleware } from '#runtime/observability.ts';
import { tracingMiddleware } from '#runtime/tracing.ts';

export interface JobContext {
  readonly queue: QueueName;
  readonly receiveCount: number;
  /** This receive is the last: a retryable failure now sends the message to the DLQ. */
  readonly finalAttempt: boolean;
  readonly record: SQSRecord;
}

/** Does one job; throwing fails its record (retried with backoff, or DLQ'd). */
export type JobHandler = (job: JobEnvelope, context: JobContext) => Promise<void>;

/**
 * Does the jobs of one type in an SQS batch together (one statement instead of one per
 * message); answers, per job, undefined for done or the error to report for it.
 */
export type BatchJobHandler = (
  items: readonly { job: JobEnvelope; context: JobContext }[],
) => Promise<readonly unknown[]>;

/**
 * A handler for every declared job type: a batch handler where the manifest says `batch: true`.
 * A job type declared without a handler here, or a handler for an undeclared one, fails to compile.
 */
export type JobHandlers = {
  readonly [T in JobType]: JobDefOf<T>['batch'] extends true ? BatchJobHandler : JobHandler;
};

/** What one queue's consumer runs: the handlers of the job types declared on that queue, and no others. */
export const dispatchOf = (
  queue: QueueName,
  handlers: JobHandlers,
): { jobs: Record<string, JobHandler>; batchJobs: Record<string, BatchJobHandler> } => {
  const dispatch = {
    jobs: {} as Record<string, JobHandler>,
    batchJobs: {} as Record<string, BatchJobHandler>,
  };
  for (const def of Object.values(jobs)) {
    if (def.queue !== queue) continue;
    const handler = handlers[def.type];
    if (def.batch) dispatch.batchJobs[def.type] = handler as BatchJobHandler;
    else dispatch.jobs[def.type] = handler as JobHandler;
  }
  return dispatch;
};

export type QueueConsumer = (event: SQSEvent, context: Context) => Promise<SQSBatchResponse>;

const done = Symbol('done');

const parseEnvelope = (record: SQSRecord): JobEnvelope => {
  let json: unknown;
  try {
    json = JSON.parse(record.body);
  } catch {
    throw new NonRetryableError('message body is not JSON');
  }
  const parsed = jobEnvelope.safeParse(json);
  if (!parsed.success) throw new NonRetryableError('message is not a job envelope');
  return parsed.data;
};

const errorText = (error: unknown): string => (error instanceof Error ? error.message : String(error));

/**
 * The Lambda handler of one queue's worker. Records are processed in parallel, each
 * dispatched to the handler of its job type, and failures are reported per record
 * (partial batch response), so one bad message never makes the good ones run again.
 *
 * Retries are per message and never sleep: a retryable failure sets the message's
 * visibility to the backoff for its receive count (the manifest's retry policy, with
 * jitter); the final attempt's failure makes it visible at once, so SQS moves it to the
 * DLQ on its next receive; a non-retryable failure is sent to the DLQ directly.
 */
export const createQueueConsumer = (
  queue: QueueName,
  jobs: Readonly<Record<string, JobHandler>>,
  batchJobs: Readonly<Record<string, BatchJobHandler>> = {},
): QueueConsumer => {
  const policy = queues.find((q) => q.name === queue)!.retry;

  const changeVisibility = async (record: SQSRecord, seconds: number): Promise<void> => {
    const url = config().queueUrls[queue];
    if (!url) return;
    await sqsApi().changeMessageVisibility({
      QueueUrl: url,
      ReceiptHandle: record.receiptHandle,
      VisibilityTimeout: seconds,
    });
  };

  /** Moves a message that can never succeed to the DLQ now; false if there is no DLQ to move it to. */
  const deadLetter = async (record: SQSRecord, reason: string): Promise<boolean> => {
    const url = config().dlqUrls[queue];
    if (!url) return false;
    await sqsApi().sendMessage({
      QueueUrl: url,
      MessageBody: record.body,
      MessageAttributes: {
        ...Object.fromEntries(
          Object.entries(record.messageAttributes)
            .filter(([, a]) => a.stringValue !== undefined)
            .map(([name, a]) => [name, { DataType: a.dataType, StringValue: a.stringValue }]),
        ),
        failure: { DataType: 'String', StringValue: reason.slice(0, 1000) },
      },
    });
    return true;
  };

  const contextOf = (record: SQSRecord): JobContext => {
    const receiveCount = Number(record.attributes.ApproximateReceiveCount ?? '1');
    return { queue, receiveCount, finalAttempt: isFinalAttempt(policy, receiveCount), record };
  };

  /** Outcomes of the batch handlers, by message id: `done`, or the error to report. */
  const runBatches = async (records: readonly SQSRecord[]): Promise<Map<string, unknown>> => {
    const groups = new Map<string, { job: JobEnvelope; context: JobContext; messageId: string }[]>();
    for (const record of records) {
      let job: JobEnvelope;
      try {
        job = parseEnvelope(record);
      } catch {
        continue; // Reported by the per-record pass.
      }
      if (!batchJobs[job.type]) continue;
      const group = groups.get(job.type) ?? [];
      group.push({ job, context: contextOf(record), messageId: record.messageId });
      groups.set(job.type, group);
    }
    const outcomes = new Map<string, unknown>();
    await Promise.all(
      [...groups].map(async ([type, items]) => {
        try {
          const results = await batchJobs[type]!(items);
          items.forEach((item, i) => {
            outcomes.set(item.messageId, results[i] === undefined ? done : results[i]);
          });
        } catch (error) {
          for (const item of items) outcomes.set(item.messageId, error);
        }
      }),
    );
    return outcomes;
  };

  const processRecord = async (record: SQSRecord, batched: Map<string, unknown>): Promise<void> => {
    const { receiveCount, finalAttempt } = contextOf(record);
    const started = performance.now();
    let type = 'unknown';
    try {
      const job = parseEnvelope(record);
      type = job.type;
      if (batched.has(record.messageId)) {
        const outcome = batched.get(record.messageId);
        if (outcome !== done) throw outcome;
      } else {
        const handle = jobs[job.type];
        if (!handle)
          throw new NonRetryableError(`no handler for job type "${job.type}" on the ${queue} queue`);
        await handle(job, contextOf(record));
      }
      metrics.addMetric('JobsSucceeded', 'Count', 1);
    } catch (error) {
      metrics.addMetric('JobsFailed', 'Count', 1);
      const retryable = isRetryable(error);
      logger.warn('job failed', {
        queue,
        type,
        messageId: record.messageId,
        receiveCount,
        retryable,
        finalAttempt,
        error: errorText(error),
      });
      if (!retryable && (await deadLetter(record, errorText(error)))) {
        metrics.addMetric('JobsDeadLettered', 'Count', 1);
        return; // Parked in the DLQ: delete it from the queue.
      }
      const delay = finalAttempt
        ? 0
        : retryDelaySeconds(policy, receiveCount, { retryAfterMs: retryAfterOf(error) });
      await changeVisibility(record, delay).catch((visibilityError: unknown) =>
        logger.warn('could not set the retry delay', {
          messageId: record.messageId,
          error: errorText(visibilityError),
        }),
      );
      throw error;
    } finally {
      metrics.addMetric('JobDuration', 'Milliseconds', performance.now() - started);
    }
  };

  const handler = async (event: SQSEvent, context: Context): Promise<SQSBatchResponse> => {
    const batched = await runBatches(event.Records);
    // One processor per invocation: it keeps the batch's records and failures, and the local
    // poller invokes a worker for several batches at once (Lambda never does).
    const processor = new BatchProcessor(EventType.SQS);
    return processPartialResponse(event, (record: SQSRecord) => processRecord(record, batched), processor, {
      context,
      throwOnFullBatchFailure: false,
    });
  };

  return middy<SQSEvent, SQSBatchResponse>(handler)
    .use(tracingMiddleware())
    .use(injectLambdaContext(logger, { resetKeys: true }))
    .use(metricsMiddleware()) as unknown as QueueConsumer;
};

/** The Lambda handler of a queue's worker: the job types the manifest puts on that queue. */
export const createJobConsumer = (queue: QueueName, handlers: JobHandlers): QueueConsumer => {
  const { jobs: single, batchJobs } = dispatchOf(queue, handlers);
  return createQueueConsumer(queue, single, batchJobs);
};
