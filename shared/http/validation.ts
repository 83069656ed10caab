import * as z from 'zod/mini';
import en from 'zod/v4/locales/en.js';
import type { FieldError } from '#domain/errors.ts';
import { validationFailed } from '#domain/errors.ts';

// zod/mini ships without messages; the English locale is a few KB. A missing value is
// "is required" (the field is named next to it), not "expected string, received undefined".
z.config({
  ...en(),
  customError: (issue) =>
    (issue.code === 'invalid_type' || issue.code === 'invalid_union') && issue.input === undefined
      ? 'is required'
      : undefined,
});

/** Zod issues as per-field errors: `unknown field` for each key the schema does not allow. */
export const toFieldErrors = (issues: readonly z.core.$ZodIssue[]): FieldError[] => {
  // zod/mini runs length checks even after a type failure; the type error alone is the useful one.
  const mistyped = new Set(issues.filter((i) => i.code === 'invalid_type').map((i) => i.path.join('.')));
  return issues.flatMap((issue): FieldError[] => {
    const path = issue.path.map(String).join('.');
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map((key) => ({ field: path ? `${path}.${key}` : key, detail: 'unknown field' }));
    }
    if (issue.code !== 'invalid_type' && mistyped.has(issue.path.join('.'))) return [];
    return [{ field: path || '(body)', detail: issue.message }];
  });
};

/** Validates a parsed JSON body against a schema: 422 with every field error on failure. */
export const validateBody = <S extends z.ZodMiniType>(schema: S, body: unknown): z.infer<S> => {
  const result = schema.safeParse(body);
  if (!result.success) throw validationFailed(toFieldErrors(result.error.issues));
  return result.data;
};
