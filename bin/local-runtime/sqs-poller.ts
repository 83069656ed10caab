/**
 * Local stand-in for Lambda's SQS event source mapping: long-polls a queue, gathers batches the way
 * Lambda does (batch size, batching window, max concurrency), invokes the worker handler with a real
 * SQSEvent and Context, and deletes what the handler reports as done (ReportBatchItemFailures).
 *
 * Not emulated: the 6 MB invoke payload limit, poller scaling, and FIFO ordering semantics.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import type { Context, SQSBatchResponse, SQSEvent, SQSMessageAttributes, SQSRecord } from 'aws-lambda';
import type { SqsApi, SqsMessage } from '#adapters/aws/sqs-api.ts';
import type { QueueDef } from '#manifest';

// biome-ignore lint/suspicious/noConfusingVoidType: as aws-lambda's SQSHandler, so `async () => {}` fits.
export type SqsBatchHandler = (event: SQSEvent, context: Context) => Promise<SQSBatchResponse | void>;

export interface SqsEventSourcePollerOptions {
  /** The lean client: receives and deletes are most of the local runtime's SQS traffic. */
  readonly client: Pick<SqsApi, 'receiveMessage' | 'deleteMessageBatch'>;
  readonly queueUrl: string;
  readonly queueArn: string;
  readonly queue: Pick<
    QueueDef,
    'batchSize' | 'batchingWindowSeconds' | 'maxConcurrency' | 'visibilityTimeoutSeconds'
  >;
  readonly handler: SqsBatchHandler;
  readonly functionName: string;
  /** The function's timeout; defaults to the queue's visibility timeout (AWS requires it to be ≥). */
  readonly timeoutSeconds?: number;
  readonly memoryMb?: number;
  /** The mapping's `ReportBatchItemFailures` response type; off means the handler's response is ignored. */
  readonly reportBatchItemFailures?: boolean;
  /**
   * Concurrent receive loops. Lambda's SQS event source starts with five pollers; one loop
   * alone caps a queue at one receive round trip per batch. Default min(5, maxConcurrency).
   */
  readonly pollers?: number;
  /** Long-poll wait per ReceiveMessage: it bounds how long stop() takes to stop receiving. */
  readonly waitTimeSeconds?: number;
  /** SQS call failures, handler errors, timeouts and invalid batch responses. Defaults to console.error. */
  readonly onError?: (err: unknown) => void;
}

/** Rejects an invocation that outlives the function timeout, as Lambda would end it. */
export class InvocationTimeoutError extends Error {
  override readonly name = 'InvocationTimeoutError';
}

/** A batch response Lambda cannot honour, so it fails the whole batch. */
export class InvalidBatchResponseError extends Error {
  override readonly name = 'InvalidBatchResponseError';
}

/** SQS caps ReceiveMessage and DeleteMessageBatch at 10 messages. */
const sqsBatchLimit = 10;
const maxBackoffMs = 5_000;
const deleteAttempts = 3;

export class SqsEventSourcePoller {
  private readonly options: SqsEventSourcePollerOptions;
  private readonly timeoutMs: number;
  private readonly region: string;
  private readonly accountId: string;
  private readonly logStreamName: string;
  private readonly onError: (err: unknown) => void;
  private readonly inFlight = new Set<Promise<void>>();
  /** Wakes sleeps early so stop() does not sit out a backoff or a batching-window pause. */
  private readonly wakers = new Set<() => void>();
  private running = false;
  /** Batches being gathered: they count against maxConcurrency like the ones in flight. */
  private gathering = 0;
  private loop: Promise<void> | undefined;

  private readonly counters = {
    messagesReceived: 0,
    batchesInvoked: 0,
    batchesFailed: 0,
    messagesDeleted: 0,
    messagesFailed: 0,
    maxConcurrentBatches: 0,
  };

