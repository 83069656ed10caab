/**
 * `npx tsx load/bench.ts [--init-runs 20] [--cold-runs 10] [--calls 2000] [--memory-runs 3]
 * [--memory-requests 1000] [--concurrency 32] [--http-seconds 4]` (issue 6, first part).
 *
 * Bundle sizes, module init, cold first response and memory (RSS, heap) of the production
 * bundles, against a naive reference handler (load/bench/naive-handler.ts); warm in-process
 * latency and queries per request of the agents routes on the local runtime with a throwaway
 * PostgreSQL 15, and with a throwaway Redis 7 as L2; a floor (bare handler, raw node:http,
 * sequential and at a fixed concurrency) so figures read as ratios. Writes
 * load/results/bench.{json,md}. Figures are for reading: no thresholds, no pass/fail.
 */
import { execFile, execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs, promisify } from 'node:util';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { build } from 'esbuild';
import pg from 'pg';
import { Pool } from 'undici';
import type { FunctionName } from '#manifest';
import { functions } from '#manifest';
import { loadHandler, startLocalRuntime } from '../bin/local-runtime/runtime.ts';
import { functionAccess } from '../lib/access.ts';
import { bundleSizes, productionBundleOptions } from '../lib/bundling.ts';
import { findRedisServer, startPostgres, startRedis } from '../test/support/real-servers.ts';
import { concurrentGets, type LoadWindow } from './bench/concurrency.ts';
import { bareHandler, startRawHttp } from './bench/floor.ts';
import type { ChildMemory, ChildTimes } from './bench/processes.ts';
import {
  bareChild,
  bareMemoryChild,
  childEnv,
  coldChild,
  initChild,
  memoryChild,
} from './bench/processes.ts';
import type { Summary } from './bench/stats.ts';
import {
  cacheFromServerTiming,
  distinct,
  kib,
  markdownTable,
  mb,
  median,
  ms,
  queriesFromServerTiming,
  queryCount,
  ratio,
  summarize,
  us,
} from './bench/stats.ts';
import { type ApiHandler, apiEvent, lambdaContext } from './support/lambda-events.ts';
import { dagWorkflowBody } from './support/workflow-dag.ts';

const { values } = parseArgs({
  options: {
    'init-runs': { type: 'string', default: '20' },
    'cold-runs': { type: 'string', default: '10' },
    calls: { type: 'string', default: '2000' },
    'memory-runs': { type: 'string', default: '3' },
    'memory-requests': { type: 'string', default: '1000' },
    concurrency: { type: 'string', default: '32' },
    'http-seconds': { type: 'string', default: '4' },
  },
});
const initRuns = Number(values['init-runs']);
const coldRuns = Number(values['cold-runs']);
const calls = Number(values.calls);
const memoryRuns = Number(values['memory-runs']);
const memoryRequests = Number(values['memory-requests']);
const concurrency = Number(values.concurrency);
const httpWindowMs = Number(values['http-seconds']) * 1000;
const httpWarmupMs = 1000;
const httpRounds = 2;
const warmup = Math.min(300, calls);
const root = resolve(import.meta.dirname, '..');
const started = Date.now();
// With metrics off (the local default) Powertools' logMetrics warns on every request of ours; 11k such
// lines would drown the report. Dropped here and counted (the warning is formatted, not written).
let droppedWarnings = 0;
const stderrWrite = process.stderr.write.bind(process.stderr);
process.stderr.write = ((chunk: string | Uint8Array, ...rest: never[]) => {
  if (String(chunk).startsWith('No application metrics to publish')) {
    droppedWarnings += 1;
    return true;
  }
  return stderrWrite(chunk, ...rest);
}) as typeof process.stderr.write;
const step = (text: string) => console.error(`[${((Date.now() - started) / 1000).toFixed(0)} s] ${text}`);

// ---- bundles ----------------------------------------------------------------------------------

interface BundleMeta {
  readonly function: string;
  readonly mainBytes: number;
  readonly chunkBytes: number;
}

const work = await mkdtemp(join(tmpdir(), 'switchyard-bench-'));
const distDir = join(work, 'dist');
step('building the production bundles (bin/build.ts)');
await promisify(execFile)(join(root, 'node_modules/.bin/tsx'), ['bin/build.ts', '--out', distDir], {
  cwd: root,
});
const ourBundles = JSON.parse(await readFile(join(distDir, 'meta.json'), 'utf8')) as BundleMeta[];

