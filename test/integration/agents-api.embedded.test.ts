import { afterAll, beforeAll, describe } from 'vitest';
import { agentsApiContract } from '../support/agents-contract.ts';
import { startTestApi, type TestApi } from '../support/api.ts';

describe('agents API on the embedded stand-ins (PGlite, fauxqs, dynalite, L1 cache)', () => {
  let api: TestApi;
  beforeAll(async () => {
    api = await startTestApi();
  });
  afterAll(async () => {
    await api?.stop();
  });
  agentsApiContract(() => api);
});
