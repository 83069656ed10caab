// Throwaway PostgreSQL and Redis servers for integration tests.
//
// Servers run as child processes on free loopback ports, with data in a temp dir that stop() removes.
// Env overrides (mainly for testing the harness itself):
//   SWITCHYARD_PG_BIN_DIR=<dir>       use only this dir for initdb + postgres (e.g. /nonexistent = "missing")
//   SWITCHYARD_REDIS_SERVER=<path>    use only this redis-server binary
//   SWITCHYARD_REQUIRE_REAL_SERVERS=1 missing binaries fail the suite instead of skipping it (CI)
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { accessSync, constants, readdirSync, realpathSync, rmSync, statSync } from 'node:fs';
import { chown, mkdtemp, rm } from 'node:fs/promises';
import { createConnection, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { afterAll, beforeAll, describe, it } from 'vitest';

export interface RunningServer {
  url: string;
  stop(): Promise<void>;
}

/** Read lazily: URLs only exist once the describe block's beforeAll has started the servers. */
export interface RealServers {
  readonly postgresUrl: string;
  readonly redisUrl: string;
}

export type Availability = { ok: true } | { ok: false; reason: string };

const PG_BIN_ENV = 'SWITCHYARD_PG_BIN_DIR';
const REDIS_BIN_ENV = 'SWITCHYARD_REDIS_SERVER';
const PREFERRED_PG_MAJOR = 15;
const READY_TIMEOUT_MS = 30_000;
const PORT_ATTEMPTS = 3;

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return statSync(file).isFile();
  } catch {
    return false;
  }
}

function pathDirs(): string[] {
  return (process.env['PATH'] ?? '').split(delimiter).filter((dir) => dir !== '');
}

function hasPostgresBins(dir: string): boolean {
  return isExecutable(join(dir, 'initdb')) && isExecutable(join(dir, 'postgres'));
}

function postgresMajor(dir: string): number {
  try {
    const out = execFileSync(join(dir, 'postgres'), ['--version'], { encoding: 'utf8', timeout: 5_000 });
    const match = /PostgreSQL\)?\s+(\d+)/.exec(out);
    if (match) return Number(match[1]);
  } catch {
    // Fall back to the Debian layout below.
  }
  const match = /postgresql\/(\d+)\/bin/.exec(dir);
  return match ? Number(match[1]) : 0;
}

/** Directory holding initdb + postgres: PATH and /usr/lib/postgresql/<v>/bin, preferring major 15. */
export function findPostgresBin(): string | undefined {
  const override = process.env[PG_BIN_ENV];
  if (override) return hasPostgresBins(override) ? override : undefined;

  let versioned: string[] = [];
  try {
    versioned = readdirSync('/usr/lib/postgresql')
      .filter((v) => /^\d+$/.test(v))
      .sort((a, b) => Number(b) - Number(a))
      .map((v) => `/usr/lib/postgresql/${v}/bin`);
  } catch {
    // Not a Debian-style install.
  }

  // PATH entries are often symlinks into /usr/lib/postgresql; dedupe on the real binary.
  const seen = new Set<string>();
  const candidates: { dir: string; major: number }[] = [];
  for (const dir of [...pathDirs(), ...versioned]) {
    if (!hasPostgresBins(dir)) continue;
    const real = realpathSync(join(dir, 'postgres'));
    if (seen.has(real)) continue;
    seen.add(real);
    candidates.push({ dir, major: postgresMajor(dir) });
  }
  const preferred = candidates.find((c) => c.major === PREFERRED_PG_MAJOR);
  if (preferred) return preferred.dir;
  return candidates.sort((a, b) => b.major - a.major)[0]?.dir;
}

