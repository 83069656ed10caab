import { describe } from 'vitest';
import { useTestApi } from '../support/api.ts';
import { fuzzEveryRoute } from '../support/fuzz.ts';

describe('fuzz of every route on the embedded runtime (PGlite)', () => {
  fuzzEveryRoute(useTestApi(), { seed: 20_260_301 });
});
