import { afterAll, beforeAll } from 'vitest';
import { startTestApi, type TestApi } from '../support/api.ts';
import { describeRealServers } from '../support/real-servers.ts';
import { workflowsContract } from '../support/workflows-contract.ts';

describeRealServers('workflows on PostgreSQL 15 and Redis 7', (servers) => {
  let api: TestApi;
  beforeAll(async () => {
    api = await startTestApi(
      {
        DATABASE_URL: servers.postgresUrl,
        REDIS_URL: servers.redisUrl,
        SWITCHYARD_WEBHOOKS_ALLOW_PRIVATE: 'true',
      },
      { workers: true },
    );
  });
  afterAll(async () => {
    await api?.stop();
  });
  workflowsContract(() => api);
});
