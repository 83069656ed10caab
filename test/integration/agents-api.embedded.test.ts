import { describe } from 'vitest';
import { agentsApiContract } from '../support/agents-contract.ts';
import { useTestApi } from '../support/api.ts';

describe('agents API on the embedded stand-ins (PGlite, fauxqs, dynalite, L1 cache)', () => {
  agentsApiContract(useTestApi());
});
