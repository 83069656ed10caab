import { afterAll, beforeAll } from 'vitest';
import { startTestApi, type TestApi } from '../support/api.ts';
import { boundedExpansionContract } from '../support/bounded-expansion-contract.ts';
import { describeRealServers } from '../support/real-servers.ts';

describeRealServers('bounded template expansion on PostgreSQL 15 and Redis 7', (servers) => {
  let api: TestApi;
  beforeAll(async () => {
    api = await startTestApi(
      { DATABASE_URL: servers.postgresUrl, REDIS_URL: servers.redisUrl },
      { workers: true },
    );
  });
  afterAll(async () => {
    await api?.stop();
  });
  boundedExpansionContract(() => api);
});