  constructor(options: SqsEventSourcePollerOptions) {
    const { queue } = options;
    if (queue.batchSize < 1) throw new Error(`batchSize must be ≥ 1, got ${queue.batchSize}`);
    if (queue.maxConcurrency < 1) throw new Error(`maxConcurrency must be ≥ 1, got ${queue.maxConcurrency}`);
    this.options = options;
    this.timeoutMs = (options.timeoutSeconds ?? queue.visibilityTimeoutSeconds) * 1000;
    // arn:aws:sqs:<region>:<account>:<queue>
    const [, , , region, accountId] = options.queueArn.split(':');
    this.region = region || process.env.AWS_REGION || 'us-east-1';
    this.accountId = accountId || '000000000000';
    const day = new Date().toISOString().slice(0, 10).replaceAll('-', '/');
    this.logStreamName = `${day}/[$LATEST]${randomBytes(16).toString('hex')}`;
    this.onError = options.onError ?? ((err) => console.error(`[sqs-poller ${options.functionName}]`, err));
  }

  get messagesReceived(): number {
    return this.counters.messagesReceived;
  }
  get batchesInvoked(): number {
    return this.counters.batchesInvoked;
  }
  /** Invocations that threw, timed out or returned an invalid batch response: nothing deleted. */
  get batchesFailed(): number {
    return this.counters.batchesFailed;
  }
  get messagesDeleted(): number {
    return this.counters.messagesDeleted;
  }
  /** Messages left on the queue for redelivery (listed in batchItemFailures, or in a failed batch). */
  get messagesFailed(): number {
    return this.counters.messagesFailed;
  }
  get inFlightBatches(): number {
    return this.inFlight.size;
  }
  get maxConcurrentBatches(): number {
    return this.counters.maxConcurrentBatches;
  }
  get isRunning(): boolean {
    return this.running;
  }

  start(): void {
    if (this.running) return;
    if (this.loop) throw new Error('SqsEventSourcePoller: await stop() before starting again');
    this.running = true;
    const pollers = Math.max(1, Math.min(this.options.pollers ?? 5, this.options.queue.maxConcurrency));
    this.loop = Promise.all(Array.from({ length: pollers }, () => this.pollLoop())).then(() => {});
  }

  /** Stops receiving, lets in-flight batches finish (and their deletes land), then resolves. */
  async stop(): Promise<void> {
    this.running = false;
    for (const wake of this.wakers) wake();
    await this.loop;
    this.loop = undefined;
    await Promise.all(this.inFlight);
  }

  private async pollLoop(): Promise<void> {
    let consecutiveErrors = 0;
    while (this.running) {
      if (this.inFlight.size + this.gathering >= this.options.queue.maxConcurrency) {
        // Invocations never reject, so this just waits for a free slot. (With no more loops than
        // maxConcurrency, a full house always has something in flight to wait for.)
        await Promise.race(this.inFlight);
        continue;
      }
      this.gathering += 1;
      const { messages, error } = await this.gatherBatch().finally(() => {
        this.gathering -= 1;
      });
      // Received messages are hidden from everyone else now: invoke even if stopping or a receive failed.
      if (messages.length > 0) this.dispatch(messages);
      if (error === undefined) {
        consecutiveErrors = 0;
        continue;
      }
      this.report(error);
      consecutiveErrors += 1;
      await this.sleep(Math.min(maxBackoffMs, 100 * 2 ** (consecutiveErrors - 1)));
    }
  }

  /**
   * Receives until the batch is full or the batching window (started by the first message) closes.
   * With no window, the first receive that returns anything makes the batch.
   */
  private async gatherBatch(): Promise<{ messages: SqsMessage[]; error?: unknown }> {
    const { batchSize, batchingWindowSeconds } = this.options.queue;
    const maxWaitSeconds = this.options.waitTimeSeconds ?? 1;
    const messages: SqsMessage[] = [];
    let windowClosesAt = Number.POSITIVE_INFINITY;
    while (this.running || messages.length > 0) {
      const windowLeftMs = windowClosesAt - Date.now();
      const windowClosed = windowLeftMs <= 0 || !this.running;
      if (messages.length >= batchSize || (messages.length > 0 && windowClosed)) break;
      // SQS waits in whole seconds; under a second left, poll without waiting and pause briefly instead.
      const waitSeconds =
        messages.length === 0 ? maxWaitSeconds : Math.min(maxWaitSeconds, Math.floor(windowLeftMs / 1000));
      let received: SqsMessage[];
      try {
        received = await this.receive(Math.min(sqsBatchLimit, batchSize - messages.length), waitSeconds);
      } catch (error) {
        return { messages, error };
      }
      if (received.length > 0 && messages.length === 0) {
        windowClosesAt = Date.now() + batchingWindowSeconds * 1000;
      }
      messages.push(...received);
      if (batchingWindowSeconds === 0 && messages.length > 0) break;
      if (received.length === 0 && waitSeconds === 0) await this.sleep(Math.min(100, windowLeftMs));
    }
    return { messages };
  }

