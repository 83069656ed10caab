/**
 * `npx tsx load/sqs-client.ts [--blocks 5] [--accepts 1000] [--rounds 400] [--init-runs 10]
 * [--cold-runs 10]` (issue 12, item 7: the lean SQS client against `@aws-sdk/client-sqs`).
 *
 * Variants of the hot path's SQS client, in Lambda terms, interleaved so drift hits all alike:
 *   - lean: shared/adapters/aws/sqs-api.ts (traced by shared/runtime/tracing.ts `sqsCallTracer`),
 *   - SDK: `@aws-sdk/client-sqs`, one client per container wrapped with the Powertools tracer
 *     (`tracer.captureAWSv3Client`), behind the same interface (load/bench/sqs-sdk-*.ts), imported
 *     statically (loaded at init) or through import() on first use (as clients.ts's `sqsClient`),
 *   - a floor for CPU: unsigned JSON-protocol requests over node:http, fauxqs's own share.
 *
 * Figures:
 *   (a) main KB of the executions API function and of the high worker, bundled with
 *       lib/bundling.ts's options, the SDK variants swapped in for sqs-api.ts by an esbuild plugin;
 *   (b) module init ms: fresh `node` children importing the bundle (load/bench/processes.ts),
 *       median minus the median of bare children, tracing off and on;
 *   (c) CPU per accept (one SendMessageBatch of one message, what one accepted execution sends)
 *       and per round (SendMessageBatch of 10, ReceiveMessage of 10, DeleteMessageBatch of 10):
 *       each block a fresh `tsx` child with in-process fauxqs (its CPU counts: client and fauxqs
 *       together), untraced and traced as in Lambda (facade segment, a `## index.handler`
 *       subsegment per invocation, segments sent over UDP to a sink in this process);
 *   (d) cold first accept: a fresh `node` child imports the executions bundle, creates the client
 *       and sends one message to fauxqs in this process; `performance.now()` at the answer,
 *       median minus the bare median.
 * Writes load/results/sqs-client.{json,md}. Figures are for reading: no thresholds.
 */
import { execFile } from 'node:child_process';
import dgram from 'node:dgram';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs, promisify } from 'node:util';
import { CreateQueueCommand, SQSClient } from '@aws-sdk/client-sqs';
import { build, type Plugin } from 'esbuild';
import type { SqsBatchEntry, SqsMessage } from '#adapters/aws/sqs-api.ts';
import { functions } from '#manifest';
import { startLocalSqs } from '../bin/local-runtime/sqs.ts';
import { bundleSizes, productionBundleOptions } from '../lib/bundling.ts';
import { bareChild, childEnv, initChild } from './bench/processes.ts';
import { kib, markdownTable, median, ms, ratio } from './bench/stats.ts';

const { values } = parseArgs({
  options: {
    blocks: { type: 'string', default: '5' },
    accepts: { type: 'string', default: '1000' },
    rounds: { type: 'string', default: '400' },
    'init-runs': { type: 'string', default: '10' },
    'cold-runs': { type: 'string', default: '10' },
    child: { type: 'string' },
  },
});
const root = resolve(import.meta.dirname, '..');
const region = 'us-east-1';
const credentials = { accessKeyId: 'local', secretAccessKey: 'local' };
/** A Lambda trace header: the X-Ray SDK builds its facade segment from it. */
const lambdaTraceId = 'Root=1-6750a0b0-0123456789abcdef01234567;Parent=0123456789abcdef;Sampled=1';

const body = JSON.stringify({
  v: 1,
  type: 'agent.execute',
  tenant_id: '0190a0b0-0000-7000-8000-000000000000',
  ids: { execution_id: '0190a0b0-0000-7000-8000-000000000001' },
  idempotency_key: 'execute:0190a0b0-0000-7000-8000-000000000001',
  enqueued_at: '2026-12-07T00:00:00.000Z',
});
const entry = (i: number): SqsBatchEntry => ({
  Id: `m${i}`,
  MessageBody: body,
  MessageAttributes: { type: { DataType: 'String', StringValue: 'agent.execute' } },
});

