import { afterAll, beforeAll, describe } from 'vitest';
import { startTestApi, type TestApi } from '../support/api.ts';
import { retentionContract, retentionTestEnv } from '../support/retention-contract.ts';

describe('retention on the embedded stand-ins (PGlite, fauxqs)', () => {
  let api: TestApi;
  beforeAll(async () => {
    Object.assign(process.env, retentionTestEnv);
    api = await startTestApi({}, { workers: true });
  });
  afterAll(async () => {
    await api?.stop();
  });
  retentionContract();
});