export function findRedisServer(): string | undefined {
  const override = process.env[REDIS_BIN_ENV];
  if (override) return isExecutable(override) ? override : undefined;
  // sbin dirs are often missing from a non-root PATH.
  const dirs = [...pathDirs(), '/usr/bin', '/usr/sbin', '/usr/local/bin'];
  return dirs.map((dir) => join(dir, 'redis-server')).find(isExecutable);
}

/**
 * Whether the PostgreSQL the harness starts has the pgvector extension installed. Debian 12 has
 * no package of it for PostgreSQL 15: `.ci/run` builds it from source (`.ci/vendor/README.md`).
 */
export function pgvectorInstalled(): boolean {
  const binDir = findPostgresBin();
  if (!binDir) return false;
  try {
    // The pg_config beside the real server binary: a PATH one may belong to another version.
    const serverDir = dirname(realpathSync(join(binDir, 'postgres')));
    const share = execFileSync(join(serverDir, 'pg_config'), ['--sharedir'], { encoding: 'utf8' }).trim();
    statSync(join(share, 'extension', 'vector.control'));
    return true;
  } catch {
    return false;
  }
}

export function realServersRequired(): boolean {
  return process.env['SWITCHYARD_REQUIRE_REAL_SERVERS'] === '1';
}

const isRoot = (): boolean => process.getuid?.() === 0;

function postgresUser(): { uid: number; gid: number } | undefined {
  try {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
    return Number.isInteger(uid) && Number.isInteger(gid) ? { uid, gid } : undefined;
  } catch {
    return undefined;
  }
}

export function realServersAvailable(): Availability {
  const reasons: string[] = [];
  if (!findPostgresBin()) {
    const where = process.env[PG_BIN_ENV]
      ? `${PG_BIN_ENV}=${process.env[PG_BIN_ENV]}`
      : 'PATH or /usr/lib/postgresql/*/bin';
    reasons.push(`PostgreSQL initdb + postgres not found in ${where}`);
  } else if (isRoot() && !postgresUser()) {
    reasons.push('running as root but there is no "postgres" user to run PostgreSQL as');
  }
  if (!findRedisServer()) {
    const where = process.env[REDIS_BIN_ENV] ? `${REDIS_BIN_ENV}=${process.env[REDIS_BIN_ENV]}` : 'PATH';
    reasons.push(`redis-server not found in ${where}`);
  }
  return reasons.length === 0 ? { ok: true } : { ok: false, reason: reasons.join('; ') };
}

// --- child processes -----------------------------------------------------------------------------------

interface Proc {
  child: ChildProcess;
  exited: Promise<void>;
  /** Exited and stdout/stderr drained: the full output is available. */
  closed: Promise<void>;
  hasExited(): boolean;
  output(): string;
}

let setprivWithPdeathsig: boolean | undefined;

function canUseSetpriv(): boolean {
  if (setprivWithPdeathsig === undefined) {
    try {
      const help = execFileSync('setpriv', ['--help'], { encoding: 'utf8', timeout: 5_000 });
      setprivWithPdeathsig = help.includes('--pdeathsig');
    } catch {
      setprivWithPdeathsig = false;
    }
  }
  return setprivWithPdeathsig;
}

/**
 * Spawns cmd, as the postgres user when asked and we are root. setpriv execs in place (so the pid is the
 * server's own) and sets a parent-death signal, so servers die even if the test worker is SIGKILLed.
 */