  private async receive(maxMessages: number, waitSeconds: number): Promise<SqsMessage[]> {
    // No abort signal on purpose: the server would still hand an aborted long poll's messages to nobody,
    // hiding them for a whole visibility timeout. A short wait keeps stop() prompt instead.
    const { Messages = [] } = await this.options.client.receiveMessage({
      QueueUrl: this.options.queueUrl,
      MaxNumberOfMessages: maxMessages,
      WaitTimeSeconds: waitSeconds,
      MessageSystemAttributeNames: ['All'],
      MessageAttributeNames: ['All'],
    });
    const usable = Messages.filter((message) => message.MessageId && message.ReceiptHandle);
    this.counters.messagesReceived += usable.length;
    return usable;
  }

  private dispatch(messages: SqsMessage[]): void {
    const invocation: Promise<void> = this.invoke(messages).finally(() => this.inFlight.delete(invocation));
    this.inFlight.add(invocation);
    this.counters.maxConcurrentBatches = Math.max(this.counters.maxConcurrentBatches, this.inFlight.size);
  }

  /** One Lambda invocation and its aftermath. Never rejects. */
  private async invoke(messages: SqsMessage[]): Promise<void> {
    const records = messages.map((message) => this.toRecord(message));
    const context = this.createContext();
    this.counters.batchesInvoked += 1;
    const failedIds = await this.runHandler(records, context);
    if (failedIds === 'all') {
      this.counters.batchesFailed += 1;
      this.counters.messagesFailed += records.length;
      return;
    }
    this.counters.messagesFailed += failedIds.size;
    await this.deleteRecords(records.filter((record) => !failedIds.has(record.messageId)));
  }

  /** The ids to leave on the queue, or 'all' when the invocation failed as a whole. */
  private async runHandler(records: SQSRecord[], context: Context): Promise<ReadonlySet<string> | 'all'> {
    try {
      const response = await this.runWithTimeout(() => this.options.handler({ Records: records }, context));
      return this.failedMessageIds(response, records);
    } catch (err) {
      this.report(err);
      return 'all';
    }
  }

