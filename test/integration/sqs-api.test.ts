// The lean SQS client against fauxqs (the SQS JSON protocol), and against small HTTP servers
// for what fauxqs does not do: check signatures, fail, throttle, hang.
import { createHash, createHmac } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import type http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { SqsApi, type SqsApiOptions, SqsError } from '#adapters/aws/sqs-api.ts';
import { type QueueDef, queues } from '#manifest';
import { ensureQueues, type LocalServer, startLocalSqs } from '../../bin/local-runtime/sqs.ts';
import { failureOf } from '../support/llm.ts';
import { queueDepth } from '../support/sqs.ts';
import { replyJson, type StubAnswer, type StubRequest, startStubServer } from '../support/stub-server.ts';

const credentials = {
  accessKeyId: 'AKIDEXAMPLE',
  secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY',
};
const region = 'eu-west-1';

/** The manifest's high queue, with a visibility timeout no test here waits out. */
const queueDef: QueueDef = { ...queues.find((q) => q.name === 'high')!, visibilityTimeoutSeconds: 30 };

let fauxqs: LocalServer;
let sdk: SQSClient;
let client: SqsApi;
let stage = 0;

beforeAll(async () => {
  fauxqs = await startLocalSqs({ port: 0 });
  sdk = new SQSClient({ endpoint: fauxqs.endpoint, region, credentials });
  client = new SqsApi({ endpoint: fauxqs.endpoint, region, credentials });
});

afterAll(async () => {
  client?.destroy();
  sdk?.destroy();
  await fauxqs?.stop();
});

const newQueue = async () => {
  stage += 1;
  return (await ensureQueues(sdk, `api${stage}`, [queueDef])).high;
};

describe('SqsApi against fauxqs', () => {
  it('sends a batch, receives it with its attributes, and deletes it', async () => {
    const { url } = await newQueue();
    const sent = await client.sendMessageBatch({
      QueueUrl: url,
      Entries: ['a', 'b', 'c'].map((body, i) => ({
        Id: `m${i}`,
        MessageBody: JSON.stringify({ body }),
        MessageAttributes: { type: { DataType: 'String', StringValue: `job.${body}` } },
      })),
    });
    expect(sent.Failed ?? []).toEqual([]);
    expect(sent.Successful?.map((s) => s.Id).sort()).toEqual(['m0', 'm1', 'm2']);

    const { Messages = [] } = await client.receiveMessage({
      QueueUrl: url,
      MaxNumberOfMessages: 10,
      WaitTimeSeconds: 1,
      MessageSystemAttributeNames: ['All'],
      MessageAttributeNames: ['All'],
    });
    expect(Messages.map((m) => JSON.parse(m.Body!).body).sort()).toEqual(['a', 'b', 'c']);
    for (const message of Messages) {
      expect(message.MessageAttributes?.['type']?.StringValue).toBe(`job.${JSON.parse(message.Body!).body}`);
      expect(message.Attributes?.['ApproximateReceiveCount']).toBe('1');
      expect(message.MD5OfBody).toBe(createHash('md5').update(message.Body!).digest('hex'));
    }

    const deleted = await client.deleteMessageBatch({
      QueueUrl: url,
      Entries: Messages.map((m, i) => ({ Id: `d${i}`, ReceiptHandle: m.ReceiptHandle! })),
    });
    expect(deleted.Successful).toHaveLength(3);
    expect(await queueDepth(sdk, url)).toBe(0);
  });

  it('changes a message visibility (redelivered at once, counted) and sends single messages', async () => {
    const { url } = await newQueue();
    await client.sendMessage({ QueueUrl: url, MessageBody: 'once' });
    const first = await client.receiveMessage({
      QueueUrl: url,
      WaitTimeSeconds: 1,
      MessageSystemAttributeNames: ['All'],
    });
    const message = first.Messages![0]!;
    await client.changeMessageVisibility({
      QueueUrl: url,
      ReceiptHandle: message.ReceiptHandle!,
      VisibilityTimeout: 0,
    });
    const again = await client.receiveMessage({
      QueueUrl: url,
      WaitTimeSeconds: 1,
      MessageSystemAttributeNames: ['All'],
    });
    expect(again.Messages?.[0]?.Body).toBe('once');
    expect(again.Messages?.[0]?.Attributes?.['ApproximateReceiveCount']).toBe('2');
  });

  it('reports an SQS error by its code, not retryable, at once', async () => {
    const { url } = await newQueue();
    const missing = url.replace(/[^/]+$/, 'no-such-queue');
    const error = await failureOf(client.sendMessage({ QueueUrl: missing, MessageBody: 'x' }));
    expect(error).toBeInstanceOf(SqsError);
    expect((error as SqsError).code).toMatch(/QueueDoesNotExist|NonExistentQueue/);
    expect((error as SqsError).statusCode).toBe(400);
    expect((error as SqsError).retryable).toBe(false);
  });
});