// The naive handler gets bin/build.ts's options, so sizes compare like with like.
step('building the naive reference bundle');
const naiveDir = join(work, 'naive');
const naiveBuild = await build({
  // The same options as our bundles: the comparison is of code, not of build settings.
  ...productionBundleOptions,
  entryPoints: { index: join(root, 'load/bench/naive-handler.ts') },
  outdir: naiveDir,
  metafile: true,
});
const naiveBundle: BundleMeta = { function: 'naive', ...bundleSizes(naiveBuild.metafile) };
const bundlePath = (fn: string) => join(distDir, fn, 'index.mjs');
const naivePath = join(naiveDir, 'index.mjs');

// ---- local services ---------------------------------------------------------------------------

step('starting PostgreSQL, Redis and the local runtime (L1 only: no REDIS_URL yet)');
const key = 'bench-key-0123456789abcdef0123';
const adminKey = 'bench-admin-key-0123456789abcdef';
const [postgres, redis] = await Promise.all([startPostgres({ durable: true }), startRedis()]);
const redisVersion = /v=(\S+)/.exec(
  execFileSync(findRedisServer()!, ['--version'], { encoding: 'utf8' }),
)?.[1];
const dataDir = join(work, 'data');
const runtimeEnv = {
  ...process.env,
  DATABASE_URL: postgres.url,
  SWITCHYARD_API_KEYS: `bench:${key}`,
  SWITCHYARD_SERVER_TIMING: 'true',
  POWERTOOLS_LOG_LEVEL: 'ERROR',
  POWERTOOLS_METRICS_DISABLED: 'true',
};
// Every start is a fresh container: the runtime resets config, caches and pools when stopped.
const startRuntime = (env: Record<string, string> = {}) =>
  startLocalRuntime({ port: 0, dataDir, workers: false, env: { ...runtimeEnv, ...env } });
const runtime = await startRuntime();
const db = new pg.Client({ connectionString: postgres.url });
await db.connect();
const pgVersion = (
  await db.query<{ v: string }>("SELECT current_setting('server_version') AS v")
).rows[0]!.v.split(' ')[0]!;

type Handler = ApiHandler;
const context = lambdaContext('bench', 10_000);
const event = (
  routeKey: string,
  path: string,
  options: { body?: unknown; id?: string; query?: Record<string, string> } = {},
): APIGatewayProxyEventV2 =>
  apiEvent(key, routeKey, path, {
    ...(options.body !== undefined && { body: options.body }),
    ...(options.id && { pathParameters: { id: options.id } }),
    ...(options.query && { query: options.query }),
  });
const getEvent = (id: string) => event('GET /v1/agents/{id}', `/v1/agents/${id}`, { id });
const newAgent = { name: 'bench', model: 'gpt-4o', system_prompt: 'You answer.', configuration: { t: 0.2 } };

const agents = await loadHandler<Handler>('agents');
const created = await agents(event('POST /v1/agents', '/v1/agents', { body: newAgent }), context);
if (created.statusCode !== 201) throw new Error(`create answered ${created.statusCode}: ${created.body}`);
const agent = JSON.parse(created.body!) as { id: string };
// A workflow, for the memory figures of the workflow functions' GET routes.
const createdWorkflow = await (await loadHandler<Handler>('workflows'))(
  event('POST /v1/workflows', '/v1/workflows', {
    body: dagWorkflowBody('bench', [agent.id, agent.id, agent.id]),
  }),
  context,
);
if (createdWorkflow.statusCode !== 201) {
  throw new Error(`workflow create answered ${createdWorkflow.statusCode}: ${createdWorkflow.body}`);
}
const workflow = JSON.parse(createdWorkflow.body!) as { id: string };
// A knowledge base, for the memory figure of the knowledge function's GET route.
const createdBase = await (await loadHandler<Handler>('knowledge'))(
  event('POST /v1/knowledge-bases', '/v1/knowledge-bases', { body: { name: 'bench' } }),
  context,
);
if (createdBase.statusCode !== 201) {
  throw new Error(`knowledge base create answered ${createdBase.statusCode}: ${createdBase.body}`);
}
const knowledgeBase = JSON.parse(createdBase.body!) as { id: string };
// Rows written behind the service's back: nothing of them is in the cache, so each first read misses.
const tenantId = (await db.query<{ id: string }>("SELECT id FROM tenants WHERE name = 'bench'")).rows[0]!.id;
const uncachedIds = (
  await db.query<{ id: string }>(
    `INSERT INTO agents (id, tenant_id, name, model, system_prompt, configuration, created_at, updated_at)
     SELECT gen_random_uuid(), $1, 'u' || g, 'gpt-4o', 'You answer.', '{"t":0.2}', now(), now()
       FROM generate_series(1, $2) g RETURNING id`,
    [tenantId, calls + warmup],
  )
).rows.map((r) => r.id);

