import type { Message, SQSClient } from '@aws-sdk/client-sqs';
import { sqsClient, sqsCommands } from '#adapters/aws/clients.ts';
import { jobEnvelope, jobTypes } from '#domain/jobs.ts';
import { type QueueName, queueResourceName, queues } from '#manifest';
import { config } from '#runtime/config.ts';
import type { ExecutionRedrive } from './ports.ts';

/** Operator views of the queues and their DLQs: depth, in flight, age; peek; redrive. */

export interface QueueStats {
  readonly queue: string;
  readonly visible: number;
  readonly inFlight: number;
  readonly delayed: number;
  /** Seconds; null where the platform cannot tell (no CloudWatch datapoint yet). */
  readonly oldestMessageAgeSeconds: number | null;
}

const sqs = async (): Promise<{ client: SQSClient; commands: typeof import('@aws-sdk/client-sqs') }> => ({
  client: await sqsClient(),
  commands: await sqsCommands(),
});

const urlsOf = (queue: QueueName): { url: string; dlqUrl: string } => {
  const url = config().queueUrls[queue];
  const dlqUrl = config().dlqUrls[queue];
  if (!url || !dlqUrl)
    throw new Error(`QUEUE_URL_${queue.toUpperCase()} / DLQ_URL_${queue.toUpperCase()} not set`);
  return { url, dlqUrl };
};

/**
 * Age of a queue's oldest message, without receiving from it (a receive would spend a
 * retry): the stand-in's inspection endpoint locally, CloudWatch's
 * ApproximateAgeOfOldestMessage in AWS.
 */
const oldestAgeSeconds = async (name: string): Promise<number | null> => {
  const inspection = config().sqsInspectionUrl;
  if (inspection) {
    const response = await fetch(`${inspection}/_fauxqs/queues/${encodeURIComponent(name)}`);
    if (!response.ok) return null;
    const state = (await response.json()) as {
      messages: Record<
        'ready' | 'delayed' | 'inflight',
        { attributes?: Record<string, string>; message?: { attributes?: Record<string, string> } }[]
      >;
    };
    const sent = Object.values(state.messages)
      .flat()
      .map((m) => Number((m.message ?? m).attributes?.['SentTimestamp']))
      .filter((t) => Number.isFinite(t));
    return sent.length === 0 ? 0 : Math.round((Date.now() - Math.min(...sent)) / 1000);
  }
  const { CloudWatchClient, GetMetricStatisticsCommand } = await import('@aws-sdk/client-cloudwatch');
  const now = Date.now();
  const result = await new CloudWatchClient({}).send(
    new GetMetricStatisticsCommand({
      Namespace: 'AWS/SQS',
      MetricName: 'ApproximateAgeOfOldestMessage',
      Dimensions: [{ Name: 'QueueName', Value: name }],
      StartTime: new Date(now - 10 * 60_000),
      EndTime: new Date(now),
      Period: 60,
      Statistics: ['Maximum'],
    }),
  );
  const latest = (result.Datapoints ?? []).sort(
    (a, b) => (b.Timestamp?.getTime() ?? 0) - (a.Timestamp?.getTime() ?? 0),
  )[0];
  return latest?.Maximum ?? null;
};

const statsOf = async (name: string, url: string): Promise<QueueStats> => {
  const { client, commands } = await sqs();
  const attributes = await client.send(
    new commands.GetQueueAttributesCommand({
      QueueUrl: url,
      AttributeNames: [
        'ApproximateNumberOfMessages',
        'ApproximateNumberOfMessagesNotVisible',
        'ApproximateNumberOfMessagesDelayed',
      ],
    }),
  );
  const a = attributes.Attributes ?? {};
  return {
    queue: name,
    visible: Number(a['ApproximateNumberOfMessages'] ?? 0),
    inFlight: Number(a['ApproximateNumberOfMessagesNotVisible'] ?? 0),
    delayed: Number(a['ApproximateNumberOfMessagesDelayed'] ?? 0),
    oldestMessageAgeSeconds: await oldestAgeSeconds(name).catch(() => null),
  };
};