// ---- child: CPU of one block for one client ---------------------------------------------------

/** The calls measured, whatever the client. */
interface Calls {
  sendMessageBatch(input: { QueueUrl: string; Entries: readonly SqsBatchEntry[] }): Promise<unknown>;
  receiveMessage(input: {
    QueueUrl: string;
    MaxNumberOfMessages: number;
    WaitTimeSeconds: number;
    MessageSystemAttributeNames: string[];
    MessageAttributeNames: string[];
  }): Promise<{ Messages?: SqsMessage[] }>;
  deleteMessageBatch(input: {
    QueueUrl: string;
    Entries: readonly { Id: string; ReceiptHandle: string }[];
  }): Promise<unknown>;
  destroy(): void;
}

/** Unsigned (fauxqs does not check signatures): the floor under any client. */
const rawCalls = (endpoint: URL): Calls => {
  const agent = new http.Agent({ keepAlive: true });
  const call = (target: string, payload: unknown) =>
    new Promise<Record<string, unknown>>((done, fail) => {
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
          response.on('end', () => done(JSON.parse(Buffer.concat(chunks).toString() || '{}')));
        },
      );
      request.on('error', fail);
      request.end(text);
    });
  return {
    sendMessageBatch: (input) => call('SendMessageBatch', input),
    receiveMessage: (input) => call('ReceiveMessage', input) as Promise<{ Messages?: SqsMessage[] }>,
    deleteMessageBatch: (input) => call('DeleteMessageBatch', input),
    destroy: () => agent.destroy(),
  };
};

const cpuChild = async (variant: Variant) => {
  const server = await startLocalSqs();
  const options = { endpoint: server.endpoint, region, credentials };
  let calls: Calls;
  if (variant.startsWith('lean')) {
    // Imported here: tracing.ts decides at import whether to trace, from this child's env.
    const [{ SqsApi }, { sqsCallTracer }] = await Promise.all([
      import('#adapters/aws/sqs-api.ts'),
      import('#runtime/tracing.ts'),
    ]);
    const tracer = sqsCallTracer();
    calls = new SqsApi({ ...options, ...(tracer && { tracer }) });
  } else if (variant.startsWith('sdk')) {
    const { SqsApi } = await import('./bench/sqs-sdk-static.ts');
    calls = new SqsApi(options);
  } else {
    calls = rawCalls(new URL(server.endpoint));
  }
  // In Lambda, captureLambdaHandler opens `## index.handler` under the facade segment per invocation.
  let invoke = <T>(work: () => Promise<T>): Promise<T> => work();
  if (variant.endsWith('traced')) {
    const { Tracer } = await import('@aws-lambda-powertools/tracer');
    const tracer = new Tracer({ serviceName: 'bench' });
    if (!tracer.isTracingEnabled()) throw new Error(`${variant}: tracing is off`);
    invoke = async (work) => {
      const facade = tracer.getSegment()!;
      const handler = facade.addNewSubsegment('## index.handler');
      tracer.setSegment(handler);
      try {
        return await work();
      } finally {
        handler.close();
        tracer.setSegment(facade);
      }
    };
  }
  const admin = new SQSClient({
    endpoint: server.endpoint,
    region,
    credentials,
    useQueueUrlAsEndpoint: false,
  });
  const queue = async (name: string) =>
    (await admin.send(new CreateQueueCommand({ QueueName: name }))).QueueUrl!;
  const acceptQueue = await queue('accepts');
  const roundQueue = await queue('rounds');
  const ten = Array.from({ length: 10 }, (_, i) => entry(i));
  const accept = () => invoke(() => calls.sendMessageBatch({ QueueUrl: acceptQueue, Entries: [entry(0)] }));
  const round = () =>
    invoke(async () => {
      await calls.sendMessageBatch({ QueueUrl: roundQueue, Entries: ten });
      const { Messages = [] } = await calls.receiveMessage({
        QueueUrl: roundQueue,
        MaxNumberOfMessages: 10,
        WaitTimeSeconds: 0,
        MessageSystemAttributeNames: ['All'],
        MessageAttributeNames: ['All'],
      });
      if (Messages.length !== 10) throw new Error(`${variant}: a round received ${Messages.length} messages`);
      await calls.deleteMessageBatch({
        QueueUrl: roundQueue,
        Entries: Messages.map((m, i) => ({ Id: `d${i}`, ReceiptHandle: m.ReceiptHandle! })),
      });
    });
  const cpuPer = async (n: number, work: () => Promise<unknown>) => {
    const cpu = process.cpuUsage();
    for (let i = 0; i < n; i += 1) await work();
    const used = process.cpuUsage(cpu);
    return (used.user + used.system) / n;
  };
  // Warm-up: JIT, sockets, signing keys, the SDK's endpoint cache.
  await cpuPer(300, accept);
  await cpuPer(200, round);
  const acceptMicros = await cpuPer(Number(values.accepts), accept);
  const roundMicros = await cpuPer(Number(values.rounds), round);
  calls.destroy();
  admin.destroy();
  await server.stop();
  process.stdout.write(`${JSON.stringify({ acceptMicros, roundMicros })}\n`);
};