// ---- init and cold: fresh processes, one at a time, interleaved so drift hits all alike ------

const ourFunctions = Object.keys(functions) as FunctionName[];
const initEnv = childEnv();
const coldEnv = childEnv({ DATABASE_URL: postgres.url });
const bare: number[] = [];
const init = new Map<string, number[]>([...ourFunctions, 'naive'].map((fn) => [fn, []]));
step(`module init: ${initRuns} rounds of bare + ${ourFunctions.length} functions + naive`);
for (let round = 0; round < initRuns; round += 1) {
  bare.push((await bareChild(initEnv)).ready);
  for (const fn of ourFunctions) init.get(fn)!.push((await initChild(bundlePath(fn), initEnv)).ready);
  init.get('naive')!.push((await initChild(naivePath, initEnv)).ready);
}
const cold = { agents: [] as ChildTimes[], naive: [] as ChildTimes[] };
step(`cold first GET: ${coldRuns} rounds of bare + agents + naive`);
for (let round = 0; round < coldRuns; round += 1) {
  bare.push((await bareChild(coldEnv)).ready);
  cold.agents.push(await coldChild(bundlePath('agents'), getEvent(agent.id), coldEnv));
  cold.naive.push(await coldChild(naivePath, getEvent(agent.id), coldEnv));
}
for (const [name, runs] of Object.entries(cold)) {
  const bad = runs.find((r) => r.status !== 200);
  if (bad) throw new Error(`cold ${name} answered ${bad.status}`);
}
const bareMs = median(bare);
const initMs = (fn: string) => median(init.get(fn)!) - bareMs;
const coldMs = (runs: ChildTimes[]) => median(runs.map((r) => r.done!)) - bareMs;

// ---- warm, in-process -------------------------------------------------------------------------

interface Warm {
  readonly name: string;
  readonly summary: Summary;
  readonly queries: string;
  /** Cache hits/misses per request from Server-Timing (the key's principal and the agent). */
  readonly cache: string;
}

const measure = async (
  name: string,
  call: (i: number) => Promise<{ statusCode?: number; headers?: Record<string, unknown> }>,
  expected: number,
  knownQueries?: string,
): Promise<Warm> => {
  for (let i = 0; i < warmup; i += 1) await call(i);
  const samples: number[] = [];
  const queries: number[] = [];
  const cache: string[] = [];
  for (let i = 0; i < calls; i += 1) {
    const t = performance.now();
    const response = await call(warmup + i);
    samples.push(performance.now() - t);
    if (response.statusCode !== expected) throw new Error(`${name}: status ${response.statusCode}`);
    const timing = response.headers?.['server-timing'] as string | undefined;
    const count = queriesFromServerTiming(timing);
    if (count !== undefined) queries.push(count);
    const hitsMisses = cacheFromServerTiming(timing);
    if (hitsMisses !== undefined) cache.push(hitsMisses);
  }
  return {
    name,
    summary: summarize(samples),
    queries: knownQueries ?? queryCount(queries),
    cache: distinct(cache),
  };
};

step(`warm in-process: ${calls} calls per route after ${warmup} warm-up calls`);
const agentBody = JSON.parse((await agents(getEvent(agent.id), context)).body!) as unknown;
const floor = await measure('bare handler, same JSON (floor)', bareHandler(agentBody), 200);
const warm: Warm[] = [
  await measure('GET /v1/agents/{id}, cached', () => agents(getEvent(agent.id), context), 200),
  await measure('GET /v1/agents/{id}, uncached', (i) => agents(getEvent(uncachedIds[i]!), context), 200),
  await measure(
    'GET /v1/agents?limit=20',
    () => agents(event('GET /v1/agents', '/v1/agents', { query: { limit: '20' } }), context),
    200,
  ),
  await measure(
    'POST /v1/agents',
    () => agents(event('POST /v1/agents', '/v1/agents', { body: newAgent }), context),
    201,
  ),
];
// The naive bundle reads DATABASE_URL (set by the runtime) when imported.
const naive = (await import(pathToFileURL(naivePath).href)) as { handler: Handler; pool: pg.Pool };
// No Server-Timing there: two queries (key, agent) by construction.
warm.push(
  await measure(
    'naive GET (no cache)',
    () => naive.handler(getEvent(agent.id), context),
    200,
    '2 (by design)',
  ),
);

// ---- HTTP over loopback: raw node:http floor vs the local gateway ------------------------------

