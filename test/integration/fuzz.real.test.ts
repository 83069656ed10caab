import { afterAll, beforeAll, expect, it } from 'vitest';
import { startTestApi, type TestApi } from '../support/api.ts';
import { buildFuzzRequests, createFuzzFixtures, runFuzz } from '../support/fuzz.ts';
import { describeRealServers } from '../support/real-servers.ts';

describeRealServers('fuzz of every route on PostgreSQL 15 and Redis 7', (servers) => {
  let api: TestApi;
  beforeAll(async () => {
    api = await startTestApi({ DATABASE_URL: servers.postgresUrl, REDIS_URL: servers.redisUrl });
  });
  afterAll(async () => {
    await api?.stop();
  });

  it('answers hostile bodies, queries, headers and ids without a 5xx, every 4xx a problem', async () => {
    const fixtures = await createFuzzFixtures(api);
    const requests = buildFuzzRequests(fixtures, 20_260_302, 30);
    expect(requests.length).toBeGreaterThan(900);
    const { failures, statuses } = await runFuzz(api, requests, 6);
    const summary = `${failures.length} failures; statuses ${JSON.stringify([...statuses].sort((a, b) => a[0] - b[0]))}`;
    expect(failures.slice(0, 15), summary).toEqual([]);
    for (const status of [200, 400, 404, 422])
      expect(statuses.get(status) ?? 0, String(status)).toBeGreaterThan(0);
  }, 120_000);
});