function spawnProc(
  cmd: string,
  args: string[],
  opts: { asPostgres: boolean; deathSignal: string; cwd: string },
) {
  const dropToPostgres = opts.asPostgres && isRoot();
  let child: ChildProcess;
  if (canUseSetpriv()) {
    const user = dropToPostgres ? ['--reuid', 'postgres', '--regid', 'postgres', '--init-groups'] : [];
    child = spawn('setpriv', [...user, '--pdeathsig', opts.deathSignal, '--', cmd, ...args], {
      cwd: opts.cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  } else {
    const ids = dropToPostgres ? postgresUser() : undefined;
    if (dropToPostgres && !ids) throw new Error('running as root but there is no "postgres" user');
    child = spawn(cmd, args, { cwd: opts.cwd, stdio: ['ignore', 'pipe', 'pipe'], ...ids });
  }

  let output = '';
  let done = false;
  const append = (chunk: Buffer): void => {
    output = (output + chunk.toString('utf8')).slice(-8_000);
  };
  child.stdout?.on('data', append);
  child.stderr?.on('data', append);
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => {
      done = true;
      resolve();
    });
    child.once('error', (err) => {
      append(Buffer.from(`\nspawn failed: ${err.message}\n`));
      done = true;
      resolve();
    });
  });
  const closed = new Promise<void>((resolve) => {
    child.once('close', () => resolve());
    child.once('error', () => resolve());
  });
  return { child, exited, closed, hasExited: () => done, output: () => output } satisfies Proc;
}

/** Lets the test process exit even if a server is still running; the exit hook then kills it. */
function unrefProc(proc: Proc): void {
  proc.child.unref();
  for (const stream of [proc.child.stdout, proc.child.stderr]) (stream as Socket | null)?.unref();
}

async function terminate(proc: Proc, signal: NodeJS.Signals, graceMs: number): Promise<void> {
  if (proc.hasExited()) return;
  proc.child.kill(signal);
  // Cancelled once the server exits, so a pending grace timer never holds the process open.
  const grace = new AbortController();
  const timer = sleep(graceMs, 'timeout' as const, { signal: grace.signal }).catch(() => 'exited' as const);
  const outcome = await Promise.race([proc.exited.then(() => 'exited' as const), timer]);
  grace.abort();
  if (outcome === 'timeout') {
    proc.child.kill('SIGKILL');
    await proc.exited;
  }
}

function exitStatus(proc: Proc): string {
  const { exitCode, signalCode } = proc.child;
  return signalCode ? `signal ${signalCode}` : `code ${exitCode}`;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => (port ? resolve(port) : reject(new Error('could not pick a free port'))));
    });
  });
}

async function waitUntilReady(proc: Proc, what: string, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let lastError = 'not ready';
  while (Date.now() < deadline) {
    if (proc.hasExited()) {
      // Give the pipes a moment to drain so the error carries the server's last words.
      await Promise.race([proc.closed, sleep(1_000)]);
      throw new Error(`${what} exited (${exitStatus(proc)}) before accepting connections:\n${proc.output()}`);
    }
    try {
      if (await check()) return;
    } catch (err) {
      lastError = err instanceof Error ? err.message : String(err);
    }
    await sleep(50);
  }
  throw new Error(`${what} not ready after ${READY_TIMEOUT_MS} ms (${lastError}):\n${proc.output()}`);
}

const portInUse = (proc: Proc): boolean => /address already in use|could not bind/i.test(proc.output());

/**
 * Binding port 0 and closing leaves a window for another worker to take the port, so retry on a
 * bind failure with a fresh port.
 */
async function startOnFreePort(
  what: string,
  launch: (port: number) => Proc,
  ready: (port: number, proc: Proc) => Promise<void>,
  fixedPort?: number,
): Promise<{ port: number; proc: Proc }> {
  for (let attempt = 1; ; attempt++) {
    const port = fixedPort ?? (await freePort());
    const proc = launch(port);
    try {
      await ready(port, proc);
      return { port, proc };
    } catch (err) {
      await terminate(proc, 'SIGKILL', 5_000);
      if (fixedPort === undefined && attempt < PORT_ATTEMPTS && portInUse(proc)) continue;
      throw err instanceof Error ? err : new Error(`${what}: ${String(err)}`);
    }
  }
}