step('HTTP over loopback (undici, one connection, sequential)');
const overHttp = async (name: string, base: string, path: string, headers: Record<string, string>) => {
  const pool = new Pool(base, { connections: 1 });
  try {
    return await measure(
      name,
      async () => {
        const response = await pool.request({ method: 'GET', path, headers });
        await response.body.text();
        return { statusCode: response.statusCode, headers: response.headers as Record<string, unknown> };
      },
      200,
    );
  } finally {
    await pool.close();
  }
};
const raw = await startRawHttp(agentBody);
const httpFloor = await overHttp('raw node:http, same JSON (floor)', raw.url, '/', {});
const httpCached = await overHttp(
  'GET /v1/agents/{id}, cached, local gateway',
  runtime.url,
  `/v1/agents/${agent.id}`,
  {
    authorization: `Bearer ${key}`,
  },
);

// The same two servers at a fixed concurrency, from a client process of its own; alternated rounds.
step(
  `HTTP at ${concurrency} concurrent connections: ${httpRounds} rounds of raw + gateway, ${httpWindowMs / 1000} s each`,
);
interface Throughput {
  readonly name: string;
  readonly requests: number;
  readonly errors: number;
  readonly seconds: number;
  readonly perSecond: number;
  readonly perSecondByRound: readonly number[];
  /** CPU of this process (the server's) per wall second over each whole round, warm-up included. */
  readonly serverCpuByRound: readonly number[];
  readonly summary: Summary;
}
type Round = LoadWindow & { readonly serverCpu: number };
// Both servers live in this process: its CPU use tells whether the server or the client was the limit.
const withServerCpu = async (load: Promise<LoadWindow>): Promise<Round> => {
  const cpu = process.cpuUsage();
  const wall = performance.now();
  const window = await load;
  const used = process.cpuUsage(cpu);
  return { ...window, serverCpu: (used.user + used.system) / 1000 / (performance.now() - wall) };
};
const loadRounds = { raw: [] as Round[], gateway: [] as Round[] };
for (let round = 0; round < httpRounds; round += 1) {
  const common = { connections: concurrency, warmupMs: httpWarmupMs, windowMs: httpWindowMs };
  loadRounds.raw.push(await withServerCpu(concurrentGets({ ...common, base: raw.url, path: '/' })));
  loadRounds.gateway.push(
    await withServerCpu(
      concurrentGets({
        ...common,
        base: runtime.url,
        path: `/v1/agents/${agent.id}`,
        headers: { authorization: `Bearer ${key}` },
      }),
    ),
  );
}
const throughput = (name: string, windows: readonly Round[]): Throughput => {
  const requests = windows.reduce((sum, w) => sum + w.requests, 0);
  const seconds = windows.reduce((sum, w) => sum + w.seconds, 0);
  return {
    name,
    requests,
    errors: windows.reduce((sum, w) => sum + w.errors, 0),
    seconds,
    perSecond: requests / seconds,
    perSecondByRound: windows.map((w) => w.requests / w.seconds),
    serverCpuByRound: windows.map((w) => w.serverCpu),
    summary: summarize(windows.flatMap((w) => w.latencies)),
  };
};
const concurrentGateway = throughput('GET /v1/agents/{id}, cached, local gateway', loadRounds.gateway);
const concurrentFloor = throughput('raw node:http, same JSON (floor)', loadRounds.raw);
await new Promise((done) => raw.server.close(done));

// ---- memory: fresh processes, per API function -----------------------------------------------

type ApiFunction = {
  [F in FunctionName]: (typeof functions)[F]['kind'] extends 'api' ? F : never;
}[FunctionName];
// One warm request per function, against the local services as deployed (no Server-Timing).
const memoryRoutes: Record<
  ApiFunction | 'naive',
  { route: string; event: APIGatewayProxyEventV2; status: number }
