import { describe } from 'vitest';
import { useTestApi } from '../support/api.ts';
import { workflowsContract } from '../support/workflows-contract.ts';

describe('workflows on the embedded stand-ins (PGlite, fauxqs, dynalite)', () => {
  workflowsContract(useTestApi(() => ({ SWITCHYARD_WEBHOOKS_ALLOW_PRIVATE: 'true' }), { workers: true }));
});
