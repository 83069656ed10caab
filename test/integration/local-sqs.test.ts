// The local queue stack against real in-process servers: fauxqs for SQS, dynalite for DynamoDB.
// Test queues use 1 s visibility timeouts so redelivery and dead-lettering happen within the test, and
// each poller test has its own queue, so they run concurrently (each waits on real seconds of SQS time).
import { setTimeout as sleep } from 'node:timers/promises';
import {
  ConditionalCheckFailedException,
  DescribeTableCommand,
  DescribeTimeToLiveCommand,
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
} from '@aws-sdk/client-dynamodb';
import {
  GetQueueAttributesCommand,
  type MessageAttributeValue,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import type { Context, SQSEvent, SQSRecord } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SqsApi, SqsError } from '#adapters/aws/sqs-api.ts';
import { idempotencyTableName, maxReceiveCount, type QueueDef, queueResourceName, queues } from '#manifest';
import { ensureIdempotencyTable, startLocalDynamo } from '../../bin/local-runtime/dynamodb.ts';
import {
  ensureQueues,
  type LocalServer,
  type ProvisionedQueue,
  startLocalSqs,
} from '../../bin/local-runtime/sqs.ts';
import {
  InvalidBatchResponseError,
  InvocationTimeoutError,
  type SqsBatchHandler,
  SqsEventSourcePoller,
  type SqsEventSourcePollerOptions,
} from '../../bin/local-runtime/sqs-poller.ts';
import { queueDepth } from '../support/sqs.ts';

const credentials = { accessKeyId: 'local', secretAccessKey: 'local' };
const region = 'us-east-1';

/** Fast to redeliver (1 s) and to dead-letter (2 receives). */
const testQueueDef: QueueDef = {
  name: 'high',
  priority: 'high',
  consumer: 'workerHigh',
  batchSize: 10,
  batchingWindowSeconds: 0,
  maxConcurrency: 2,
  visibilityTimeoutSeconds: 1,
  retentionSeconds: 3600,
  retry: { retries: 1, baseDelaySeconds: 1, maxDelaySeconds: 1 },
};

let sqsServer: LocalServer;
let dynamoServer: LocalServer;
let sqs: SQSClient;
/** The lean client the pollers (and the job queue) use. */
let lean: SqsApi;
let dynamo: DynamoDBClient;
const pollers: SqsEventSourcePoller[] = [];
let stageCounter = 0;

beforeAll(async () => {
  [sqsServer, dynamoServer] = await Promise.all([startLocalSqs({ port: 0 }), startLocalDynamo({ port: 0 })]);
  sqs = new SQSClient({ endpoint: sqsServer.endpoint, region, credentials });
  lean = new SqsApi({ endpoint: sqsServer.endpoint, region, credentials });
  dynamo = new DynamoDBClient({ endpoint: dynamoServer.endpoint, region, credentials });
});

afterAll(async () => {
  // Pollers a test did not stop itself; stopping one waits out its current long poll, so do it once here.
  await Promise.all(pollers.map((poller) => poller.stop()));
  sqs?.destroy();
  lean?.destroy();
  dynamo?.destroy();
  await Promise.all([sqsServer?.stop(), dynamoServer?.stop()]);
});

/** A fresh queue + DLQ per test (unique stage), so tests never see each other's messages. */
async function provisionQueue(
  overrides: Partial<QueueDef> = {},
): Promise<{ def: QueueDef; q: ProvisionedQueue }> {
  stageCounter += 1;
  const def = { ...testQueueDef, ...overrides };
  const provisioned = await ensureQueues(sqs, `t${stageCounter}`, [def]);
  return { def, q: provisioned.high };
}

function startPoller(
  def: QueueDef,
  q: ProvisionedQueue,
  handler: SqsBatchHandler,
  extra: Partial<SqsEventSourcePollerOptions> = {},
): SqsEventSourcePoller {
  const poller = new SqsEventSourcePoller({
    client: lean,
    queueUrl: q.url,
    queueArn: q.arn,
    queue: def,
    handler,
    functionName: 'workerTest',
    onError: () => {},
    ...extra,
  });
  pollers.push(poller);
  poller.start();
  return poller;
}

