// The lean SQS client's tracing (shared/runtime/tracing.ts `sqsCallTracer`): a subsegment per call,
// as `tracer.captureAWSv3Client` gives an SDK client, and nothing at all where tracing is off.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { SqsApi as SqsApiClass } from '#adapters/aws/sqs-api.ts';

const credentials = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret' };
const queueUrl = 'http://127.0.0.1/000000000000/high';

/** Answers SQS calls as told, and keeps each request's X-Amzn-Trace-Id. */
let answer: { status: number; body: unknown } = { status: 200, body: {} };
const traceHeaders: (string | undefined)[] = [];
const server = http.createServer((request, response) => {
  traceHeaders.push(request.headers['x-amzn-trace-id'] as string | undefined);
  request.resume();
  request.on('end', () => {
    response.writeHead(answer.status, {
      'content-type': 'application/x-amz-json-1.0',
      'x-amzn-requestid': 'req-1',
    });
    response.end(JSON.stringify(answer.body));
  });
});
let endpoint: string;

beforeAll(async () => {
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  vi.unstubAllEnvs();
  await new Promise((done) => server.close(done));
});

/** tracing.ts decides at import, from the environment: a fresh module graph per case. */
const load = async (env: Record<string, string>) => {
  vi.resetModules();
  vi.unstubAllEnvs();
  for (const [name, value] of Object.entries(env)) vi.stubEnv(name, value);
  const [{ SqsApi }, tracing, { Tracer }, xray] = await Promise.all([
    import('#adapters/aws/sqs-api.ts'),
    import('#runtime/tracing.ts'),
    import('@aws-lambda-powertools/tracer'),
    import('aws-xray-sdk-core'),
  ]);
  return { SqsApi, tracing, Tracer, xray: xray.default };
};

/**
 * A traced Lambda module graph: a Powertools tracer, a handler segment, and a lean client
 * (2 attempts) that traces through `sqsCallTracer`.
 */
const traced = async () => {
  const { SqsApi, tracing, Tracer, xray } = await load({
    AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs22.x',
    POWERTOOLS_TRACE_ENABLED: 'true',
    AWS_XRAY_CONTEXT_MISSING: 'IGNORE_ERROR',
  });
  const tracer = new Tracer({ serviceName: 'test' });
  const callTracer = tracing.sqsCallTracer();
  expect(callTracer).toBeTypeOf('function');
  const client: SqsApiClass = new SqsApi({
    endpoint,
    region: 'eu-west-1',
    credentials,
    maxAttempts: 2,
    ...(callTracer && { tracer: callTracer }),
  });
  return { tracer, segment: new xray.Segment('handler'), client };
};

describe('the lean SQS client, traced', () => {
  it('opens an SQS subsegment per call, with what the SDK middleware records, and sends its trace header', async () => {
    const { tracer, segment, client } = await traced();
    // Outside any segment (at init, say) a call goes untraced rather than failing.
    answer = { status: 200, body: { MessageId: 'x' } };
    await client.sendMessage({ QueueUrl: queueUrl, MessageBody: 'hi' });
    expect(traceHeaders.at(-1)).toBeUndefined();

    await tracer.provider.getNamespace().runPromise(async () => {
      tracer.setSegment(segment);
      answer = { status: 200, body: { Successful: [{ Id: 'm0' }, { Id: 'm1' }], Failed: [] } };
      await client.sendMessageBatch({
        QueueUrl: queueUrl,
        Entries: [
          { Id: 'm0', MessageBody: 'a' },
          { Id: 'm1', MessageBody: 'b' },
        ],
      });
      answer = { status: 400, body: { __type: 'com.amazonaws.sqs#QueueDoesNotExist', message: 'gone' } };
      await expect(
        client.changeMessageVisibility({ QueueUrl: queueUrl, ReceiptHandle: 'r', VisibilityTimeout: 5 }),
      ).rejects.toThrow(/QueueDoesNotExist/);
    });
    client.destroy();

    const [sent, changed] = segment.subsegments ?? [];
    expect(segment.subsegments).toHaveLength(2);
    const json = (s: unknown) => JSON.parse(JSON.stringify(s)) as Record<string, unknown>;
    expect(json(sent)).toMatchObject({
      name: 'SQS',
      namespace: 'aws',
      aws: {
        operation: 'SendMessageBatch',
        region: 'eu-west-1',
        queue_url: queueUrl,
        request_id: 'req-1',
        retries: 0,
        message_count: 2,
        successful_count: 2,
        failed_count: 0,
      },
      http: { response: { status: 200 } },
    });
    expect(json(sent)['in_progress']).toBeUndefined();
    expect(json(changed)).toMatchObject({
      name: 'SQS',
      aws: { operation: 'ChangeMessageVisibility', retries: 0 },
      http: { response: { status: 400 } },
      error: true,
    });
    expect(json(changed)['cause']).toBeDefined();
    // The request carried the subsegment's id: SQS hands the trace on to the message's consumer.
    const header = traceHeaders.at(-2)!;
    expect(header).toBe(`Root=${segment.trace_id};Parent=${sent!.id};Sampled=1`);
  });

  it('counts retries and marks throttling and faults', async () => {
    const { tracer, segment, client } = await traced();
    await tracer.provider.getNamespace().runPromise(async () => {
      tracer.setSegment(segment);
      answer = { status: 400, body: { __type: 'RequestThrottled', message: 'slow down' } };
      await expect(client.sendMessage({ QueueUrl: queueUrl, MessageBody: 'x' })).rejects.toThrow(/Throttled/);
      answer = { status: 500, body: { __type: 'InternalError', message: 'oops' } };
      await expect(client.sendMessage({ QueueUrl: queueUrl, MessageBody: 'x' })).rejects.toThrow(/Internal/);
    });
    client.destroy();
    const [throttled, faulted] = (segment.subsegments ?? []).map(
      (s) => JSON.parse(JSON.stringify(s)) as Record<string, unknown>,
    );
    expect(throttled).toMatchObject({ throttle: true, aws: { operation: 'SendMessage', retries: 1 } });
    expect(faulted).toMatchObject({ fault: true, aws: { retries: 1 }, http: { response: { status: 500 } } });
  });

  it('has no tracer where tracing is off, so the client does nothing more per call', async () => {
    const { SqsApi, tracing } = await load({ POWERTOOLS_TRACE_ENABLED: 'false' });
    expect(tracing.sqsCallTracer()).toBeUndefined();
    const marker = {};
    expect(tracing.traceAwsClient(marker)).toBe(marker);
    const client = new SqsApi({ endpoint, region: 'eu-west-1', credentials });
    answer = { status: 200, body: { MessageId: 'y' } };
    await expect(client.sendMessage({ QueueUrl: queueUrl, MessageBody: 'hi' })).resolves.toEqual({
      MessageId: 'y',
    });
    expect(traceHeaders.at(-1)).toBeUndefined();
    client.destroy();
  });
});
