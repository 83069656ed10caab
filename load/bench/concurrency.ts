/**
 * Throughput at a fixed concurrency: a child `node` process (so the client has its own event
 * loop, and on two cores its own core, while the server keeps the bench's) runs `connections`
 * loops over an undici Pool of as many connections, each sending the next GET as soon as the
 * last answered. A warm-up, then a timed window; every answer that completed in it is counted
 * and its latency kept. No autocannon in the devDependencies: undici is already a dependency.
 */
import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface LoadWindow {
  /** Answers with the expected status that completed in the window. */
  readonly requests: number;
  readonly errors: number;
  /** From the window's start until the last loop finished its request in flight. */
  readonly seconds: number;
  /** Latency of each counted answer, ms. */
  readonly latencies: readonly number[];
}

const clientCode = `
const [undiciUrl, base, path, headersJson, connectionsText, warmupText, windowText] = process.argv.slice(1);
const { Pool } = await import(undiciUrl);
const connections = Number(connectionsText);
const headers = JSON.parse(headersJson);
const pool = new Pool(base, { connections, pipelining: 1 });
const window = async (ms, record) => {
  const until = performance.now() + ms;
  const latencies = [];
  let errors = 0;
  const loop = async () => {
    while (performance.now() < until) {
      const started = performance.now();
      try {
        const response = await pool.request({ method: 'GET', path, headers });
        await response.body.text();
        if (response.statusCode !== 200) errors += 1;
        else if (record) latencies.push(performance.now() - started);
      } catch {
        errors += 1;
      }
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: connections }, loop));
  return { requests: latencies.length, errors, seconds: (performance.now() - started) / 1000, latencies };
};
await window(Number(warmupText), false);
const result = await window(Number(windowText), true);
await pool.close();
// Exit only once the pipe took it all: a large write to a pipe is asynchronous.
process.stdout.write(JSON.stringify(result), () => process.exit(0));`;

const undiciUrl = pathToFileURL(createRequire(import.meta.url).resolve('undici')).href;

/** `GET base+path` from `connections` concurrent loops: `warmupMs` unrecorded, then `windowMs` recorded. */
export const concurrentGets = async (options: {
  readonly base: string;
  readonly path: string;
  readonly headers?: Record<string, string>;
  readonly connections: number;
  readonly warmupMs: number;
  readonly windowMs: number;
}): Promise<LoadWindow> => {
  const { stdout } = await run(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      clientCode,
      undiciUrl,
      options.base,
      options.path,
      JSON.stringify(options.headers ?? {}),
      String(options.connections),
      String(options.warmupMs),
      String(options.windowMs),
    ],
    { timeout: options.warmupMs + options.windowMs + 30_000, maxBuffer: 64 << 20 },
  );
  return JSON.parse(stdout) as LoadWindow;
};
