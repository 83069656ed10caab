import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { type EmbeddedPostgres, startEmbeddedPostgres } from '../../bin/local-runtime/embedded-postgres.ts';
import { startTestApi, type TestApi, useTestApi } from '../support/api.ts';
import { checkDatabaseDown } from '../support/database-down-contract.ts';
import { hostileInputContract } from '../support/hostile-input-contract.ts';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.ts';

describe('hostile input on the embedded runtime (PGlite)', () => {
  hostileInputContract(useTestApi());
});

describe('the embedded runtime with its database unreachable (PGlite behind a proxy)', () => {
  let dataDir: string;
  let db: EmbeddedPostgres;
  let proxy: TcpProxy;
  let api: TestApi;
  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'switchyard-pglite-'));
    db = await startEmbeddedPostgres(dataDir);
    proxy = await startTcpProxy(db.url);
    // PGlite serves one session at a time: one pooled connection, as the runtime's embedded mode.
    api = await startTestApi({ DATABASE_URL: proxy.urlFor(db.url), DB_POOL_MAX: '1' });
  });
  afterAll(async () => {
    await api?.stop();
    await proxy?.close();
    await db?.stop();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('answers 503 with Retry-After for reads and writes, and serves again once it is back', async () => {
    await checkDatabaseDown(
      api,
      () => proxy.cut(),
      () => proxy.restore(),
    );
  });
});
