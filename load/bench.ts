/**
 * `npx tsx load/bench.ts [--init-runs 10] [--cold-runs 5] [--calls 2000]` (issue 6, first part).
 *
 * Bundle sizes, module init and cold first response of the production bundles, against a naive
 * reference handler (load/bench/naive-handler.ts); warm in-process latency and queries per
 * request of the agents routes on the local runtime with a throwaway PostgreSQL 15; a floor
 * (bare handler, raw node:http) so figures read as ratios. Writes load/results/bench.{json,md}.
 * Figures are for reading: no thresholds, no pass/fail.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs, promisify } from 'node:util';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { build } from 'esbuild';
import pg from 'pg';
import { Pool } from 'undici';
import { bundleSizes, productionBundleOptions } from '../lib/bundling.ts';
import { loadHandler, startLocalRuntime } from '../shared/local/runtime.ts';
import type { FunctionName } from '../shared/manifest.ts';
import { functions } from '../shared/manifest.ts';
import { startPostgres } from '../test/support/real-servers.ts';
import { bareHandler, startRawHttp } from './bench/floor.ts';
import type { ChildTimes } from './bench/processes.ts';
import { bareChild, childEnv, coldChild, initChild } from './bench/processes.ts';
import type { Summary } from './bench/stats.ts';
import {
  kib,
  markdownTable,
  median,
  ms,
  queriesFromServerTiming,
  queryCount,
  ratio,
  summarize,
  us,
} from './bench/stats.ts';
import { type ApiHandler, apiEvent, lambdaContext } from './support/lambda-events.ts';

const { values } = parseArgs({
  options: {
    'init-runs': { type: 'string', default: '20' },
    'cold-runs': { type: 'string', default: '10' },
    calls: { type: 'string', default: '2000' },
  },
});
const initRuns = Number(values['init-runs']);
const coldRuns = Number(values['cold-runs']);
const calls = Number(values.calls);
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

step('starting PostgreSQL and the local runtime');
const key = 'bench-key-0123456789abcdef0123';
const postgres = await startPostgres();
const dataDir = join(work, 'data');
const runtime = await startLocalRuntime({
  port: 0,
  dataDir,
  workers: false,
  env: {
    ...process.env,
    DATABASE_URL: postgres.url,
    SWITCHYARD_API_KEYS: `bench:${key}`,
    SWITCHYARD_SERVER_TIMING: 'true',
    POWERTOOLS_LOG_LEVEL: 'ERROR',
    POWERTOOLS_METRICS_DISABLED: 'true',
  },
});
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
  for (let i = 0; i < calls; i += 1) {
    const t = performance.now();
    const response = await call(warmup + i);
    samples.push(performance.now() - t);
    if (response.statusCode !== expected) throw new Error(`${name}: status ${response.statusCode}`);
    const count = queriesFromServerTiming(response.headers?.['server-timing'] as string | undefined);
    if (count !== undefined) queries.push(count);
  }
  return { name, summary: summarize(samples), queries: knownQueries ?? queryCount(queries) };
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
await new Promise((done) => raw.server.close(done));

// ---- report -----------------------------------------------------------------------------------

await naive.pool.end();
await db.end();
await runtime.stop();
await postgres.stop();
await rm(work, { recursive: true, force: true });

const machine = {
  date: new Date().toISOString(),
  cpus: `${cpus().length} × ${cpus()[0]?.model ?? 'unknown'}`,
  node: process.version,
  postgres: pgVersion,
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
  ratio(w.summary.p50, reference.summary.p50),
];
const markdown = `# Switchyard bench

${machine.date} · ${machine.cpus} · Node ${machine.node} · PostgreSQL ${machine.postgres} · \
ran ${machine.seconds} s

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

Local runtime, PostgreSQL ${machine.postgres}, no Redis (L1 only, default TTL); handlers loaded from
source (tsx) in this process; ${calls} sequential calls each after ${warmup} warm-up calls. Uncached: a
different agent each call, inserted in SQL beforehand so no cache holds it (the key's principal is
cached). Queries from Server-Timing. Goal for cached: p50 ≤ 150 µs, p99 ≤ 1 ms. Powertools warned
"No application metrics to publish" ${droppedWarnings} times (ours, metrics off locally): formatted each
time, not written out.

${markdownTable(
  ['route', 'p50 µs', 'p99 µs', 'queries/request', 'p50 ÷ floor'],
  [...warm, floor].map((w) => warmRow(w, floor)),
)}

## HTTP over loopback

undici Pool, one connection, sequential; ${calls} requests after ${warmup} warm-up. The local gateway is the
dev server (bin/dev.ts), not API Gateway.

${markdownTable(
  ['server', 'p50 µs', 'p99 µs', 'queries/request', 'p50 ÷ floor'],
  [httpCached, httpFloor].map((w) => warmRow(w, httpFloor)),
)}
`;

const results = {
  machine,
  droppedMetricsWarnings: droppedWarnings,
  method: {
    init: 'median child performance.now() after import minus median bare child',
    cold: 'median child performance.now() after first response minus median bare child',
    warm: 'sequential in-process calls, performance.now() around each',
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
  warm: [...warm, floor],
  http: [httpCached, httpFloor],
};
const out = join(root, 'load/results');
await mkdir(out, { recursive: true });
await writeFile(join(out, 'bench.json'), `${JSON.stringify(results, null, 2)}\n`);
await writeFile(join(out, 'bench.md'), markdown);
console.log(markdown);