/** The SQS JSON protocol's answer. */
const json = (res: http.ServerResponse, status: number, body: unknown) =>
  replyJson(res, status, body, { 'content-type': 'application/x-amz-json-1.0' });

/** SigV4 computed independently of the client's signer (AWS's published algorithm). */
const expectedAuthorization = (request: StubRequest, secret: string): string => {
  const auth = String(request.headers['authorization']);
  const credential = /Credential=([^,]+)/.exec(auth)![1]!;
  const signedHeaders = /SignedHeaders=([^,]+)/.exec(auth)![1]!;
  const [accessKey, date, signRegion, service] = credential.split('/');
  const amzDate = String(request.headers['x-amz-date']);
  const sha256 = (data: string) => createHash('sha256').update(data).digest('hex');
  const canonicalHeaders = signedHeaders
    .split(';')
    .map((name) => `${name}:${String(request.headers[name]).trim()}\n`)
    .join('');
  const canonicalRequest = ['POST', '/', '', canonicalHeaders, signedHeaders, sha256(request.body)].join(
    '\n',
  );
  const scope = `${date}/${signRegion}/${service}/aws4_request`;
  const stringToSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256(canonicalRequest)].join('\n');
  const hmac = (key: string | Buffer, data: string) => createHmac('sha256', key).update(data).digest();
  const key = hmac(hmac(hmac(hmac(`AWS4${secret}`, date!), signRegion!), service!), 'aws4_request');
  const signature = createHmac('sha256', key).update(stringToSign).digest('hex');
  return `AWS4-HMAC-SHA256 Credential=${accessKey}/${scope}, SignedHeaders=${signedHeaders}, Signature=${signature}`;
};

/**
 * A lean client (test credentials unless `options` say otherwise) of a stub server answering
 * as `answer`; both are closed when the test ends.
 */
const clientOfStub = async (answer: StubAnswer, options: SqsApiOptions = {}) => {
  const server = await startStubServer(answer);
  const client = new SqsApi({ endpoint: server.origin, region, credentials, ...options });
  onTestFinished(async () => {
    client.destroy();
    await server.close();
  });
  return { server, client };
};

