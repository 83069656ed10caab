import { afterAll, beforeAll, describe } from 'vitest';
import { startTestApi, type TestApi } from '../support/api.ts';
import { workflowsContract } from '../support/workflows-contract.ts';

describe('workflows on the embedded stand-ins (PGlite, fauxqs, dynalite)', () => {
  let api: TestApi;
  beforeAll(async () => {
    api = await startTestApi({ SWITCHYARD_WEBHOOKS_ALLOW_PRIVATE: 'true' }, { workers: true });
  });
  afterAll(async () => {
    await api?.stop();
  });
  workflowsContract(() => api);
});
