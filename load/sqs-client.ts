/**
 * `npx tsx load/sqs-client.ts [--rounds N]`
 *
 * CPU per SQS round (SendMessageBatch of 10, ReceiveMessage of 10, DeleteMessageBatch of 10)
 * against in-process fauxqs, for three clients in one run:
 *   - `@aws-sdk/client-sqs` (what the operator paths use),
 *   - the lean client of the hot path (shared/adapters/aws/sqs-api.ts),
 *   - a floor: unsigned JSON-protocol requests over node:http, what is left is fauxqs's share.
 * CPU is this process's (client and fauxqs together), median of 5 blocks of rounds per client.
 */
import http from 'node:http';
import { parseArgs } from 'node:util';
import {
  CreateQueueCommand,
  DeleteMessageBatchCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { SqsApi, type SqsMessage } from '../shared/adapters/aws/sqs-api.ts';
import { startLocalSqs } from '../shared/local/sqs.ts';

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '2000' } } });
const rounds = Number(values.rounds);
const region = 'us-east-1';
const credentials = { accessKeyId: 'local', secretAccessKey: 'local' };

const server = await startLocalSqs();
const sdk = new SQSClient({ endpoint: server.endpoint, region, credentials, useQueueUrlAsEndpoint: false });
const lean = new SqsApi({ endpoint: server.endpoint, region, credentials });

const body = JSON.stringify({
  v: 1,
  type: 'agent.execute',
  tenant_id: '0190a0b0-0000-7000-8000-000000000000',
  ids: { execution_id: '0190a0b0-0000-7000-8000-000000000001' },
  idempotency_key: 'execute:0190a0b0-0000-7000-8000-000000000001',
  enqueued_at: new Date().toISOString(),
});
const entries = Array.from({ length: 10 }, (_, i) => ({
  Id: `m${i}`,
  MessageBody: body,
  MessageAttributes: { type: { DataType: 'String', StringValue: 'agent.execute' } },
}));
const receive = (QueueUrl: string) => ({
  QueueUrl,
  MaxNumberOfMessages: 10,
  WaitTimeSeconds: 0,
  MessageSystemAttributeNames: ['All' as const],
  MessageAttributeNames: ['All'],
});
const deletions = (messages: readonly SqsMessage[]) =>
  messages.map((m, i) => ({ Id: `d${i}`, ReceiptHandle: m.ReceiptHandle! }));

type Round = (queueUrl: string) => Promise<number>;

const sdkRound: Round = async (QueueUrl) => {
  await sdk.send(new SendMessageBatchCommand({ QueueUrl, Entries: entries }));
  const { Messages = [] } = await sdk.send(new ReceiveMessageCommand(receive(QueueUrl)));
  await sdk.send(new DeleteMessageBatchCommand({ QueueUrl, Entries: deletions(Messages as SqsMessage[]) }));
  return Messages.length;
};

const leanRound: Round = async (QueueUrl) => {
  await lean.sendMessageBatch({ QueueUrl, Entries: entries });
  const { Messages = [] } = await lean.receiveMessage(receive(QueueUrl));
  await lean.deleteMessageBatch({ QueueUrl, Entries: deletions(Messages) });
  return Messages.length;
};

const agent = new http.Agent({ keepAlive: true });
const endpoint = new URL(server.endpoint);
/** Unsigned (fauxqs does not check signatures): the floor under any client. */
const rawCall = (target: string, payload: unknown) =>
  new Promise<Record<string, unknown>>((resolve, reject) => {
    const text = JSON.stringify(payload);
    const request = http.request(
      {
        host: endpoint.hostname,
        port: endpoint.port,
        method: 'POST',
        path: '/',
        agent,
        headers: {
          'content-type': 'application/x-amz-json-1.0',
          'x-amz-target': `AmazonSQS.${target}`,
          'content-length': Buffer.byteLength(text),
        },
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => resolve(JSON.parse(Buffer.concat(chunks).toString() || '{}')));
      },
    );
    request.on('error', reject);
    request.end(text);
  });
const rawRound: Round = async (QueueUrl) => {
  await rawCall('SendMessageBatch', { QueueUrl, Entries: entries });
  const { Messages = [] } = (await rawCall('ReceiveMessage', receive(QueueUrl))) as {
    Messages?: SqsMessage[];
  };
  await rawCall('DeleteMessageBatch', { QueueUrl, Entries: deletions(Messages) });
  return Messages.length;
};

const measure = async (name: string, round: Round) => {
  const { QueueUrl } = await sdk.send(new CreateQueueCommand({ QueueName: `bench-${name.split(' ')[0]}` }));
  for (let i = 0; i < 300; i += 1) await round(QueueUrl!); // warm-up: JIT, sockets, signing keys
  const blocks: number[] = [];
  for (let block = 0; block < 5; block += 1) {
    const cpu = process.cpuUsage();
    for (let i = 0; i < rounds / 5; i += 1) {
      if ((await round(QueueUrl!)) !== 10)
        throw new Error(`${name}: a round received fewer than 10 messages`);
    }
    const used = process.cpuUsage(cpu);
    blocks.push((used.user + used.system) / (rounds / 5));
  }
  blocks.sort((a, b) => a - b);
  return { name, cpuMicros: blocks[2]! };
};

const results = [];
for (const [name, round] of [
  ['@aws-sdk/client-sqs', sdkRound],
  ['lean client (sqs-api.ts)', leanRound],
  ['floor: unsigned node:http', rawRound],
] as const) {
  results.push(await measure(name, round));
}
const floor = results[2]!.cpuMicros;
console.log(`\n| client | CPU per round (3 calls, 10 messages) | above the floor |\n| --- | ---: | ---: |`);
for (const { name, cpuMicros } of results) {
  console.log(`| ${name} | ${Math.round(cpuMicros)} µs | ${Math.round(cpuMicros - floor)} µs |`);
}
lean.destroy();
sdk.destroy();
agent.destroy();
await server.stop();
