/**
 * Fresh `node` processes for init and cold figures. Each child prints `performance.now()`
 * (milliseconds since its own time origin, i.e. process start) at the point measured; a bare
 * child prints it with nothing imported. Subtracting the bare median leaves what the import
 * (and first invocation) cost, free of spawn and pipe noise in the parent.
 */
import { execFile } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface ChildTimes {
  /** performance.now() once the module is imported and `handler` is a function (0 for bare). */
  readonly ready: number;
  /** performance.now() once the first invocation answered (cold children only). */
  readonly done?: number;
  readonly status?: number;
}

// Same eval mode for every child, so the bare one pays the same ESM loader start.
const bareCode = 'process.stdout.write(JSON.stringify({ ready: performance.now() }));';

const initCode = `
const m = await import(process.argv[1]);
if (typeof m.handler !== 'function') throw new Error('no handler export');
process.stdout.write(JSON.stringify({ ready: performance.now() }));
process.exit(0);`;

const coldCode = `
const m = await import(process.argv[1]);
if (typeof m.handler !== 'function') throw new Error('no handler export');
const ready = performance.now();
const context = { functionName: 'bench', functionVersion: '1', invokedFunctionArn: 'arn:bench',
  memoryLimitInMB: '512', awsRequestId: 'cold', logGroupName: 'g', logStreamName: 's',
  getRemainingTimeInMillis: () => 10000, callbackWaitsForEmptyEventLoop: false };
const response = await m.handler(JSON.parse(process.argv[2]), context);
const done = performance.now();
process.stdout.write(JSON.stringify({ ready, done, status: response.statusCode }));
process.exit(0);`;

const child = async <T = ChildTimes>(
  args: string[],
  env: Record<string, string>,
  options: { flags?: string[]; marker?: string; timeoutMs?: number } = {},
): Promise<T> => {
  const marker = options.marker ?? '{"ready"';
  const { stdout } = await run(
    process.execPath,
    [...(options.flags ?? []), '--input-type=module', '-e', ...args],
    {
      env,
      timeout: options.timeoutMs ?? 30_000,
      maxBuffer: 64 << 20,
    },
  );
  // Handlers may log; the figures are the last line, from the marker on.
  const last = stdout.trim().split('\n').at(-1)!;
  const at = last.indexOf(marker);
  return JSON.parse(at >= 0 ? last.slice(at) : last) as T;
};

export const bareChild = (env: Record<string, string>) => child([bareCode], env);

export const initChild = (bundle: string, env: Record<string, string>) =>
  child([initCode, pathToFileURL(bundle).href], env);

export const coldChild = (bundle: string, event: unknown, env: Record<string, string>) =>
  child([coldCode, pathToFileURL(bundle).href, JSON.stringify(event)], env);

/** process.memoryUsage() figures, in bytes, after a forced full GC (when the child has `gc`). */
export interface MemorySample {
  readonly rss: number;
  readonly heapUsed: number;
}

export interface ChildMemory {
  /** Once the module is imported and `handler` is a function (bare: with nothing imported). */
  readonly init: MemorySample;
  /** After the first invocation: lazy chunks loaded, pools connected, caches filled. */
  readonly afterFirst?: MemorySample;
  /** After half the invocations: from here on, what is left is steady-state growth. */
  readonly half?: MemorySample;
  /** After every invocation. */
  readonly warm?: MemorySample;
  readonly requests?: number;
  readonly status?: number;
  readonly gc: boolean;
}

// --expose-gc: each sample follows a full GC, so heapUsed is what is retained, not garbage yet to go.
const memoryFlags = ['--expose-gc'];
const sampleCode = `
const sample = () => {
  globalThis.gc?.();
  const { rss, heapUsed } = process.memoryUsage();
  return { rss, heapUsed };
};`;

const bareMemoryCode = `${sampleCode}
process.stdout.write(JSON.stringify({ memory: true, init: sample(), gc: typeof gc === 'function' }));`;

const memoryCode = `${sampleCode}
const m = await import(process.argv[1]);
if (typeof m.handler !== 'function') throw new Error('no handler export');
const init = sample();
const context = { functionName: 'bench', functionVersion: '1', invokedFunctionArn: 'arn:bench',
  memoryLimitInMB: '512', awsRequestId: 'warm', logGroupName: 'g', logStreamName: 's',
  getRemainingTimeInMillis: () => 10000, callbackWaitsForEmptyEventLoop: false };
const requests = Number(process.argv[3]);
// A fresh event per call, as Lambda hands each invocation its own.
const status = (await m.handler(JSON.parse(process.argv[2]), context)).statusCode;
const afterFirst = sample();
let half;
for (let i = 1; i < requests; i += 1) {
  if (i === Math.floor(requests / 2)) half = sample();
  const response = await m.handler(JSON.parse(process.argv[2]), context);
  if (response.statusCode !== status) throw new Error('status ' + response.statusCode + ', first was ' + status);
}
const warm = sample();
process.stdout.write(JSON.stringify({ memory: true, init, afterFirst, half, warm, requests, status,
  gc: typeof gc === 'function' }), () => process.exit(0));`;

/** RSS and heap of a bare `node` (same eval mode), for reference. */
export const bareMemoryChild = (env: Record<string, string>) =>
  child<ChildMemory>([bareMemoryCode], env, { flags: memoryFlags, marker: '{"memory"' });

/**
 * RSS and heap after the bundle's init, after its first invocation and after `requests`
 * sequential invocations with `event`, in one fresh process.
 */
export const memoryChild = (bundle: string, event: unknown, requests: number, env: Record<string, string>) =>
  child<ChildMemory>([memoryCode, pathToFileURL(bundle).href, JSON.stringify(event), String(requests)], env, {
    flags: memoryFlags,
    marker: '{"memory"',
    timeoutMs: 120_000,
  });

/** A child's environment: nothing from ours (no DATABASE_URL, no keys) but what is given. */
export const childEnv = (extra: Record<string, string> = {}): Record<string, string> => ({
  PATH: process.env['PATH'] ?? '/usr/bin:/bin',
  AWS_REGION: 'us-east-1',
  AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  STAGE: 'bench',
  POWERTOOLS_LOG_LEVEL: 'ERROR',
  POWERTOOLS_METRICS_DISABLED: 'true',
  POWERTOOLS_TRACE_ENABLED: 'false',
  ...extra,
});
