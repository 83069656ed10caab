import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import type { JobEnvelope } from '../domain/jobs.ts';
import { jobEnvelope, NonRetryableError } from '../domain/jobs.ts';
import type { QueueName } from '../manifest.ts';
import { logger, metrics } from '../runtime/observability.ts';

/** Does one job; throwing fails its record (retried by SQS, or DLQ'd after the last attempt). */
export type JobHandler = (job: JobEnvelope, record: SQSRecord) => Promise<void>;

export type QueueConsumer = (event: SQSEvent, context: Context) => Promise<SQSBatchResponse>;

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

/**
 * The Lambda handler of one queue's worker: each record is parsed and dispatched to the
 * handler of its job type; failures are reported per record (partial batch response), so
 * one bad message never makes the good ones run again.
 */
export const createQueueConsumer = (
  queue: QueueName,
  jobs: Readonly<Record<string, JobHandler>>,
): QueueConsumer => {
  const processor = new BatchProcessor(EventType.SQS);

  const processRecord = async (record: SQSRecord): Promise<void> => {
    const job = parseEnvelope(record);
    const handle = jobs[job.type];
    if (!handle) throw new NonRetryableError(`no handler for job type "${job.type}" on the ${queue} queue`);
    const started = performance.now();
    try {
      await handle(job, record);
      metrics.addMetric('JobsSucceeded', 'Count', 1);
    } catch (error) {
      metrics.addMetric('JobsFailed', 'Count', 1);
      logger.warn('job failed', {
        queue,
        type: job.type,
        messageId: record.messageId,
        receiveCount: record.attributes.ApproximateReceiveCount,
        error: error instanceof Error ? error.message : String(error),
      });
      throw error;
    } finally {
      metrics.addMetric('JobDuration', 'Milliseconds', performance.now() - started);
    }
  };

  const handler = async (event: SQSEvent, context: Context): Promise<SQSBatchResponse> =>
    processPartialResponse(event, processRecord, processor, { context });

  return middy<SQSEvent, SQSBatchResponse>(handler)
    .use(injectLambdaContext(logger, { resetKeys: true }))
    .use(logMetrics(metrics)) as unknown as QueueConsumer;
};
