import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { type EmbeddedPostgres, startEmbeddedPostgres } from '../../bin/local-runtime/embedded-postgres.ts';

/**
 * `npm start`'s embedded PostgreSQL (PGlite on a loopback socket) for the enclosing describe
 * block, on a data folder of its own: started before its tests, stopped and removed after them.
 * Answers its URL, readable once the block's tests run.
 */
export const useEmbeddedPostgres = (): (() => string) => {
  let dataDir: string | undefined;
  let embedded: EmbeddedPostgres | undefined;
  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'switchyard-embedded-'));
    embedded = await startEmbeddedPostgres(dataDir);
  }, 60_000);
  afterAll(async () => {
    await embedded?.stop();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });
  return () => {
    if (!embedded) throw new Error('the embedded PostgreSQL has not started yet');
    return embedded.url;
  };
};
