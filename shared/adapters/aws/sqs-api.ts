/**
 * A lean SQS client for the calls on the hot path: SendMessageBatch (every accepted job),
 * SendMessage and ChangeMessageVisibility (retries, dead-lettering), ReceiveMessage and
 * DeleteMessageBatch (the local event source). SQS's JSON protocol over a keep-alive agent,
 * signed by AWS's own SigV4 signer.
 *
 * Why not the SDK client here (`npx tsx load/sqs-client.ts`, 2026-12-07, medians of one run):
 * CPU per accept (one SendMessageBatch) 472 µs against 1265 µs through `@aws-sdk/client-sqs`
 * (911 against 1841 µs traced), per send+receive+delete round 1156 against 2833 µs, fauxqs's
 * own share (the floor) 390 and 882 µs; main chunks 234 against 439 KiB (executions) with the
 * SDK imported statically, init 59 against 94 ms; a cold first accept 85 against 125 ms
 * (108 ms with the SDK behind import()). The SDK's generic middleware, schema serde and
 * endpoint rules cost more than the call. Operator paths (queue attributes, DLQ peek and
 * redrive, queue provisioning) keep the SDK: they are rare and want its breadth. Traced as the
 * SDK is (`tracer` option, shared/runtime/tracing.ts).
 */
import { createHash, createHmac, type Hash, type Hmac } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import type { SignatureV4 } from '@smithy/signature-v4';

export interface SqsCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string;
  readonly expiration?: Date;
}

export interface SqsMessageAttribute {
  readonly DataType: string;
  readonly StringValue?: string;
}

export interface SqsBatchEntry {
  readonly Id: string;
  readonly MessageBody: string;
  readonly DelaySeconds?: number;
  readonly MessageAttributes?: Readonly<Record<string, SqsMessageAttribute>>;
}

export interface SqsBatchFailure {
  readonly Id: string;
  readonly Code: string;
  readonly Message?: string;
  readonly SenderFault?: boolean;
}

export interface SqsBatchResult {
  readonly Successful?: readonly { readonly Id: string }[];
  readonly Failed?: readonly SqsBatchFailure[];
}

/** A received message, as SQS's JSON protocol returns it (the SDK's `Message`). */
export interface SqsMessage {
  readonly MessageId?: string;
  readonly ReceiptHandle?: string;
  readonly MD5OfBody?: string;
  readonly Body?: string;
  readonly Attributes?: Readonly<Record<string, string>>;
  readonly MD5OfMessageAttributes?: string;
  readonly MessageAttributes?: Readonly<
    Record<string, SqsMessageAttribute & { readonly BinaryValue?: string }>
  >;
}

/** An SQS error response (or a transport failure, code `NetworkError`). */
export class SqsError extends Error {
  override name = 'SqsError';
  constructor(
    readonly code: string,
    message: string,
    readonly statusCode: number,
    readonly retryable: boolean,
    /** SQS's x-amzn-requestid, when an answer came. */
    readonly requestId?: string,
  ) {
    super(`SQS ${code}: ${message}`);
  }
}

/** How one call ended, for its trace: the last attempt's answer (or failure). */
export interface SqsCallOutcome {
  readonly attempts: number;
  /** HTTP status of the last answer; absent when none came (network error, timeout). */
  readonly statusCode?: number;
  readonly requestId?: string;
  readonly output?: unknown;
  readonly error?: unknown;
}

/** A traced call: the header to send (SQS carries it on to the messages), ended once. */
export interface SqsCallSpan {
  /** `X-Amzn-Trace-Id` of this call's subsegment. */
  readonly traceHeader?: string;
  end(outcome: SqsCallOutcome): void;
}

/**
 * Opens a span per call (shared/runtime/tracing.ts: a Powertools tracer subsegment, as
 * `captureAWSv3Client` opens for SDK clients); undefined when there is nothing to trace into.
 */
