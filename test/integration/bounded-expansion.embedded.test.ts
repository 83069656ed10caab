import { describe } from 'vitest';
import { useTestApi } from '../support/api.ts';
import { boundedExpansionContract } from '../support/bounded-expansion-contract.ts';

describe('bounded template expansion on the embedded stand-ins', () => {
  boundedExpansionContract(useTestApi(undefined, { workers: true }));
});