> = {
  agents: { route: 'GET /v1/agents/{id} (cached)', event: getEvent(agent.id), status: 200 },
  health: { route: 'GET /health', event: event('GET /health', '/health'), status: 200 },
  openapi: { route: 'GET /openapi.json', event: event('GET /openapi.json', '/openapi.json'), status: 200 },
  fallback: { route: 'GET /v1/nowhere (404)', event: event('$default', '/v1/nowhere'), status: 404 },
  admin: {
    route: 'GET /v1/admin/tenants',
    event: apiEvent(adminKey, 'GET /v1/admin/tenants', '/v1/admin/tenants'),
    status: 200,
  },
  executions: {
    route: 'GET /v1/agents/{id}/executions',
    event: event('GET /v1/agents/{id}/executions', `/v1/agents/${agent.id}/executions`, { id: agent.id }),
    status: 200,
  },
  activity: { route: 'GET /v1/usage', event: event('GET /v1/usage', '/v1/usage'), status: 200 },
  workflows: {
    route: 'GET /v1/workflows/{id}',
    event: event('GET /v1/workflows/{id}', `/v1/workflows/${workflow.id}`, { id: workflow.id }),
    status: 200,
  },
  workflowExecutions: {
    route: 'GET /v1/workflows/{id}/executions',
    event: event('GET /v1/workflows/{id}/executions', `/v1/workflows/${workflow.id}/executions`, {
      id: workflow.id,
    }),
    status: 200,
  },
  knowledge: {
    route: 'GET /v1/knowledge-bases/{id}',
    event: event('GET /v1/knowledge-bases/{id}', `/v1/knowledge-bases/${knowledgeBase.id}`, {
      id: knowledgeBase.id,
    }),
    status: 200,
  },
  // An empty base: the function's imports and one search statement, not a corpus's cost (npm run bench:knowledge).
  knowledgeSearch: {
    route: 'POST /v1/knowledge-bases/{id}/search (keyword)',
    event: event('POST /v1/knowledge-bases/{id}/search', `/v1/knowledge-bases/${knowledgeBase.id}/search`, {
      id: knowledgeBase.id,
      body: { query: 'harbour tides', mode: 'keyword' },
    }),
    status: 200,
  },
  naive: { route: 'GET /v1/agents/{id} (no cache)', event: getEvent(agent.id), status: 200 },
};
// What the runtime set up for its handlers (database, SQS and DynamoDB stand-ins, queues), as Lambda's env.
const localServices = Object.fromEntries(
  Object.entries(process.env).filter(
    (entry): entry is [string, string] =>
      entry[1] !== undefined &&
      /^(DATABASE_URL|AWS_ENDPOINT_URL_\w+|AWS_ACCESS_KEY_ID|AWS_SECRET_ACCESS_KEY|QUEUE_URL_\w+|DLQ_URL_\w+|IDEMPOTENCY_TABLE|SWITCHYARD_SQS_INSPECTION_URL)$/.test(
        entry[0],
      ),
  ),
);
// REDIS_URL and the admin key only where the stack gives them (lib/access.ts); the naive one reads REDIS_URL.
const memoryEnv = (fn: ApiFunction | 'naive') => {
  const access: { readonly cache?: boolean; readonly adminKey?: boolean } =
    fn === 'naive' ? { cache: true } : functionAccess[fn];
  return childEnv({
    ...localServices,
    ...(access.cache && { REDIS_URL: redis.url }),
    ...(access.adminKey && { SWITCHYARD_ADMIN_KEY: adminKey }),
  });
};
const memoryFunctions = Object.keys(memoryRoutes) as (ApiFunction | 'naive')[];
const memory = new Map<string, ChildMemory[]>([...memoryFunctions, 'bare'].map((fn) => [fn, []]));
step(
  `memory: ${memoryRuns} rounds of bare + ${memoryFunctions.length - 1} API functions + naive, ${memoryRequests} requests each`,
);
for (let round = 0; round < memoryRuns; round += 1) {
  memory.get('bare')!.push(await bareMemoryChild(initEnv));
  for (const fn of memoryFunctions) {
    const { event: request, status } = memoryRoutes[fn];
    const sample = await memoryChild(
      fn === 'naive' ? naivePath : bundlePath(fn),
      request,
      memoryRequests,
      memoryEnv(fn),
    );
    if (sample.status !== status)
      throw new Error(`memory ${fn}: status ${sample.status}, expected ${status}`);
    memory.get(fn)!.push(sample);
  }
}
const forcedGc = [...memory.values()].flat().every((sample) => sample.gc);

// ---- L2: Redis hits with L1 missing -----------------------------------------------------------

// A restart is a new container: empty L1, nothing of the first runtime left but the rows and Redis.
step('L2: the runtime restarted with REDIS_URL and CACHE_L1_TTL_MS=0 (every read goes to Redis)');
await runtime.stop();
const l1Off = await startRuntime({ REDIS_URL: redis.url, CACHE_L1_TTL_MS: '0' });
const l2Hit = await measure(
  'GET /v1/agents/{id}, L1 off, L2 hit (key and agent from Redis)',
  () => agents(getEvent(agent.id), context),
  200,
);
// Each of these agents once: Redis misses, PostgreSQL answers, Redis stores it (primes the next row).
const l2Miss = await measure(
  'GET /v1/agents/{id}, L1 off, L2 miss (then stored in Redis)',
  (i) => agents(getEvent(uncachedIds[i]!), context),
  200,
);
await l1Off.stop();
step('L2: the runtime restarted with REDIS_URL and the default L1 TTL (each agent already in Redis)');
const l1Default = await startRuntime({ REDIS_URL: redis.url });
const l2New = await measure(
  'GET /v1/agents/{id}, L1 miss, L2 hit (new agent each call)',
  (i) => agents(getEvent(uncachedIds[i]!), context),
  200,
);
await l1Default.stop();

