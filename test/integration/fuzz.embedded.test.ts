import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApi, type TestApi } from '../support/api.ts';
import { buildFuzzRequests, createFuzzFixtures, runFuzz } from '../support/fuzz.ts';

describe('fuzz of every route on the embedded runtime (PGlite)', () => {
  let api: TestApi;
  beforeAll(async () => {
    api = await startTestApi();
  });
  afterAll(async () => {
    await api?.stop();
  });

  it('answers hostile bodies, queries, headers and ids without a 5xx, every 4xx a problem', async () => {
    const fixtures = await createFuzzFixtures(api);
    const requests = buildFuzzRequests(fixtures, 20_260_301, 30);
    expect(requests.length).toBeGreaterThan(900);
    const { failures, statuses } = await runFuzz(api, requests);
    const summary = `${failures.length} failures; statuses ${JSON.stringify([...statuses].sort((a, b) => a[0] - b[0]))}`;
    expect(failures.slice(0, 15), summary).toEqual([]);
    // The run reached past the gate: successes, and refusals of several kinds.
    for (const status of [200, 400, 404, 422])
      expect(statuses.get(status) ?? 0, String(status)).toBeGreaterThan(0);
  }, 120_000);
});