/** Stops the server on stop() or, as a last resort, synchronously when the test process exits. */
function manage(proc: Proc, dir: string, signal: NodeJS.Signals, exitSignal: NodeJS.Signals) {
  const onExit = (): void => {
    if (!proc.hasExited()) proc.child.kill(exitSignal);
    try {
      rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
    } catch {
      // Best effort while exiting.
    }
  };
  process.on('exit', onExit);
  unrefProc(proc);
  let stopping: Promise<void> | undefined;
  return (): Promise<void> => {
    stopping ??= (async () => {
      process.off('exit', onExit);
      await terminate(proc, signal, 15_000);
      await rm(dir, { recursive: true, force: true, maxRetries: 3 });
    })();
    return stopping;
  };
}

// --- PostgreSQL -----------------------------------------------------------------------------------------

async function pgQuery(url: string, sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2_000 });
  client.on('error', () => {}); // errors surface through connect()/query()
  try {
    await client.connect();
    await client.query(sql);
  } finally {
    await client.end().catch(() => {});
  }
}

/**
 * A throwaway PostgreSQL. Tests run it with fsync, synchronous_commit and full_page_writes off
 * (nothing to keep); `durable: true` keeps PostgreSQL's defaults, as benchmark figures need
 * (Aurora is durable: a commit waits for its log to be written).
 */
export async function startPostgres(options: { durable?: boolean } = {}): Promise<RunningServer> {
  const binDir = findPostgresBin();
  if (!binDir) throw new Error(`PostgreSQL binaries not found (${PG_BIN_ENV} / PATH / /usr/lib/postgresql)`);
  const dir = await mkdtemp(join(tmpdir(), 'switchyard-pg-'));
  try {
    // postgres refuses to run as root, so the whole tree belongs to the postgres user.
    if (isRoot()) {
      const ids = postgresUser();
      if (!ids) throw new Error('running as root but there is no "postgres" user');
      await chown(dir, ids.uid, ids.gid);
    }
    const dataDir = join(dir, 'data');
    const spawnOpts = { asPostgres: true, deathSignal: 'KILL', cwd: dir };
    const initdb = spawnProc(
      join(binDir, 'initdb'),
      ['-D', dataDir, '-A', 'trust', '-U', 'postgres', '--no-sync', '-E', 'UTF8'],
      spawnOpts,
    );
    await initdb.closed;
    if (initdb.child.exitCode !== 0) {
      throw new Error(`initdb failed (${exitStatus(initdb)}):\n${initdb.output()}`);
    }

    const { port, proc } = await startOnFreePort(
      'postgres',
      // SIGQUIT on parent death = immediate shutdown, which also takes down the backends.
      (port) =>
        spawnProc(
          join(binDir, 'postgres'),
          [
            ...['-D', dataDir, '-p', String(port), '-k', dir],
            ...['-c', 'listen_addresses=127.0.0.1', '-c', 'max_connections=200'],
            ...(options.durable
              ? []
              : ['-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off']),
          ],
          { ...spawnOpts, deathSignal: 'QUIT' },
        ),
      (port, proc) =>
        waitUntilReady(proc, 'postgres', async () => {
          await pgQuery(`postgres://postgres@127.0.0.1:${port}/postgres`, 'SELECT 1');
          return true;
        }),
    );
    // SIGINT = fast shutdown: disconnects clients instead of waiting for them like SIGTERM does.
    const stop = manage(proc, dir, 'SIGINT', 'SIGQUIT');
    try {
      await pgQuery(`postgres://postgres@127.0.0.1:${port}/postgres`, 'CREATE DATABASE switchyard');
    } catch (err) {
      await stop();
      throw err;
    }
    return { url: `postgres://postgres@127.0.0.1:${port}/switchyard`, stop };
  } catch (err) {
    await rm(dir, { recursive: true, force: true, maxRetries: 3 });
    throw err;
  }
}

// --- Redis ----------------------------------------------------------------------------------------------