// ---- report -----------------------------------------------------------------------------------

await naive.pool.end();
await db.end();
await redis.stop();
await postgres.stop();
await rm(work, { recursive: true, force: true });

const machine = {
  date: new Date().toISOString(),
  cpus: `${cpus().length} × ${cpus()[0]?.model ?? 'unknown'}`,
  node: process.version,
  postgres: pgVersion,
  redis: redisVersion ?? 'unknown',
  seconds: Math.round((Date.now() - started) / 1000),
};
const agentsBundle = ourBundles.find((b) => b.function === 'agents')!;

const kindOf = (fn: string) => (fn in functions ? functions[fn as FunctionName].kind : 'reference');
const bundleRows = [...ourBundles, naiveBundle].map((b) => [
  b.function,
  kindOf(b.function),
  kib(b.mainBytes),
  kib(b.chunkBytes),
  kib(b.mainBytes + b.chunkBytes),
  ms(initMs(b.function)),
  ratio(initMs(b.function), initMs('naive')),
]);
bundleRows.push([
  '**agents ÷ naive**',
  '',
  ratio(agentsBundle.mainBytes, naiveBundle.mainBytes),
  ratio(agentsBundle.chunkBytes, naiveBundle.chunkBytes),
  ratio(agentsBundle.mainBytes + agentsBundle.chunkBytes, naiveBundle.mainBytes + naiveBundle.chunkBytes),
  ratio(initMs('agents'), initMs('naive')),
  '',
]);
const importMs = (runs: ChildTimes[]) => median(runs.map((r) => r.ready)) - bareMs;
const coldRows = [
  [
    'agents',
    ms(importMs(cold.agents)),
    ms(coldMs(cold.agents)),
    ratio(coldMs(cold.agents), coldMs(cold.naive)),
  ],
  ['naive', ms(importMs(cold.naive)), ms(coldMs(cold.naive)), '1.00×'],
];
const warmRow = (w: Warm, reference: Warm) => [
  w.name,
  us(w.summary.p50),
  us(w.summary.p99),
  w.queries,
  w.cache,
  ratio(w.summary.p50, reference.summary.p50),
];
// The L2 rows next to the L1 (cached) and uncached ones they compare with.
const [cachedRow, uncachedRow, ...otherRows] = warm;
const warmRows: Warm[] = [cachedRow!, l2New, l2Hit, uncachedRow!, l2Miss, ...otherRows];
const throughputRow = (t: Throughput) => [
  t.name,
  t.perSecond.toFixed(0),
  t.perSecondByRound.map((r) => r.toFixed(0)).join(' / '),
  t.serverCpuByRound.map((c) => `${(c * 100).toFixed(0)} %`).join(' / '),
  us(t.summary.p50),
  us(t.summary.p99),
  String(t.errors),
  ratio(t.perSecond, concurrentFloor.perSecond),
];

interface MemoryFigures {
  readonly rssInit: number;
  readonly heapInit: number;
  readonly rssWarm: number | undefined;
  readonly heapWarm: number | undefined;
  /** (heap after every request − heap after init) ÷ requests: first-use loads and JIT code included. */
  readonly heapPerRequest: number | undefined;
  /** The same over the second half of the requests only: steady-state growth (a leak would show here). */
  readonly heapPerRequestSecondHalf: number | undefined;
}
const memoryFigures = (fn: string): MemoryFigures => {
  const runs = memory.get(fn)!;
  const med = (pick: (m: ChildMemory) => number | undefined) => {
    const picked = runs.map(pick).filter((v): v is number => v !== undefined);
    return picked.length > 0 ? median(picked) : undefined;
  };
  const perRequest = (m: ChildMemory, from: 'init' | 'half') => {
    const start = m[from];
    if (!m.warm || !start || !m.requests) return undefined;
    const requests = from === 'init' ? m.requests : m.requests - Math.floor(m.requests / 2);
    return (m.warm.heapUsed - start.heapUsed) / requests;
  };
  return {
    rssInit: med((m) => m.init.rss)!,
    heapInit: med((m) => m.init.heapUsed)!,
    rssWarm: med((m) => m.warm?.rss),
    heapWarm: med((m) => m.warm?.heapUsed),
    heapPerRequest: med((m) => perRequest(m, 'init')),
    heapPerRequestSecondHalf: med((m) => perRequest(m, 'half')),
  };
};
const naiveMemory = memoryFigures('naive');
const bareMemory = memoryFigures('bare');
const kbOf = (bytes: number) => (bytes / 1024).toFixed(2);
const orDash = (value: number | undefined, format: (v: number) => string) =>
  value === undefined ? '–' : format(value);
