import { describe } from 'vitest';
import { useTestApi } from '../support/api.ts';
import { executionsContract } from '../support/executions-contract.ts';

describe('executions on the embedded stand-ins (PGlite, fauxqs, dynalite)', () => {
  executionsContract(useTestApi(() => ({ SWITCHYARD_WEBHOOKS_ALLOW_PRIVATE: 'true' }), { workers: true }));
});