function redisPing(port: number): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    let reply = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error('PING timed out'));
    }, 1_000);
    socket.setEncoding('utf8');
    socket.on('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk: string) => {
      reply += chunk;
      if (!reply.includes('\r\n')) return;
      clearTimeout(timer);
      socket.destroy();
      // -LOADING etc. means "not yet"; keep polling.
      resolve(reply.startsWith('+PONG'));
    });
    socket.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

/** `port` restarts a server where an earlier one ran (outage and recovery tests); default: a free port. */
export async function startRedis(options: { port?: number } = {}): Promise<RunningServer> {
  const bin = findRedisServer();
  if (!bin) throw new Error(`redis-server not found (${REDIS_BIN_ENV} / PATH)`);
  // Nothing is persisted, but --dir keeps any stray file out of the cwd.
  const dir = await mkdtemp(join(tmpdir(), 'switchyard-redis-'));
  try {
    const { port, proc } = await startOnFreePort(
      'redis-server',
      (port) =>
        spawnProc(
          bin,
          [
            ...['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
            ...['--dir', dir, '--loglevel', 'warning'],
          ],
          { asPostgres: false, deathSignal: 'KILL', cwd: dir },
        ),
      (port, proc) => waitUntilReady(proc, 'redis-server', () => redisPing(port)),
      options.port,
    );
    return { url: `redis://127.0.0.1:${port}`, stop: manage(proc, dir, 'SIGTERM', 'SIGKILL') };
  } catch (err) {
    await rm(dir, { recursive: true, force: true, maxRetries: 3 });
    throw err;
  }
}

// --- vitest helper --------------------------------------------------------------------------------------

let warnedSkip = false;

function notStarted(which: string): never {
  throw new Error(
    `real-servers: ${which} read before beforeAll started the servers (read it inside a hook/test)`,
  );
}

/**
 * describe() with throwaway PostgreSQL + Redis servers shared by the block. Missing binaries skip the block
 * on a developer machine, but fail it when SWITCHYARD_REQUIRE_REAL_SERVERS=1 (CI): never a silent skip there.
 */
export function describeRealServers(name: string, fn: (servers: RealServers) => void): void {
  const title = `real-servers: ${name}`;
  let postgres: RunningServer | undefined;
  let redis: RunningServer | undefined;
  const servers: RealServers = {
    get postgresUrl() {
      return postgres?.url ?? notStarted('postgresUrl');
    },
    get redisUrl() {
      return redis?.url ?? notStarted('redisUrl');
    },
  };

  const availability = realServersAvailable();
  if (!availability.ok) {
    const { reason } = availability;
    if (realServersRequired()) {
      describe(title, () => {
        it('has real PostgreSQL and Redis servers available', () => {
          throw new Error(`SWITCHYARD_REQUIRE_REAL_SERVERS=1 but ${reason}`);
        });
      });
      return;
    }
    if (!warnedSkip) {
      warnedSkip = true;
      console.warn(`[real-servers] skipping real-server suites: ${reason}`);
    }
    describe.skip(title, () => fn(servers));
    return;
  }

  describe(title, () => {
    // Registered before fn's hooks: its beforeAll hooks run after ours and its afterAll hooks before ours.
    beforeAll(async () => {
      const [pgResult, redisResult] = await Promise.allSettled([startPostgres(), startRedis()]);
      if (pgResult.status === 'fulfilled') postgres = pgResult.value;
      if (redisResult.status === 'fulfilled') redis = redisResult.value;
      const failures = [pgResult, redisResult].filter((r) => r.status === 'rejected');
      if (failures.length > 0) {
        await Promise.all([postgres?.stop(), redis?.stop()]);
        postgres = undefined;
        redis = undefined;
        throw new AggregateError(
          failures.map((f) => f.reason),
          `could not start real servers: ${failures.map((f) => String(f.reason)).join('; ')}`,
        );
      }
    }, 90_000);
    afterAll(async () => {
      await Promise.all([postgres?.stop(), redis?.stop()]);
    }, 30_000);
    fn(servers);
  });
}