// ---- parent -----------------------------------------------------------------------------------

const cpuVariants = ['sdk', 'sdk traced', 'lean', 'lean traced', 'floor'] as const;
type Variant = (typeof cpuVariants)[number];

if (values.child) {
  await cpuChild(values.child as Variant);
  process.exit(0);
}

const started = Date.now();
const step = (text: string) => console.error(`[${((Date.now() - started) / 1000).toFixed(0)} s] ${text}`);
const run = promisify(execFile);
const work = await mkdtemp(join(tmpdir(), 'switchyard-sqs-client-'));

// X-Ray's daemon stand-in: traced children send their segments here, counted.
const daemon = dgram.createSocket('udp4');
let segmentPackets = 0;
daemon.on('message', () => {
  segmentPackets += 1;
});
await new Promise<void>((done) => daemon.bind(0, '127.0.0.1', done));
const daemonAddress = `127.0.0.1:${daemon.address().port}`;
/** What Lambda with active tracing sets (LAMBDA_TASK_ROOT puts the X-Ray SDK in Lambda mode). */
const tracedEnv = {
  AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs22.x',
  LAMBDA_TASK_ROOT: work,
  _X_AMZN_TRACE_ID: lambdaTraceId,
  AWS_XRAY_DAEMON_ADDRESS: daemonAddress,
  AWS_XRAY_CONTEXT_MISSING: 'IGNORE_ERROR',
  POWERTOOLS_TRACE_ENABLED: 'true',
};

// ---- (a) bundles ------------------------------------------------------------------------------

const bundleVariants = {
  lean: undefined,
  'sdk, static import': 'load/bench/sqs-sdk-static.ts',
  'sdk, lazy import()': 'load/bench/sqs-sdk-lazy.ts',
} as const;
type BundleVariant = keyof typeof bundleVariants;
const bundleNames = Object.keys(bundleVariants) as BundleVariant[];

/** The SDK variants: sqs-api.ts swapped for the shim wherever the stack's code imports it. */
const swapPlugin = (shim: string | undefined): Plugin => ({
  name: 'sqs-variant',
  setup(builder) {
    if (!shim) return;
    builder.onResolve({ filter: /\/sqs-api\.ts$/ }, (args) =>
      args.importer.includes('/load/bench/') ? undefined : { path: join(root, shim) },
    );
  },
});
/** The executions function plus the container's SQS client, for the cold first accept. */
const probePlugin: Plugin = {
  name: 'accept-probe',
  setup(builder) {
    builder.onResolve({ filter: /^accept-probe$/ }, () => ({ path: 'accept-probe', namespace: 'probe' }));
    builder.onLoad({ filter: /.*/, namespace: 'probe' }, () => ({
      contents: `export { handler } from './${functions.executions.entry}';
export { sqsApi } from './shared/adapters/aws/clients.ts';`,
      resolveDir: root,
      loader: 'ts',
    }));
  },
};
const bundled = ['executions', 'workerHigh', 'probe'] as const;
type Bundled = (typeof bundled)[number];
const bundlePath = (variant: BundleVariant, fn: Bundled) =>
  join(work, variant.replace(/\W+/g, '-'), fn, 'index.mjs');
