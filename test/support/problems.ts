import { expect } from 'vitest';
import type * as z from 'zod/mini';
import { type FieldError, ProblemError } from '#domain/errors.ts';
import { validateBody } from '#http/validation.ts';

/** What `action` throws, as a `type`; fails the test if it throws anything else, or nothing. */
export const thrownBy = <E>(type: abstract new (...args: never[]) => E, action: () => unknown): E => {
  try {
    action();
  } catch (error) {
    expect(error).toBeInstanceOf(type);
    return error as E;
  }
  throw new Error(`expected a ${type.name}, but nothing was thrown`);
};

/** The field errors (at least one) of the 422 validation problem `validateBody` throws for `body`. */
export const validationErrors = (schema: z.ZodMiniType, body: unknown): FieldError[] => {
  const problem = thrownBy(ProblemError, () => validateBody(schema, body));
  expect(problem.status).toBe(422);
  expect(problem.type).toBe('https://switchyard.dev/problems/validation-failed');
  expect(problem.extra.errors?.length).toBeGreaterThan(0);
  return [...(problem.extra.errors ?? [])];
};

/** The fields the errors name, in order. */
export const fieldsOf = (errors: readonly FieldError[]): string[] => errors.map((error) => error.field);