const memoryRows = [
  ...memoryFunctions.map((fn) => {
    const m = memoryFigures(fn);
    return [
      fn,
      memoryRoutes[fn].route,
      mb(m.rssInit),
      mb(m.heapInit),
      orDash(m.rssWarm, mb),
      orDash(m.heapWarm, mb),
      `${orDash(m.heapPerRequest, kbOf)} / ${orDash(m.heapPerRequestSecondHalf, kbOf)}`,
      `${ratio(m.rssInit, naiveMemory.rssInit)} / ${ratio(m.rssWarm, naiveMemory.rssWarm)}`,
      `${ratio(m.heapInit, naiveMemory.heapInit)} / ${ratio(m.heapWarm, naiveMemory.heapWarm)}`,
    ];
  }),
  ['bare node', 'nothing imported', mb(bareMemory.rssInit), mb(bareMemory.heapInit), '–', '–', '–', '', ''],
];
const markdown = `# Switchyard bench

${machine.date} · ${machine.cpus} · Node ${machine.node} · PostgreSQL ${machine.postgres} · \
Redis ${machine.redis} · ran ${machine.seconds} s

## Bundles and module init

Production bundles from bin/build.ts (ESM, minified, node22, no source map counted; the CDK functions
deploy the same split output). Main: index.mjs and the chunks it imports statically, i.e. what loads at
init; lazy: chunks reached only through \`import()\`. Goals for API functions: main ≤ 300 KB, init ≤ 50 ms
and ≤ 0.5× the naive handler's. Init: each fresh
\`node\` child prints \`performance.now()\` (ms since its process started) once the bundle is imported and
\`handler\` is a function; the figure is the median of ${initRuns} children minus the median of bare children
printing the same with nothing imported (${ms(bareMs)} ms). Children run one at a time with a clean env
(no DATABASE_URL).

${markdownTable(
  ['function', 'kind', 'main', 'lazy chunks', 'total', 'init ms (median − bare)', 'init ÷ naive'],
  bundleRows,
)}

## Cold first response, GET /v1/agents/{id}

A fresh child imports the bundle and invokes it once with an API Gateway v2 event against PostgreSQL
${machine.postgres} on loopback (DATABASE_URL and the key given): \`performance.now()\` when the response is
back, median of ${coldRuns} children, minus the bare median. Includes the pool's first connection and auth.

${markdownTable(['handler', 'of which import ms', 'cold first response ms', '÷ naive'], coldRows)}

## Warm, in-process (event in, response out, no HTTP)

Local runtime, PostgreSQL ${machine.postgres}; handlers loaded from source (tsx) in this process;
${calls} sequential calls each after ${warmup} warm-up calls. Without Redis (L1 only, default TTL) but
for the L2 rows. Uncached: a different agent each call, inserted in SQL beforehand so no cache holds it
(the key's principal is cached). L2 rows: the runtime restarted (a new container: empty L1) with
REDIS_URL on a throwaway Redis ${machine.redis} on loopback. "L1 off": CACHE_L1_TTL_MS=0, so the key's
principal and the agent both come from Redis on every call (two GETs), or on an L2 miss from PostgreSQL
and then stored in Redis (one query; the uncached agents, which primes Redis with them). "L1 miss, L2
hit": restarted again with the default L1 TTL, each of those agents read once (one Redis GET; the
key's principal from L1 after the first call). Queries and cache hits/misses (key + agent) from
Server-Timing. Goal for cached: p50 ≤ 150 µs, p99 ≤ 1 ms. Powertools warned "No application metrics
to publish" ${droppedWarnings} times (ours, metrics off locally): formatted each time, not written out.

${markdownTable(
  ['route', 'p50 µs', 'p99 µs', 'queries/request', 'cache hits/misses', 'p50 ÷ floor'],
  [...warmRows, floor].map((w) => warmRow(w, floor)),
)}

## HTTP over loopback

undici Pool, one connection, sequential; ${calls} requests after ${warmup} warm-up. The local gateway is the
dev server (bin/dev.ts), not API Gateway.

${markdownTable(
  ['server', 'p50 µs', 'p99 µs', 'queries/request', 'cache hits/misses', 'p50 ÷ floor'],
  [httpCached, httpFloor].map((w) => warmRow(w, httpFloor)),
)}

At ${concurrency} concurrent connections: a client process of its own (undici Pool of ${concurrency}
connections, ${concurrency} loops each sending its next GET when the last answered), ${httpRounds} rounds
alternating the two servers, each ${httpWarmupMs / 1000} s of warm-up then ${httpWindowMs / 1000} s counted;
req/s over both rounds, latency of every counted answer. Server CPU: this process's CPU time (it hosts
both servers) ÷ wall time over each whole round, warm-up included; 100 % is one core, so a server well
under it was held back by the client.

${markdownTable(
  ['server', 'req/s', 'req/s by round', 'server CPU by round', 'p50 µs', 'p99 µs', 'errors', 'req/s ÷ floor'],
  [concurrentGateway, concurrentFloor].map(throughputRow),
)}

## Memory per API function

A fresh \`node --expose-gc\` child per function and round (${memoryRuns} rounds, interleaved; medians):
\`process.memoryUsage()\` after a forced full GC${forcedGc ? '' : ' (gc was not available: no forced GC)'}, once
the production bundle is imported (init) and after ${memoryRequests} sequential in-process invocations of
the request shown (a fresh API Gateway v2 event each). The children get the local services as Lambda
would (PostgreSQL, the SQS and DynamoDB stand-ins, REDIS_URL only where lib/access.ts grants the
cache, the operator key for admin) and no Server-Timing. Heap Δ per request, after GC: (heap after all
− heap at init) ÷ ${memoryRequests}, which includes what the first request loads (lazy chunks, clients,
pools) and V8's optimized code; and the same over the second half only (requests
${Math.floor(memoryRequests / 2) + 1}–${memoryRequests}), the steady state, where a leak would show. The seed's
goal is < 50 MB of memory per request. Ratios: ÷ the naive handler's (init / after ${memoryRequests}).

${markdownTable(
  [
    'function',
    'request',
    'RSS init MB',
    'heap init MB',
    `RSS after ${memoryRequests} MB`,
    `heap after ${memoryRequests} MB`,
    'heap Δ/request KB (all / 2nd half)',
    'RSS ÷ naive',
    'heap ÷ naive',
  ],
  memoryRows,
)}
`;