const sizes = new Map<string, { mainBytes: number; chunkBytes: number }>();
step('bundling executions, workerHigh and the accept probe for each variant (lib/bundling.ts options)');
for (const variant of bundleNames) {
  for (const fn of bundled) {
    const result = await build({
      ...productionBundleOptions,
      entryPoints: { index: fn === 'probe' ? 'accept-probe' : join(root, functions[fn].entry) },
      outdir: join(bundlePath(variant, fn), '..'),
      metafile: true,
      plugins: [swapPlugin(bundleVariants[variant]), probePlugin],
    });
    const { mainBytes, chunkBytes } = bundleSizes(result.metafile);
    sizes.set(`${variant}/${fn}`, { mainBytes, chunkBytes });
  }
}

// ---- (b) init and (d) cold first accept: fresh node children, interleaved ---------------------

const server = await startLocalSqs();
const admin = new SQSClient({ endpoint: server.endpoint, region, credentials, useQueueUrlAsEndpoint: false });
const coldQueue = (await admin.send(new CreateQueueCommand({ QueueName: 'cold-accepts' }))).QueueUrl!;

const coldCode = `
const m = await import(process.argv[1]);
if (typeof m.handler !== 'function') throw new Error('no handler export');
const ready = performance.now();
const entry = JSON.parse(process.argv[3]);
const result = await m.sqsApi().sendMessageBatch({ QueueUrl: process.argv[2], Entries: [entry] });
if ((result.Failed ?? []).length > 0) throw new Error('SQS refused the message');
process.stdout.write(JSON.stringify({ ready, done: performance.now() }));
process.exit(0);`;
const coldChild = async (bundle: string, env: Record<string, string>) => {
  const { stdout } = await run(
    process.execPath,
    ['--input-type=module', '-e', coldCode, pathToFileURL(bundle).href, coldQueue, JSON.stringify(entry(1))],
    { env, timeout: 30_000 },
  );
  return JSON.parse(stdout.trim().split('\n').at(-1)!) as { ready: number; done: number };
};

const tracingModes = { off: {}, on: tracedEnv } as const;
type TracingMode = keyof typeof tracingModes;
const modes = Object.keys(tracingModes) as TracingMode[];
// Lambda gives the function its credentials and region in the environment; the endpoint is fauxqs.
const lambdaEnv = (mode: TracingMode) =>
  childEnv({
    ...tracingModes[mode],
    AWS_ENDPOINT_URL_SQS: server.endpoint,
    AWS_ACCESS_KEY_ID: credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
    QUEUE_URL_HIGH: coldQueue,
  });
const initRuns = Number(values['init-runs']);
const coldRuns = Number(values['cold-runs']);
const bare = new Map<TracingMode, number[]>(modes.map((m) => [m, []]));
const init = new Map<string, number[]>();
const cold = new Map<string, { ready: number; done: number }[]>();
const push = <T>(map: Map<string, T[]>, key: string, value: T) => {
  map.set(key, [...(map.get(key) ?? []), value]);
};
step(`module init: ${initRuns} rounds × tracing off/on × (bare + 3 variants × 2 functions)`);
for (let round = 0; round < initRuns; round += 1) {
  for (const mode of modes) {
    const env = lambdaEnv(mode);
    bare.get(mode)!.push((await bareChild(env)).ready);
    for (const variant of bundleNames) {
      for (const fn of ['executions', 'workerHigh'] as const) {
        push(init, `${variant}/${fn}/${mode}`, (await initChild(bundlePath(variant, fn), env)).ready);
      }
    }
  }
}
step(`cold first accept: ${coldRuns} rounds × tracing off/on × (bare + 3 variants)`);
for (let round = 0; round < coldRuns; round += 1) {
  for (const mode of modes) {
    const env = lambdaEnv(mode);
    bare.get(mode)!.push((await bareChild(env)).ready);
    for (const variant of bundleNames) {
      push(cold, `${variant}/${mode}`, await coldChild(bundlePath(variant, 'probe'), env));
    }
  }
}
admin.destroy();
await server.stop();
const bareMs = (mode: TracingMode) => median(bare.get(mode)!);
const initMs = (variant: BundleVariant, fn: string, mode: TracingMode) =>
  median(init.get(`${variant}/${fn}/${mode}`)!) - bareMs(mode);
