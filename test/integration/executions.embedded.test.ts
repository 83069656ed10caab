import { afterAll, beforeAll, describe } from 'vitest';
import { startTestApi, type TestApi } from '../support/api.ts';
import { executionsContract } from '../support/executions-contract.ts';

describe('executions on the embedded stand-ins (PGlite, fauxqs, dynalite)', () => {
  let api: TestApi;
  beforeAll(async () => {
    api = await startTestApi({ SWITCHYARD_WEBHOOKS_ALLOW_PRIVATE: 'true' }, { workers: true });
  });
  afterAll(async () => {
    await api?.stop();
  });
  executionsContract(() => api);
});