const results = {
  machine,
  droppedMetricsWarnings: droppedWarnings,
  method: {
    init: 'median child performance.now() after import minus median bare child',
    cold: 'median child performance.now() after first response minus median bare child',
    warm: 'sequential in-process calls, performance.now() around each',
    httpConcurrent: 'client child process, fixed concurrent loops over an undici Pool, counted window',
    memory: 'fresh node --expose-gc child, process.memoryUsage() after gc() at init and after N requests',
  },
  bareChildMs: summarize(bare),
  bundles: [...ourBundles, naiveBundle].map((b) => ({
    function: b.function,
    mainBytes: b.mainBytes,
    chunkBytes: b.chunkBytes,
    initMs: initMs(b.function),
    initChildMs: summarize(init.get(b.function)!),
  })),
  cold: Object.fromEntries(
    Object.entries(cold).map(([name, runs]) => [
      name,
      {
        firstResponseMs: coldMs(runs),
        importMs: importMs(runs),
        children: runs,
      },
    ]),
  ),
  warm: [...warmRows, floor],
  http: [httpCached, httpFloor],
  httpConcurrent: {
    connections: concurrency,
    rounds: httpRounds,
    warmupMs: httpWarmupMs,
    windowMs: httpWindowMs,
    servers: [concurrentGateway, concurrentFloor].map(({ summary, ...rest }) => ({
      ...rest,
      latencyMs: summary,
    })),
  },
  memory: {
    forcedGc,
    requests: memoryRequests,
    rounds: memoryRuns,
    functions: Object.fromEntries(
      [...memoryFunctions, 'bare'].map((fn) => [
        fn,
        {
          ...memoryFigures(fn),
          route: fn === 'bare' ? null : memoryRoutes[fn as ApiFunction | 'naive'].route,
          children: memory.get(fn),
        },
      ]),
    ),
  },
};
const out = join(root, 'load/results');
await mkdir(out, { recursive: true });
await writeFile(join(out, 'bench.json'), `${JSON.stringify(results, null, 2)}\n`);
await writeFile(join(out, 'bench.md'), markdown);
console.log(markdown);