const coldMs = (variant: BundleVariant, mode: TracingMode) =>
  median(cold.get(`${variant}/${mode}`)!.map((c) => c.done)) - bareMs(mode);
/** The first call alone: client creation, lazy loads, connection, the send (no bare to subtract). */
const firstCallMs = (variant: BundleVariant, mode: TracingMode) =>
  median(cold.get(`${variant}/${mode}`)!.map((c) => c.done - c.ready));

// ---- (c) CPU: a tsx child per variant and block, interleaved ----------------------------------

const blocks = Number(values.blocks);
const cpu = new Map<Variant, { acceptMicros: number; roundMicros: number }[]>(
  cpuVariants.map((v) => [v, []]),
);
step(
  `CPU: ${blocks} blocks × ${cpuVariants.length} variants, ${values.accepts} accepts + ${values.rounds} rounds each`,
);
for (let block = 0; block < blocks; block += 1) {
  for (const variant of cpuVariants) {
    const { stdout } = await run(
      join(root, 'node_modules/.bin/tsx'),
      [
        'load/sqs-client.ts',
        '--child',
        variant,
        '--accepts',
        String(values.accepts),
        '--rounds',
        String(values.rounds),
      ],
      {
        cwd: root,
        env: childEnv({ ...(variant.endsWith('traced') ? tracedEnv : {}), STAGE: 'bench' }),
        timeout: 300_000,
      },
    );
    cpu.get(variant)!.push(JSON.parse(stdout.trim().split('\n').at(-1)!));
  }
}
daemon.close();
await rm(work, { recursive: true, force: true });
const cpuOf = (variant: Variant, pick: 'acceptMicros' | 'roundMicros') =>
  median(cpu.get(variant)!.map((b) => b[pick]));

// ---- report -----------------------------------------------------------------------------------