export type SqsCallTracer = (
  operation: string,
  input: Readonly<Record<string, unknown>>,
  region: string,
) => SqsCallSpan | undefined;

export interface SqsApiOptions {
  /** `AWS_ENDPOINT_URL_SQS` / `AWS_ENDPOINT_URL`, else `https://sqs.<region>.amazonaws.com`. */
  readonly endpoint?: string;
  readonly region?: string;
  /** Static credentials (tests, stand-ins); else the environment, else the SDK's default chain. */
  readonly credentials?: SqsCredentials;
  /** Attempts per call for throttling, 5xx and network errors (the SDK's default is 3). */
  readonly maxAttempts?: number;
  /** Per-attempt timeout of calls that do not long-poll. */
  readonly timeoutMs?: number;
  /** Traces each call (not its attempts); none where tracing is off, which then costs nothing. */
  readonly tracer?: SqsCallTracer;
}

interface Answer {
  readonly statusCode: number;
  readonly requestId: string | undefined;
  readonly output: unknown;
}

const throttlingCodes = new Set([
  'RequestThrottled',
  'ThrottlingException',
  'Throttling',
  'TooManyRequestsException',
  'KmsThrottled',
]);

/** What the signer hands its hash: @smithy/types' SourceData. */
type SourceData = string | ArrayBuffer | ArrayBufferView;
const bytesOf = (data: SourceData): string | Uint8Array =>
  typeof data === 'string'
    ? data
    : ArrayBuffer.isView(data)
      ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
      : new Uint8Array(data);

/** node:crypto behind the Checksum interface SignatureV4 takes (a keyed one is an HMAC). */
class NodeSha256 {
  private readonly hash: Hash | Hmac;
  constructor(secret?: SourceData) {
    this.hash = secret === undefined ? createHash('sha256') : createHmac('sha256', bytesOf(secret));
  }
  update(data: SourceData): void {
    this.hash.update(bytesOf(data));
  }
  async digest(): Promise<Uint8Array> {
    return this.hash.digest();
  }
  reset(): void {
    throw new Error('not resettable');
  }
}

const envCredentials = (): SqsCredentials | undefined => {
  const accessKeyId = process.env['AWS_ACCESS_KEY_ID'];
  const secretAccessKey = process.env['AWS_SECRET_ACCESS_KEY'];
  if (!accessKeyId || !secretAccessKey) return undefined;
  const sessionToken = process.env['AWS_SESSION_TOKEN'];
  return { accessKeyId, secretAccessKey, ...(sessionToken && { sessionToken }) };
};

/** Credentials from the chain are refreshed this long before they expire. */
const refreshMarginMs = 5 * 60_000;

export class SqsApi {
  private readonly url: URL;
  private readonly region: string;
  private readonly agent: http.Agent;
  private readonly request: typeof http.request;
  private readonly maxAttempts: number;
  private readonly timeoutMs: number;
  private signer: Promise<SignatureV4> | undefined;
  private credentials: Promise<SqsCredentials> | undefined;
  private readonly fixedCredentials: SqsCredentials | undefined;
  private readonly tracer: SqsCallTracer | undefined;

  constructor(options: SqsApiOptions = {}) {
    this.region =
      options.region ?? process.env['AWS_REGION'] ?? process.env['AWS_DEFAULT_REGION'] ?? 'us-east-1';
    const endpoint =
      options.endpoint ??
      process.env['AWS_ENDPOINT_URL_SQS'] ??
      process.env['AWS_ENDPOINT_URL'] ??
      `https://sqs.${this.region}.amazonaws.com${this.region.startsWith('cn-') ? '.cn' : ''}`;
    this.url = new URL(endpoint);
    const secure = this.url.protocol === 'https:';
    // Keep-alive: a TLS handshake per call would cost more than the call.
    this.agent = secure
      ? new https.Agent({ keepAlive: true, maxSockets: 64 })
      : new http.Agent({ keepAlive: true, maxSockets: 64 });
    this.request = secure ? https.request : http.request;
    this.maxAttempts = options.maxAttempts ?? 3;
    this.timeoutMs = options.timeoutMs ?? 5_000;
    this.fixedCredentials = options.credentials ?? envCredentials();
    this.tracer = options.tracer;
  }

