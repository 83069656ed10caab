import { afterAll, beforeAll, describe } from 'vitest';
import { startTestApi, type TestApi } from '../support/api.ts';
import { boundedExpansionContract } from '../support/bounded-expansion-contract.ts';

describe('bounded template expansion on the embedded stand-ins', () => {
  let api: TestApi;
  beforeAll(async () => {
    api = await startTestApi({}, { workers: true });
  });
  afterAll(async () => {
    await api?.stop();
  });
  boundedExpansionContract(() => api);
});