/**
 * A poller (with `extra`) whose handler records the receive count of every record it gets, then
 * answers as `handle` does; `errors` holds what the poller reported through onError.
 */
function recordingPoller(
  def: QueueDef,
  q: ProvisionedQueue,
  handle: SqsBatchHandler,
  extra: Partial<SqsEventSourcePollerOptions> = {},
) {
  const receiveCounts: string[] = [];
  const errors: unknown[] = [];
  const poller = startPoller(
    def,
    q,
    async (event, context) => {
      receiveCounts.push(...event.Records.map((record) => record.attributes.ApproximateReceiveCount));
      return handle(event, context);
    },
    { onError: (err) => errors.push(err), ...extra },
  );
  return { poller, receiveCounts, errors };
}

async function sendBodies(queueUrl: string, bodies: readonly string[]): Promise<void> {
  for (let start = 0; start < bodies.length; start += 10) {
    const entries = bodies
      .slice(start, start + 10)
      .map((body, i) => ({ Id: `e${start + i}`, MessageBody: body }));
    const { Failed = [] } = await sqs.send(
      new SendMessageBatchCommand({ QueueUrl: queueUrl, Entries: entries }),
    );
    expect(Failed).toEqual([]);
  }
}

/** `count` message bodies: `${prefix}0`, `${prefix}1`, … */
const numbered = (prefix: string, count: number): string[] =>
  Array.from({ length: count }, (_, i) => `${prefix}${i}`);

/** Queue settings that redeliver a failed message `retries` times, a second apart. */
const retried = (retries: number): Partial<QueueDef> => ({
  retry: { retries, baseDelaySeconds: 1, maxDelaySeconds: 1 },
});

/**
 * `count` messages on a fresh queue of one message a batch and `maxConcurrency`, and a poller
 * (with `extra`) whose batches take 150 ms each: `counts` has the most batches that ran at once.
 */
const slowBatches = async (
  maxConcurrency: number,
  count: number,
  extra: Partial<SqsEventSourcePollerOptions> = {},
) => {
  const { def, q } = await provisionQueue({ batchSize: 1, maxConcurrency, visibilityTimeoutSeconds: 30 });
  await sendBodies(q.url, numbered('m', count));
  const counts = { running: 0, maxRunning: 0, done: 0 };
  const poller = startPoller(
    def,
    q,
    async () => {
      counts.running += 1;
      counts.maxRunning = Math.max(counts.maxRunning, counts.running);
      await sleep(150);
      counts.running -= 1;
      counts.done += 1;
    },
    extra,
  );
  return { poller, counts };
};

async function waitFor(condition: () => boolean, timeoutMs = 8_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await sleep(20);
  }
}

describe('ensureQueues', () => {
  it('creates every manifest queue after its DLQ, with the redrive policy, and is re-runnable', async () => {
    const provisioned = await ensureQueues(sqs, 'itest');
    expect(Object.keys(provisioned).sort()).toEqual(queues.map((def) => def.name).sort());

    for (const def of queues) {
      const q = provisioned[def.name];
      expect(q.arn).toBe(`arn:aws:sqs:${region}:000000000000:${queueResourceName('itest', def.name)}`);
      expect(q.dlqArn).toBe(
        `arn:aws:sqs:${region}:000000000000:${queueResourceName('itest', def.name, true)}`,
      );
      expect(q.url.endsWith(`/${queueResourceName('itest', def.name)}`)).toBe(true);

      const { Attributes: main = {} } = await sqs.send(
        new GetQueueAttributesCommand({ QueueUrl: q.url, AttributeNames: ['All'] }),
      );
      const redrive = JSON.parse(main.RedrivePolicy ?? '{}') as {
        deadLetterTargetArn: string;
        maxReceiveCount: unknown;
      };
      expect(redrive.deadLetterTargetArn).toBe(q.dlqArn);
      expect(Number(redrive.maxReceiveCount)).toBe(maxReceiveCount(def));
      expect(main.VisibilityTimeout).toBe(String(def.visibilityTimeoutSeconds));
      expect(main.MessageRetentionPeriod).toBe(String(def.retentionSeconds));

      const { Attributes: dlq = {} } = await sqs.send(
        new GetQueueAttributesCommand({ QueueUrl: q.dlqUrl, AttributeNames: ['All'] }),
      );
      expect(dlq.MessageRetentionPeriod).toBe(String(14 * 24 * 3600));
      expect(dlq.RedrivePolicy).toBeUndefined();
    }

    // Same manifest again: same queues. Changed manifest: updated in place instead of QueueNameExists.
    expect(await ensureQueues(sqs, 'itest')).toEqual(provisioned);
    const [high] = queues;
    const changed = await ensureQueues(sqs, 'itest', [{ ...high, visibilityTimeoutSeconds: 45 }]);
    expect(changed.high).toEqual(provisioned.high);
    const { Attributes = {} } = await sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: changed.high.url, AttributeNames: ['VisibilityTimeout'] }),
    );
    expect(Attributes.VisibilityTimeout).toBe('45');
  });
});

