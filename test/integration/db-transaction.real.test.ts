import { afterAll, beforeAll, expect, it } from 'vitest';
import { createDatabase, type Database } from '#adapters/postgres/db.ts';
import { describeRealServers } from '../support/real-servers.ts';

describeRealServers('database transactions on PostgreSQL 15', (servers) => {
  let db: Database;
  beforeAll(() => {
    db = createDatabase({ connectionString: servers.postgresUrl, max: 2 });
  });
  afterAll(async () => {
    await db?.close();
  });

  it('fails a transaction whose connection is dropped, without crashing, and hands out a healthy one next', async () => {
    // Settled into a value at once: the rejection may come before the assertion looks at it.
    const outcome = db
      .transaction(async (tx) => {
        await tx.query('SELECT 1');
        await tx.query('SELECT pg_sleep(5)');
      })
      .then(
        () => new Error('the transaction finished'),
        (error: unknown) => error,
      );
    // Another session ends the transaction's backend, as a failover or a proxy restart would.
    await new Promise((resolve) => setTimeout(resolve, 300));
    const killed = await db.query<{ killed: boolean }>(
      `SELECT pg_terminate_backend(pid) AS killed FROM pg_stat_activity
        WHERE query = 'SELECT pg_sleep(5)' AND pid <> pg_backend_pid()`,
    );
    expect(killed.map((row) => row.killed)).toEqual([true]);
    expect(String(await outcome)).toMatch(/terminat/);
    // The broken client was destroyed: every later transaction and query works.
    for (let i = 0; i < 3; i++) {
      expect(await db.transaction((tx) => tx.query<{ one: number }>('SELECT 1 AS one'))).toEqual([
        { one: 1 },
      ]);
    }
  });
});
