import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface EmbeddedPostgres {
  readonly url: string;
  readonly dataDir: string;
  stop(): Promise<void>;
}

const lockFile = 'switchyard.pid';

/** Whether a process exists (signal 0 checks without signalling). */
export const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/**
 * PGlite on the data folder, served on a loopback Postgres socket so that `pg` and the
 * migrations run exactly as against PostgreSQL. PGlite is single-process: a pid file
 * keeps a second process (the keys CLI while the server runs) from opening the folder.
 */
export const startEmbeddedPostgres = async (dataDir: string): Promise<EmbeddedPostgres> => {
  const lock = join(dataDir, lockFile);
  const holder = Number((await readFile(lock, 'utf8').catch(() => '')).trim());
  if (holder && holder !== process.pid && isAlive(holder)) {
    throw new Error(`the data folder ${dataDir} is in use by process ${holder}; stop it first`);
  }
  await writeFile(lock, `${process.pid}\n`, { mode: 0o600 });

  const { PGlite } = await import('@electric-sql/pglite');
  const { PGLiteSocketServer } = await import('@electric-sql/pglite-socket');
  // pgvector, for knowledge search: offered here, loaded only when a database creates it.
  const { vector } = await import('@electric-sql/pglite-pgvector');
  const pgDir = join(dataDir, 'pgdata');
  const db = await PGlite.create(pgDir, { extensions: { vector } });
  // A few slots so a closed connection (the migrator's) can linger; the app pool uses one.
  const server = new PGLiteSocketServer({ db, host: '127.0.0.1', port: 0, maxConnections: 4 });
  try {
    await server.start();
  } catch (error) {
    await db.close();
    throw error;
  }
  return {
    url: `postgres://postgres@${server.getServerConn()}/postgres`,
    dataDir: pgDir,
    async stop() {
      await server.stop();
      await db.close();
      await rm(lock, { force: true });
    },
  };
};