describe('SqsApi on the wire', () => {
  it('signs with SigV4 over the headers and body the server receives, session token included', async () => {
    const { server, client } = await clientOfStub((res) => json(res, 200, { Successful: [{ Id: 'm0' }] }), {
      credentials: { ...credentials, sessionToken: 'session-token-example' },
    });
    await client.sendMessageBatch({
      QueueUrl: 'https://sqs.eu-west-1.amazonaws.com/1/q',
      Entries: [{ Id: 'm0', MessageBody: 'é ✓' }],
    });
    const [request] = server.requests;
    expect(request!.headers['x-amz-target']).toBe('AmazonSQS.SendMessageBatch');
    expect(request!.headers['content-type']).toBe('application/x-amz-json-1.0');
    expect(request!.headers['x-amz-security-token']).toBe('session-token-example');
    expect(String(request!.headers['authorization'])).toContain(`/${region}/sqs/aws4_request`);
    expect(String(request!.headers['authorization'])).toMatch(/SignedHeaders=[^,]*x-amz-security-token/);
    expect(request!.headers['authorization']).toBe(
      expectedAuthorization(request!, credentials.secretAccessKey),
    );
    expect(JSON.parse(request!.body)).toEqual({
      QueueUrl: 'https://sqs.eu-west-1.amazonaws.com/1/q',
      Entries: [{ Id: 'm0', MessageBody: 'é ✓' }],
    });
  });

  it('without credentials in its options or the environment, signs with the SDK chain (a profile file)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sqs-api-creds-'));
    const file = join(dir, 'credentials');
    await writeFile(
      file,
      '[switchyard-test]\naws_access_key_id = AKIDFROMPROFILE\naws_secret_access_key = profile-secret\n',
    );
    const saved = { ...process.env };
    for (const name of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN'])
      delete process.env[name];
    Object.assign(process.env, {
      AWS_SHARED_CREDENTIALS_FILE: file,
      AWS_CONFIG_FILE: join(dir, 'config'),
      AWS_PROFILE: 'switchyard-test',
      AWS_EC2_METADATA_DISABLED: 'true',
    });
    try {
      const { server, client } = await clientOfStub((res) => json(res, 200, {}), { credentials: undefined });
      await client.changeMessageVisibility({ QueueUrl: 'q', ReceiptHandle: 'r', VisibilityTimeout: 0 });
      const [request] = server.requests;
      expect(String(request!.headers['authorization'])).toContain('Credential=AKIDFROMPROFILE/');
      expect(request!.headers['authorization']).toBe(expectedAuthorization(request!, 'profile-secret'));
    } finally {
      for (const name of Object.keys(process.env)) if (!(name in saved)) delete process.env[name];
      Object.assign(process.env, saved);
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('retries 5xx and throttling, then succeeds; gives up after maxAttempts', async () => {
    const { server, client } = await clientOfStub(
      (res, _request, n) => {
        if (n === 1) json(res, 503, { __type: 'com.amazonaws.sqs#ServiceUnavailable', message: 'busy' });
        else if (n === 2)
          json(res, 400, { __type: 'com.amazonaws.sqs#RequestThrottled', message: 'slow down' });
        else if (n === 3) json(res, 200, { Successful: [] });
        else json(res, 500, { __type: 'InternalError', message: 'broken' });
      },
      { maxAttempts: 3 },
    );
    await expect(client.deleteMessageBatch({ QueueUrl: 'q', Entries: [] })).resolves.toEqual({
      Successful: [],
    });
    expect(server.requests).toHaveLength(3);
    const error = await failureOf(client.deleteMessageBatch({ QueueUrl: 'q', Entries: [] }));
    expect(error).toBeInstanceOf(SqsError);
    expect((error as SqsError).code).toBe('InternalError');
    expect(server.requests).toHaveLength(6);
  });

  it('does not retry a client error', async () => {
    const { server, client } = await clientOfStub((res) =>
      json(res, 400, { __type: 'com.amazonaws.sqs#InvalidParameterValue', message: 'bad' }),
    );
    const error = await failureOf(client.sendMessage({ QueueUrl: 'q', MessageBody: '' }));
    expect((error as SqsError).code).toBe('InvalidParameterValue');
    expect((error as SqsError).message).toContain('bad');
    expect(server.requests).toHaveLength(1);
  });

  it('reports a non-JSON error page (a proxy in between) by its status and text, retrying only a 5xx', async () => {
    const { server, client } = await clientOfStub(
      (res, _request, n) => {
        res.writeHead(n === 1 ? 403 : 502, { 'content-type': 'text/html' });
        res.end(n === 1 ? '<html>Forbidden by proxy</html>' : '<html>Bad gateway</html>');
      },
      { maxAttempts: 2 },
    );
    const forbidden = await failureOf(client.sendMessage({ QueueUrl: 'q', MessageBody: 'x' }));
    expect(forbidden).toBeInstanceOf(SqsError);
    expect((forbidden as SqsError).code).toBe('HTTP403');
    expect((forbidden as SqsError).message).toContain('Forbidden by proxy');
    expect(server.requests).toHaveLength(1);
    const badGateway = await failureOf(client.sendMessage({ QueueUrl: 'q', MessageBody: 'x' }));
    expect((badGateway as SqsError).code).toBe('HTTP502');
    expect(server.requests).toHaveLength(3);
  });

  it('times out a call that gets no answer, as a retryable network error', async () => {
    // Never answers.
    const { server, client } = await clientOfStub(() => {}, { timeoutMs: 200, maxAttempts: 2 });
    const error = await failureOf(client.sendMessage({ QueueUrl: 'q', MessageBody: 'x' }));
    expect(error).toBeInstanceOf(SqsError);
    expect((error as SqsError).code).toBe('NetworkError');
    expect((error as SqsError).retryable).toBe(true);
    expect(server.requests).toHaveLength(2);
  });
});