  sendMessageBatch(input: { QueueUrl: string; Entries: readonly SqsBatchEntry[] }): Promise<SqsBatchResult> {
    return this.call('SendMessageBatch', input);
  }

  sendMessage(input: {
    QueueUrl: string;
    MessageBody: string;
    DelaySeconds?: number;
    MessageAttributes?: Readonly<Record<string, SqsMessageAttribute>>;
  }): Promise<{ MessageId?: string }> {
    return this.call('SendMessage', input);
  }

  async changeMessageVisibility(input: {
    QueueUrl: string;
    ReceiptHandle: string;
    VisibilityTimeout: number;
  }): Promise<void> {
    await this.call('ChangeMessageVisibility', input);
  }

  receiveMessage(input: {
    QueueUrl: string;
    MaxNumberOfMessages?: number;
    WaitTimeSeconds?: number;
    VisibilityTimeout?: number;
    MessageSystemAttributeNames?: readonly string[];
    MessageAttributeNames?: readonly string[];
  }): Promise<{ Messages?: SqsMessage[] }> {
    // A long poll holds the request open for WaitTimeSeconds: the timeout starts after it.
    return this.call('ReceiveMessage', input, (input.WaitTimeSeconds ?? 0) * 1000 + this.timeoutMs);
  }

  deleteMessageBatch(input: {
    QueueUrl: string;
    Entries: readonly { Id: string; ReceiptHandle: string }[];
  }): Promise<SqsBatchResult> {
    return this.call('DeleteMessageBatch', input);
  }

  /** Closes idle keep-alive sockets (tests, local shutdown). */
  destroy(): void {
    this.agent.destroy();
  }

  private call<T>(
    operation: string,
    input: Readonly<Record<string, unknown>>,
    timeoutMs = this.timeoutMs,
  ): Promise<T> {
    const span = this.tracer?.(operation, input, this.region);
    return span ? this.traced(operation, input, timeoutMs, span) : this.attempts(operation, input, timeoutMs);
  }

  private async traced<T>(
    operation: string,
    input: Readonly<Record<string, unknown>>,
    timeoutMs: number,
    span: SqsCallSpan,
  ): Promise<T> {
    let attempts = 0;
    let last: Answer | undefined;
    try {
      const output = await this.attempts<T>(operation, input, timeoutMs, span.traceHeader, (n, answer) => {
        attempts = n;
        last = answer;
      });
      span.end({ attempts, statusCode: last?.statusCode, requestId: last?.requestId, output });
      return output;
    } catch (error) {
      const failed = error instanceof SqsError && error.statusCode > 0 ? error : undefined;
      span.end({ attempts, statusCode: failed?.statusCode, requestId: failed?.requestId, error });
      throw error;
    }
  }

  private async attempts<T>(
    operation: string,
    input: unknown,
    timeoutMs: number,
    traceHeader?: string,
    onAttempt?: (attempt: number, answer?: Answer) => void,
  ): Promise<T> {
    const body = JSON.stringify(input);
    for (let attempt = 1; ; attempt += 1) {
      onAttempt?.(attempt);
      try {
        const answer = await this.attempt(operation, body, timeoutMs, traceHeader);
        onAttempt?.(attempt, answer);
        return answer.output as T;
      } catch (error) {
        const retryable = !(error instanceof SqsError) || error.retryable;
        if (!retryable || attempt >= this.maxAttempts) throw error;
        // The SDK's standard strategy: full jitter over 100 ms × 2^attempt.
        await new Promise((resolve) => setTimeout(resolve, Math.random() * 100 * 2 ** attempt));
      }
    }
  }