export const queueOverview = async (): Promise<{ queue: QueueStats; dlq: QueueStats }[]> => {
  const { stage } = config();
  return Promise.all(
    queues.map(async (q) => {
      const { url, dlqUrl } = urlsOf(q.name);
      const [queue, dlq] = await Promise.all([
        statsOf(queueResourceName(stage, q.name), url),
        statsOf(queueResourceName(stage, q.name, true), dlqUrl),
      ]);
      return { queue, dlq };
    }),
  );
};

export interface DeadLetter {
  readonly messageId: string;
  readonly type: string | null;
  readonly ids: Record<string, string>;
  readonly failure: string | null;
  readonly sentAt: string | null;
  readonly receiveCount: number;
}

const describe = (message: Message): DeadLetter => {
  let type: string | null = null;
  let ids: Record<string, string> = {};
  try {
    const parsed = jobEnvelope.safeParse(JSON.parse(message.Body ?? ''));
    if (parsed.success) {
      type = parsed.data.type;
      ids = parsed.data.ids;
    }
  } catch {
    // Not an envelope: shown as it is, with no type.
  }
  const sent = message.Attributes?.SentTimestamp;
  return {
    messageId: message.MessageId ?? '',
    type,
    ids,
    failure: message.MessageAttributes?.['failure']?.StringValue ?? null,
    sentAt: sent ? new Date(Number(sent)).toISOString() : null,
    receiveCount: Number(message.Attributes?.ApproximateReceiveCount ?? 0),
  };
};

/** Up to `limit` dead letters, left where they are (received with no visibility timeout). */
export const peekDeadLetters = async (queue: QueueName, limit: number): Promise<DeadLetter[]> => {
  const { client, commands } = await sqs();
  const { dlqUrl } = urlsOf(queue);
  const result = await client.send(
    new commands.ReceiveMessageCommand({
      QueueUrl: dlqUrl,
      MaxNumberOfMessages: Math.min(10, limit),
      VisibilityTimeout: 0,
      WaitTimeSeconds: 0,
      MessageSystemAttributeNames: ['All'],
      MessageAttributeNames: ['All'],
    }),
  );
  return (result.Messages ?? []).map(describe);
};

/**
 * Moves dead letters back to their queue, at most `limit`. The executions involved go back
 * to `queued` first (a new version, so a new ETag), then their messages are re-sent and
 * only then deleted from the DLQ: a crash in between duplicates a message, which the
 * idempotent claim absorbs, and never loses one.
 */
export const redriveDeadLetters = async (
  queue: QueueName,
  executions: ExecutionRedrive,
  limit = 1_000,
): Promise<{ moved: number; executionsRequeued: number }> => {
  const { client, commands } = await sqs();
  const { url, dlqUrl } = urlsOf(queue);
  let moved = 0;
  let executionsRequeued = 0;
  while (moved < limit) {
    const batch = await client.send(
      new commands.ReceiveMessageCommand({
        QueueUrl: dlqUrl,
        MaxNumberOfMessages: Math.min(10, limit - moved),
        VisibilityTimeout: 60,
        WaitTimeSeconds: 0,
        MessageAttributeNames: ['All'],
      }),
    );
    const messages = batch.Messages ?? [];
    if (messages.length === 0) break;
    const executionIds = messages
      .map(describe)
      .filter((m) => m.type === jobTypes.executeAgent && m.ids['execution_id'])
      .map((m) => m.ids['execution_id']!);
    executionsRequeued += (await executions.redrive(executionIds)).length;
    await client.send(
      new commands.SendMessageBatchCommand({
        QueueUrl: url,
        Entries: messages.map((m, i) => ({
          Id: `r${i}`,
          MessageBody: m.Body ?? '',
          MessageAttributes: Object.fromEntries(
            Object.entries(m.MessageAttributes ?? {}).filter(([name]) => name !== 'failure'),
          ),
        })),
      }),
    );
    await client.send(
      new commands.DeleteMessageBatchCommand({
        QueueUrl: dlqUrl,
        Entries: messages.map((m, i) => ({ Id: `d${i}`, ReceiptHandle: m.ReceiptHandle ?? '' })),
      }),
    );
    moved += messages.length;
  }
  return { moved, executionsRequeued };
};