  private async runWithTimeout(run: () => Promise<unknown>): Promise<unknown> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const seconds = (this.timeoutMs / 1000).toFixed(2);
        reject(
          new InvocationTimeoutError(`${this.options.functionName}: Task timed out after ${seconds} seconds`),
        );
      }, this.timeoutMs);
    });
    try {
      // Promise.resolve().then also turns a synchronous throw into a failed batch.
      return await Promise.race([Promise.resolve().then(run), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Lambda's ReportBatchItemFailures rules: an empty or absent list is success, a bad entry fails all. */
  private failedMessageIds(response: unknown, records: readonly SQSRecord[]): ReadonlySet<string> | 'all' {
    if (this.options.reportBatchItemFailures === false || typeof response !== 'object' || response === null) {
      return new Set();
    }
    const failures = (response as { batchItemFailures?: unknown }).batchItemFailures;
    if (failures === undefined || failures === null) return new Set();
    if (!Array.isArray(failures)) {
      this.report(
        new InvalidBatchResponseError('batchItemFailures is not an array; failing the whole batch'),
      );
      return 'all';
    }
    const batchIds = new Set(records.map((record) => record.messageId));
    const failedIds = new Set<string>();
    for (const failure of failures) {
      const id = (failure as { itemIdentifier?: unknown } | null)?.itemIdentifier;
      if (typeof id !== 'string' || !batchIds.has(id)) {
        this.report(
          new InvalidBatchResponseError(
            `itemIdentifier ${JSON.stringify(id)} is not a message of this batch; failing the whole batch`,
          ),
        );
        return 'all';
      }
      failedIds.add(id);
    }
    return failedIds;
  }

  private async deleteRecords(records: readonly SQSRecord[]): Promise<void> {
    for (let start = 0; start < records.length; start += sqsBatchLimit) {
      let pending = records.slice(start, start + sqsBatchLimit);
      for (let attempt = 1; pending.length > 0 && attempt <= deleteAttempts; attempt += 1) {
        try {
          const { Successful = [], Failed = [] } = await this.options.client.deleteMessageBatch({
            QueueUrl: this.options.queueUrl,
            Entries: pending.map((record, index) => ({
              Id: `m${index}`,
              ReceiptHandle: record.receiptHandle,
            })),
          });
          this.counters.messagesDeleted += Successful.length;
          // Sender faults (e.g. an expired receipt handle) will not succeed on retry.
          const retryable = new Set(Failed.filter((entry) => !entry.SenderFault).map((entry) => entry.Id));
          for (const entry of Failed) {
            this.report(
              new Error(`DeleteMessageBatch failed for an entry: ${entry.Code} ${entry.Message ?? ''}`),
            );
          }
          pending = pending.filter((_, index) => retryable.has(`m${index}`));
        } catch (err) {
          this.report(err);
        }
        if (pending.length > 0 && attempt < deleteAttempts) await delay(100 * attempt);
      }
    }
  }

  private toRecord(message: SqsMessage): SQSRecord {
    const attributes = message.Attributes ?? {};
    return {
      messageId: message.MessageId!,
      receiptHandle: message.ReceiptHandle!,
      body: message.Body ?? '',
      attributes: {
        ...attributes,
        ApproximateReceiveCount: attributes.ApproximateReceiveCount ?? '1',
        SentTimestamp: attributes.SentTimestamp ?? '',
        SenderId: attributes.SenderId ?? '',
        ApproximateFirstReceiveTimestamp: attributes.ApproximateFirstReceiveTimestamp ?? '',
      },
      messageAttributes: toLambdaMessageAttributes(message.MessageAttributes),
      md5OfBody: message.MD5OfBody ?? '',
      ...(message.MD5OfMessageAttributes ? { md5OfMessageAttributes: message.MD5OfMessageAttributes } : {}),
      eventSource: 'aws:sqs',
      eventSourceARN: this.options.queueArn,
      awsRegion: this.region,
    };
  }

  private createContext(): Context {
    const { functionName } = this.options;
    const deadline = Date.now() + this.timeoutMs;
    // The callback-era methods are deprecated and unused by async handlers.
    const noop = () => {};
    return {
      callbackWaitsForEmptyEventLoop: true,
      functionName,
      functionVersion: '$LATEST',
      invokedFunctionArn: `arn:aws:lambda:${this.region}:${this.accountId}:function:${functionName}`,
      memoryLimitInMB: String(this.options.memoryMb ?? 128),
      awsRequestId: randomUUID(),
      logGroupName: `/aws/lambda/${functionName}`,
      logStreamName: this.logStreamName,
      getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
      done: noop,
      fail: noop,
      succeed: noop,
    };
  }

  private report(err: unknown): void {
    try {
      this.onError(err);
    } catch {
      // A throwing error hook must not take the poller down.
    }
  }

  private sleep(ms: number): Promise<void> {
    if (!this.running || ms <= 0) return Promise.resolve();
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.wakers.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.wakers.add(wake);
    });
  }
}

/**
 * SQS's JSON shape (PascalCase; binary already base64 on the wire) to Lambda's event shape
 * (camelCase, binary as base64).
 */
function toLambdaMessageAttributes(attributes: SqsMessage['MessageAttributes']): SQSMessageAttributes {
  const converted: SQSMessageAttributes = {};
  for (const [name, value] of Object.entries(attributes ?? {})) {
    converted[name] = {
      ...(value.StringValue !== undefined ? { stringValue: value.StringValue } : {}),
      ...(value.BinaryValue !== undefined ? { binaryValue: value.BinaryValue } : {}),
      stringListValues: [],
      binaryListValues: [],
      dataType: value.DataType ?? 'String',
    };
  }
  return converted;
}
