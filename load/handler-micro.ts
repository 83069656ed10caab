/**
 * `npx tsx load/handler-micro.ts`: the accept path without HTTP — the executions
 * handler invoked in-process with API Gateway events, on a throwaway PostgreSQL 15 (or
 * DATABASE_URL) and the in-process SQS stand-in, workers off. Prints requests/s and p50/p99.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadHandler, startLocalRuntime } from '../bin/local-runtime/runtime.ts';
import { startPostgres } from '../test/support/real-servers.ts';
import { type ApiHandler, apiEvent, lambdaContext } from './support/lambda-events.ts';

type Handler = ApiHandler;
const key = 'micro-key-0123456789abcdef';
const dataDir = await mkdtemp(join(tmpdir(), 'switchyard-micro-'));
const postgres = process.env['DATABASE_URL'] ? undefined : await startPostgres({ durable: true });
const runtime = await startLocalRuntime({
  port: 0,
  dataDir,
  workers: false,
  env: {
    ...process.env,
    DATABASE_URL: process.env['DATABASE_URL'] ?? postgres!.url,
    DB_POOL_MAX: '20',
    SWITCHYARD_API_KEYS: `micro:${key}`,
    POWERTOOLS_LOG_LEVEL: 'ERROR',
    POWERTOOLS_METRICS_DISABLED: 'true',
  },
});
const context = lambdaContext('micro');
const event = (routeKey: string, path: string, body?: unknown, params?: Record<string, string>) =>
  apiEvent(key, routeKey, path, {
    ...(body !== undefined && { body }),
    ...(params && { pathParameters: params }),
  });

const agents = await loadHandler<Handler>('agents');
const executions = await loadHandler<Handler>('executions');
const created = await agents(
  event('POST /v1/agents', '/v1/agents', { name: 'm', model: 'gpt', system_prompt: 'p' }),
  context,
);
const agentId = (JSON.parse(created.body!) as { id: string }).id;
const accept = () =>
  executions(
    event(
      'POST /v1/agents/{id}/executions',
      `/v1/agents/${agentId}/executions`,
      { input: 'hi' },
      { id: agentId },
    ),
    context,
  );
for (let i = 0; i < 200; i += 1) await accept();
const total = Number(process.argv[2] ?? 3000);
const concurrency = 32;
const latencies: number[] = [];
let next = 0;
const started = performance.now();
await Promise.all(
  Array.from({ length: concurrency }, async () => {
    while (next++ < total) {
      const t = performance.now();
      const response = await accept();
      if (response.statusCode !== 202) throw new Error(`status ${response.statusCode}`);
      latencies.push(performance.now() - t);
    }
  }),
);
const seconds = (performance.now() - started) / 1000;
latencies.sort((a, b) => a - b);
const q = (p: number) => latencies[Math.floor(p * (latencies.length - 1))]!.toFixed(2);
console.log(
  `accept in-process: ${(total / seconds).toFixed(0)}/s, p50 ${q(0.5)} ms, p99 ${q(0.99)} ms (concurrency ${concurrency})`,
);
await runtime.stop();
await postgres?.stop();
await rm(dataDir, { recursive: true, force: true });
