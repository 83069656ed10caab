import { afterAll, beforeAll } from 'vitest';
import { agentsApiContract } from '../support/agents-contract.ts';
import { startTestApi, type TestApi } from '../support/api.ts';
import { describeRealServers } from '../support/real-servers.ts';

describeRealServers('agents API on PostgreSQL 15 and Redis 7', (servers) => {
  let api: TestApi;
  beforeAll(async () => {
    api = await startTestApi({ DATABASE_URL: servers.postgresUrl, REDIS_URL: servers.redisUrl });
  });
  afterAll(async () => {
    await api?.stop();
  });
  agentsApiContract(() => api);
});