describe.concurrent('SqsEventSourcePoller', () => {
  it('invokes the handler with a Lambda-shaped SQSEvent and Context', async ({ expect }) => {
    const { def, q } = await provisionQueue({ visibilityTimeoutSeconds: 30 });
    const binary = new Uint8Array([0, 1, 2, 250]);
    const attributes: Record<string, MessageAttributeValue> = {
      tenant: { DataType: 'String', StringValue: 'acme' },
      attempt: { DataType: 'Number', StringValue: '3' },
      blob: { DataType: 'Binary', BinaryValue: binary },
    };
    const sent = await sqs.send(
      new SendMessageCommand({ QueueUrl: q.url, MessageBody: '{"job":1}', MessageAttributes: attributes }),
    );
    const invocations: { event: SQSEvent; context: Context; remainingMs: number }[] = [];
    const poller = startPoller(def, q, async (event, context) => {
      invocations.push({ event, context, remainingMs: context.getRemainingTimeInMillis() });
    });
    await waitFor(() => poller.messagesDeleted === 1);

    expect(invocations).toHaveLength(1);
    const { event, context, remainingMs } = invocations[0]!;
    expect(event.Records).toHaveLength(1);
    const record = event.Records[0]!;
    expect(record).toMatchObject({
      messageId: sent.MessageId,
      body: '{"job":1}',
      md5OfBody: sent.MD5OfMessageBody,
      md5OfMessageAttributes: sent.MD5OfMessageAttributes,
      eventSource: 'aws:sqs',
      eventSourceARN: q.arn,
      awsRegion: region,
    } satisfies Partial<SQSRecord>);
    expect(record.receiptHandle).toEqual(expect.any(String));
    expect(record.attributes.ApproximateReceiveCount).toBe('1');
    expect(Number(record.attributes.SentTimestamp)).toBeGreaterThan(Date.now() - 60_000);
    expect(Number(record.attributes.ApproximateFirstReceiveTimestamp)).toBeGreaterThanOrEqual(
      Number(record.attributes.SentTimestamp),
    );
    expect(record.attributes.SenderId).toEqual(expect.any(String));
    expect(record.messageAttributes).toEqual({
      tenant: { stringValue: 'acme', stringListValues: [], binaryListValues: [], dataType: 'String' },
      attempt: { stringValue: '3', stringListValues: [], binaryListValues: [], dataType: 'Number' },
      blob: {
        binaryValue: Buffer.from(binary).toString('base64'),
        stringListValues: [],
        binaryListValues: [],
        dataType: 'Binary',
      },
    });

    expect(context.functionName).toBe('workerTest');
    expect(context.invokedFunctionArn).toBe(`arn:aws:lambda:${region}:000000000000:function:workerTest`);
    expect(context.awsRequestId).toMatch(
      /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
    );
    expect(context.logGroupName).toBe('/aws/lambda/workerTest');
    // Defaults to the visibility timeout (30 s) when no function timeout is given.
    expect(remainingMs).toBeGreaterThan(25_000);
    expect(remainingMs).toBeLessThanOrEqual(30_000);
    expect(await queueDepth(sqs, q.url)).toBe(0);
  });

  it('never delivers more than batchSize, gathering several receives into one batch', async ({ expect }) => {
    const { def, q } = await provisionQueue({
      batchSize: 15,
      batchingWindowSeconds: 1,
      visibilityTimeoutSeconds: 30,
    });
    await sendBodies(q.url, numbered('m', 25));
    const batchSizes: number[] = [];
    const poller = startPoller(def, q, async (event) => {
      batchSizes.push(event.Records.length);
    });
    await waitFor(() => poller.messagesDeleted === 25);

    expect(batchSizes.every((size) => size <= 15)).toBe(true);
    // SQS returns at most 10 per receive, so a batch of 15 proves receives were gathered.
    expect(Math.max(...batchSizes)).toBe(15);
    expect(batchSizes.reduce((sum, size) => sum + size, 0)).toBe(25);
    expect(await queueDepth(sqs, q.url)).toBe(0);
  });

  it('holds a batch open for the batching window, and invokes at once without one', async ({ expect }) => {
    const windowed = await provisionQueue({ batchingWindowSeconds: 1, visibilityTimeoutSeconds: 30 });
    const immediate = await provisionQueue({ batchingWindowSeconds: 0, visibilityTimeoutSeconds: 30 });
    const windowedBatches: { size: number; at: number }[] = [];
    const immediateBatches: number[] = [];
    // One receive loop each: a batching window belongs to a poller, and with several pollers
    // (as in Lambda) a message arriving during one poller's window may start another's batch.
    startPoller(
      windowed.def,
      windowed.q,
      async (event) => {
        windowedBatches.push({ size: event.Records.length, at: Date.now() });
      },
      { pollers: 1 },
    );
    startPoller(
      immediate.def,
      immediate.q,
      async (event) => {
        immediateBatches.push(event.Records.length);
      },
      { pollers: 1 },
    );

    const firstSentAt = Date.now();
    for (const body of ['a', 'b', 'c']) {
      await Promise.all([sendBodies(windowed.q.url, [body]), sendBodies(immediate.q.url, [body])]);
      await sleep(250);
    }
    await waitFor(() => windowedBatches.length > 0 && immediateBatches.reduce((a, b) => a + b, 0) === 3);

    expect(windowedBatches).toHaveLength(1);
    expect(windowedBatches[0]!.size).toBe(3);
    // The window opens with the first message, so the batch cannot be invoked before it closes.
    expect(windowedBatches[0]!.at - firstSentAt).toBeGreaterThanOrEqual(900);
    expect(immediateBatches).toEqual([1, 1, 1]);
  });

  it('receives with several pollers at once, still within maxConcurrency', async ({ expect }) => {
    const { poller, counts } = await slowBatches(4, 16, { pollers: 4 });
    await waitFor(() => counts.done === 16);
    await poller.stop();
    // Four loops gather at once, yet batches being gathered count against the limit.
    expect(counts.maxRunning).toBe(4);
    expect(poller.maxConcurrentBatches).toBeLessThanOrEqual(4);
  });

  it('never runs more than maxConcurrency batches at once', async ({ expect }) => {
    const { poller, counts } = await slowBatches(3, 12);
    await waitFor(() => poller.messagesDeleted === 12);

    expect(counts.maxRunning).toBe(3);
    expect(poller.maxConcurrentBatches).toBe(3);
    expect(poller.batchesInvoked).toBe(12);
  });

  it('deletes the records not listed in batchItemFailures and redelivers the listed ones', async ({
    expect,
  }) => {
    const { def, q } = await provisionQueue(retried(3));
    await sendBodies(q.url, ['ok-1', 'fail-2', 'ok-3', 'fail-4']);
    const deliveries: { body: string; receiveCount: string }[] = [];
    const poller = startPoller(def, q, async (event) => {
      const failures = [];
      for (const record of event.Records) {
        deliveries.push({ body: record.body, receiveCount: record.attributes.ApproximateReceiveCount });
        if (record.body.startsWith('fail') && record.attributes.ApproximateReceiveCount === '1') {
          failures.push({ itemIdentifier: record.messageId });
        }
      }
      return { batchItemFailures: failures };
    });
    await waitFor(() => poller.messagesDeleted === 4);

    const countsFor = (body: string) =>
      deliveries.filter((delivery) => delivery.body === body).map((delivery) => delivery.receiveCount);
    expect(countsFor('ok-1')).toEqual(['1']);
    expect(countsFor('ok-3')).toEqual(['1']);
    expect(countsFor('fail-2')).toEqual(['1', '2']);
    expect(countsFor('fail-4')).toEqual(['1', '2']);
    expect(poller.messagesFailed).toBe(2);
    expect(poller.batchesFailed).toBe(0);
    expect(await queueDepth(sqs, q.url)).toBe(0);
  });

  it('fails the whole batch when an itemIdentifier matches no record', async ({ expect }) => {
    const { def, q } = await provisionQueue(retried(3));
    await sendBodies(q.url, ['x', 'y']);
    const { poller, receiveCounts, errors } = recordingPoller(def, q, async (event) => {
      const firstAttempt = event.Records.some((record) => record.attributes.ApproximateReceiveCount === '1');
      return { batchItemFailures: firstAttempt ? [{ itemIdentifier: 'not-in-this-batch' }] : [] };
    });
    await waitFor(() => poller.messagesDeleted === 2);

    expect(receiveCounts.sort()).toEqual(['1', '1', '2', '2']);
    expect(poller.batchesFailed).toBeGreaterThanOrEqual(1);
    expect(errors.some((err) => err instanceof InvalidBatchResponseError)).toBe(true);
    expect(await queueDepth(sqs, q.url)).toBe(0);
  });

  it('moves a message that always fails to the DLQ after exactly maxReceiveCount receives', async ({
    expect,
  }) => {
    const { def, q } = await provisionQueue(retried(1));
    expect(maxReceiveCount(def)).toBe(2);
    await sendBodies(q.url, ['poison']);
    const { poller, receiveCounts, errors } = recordingPoller(def, q, async () => {
      throw new Error('always fails');
    });

    let deadLetters: string[] = [];
    const deadline = Date.now() + 8_000;
    while (deadLetters.length === 0 && Date.now() < deadline) {
      const { Messages = [] } = await sqs.send(
        new ReceiveMessageCommand({ QueueUrl: q.dlqUrl, WaitTimeSeconds: 1, VisibilityTimeout: 30 }),
      );
      deadLetters = Messages.map((message) => message.Body ?? '');
    }

    expect(deadLetters).toEqual(['poison']);
    expect(receiveCounts).toEqual(['1', '2']);
    expect(poller.batchesFailed).toBe(2);
    expect(poller.messagesDeleted).toBe(0);
    expect(errors.map((err) => (err as Error).message)).toEqual(['always fails', 'always fails']);
    expect(await queueDepth(sqs, q.url)).toBe(0);
  });

  it('fails a batch whose invocation outlives the function timeout', async ({ expect }) => {
    const { def, q } = await provisionQueue(retried(3));
    await sendBodies(q.url, ['slow-once']);
    const { poller, receiveCounts, errors } = recordingPoller(
      def,
      q,
      async (event) => {
        if (event.Records[0]!.attributes.ApproximateReceiveCount === '1') await sleep(500);
      },
      { timeoutSeconds: 0.2 },
    );
    await waitFor(() => poller.messagesDeleted === 1);

    expect(receiveCounts).toEqual(['1', '2']);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBeInstanceOf(InvocationTimeoutError);
    expect(poller.batchesFailed).toBe(1);
  });

  it('stop() lets an in-flight batch finish and delete before resolving, then receives nothing', async ({
    expect,
  }) => {
    const { def, q } = await provisionQueue({ visibilityTimeoutSeconds: 10 });
    let started = false;
    let finished = false;
    const poller = startPoller(def, q, async () => {
      started = true;
      await sleep(500);
      finished = true;
    });
    await sendBodies(q.url, ['in-flight']);
    await waitFor(() => started);

    await poller.stop();
    expect(finished).toBe(true);
    expect(poller.inFlightBatches).toBe(0);
    expect(poller.messagesDeleted).toBe(1);
    expect(await queueDepth(sqs, q.url)).toBe(0);

    await sendBodies(q.url, ['after-stop']);
    await sleep(300);
    expect(poller.batchesInvoked).toBe(1);
    expect(await queueDepth(sqs, q.url)).toBe(1);
  });

  it('stops an idle poller within about one long-poll wait', async ({ expect }) => {
    const { def, q } = await provisionQueue();
    const poller = startPoller(def, q, async () => {});
    await sleep(100);
    const stoppingAt = Date.now();
    await poller.stop();
    expect(Date.now() - stoppingAt).toBeLessThan(1_500);
    expect(poller.isRunning).toBe(false);
  });

  it('reports SQS errors through onError and keeps retrying instead of crashing', async ({ expect }) => {
    const { def, q } = await provisionQueue();
    const errors: unknown[] = [];
    const missingUrl = q.url.replace(/[^/]+$/, 'no-such-queue');
    const poller = startPoller(def, { ...q, url: missingUrl }, async () => {}, {
      onError: (err) => errors.push(err),
    });
    await waitFor(() => errors.length >= 3);

    expect(poller.isRunning).toBe(true);
    expect(errors[0]).toBeInstanceOf(SqsError);
    expect((errors[0] as SqsError).code).toMatch(/QueueDoesNotExist|NonExistentQueue/);
    expect((errors[0] as SqsError).retryable).toBe(false);
    expect(poller.batchesInvoked).toBe(0);
  });
});

