import { afterAll, beforeAll, describe, it } from 'vitest';
import { realServersEnv, startTestApi, type TestApi, useTestApi } from '../support/api.ts';
import { checkDatabaseDown } from '../support/database-down-contract.ts';
import { hostileInputContract } from '../support/hostile-input-contract.ts';
import { describeRealServers, type RunningServer, startPostgres } from '../support/real-servers.ts';

describeRealServers('hostile input and a database outage on PostgreSQL 15 and Redis 7', (servers) => {
  describe('hostile input', () => {
    hostileInputContract(useTestApi(realServersEnv(servers)));
  });

  describe('PostgreSQL stopped under the running API', () => {
    // A server of its own, stopped by the test: the shared one stays up for the other suites.
    let postgres: RunningServer | undefined;
    let api: TestApi | undefined;
    beforeAll(async () => {
      postgres = await startPostgres();
      // Redis database 1: the other suite's cached principals (tenant ids of another PostgreSQL) stay apart.
      api = await startTestApi({ DATABASE_URL: postgres.url, REDIS_URL: `${servers.redisUrl}/1` });
    }, 60_000);
    afterAll(async () => {
      await api?.stop();
      await postgres?.stop();
    }, 30_000);

    it('answers 503 with Retry-After for reads and writes, never 500', async () => {
      // A fast shutdown: open sessions get 57P01, new connections ECONNREFUSED.
      await checkDatabaseDown(api!, () => postgres!.stop());
    });
  });
});
