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

const child = async (args: string[], env: Record<string, string>): Promise<ChildTimes> => {
  const { stdout } = await run(process.execPath, ['--input-type=module', '-e', ...args], {
    env,
    timeout: 30_000,
    maxBuffer: 1 << 20,
  });
  // Handlers may log; the figures are the last line.
  return JSON.parse(
    stdout
      .trim()
      .split('\n')
      .at(-1)!
      .replace(/^.*?(\{"ready")/, '$1'),
  ) as ChildTimes;
};

export const bareChild = (env: Record<string, string>) => child([bareCode], env);

export const initChild = (bundle: string, env: Record<string, string>) =>
  child([initCode, pathToFileURL(bundle).href], env);

export const coldChild = (bundle: string, event: unknown, env: Record<string, string>) =>
  child([coldCode, pathToFileURL(bundle).href, JSON.stringify(event)], env);

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