describe('ensureIdempotencyTable', () => {
  it('creates the Powertools idempotency table, re-runnably, and it serves conditional writes', async () => {
    const tableName = idempotencyTableName('itest');
    const first = await ensureIdempotencyTable(dynamo, tableName);
    const second = await ensureIdempotencyTable(dynamo, tableName);
    expect(second).toEqual(first);

    const { Table } = await dynamo.send(new DescribeTableCommand({ TableName: tableName }));
    expect(Table?.TableStatus).toBe('ACTIVE');
    expect(Table?.KeySchema).toEqual([{ AttributeName: 'id', KeyType: 'HASH' }]);
    expect(Table?.AttributeDefinitions).toEqual([{ AttributeName: 'id', AttributeType: 'S' }]);
    expect(Table?.BillingModeSummary?.BillingMode).toBe('PAY_PER_REQUEST');
    const { TimeToLiveDescription } = await dynamo.send(
      new DescribeTimeToLiveCommand({ TableName: tableName }),
    );
    // dynalite cannot enable TTL; wherever it is reported enabled, it must be on `expiration`.
    if (first.ttlEnabled) expect(TimeToLiveDescription?.AttributeName).toBe('expiration');
    else expect(TimeToLiveDescription?.TimeToLiveStatus).toBe('DISABLED');

    // The write Powertools makes when an idempotent invocation starts.
    const expiration = String(Math.floor(Date.now() / 1000) + 3600);
    const item = { id: { S: 'workerTest#abc' }, expiration: { N: expiration }, status: { S: 'INPROGRESS' } };
    const startWrite = () =>
      dynamo.send(
        new PutItemCommand({
          TableName: tableName,
          Item: item,
          ConditionExpression: 'attribute_not_exists(#id) OR #expiry < :now',
          ExpressionAttributeNames: { '#id': 'id', '#expiry': 'expiration' },
          ExpressionAttributeValues: { ':now': { N: String(Math.floor(Date.now() / 1000)) } },
        }),
      );
    await startWrite();
    const { Item } = await dynamo.send(
      new GetItemCommand({
        TableName: tableName,
        Key: { id: { S: 'workerTest#abc' } },
        ConsistentRead: true,
      }),
    );
    expect(Item).toEqual(item);
    await expect(startWrite()).rejects.toBeInstanceOf(ConditionalCheckFailedException);
  });
});