  private async attempt(
    operation: string,
    body: string,
    timeoutMs: number,
    traceHeader: string | undefined,
  ): Promise<Answer> {
    const signed = await (await this.signerOf()).sign({
      method: 'POST',
      protocol: this.url.protocol,
      hostname: this.url.hostname,
      ...(this.url.port && { port: Number(this.url.port) }),
      path: this.url.pathname,
      query: {},
      headers: {
        host: this.url.host,
        'content-type': 'application/x-amz-json-1.0',
        'x-amz-target': `AmazonSQS.${operation}`,
        'content-length': String(Buffer.byteLength(body)),
      },
      body,
    });
    // Added after signing, so outside SignedHeaders, as the SDK's X-Ray middleware does. Its exact
    // spelling also tells X-Ray's patch of node:http (tracing loads it) that the call is traced.
    if (traceHeader) signed.headers['X-Amzn-Trace-Id'] = traceHeader;
    const { statusCode, requestId, text } = await new Promise<{
      statusCode: number;
      requestId: string | undefined;
      text: string;
    }>((resolve, reject) => {
      const request = this.request(
        {
          agent: this.agent,
          method: 'POST',
          hostname: this.url.hostname,
          port: this.url.port || undefined,
          path: this.url.pathname,
          headers: signed.headers,
          timeout: timeoutMs,
        },
        (response) => {
          const chunks: Buffer[] = [];
          response.on('data', (chunk: Buffer) => chunks.push(chunk));
          response.on('end', () => {
            const id = response.headers['x-amzn-requestid'];
            resolve({
              statusCode: response.statusCode ?? 0,
              requestId: typeof id === 'string' ? id : undefined,
              text: Buffer.concat(chunks).toString('utf8'),
            });
          });
          response.on('error', reject);
        },
      );
      request.on('timeout', () => request.destroy(new Error(`no answer within ${timeoutMs} ms`)));
      request.on('error', (error) =>
        reject(new SqsError('NetworkError', `${operation}: ${error.message}`, 0, true)),
      );
      request.end(body);
    });
    if (statusCode >= 200 && statusCode < 300) {
      return { statusCode, requestId, output: text ? JSON.parse(text) : {} };
    }
    // An error from SQS is JSON; one from a proxy in between may not be: its text is the message.
    let parsed: Record<string, unknown> = {};
    try {
      const value: unknown = JSON.parse(text);
      if (value && typeof value === 'object') parsed = value as Record<string, unknown>;
    } catch {}
    const type = String(parsed['__type'] ?? parsed['code'] ?? `HTTP${statusCode}`);
    const code = type.slice(type.lastIndexOf('#') + 1);
    const message = String(parsed['message'] ?? parsed['Message'] ?? text.slice(0, 200));
    throw new SqsError(
      code,
      message,
      statusCode,
      statusCode >= 500 || statusCode === 429 || throttlingCodes.has(code),
      requestId,
    );
  }

  private signerOf(): Promise<SignatureV4> {
    this.signer ??= import('@smithy/signature-v4').then(
      ({ SignatureV4 }) =>
        new SignatureV4({
          service: 'sqs',
          region: this.region,
          credentials: () => this.credentialsOf(),
          sha256: NodeSha256,
        }),
    );
    return this.signer;
  }

  /** Fixed or environment credentials (Lambda sets them); else the SDK's chain, loaded only then. */
  private async credentialsOf(): Promise<SqsCredentials> {
    if (this.fixedCredentials) return this.fixedCredentials;
    const current = await this.credentials;
    if (current && (!current.expiration || current.expiration.getTime() - Date.now() > refreshMarginMs)) {
      return current;
    }
    this.credentials = import('@aws-sdk/credential-provider-node').then(({ defaultProvider }) =>
      defaultProvider()(),
    );
    this.credentials.catch(() => {
      this.credentials = undefined;
    });
    return this.credentials;
  }
}
