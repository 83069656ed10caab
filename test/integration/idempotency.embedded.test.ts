import { describe } from 'vitest';
import { idempotencyContract } from '../support/idempotency-contract.ts';

describe('Idempotency-Key on the embedded stand-ins (PGlite, dynalite on disk)', () => {
  idempotencyContract(() => ({}));
});
