import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, type RunningProcess, runEntry } from '../../test/support/processes.ts';
import { findPostgresBin, startPostgres } from '../../test/support/real-servers.ts';

export interface LocalServer {
  readonly url: string;
  readonly apiKey: string;
  /** The database it runs on: DATABASE_URL, a throwaway PostgreSQL 15, or none (embedded PGlite). */
  readonly databaseUrl: string | undefined;
  readonly label: string;
  /** The server's environment, for worker processes that join it. */
  readonly env: Readonly<Record<string, string>>;
  readonly process: RunningProcess;
  stop(): Promise<void>;
}

/**
 * `npm start` (bin/dev.ts) in its own process for load runs, quiet and with the local
 * provider at 0 ms: on DATABASE_URL, else a throwaway PostgreSQL 15, else (no binaries)
 * embedded PGlite, said so in the label since its figures are not comparable.
 */
export const startLocalServer = async (
  options: {
    nodeFlags?: readonly string[];
    logLevel?: string;
    /** fsync, synchronous_commit and full_page_writes off: faster, and not a durable figure. */
    fastDatabase?: boolean;
  } = {},
): Promise<LocalServer> => {
  let postgres: Awaited<ReturnType<typeof startPostgres>> | undefined;
  let database = process.env['DATABASE_URL'] ? 'DATABASE_URL' : '';
  if (!database && findPostgresBin()) {
    try {
      postgres = await startPostgres({ durable: !options.fastDatabase });
      database = options.fastDatabase
        ? 'throwaway PostgreSQL 15 with fsync, synchronous_commit and full_page_writes off (--fast-db: not a durable figure)'
        : 'throwaway PostgreSQL 15 (durable: default fsync and commit settings)';
    } catch (error) {
      console.error(`throwaway PostgreSQL failed (${(error as Error).message.split('\n')[0]}); embedded`);
    }
  }
  if (!database) database = 'embedded PGlite (no PostgreSQL binaries: figures are not comparable)';
  const apiKey = 'load-key-0123456789abcdef0123';
  const dataDir = await mkdtemp(join(tmpdir(), 'switchyard-load-'));
  const port = await freePort();
  const databaseUrl = process.env['DATABASE_URL'] ?? postgres?.url;
  const env: Record<string, string> = {
    PORT: String(port),
    SWITCHYARD_DATA_DIR: dataDir,
    DB_POOL_MAX: '20',
    SWITCHYARD_API_KEYS: `load:${apiKey}`,
    SWITCHYARD_QUIET: '1',
    SWITCHYARD_SERVER_TIMING: 'false',
    SWITCHYARD_LOCAL_LLM_LATENCY_MS: '0',
    POWERTOOLS_LOG_LEVEL: options.logLevel ?? 'ERROR',
    ...(databaseUrl && { DATABASE_URL: databaseUrl }),
  };
  const server = runEntry('bin/dev.ts', [], env, options.nodeFlags ?? []);
  const stop = async () => {
    server.child.kill('SIGTERM');
    await Promise.race([server.exited, new Promise((done) => setTimeout(done, 25_000))]);
    await postgres?.stop();
    await rm(dataDir, { recursive: true, force: true });
  };
  try {
    await server.waitFor(/is ready/, 60_000);
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    url: `http://127.0.0.1:${port}`,
    apiKey,
    databaseUrl,
    label: `local bin/dev.ts, ${database}`,
    env,
    process: server,
    stop,
  };
};