const us = (micros: number) => `${Math.round(micros)}`;
const main = (variant: BundleVariant, fn: Bundled) => sizes.get(`${variant}/${fn}`)!;
const bundleRows = bundleNames.map((variant) => [
  variant,
  kib(main(variant, 'executions').mainBytes),
  kib(main(variant, 'executions').chunkBytes),
  kib(main(variant, 'workerHigh').mainBytes),
  kib(main(variant, 'workerHigh').chunkBytes),
  ...modes.flatMap((mode) => [
    ms(initMs(variant, 'executions', mode)),
    ms(initMs(variant, 'workerHigh', mode)),
  ]),
  ...modes.map((mode) => `${ms(coldMs(variant, mode))} (${ms(firstCallMs(variant, mode))})`),
]);
for (const [label, variant] of [
  ['**sdk static ÷ lean**', 'sdk, static import'],
  ['**sdk lazy ÷ lean**', 'sdk, lazy import()'],
] as const) {
  const of = (fn: 'executions' | 'workerHigh') =>
    ratio(main(variant, fn).mainBytes, main('lean', fn).mainBytes);
  bundleRows.push([
    label,
    of('executions'),
    '',
    of('workerHigh'),
    '',
    ...modes.flatMap((mode) =>
      (['executions', 'workerHigh'] as const).map((fn) =>
        ratio(initMs(variant, fn, mode), initMs('lean', fn, mode)),
      ),
    ),
    ...modes.map((mode) => ratio(coldMs(variant, mode), coldMs('lean', mode))),
  ]);
}
const floorAccept = cpuOf('floor', 'acceptMicros');
const floorRound = cpuOf('floor', 'roundMicros');
const cpuRows = cpuVariants.map((variant) => [
  variant,
  us(cpuOf(variant, 'acceptMicros')),
  us(cpuOf(variant, 'acceptMicros') - floorAccept),
  us(cpuOf(variant, 'roundMicros')),
  us(cpuOf(variant, 'roundMicros') - floorRound),
]);
for (const [a, b] of [
  ['sdk', 'lean'],
  ['sdk traced', 'lean traced'],
] as const) {
  cpuRows.push([
    `**${a} ÷ ${b}**`,
    ratio(cpuOf(a, 'acceptMicros'), cpuOf(b, 'acceptMicros')),
    ratio(cpuOf(a, 'acceptMicros') - floorAccept, cpuOf(b, 'acceptMicros') - floorAccept),
    ratio(cpuOf(a, 'roundMicros'), cpuOf(b, 'roundMicros')),
    ratio(cpuOf(a, 'roundMicros') - floorRound, cpuOf(b, 'roundMicros') - floorRound),
  ]);
}
const machine = {
  date: new Date().toISOString(),
  cpus: `${cpus().length} × ${cpus()[0]?.model ?? 'unknown'}`,
  node: process.version,
  seconds: Math.round((Date.now() - started) / 1000),
};
const markdown = `# The lean SQS client against @aws-sdk/client-sqs

${machine.date} · ${machine.cpus} · Node ${machine.node} · ran ${machine.seconds} s

## Bundles, init, cold first accept

Main: index.mjs and the chunks it imports statically (lib/bundling.ts options, as the stack bundles);
lazy: chunks reached through import(). Init: fresh \`node\` children importing the bundle, median of
${initRuns} minus the bare median (tracing off ${ms(bareMs('off'))} ms, on ${ms(bareMs('on'))} ms). Cold
first accept: a fresh child imports the executions bundle, creates the client and sends one
SendMessageBatch of one message to fauxqs (loopback), median of ${coldRuns} minus the bare median; in
brackets the median of the call alone (answer − import done: client creation, lazy loads, connection).
Tracing on: what Lambda's active tracing sets (AWS_EXECUTION_ENV, LAMBDA_TASK_ROOT, _X_AMZN_TRACE_ID).

${markdownTable(
  [
    'variant',
    'executions main',
    'executions lazy',
    'workerHigh main',
    'workerHigh lazy',
    'init ms executions, tracing off',
    'init ms workerHigh, tracing off',
    'init ms executions, tracing on',
    'init ms workerHigh, tracing on',
    'cold first accept ms (of which the call), tracing off',
    'cold first accept ms (of which the call), tracing on',
  ],
  bundleRows,
)}

## CPU per accept and per round

A fresh \`tsx\` child per variant and block (${blocks} blocks, interleaved; medians), fauxqs in the child:
its CPU is client and fauxqs together, so the floor (unsigned node:http) is fauxqs's share. Accept: one
SendMessageBatch of one message (${values.accepts} per block). Round: SendMessageBatch of 10,
ReceiveMessage of 10, DeleteMessageBatch of 10 (${values.rounds} per block). After 300 accepts and 200
rounds of warm-up. Traced: Lambda's tracing env, a \`## index.handler\` subsegment per accept or round
(as captureLambdaHandler opens), segments sent over UDP to a sink (${segmentPackets} packets received).

${markdownTable(
  ['variant', 'CPU µs per accept', 'above the floor', 'CPU µs per round', 'above the floor'],
  cpuRows,
)}
`;
const results = {
  machine,
  bare: Object.fromEntries(bare),
  sizes: Object.fromEntries(sizes),
  init: Object.fromEntries(init),
  cold: Object.fromEntries(cold),
  cpu: Object.fromEntries(cpu),
  segmentPackets,
};
await mkdir(join(root, 'load/results'), { recursive: true });
await writeFile(join(root, 'load/results/sqs-client.json'), `${JSON.stringify(results, null, 2)}\n`);
await writeFile(join(root, 'load/results/sqs-client.md'), markdown);
console.log(markdown);
