import type { FieldError } from '#domain/errors.ts';
import { badRequest, invalidQuery, validationFailed } from '#domain/errors.ts';
import { canonicalId } from '#domain/ids.ts';

/**
 * The one gate every request's input passes before a handler sees it: bodies, query strings and
 * path parameters. It refuses, rather than silently changes, what PostgreSQL or JSON cannot hold
 * faithfully (NUL, unpaired surrogates, numbers that overflowed to Infinity), keys that would
 * touch an object's prototype, and shapes whose processing cost grows faster than their size
 * (deep nesting, huge objects). Each check is linear in the input and allocates nothing on the
 * accept path.
 */

declare global {
  interface String {
    /** ES2024; in Node 20. */
    isWellFormed(): boolean;
    toWellFormed(): string;
  }
}

export const inputLimits = {
  /** Objects and arrays nested in one another, the body itself being level 1. */
  maxDepth: 64,
  /** Keys of one object. */
  maxKeys: 1_000,
  /** Elements of one array. */
  maxArrayLength: 10_000,
} as const;

/** Keys that reach an object's prototype when copied by assignment (zod records, spreads). */
const reservedKeys: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);

/** Why a string is refused, or undefined when it is acceptable text. */
export const textProblem = (value: string): string | undefined => {
  if (value.includes('\0')) return 'must not contain the NUL character (U+0000)';
  if (!value.isWellFormed()) return 'must be well-formed Unicode text (it has an unpaired surrogate)';
  return undefined;
};

/** A field name fit to show back to the client: no NUL, no unpaired surrogate. */
const printable = (name: string): string => name.replaceAll('\0', '\\u0000').toWellFormed();

const maxReported = 20;

/**
 * The depth of the deepest object or array in a JSON text, counted by a linear scan that skips
 * string contents, stopping as soon as it exceeds `limit`: a body nested 100,000 deep costs as much
 * as its bytes, never a recursion. Works on any text; JSON.parse judges well-formedness afterwards.
 */
export const jsonDepthExceeds = (text: string, limit: number = inputLimits.maxDepth): boolean => {
  let depth = 0;
  const length = text.length;
  for (let i = 0; i < length; i++) {
    const c = text.charCodeAt(i);
    if (c === 34 /* " */) {
      // Jump to the closing quote: the next quote not escaped by an odd run of backslashes.
      for (;;) {
        const close = text.indexOf('"', i + 1);
        if (close === -1) return false;
        let backslashes = 0;
        for (let j = close - 1; text.charCodeAt(j) === 92 /* \ */; j--) backslashes++;
        i = close;
        if (backslashes % 2 === 0) break;
      }
    } else if (c === 123 /* { */ || c === 91 /* [ */) {
      depth++;
      if (depth > limit) return true;
    } else if (c === 125 /* } */ || c === 93 /* ] */) {
      depth--;
    }
  }
  return false;
};

interface WalkState {
  readonly path: (string | number)[];
  readonly errors: FieldError[];
}

const fieldOf = (path: readonly (string | number)[], last?: string): string => {
  const parts = path.map((p) => (typeof p === 'number' ? String(p) : printable(p)));
  if (last !== undefined) parts.push(printable(last));
  return parts.length === 0 ? '(body)' : parts.join('.');
};

const report = (state: WalkState, detail: string, last?: string): void => {
  if (state.errors.length < maxReported) state.errors.push({ field: fieldOf(state.path, last), detail });
};

/** Depth is bounded by `jsonDepthExceeds` before parsing, so this recursion is too. */
const walk = (value: unknown, state: WalkState): void => {
  switch (typeof value) {
    case 'string': {
      const problem = textProblem(value);
      if (problem) report(state, problem);
      return;
    }
    case 'number':
      // JSON has no Infinity: only a literal too large for a double (1e309) parses to it.
      if (!Number.isFinite(value))
        report(state, 'is a number out of range: it must be finite (at most ~1.8e308)');
      return;
    case 'object': {
      if (value === null) return;
      if (Array.isArray(value)) {
        if (value.length > inputLimits.maxArrayLength) {
          report(state, `has more than ${inputLimits.maxArrayLength} elements`);
          return;
        }
        for (let i = 0; i < value.length; i++) {
          state.path.push(i);
          walk(value[i], state);
          state.path.pop();
        }
        return;
      }
      let keys = 0;
      const record = value as Record<string, unknown>;
      for (const key in record) {
        keys++;
        if (keys > inputLimits.maxKeys) {
          report(state, `has more than ${inputLimits.maxKeys} keys`);
          return;
        }
        if (reservedKeys.has(key)) {
          report(state, 'is a reserved name; use another key', key);
          continue;
        }
        const problem = textProblem(key);
        if (problem) {
          report(state, `(the key) ${problem}`, key);
          continue;
        }
        state.path.push(key);
        walk(record[key], state);
        state.path.pop();
      }
      return;
    }
    default:
      return;
  }
};

/** The problems of a parsed JSON body, each with the path of its field; empty when it is acceptable. */
export const bodyProblems = (body: unknown): FieldError[] => {
  const state: WalkState = { path: [], errors: [] };
  walk(body, state);
  return state.errors;
};

/** Throws a 422 naming every refused field of a parsed JSON body. */
export const gateJsonValue = (body: unknown): void => {
  const errors = bodyProblems(body);
  if (errors.length > 0) throw validationFailed(errors);
};

/** Throws a 422 when a JSON text nests deeper than the limit; call before JSON.parse. */
export const gateJsonText = (text: string): void => {
  if (jsonDepthExceeds(text)) {
    throw validationFailed([
      { field: '(body)', detail: `nests objects and arrays deeper than ${inputLimits.maxDepth} levels` },
    ]);
  }
};

/** Query parameters, names and values alike: text without NUL or unpaired surrogates. 400 otherwise. */
export const gateQuery = (query: Readonly<Record<string, string | undefined>>): void => {
  let errors: FieldError[] | undefined;
  for (const name in query) {
    const value = query[name];
    const problem = textProblem(name) ?? (value === undefined ? undefined : textProblem(value));
    if (problem) {
      errors ??= [];
      if (errors.length < maxReported) errors.push({ field: printable(name), detail: problem });
    }
  }
  if (errors) throw invalidQuery(errors);
};

/**
 * Path parameters, gated like the query and then canonicalised: a UUID in any letter case becomes
 * its lower-case spelling, so every cache key and query sees one spelling per resource. Anything
 * else is passed on as sent (services answer 404 for an id that is not a UUID).
 */
export const gatePathParameters = (
  parameters: Readonly<Record<string, string | undefined>>,
): Record<string, string | undefined> => {
  const canonical: Record<string, string | undefined> = {};
  let errors: FieldError[] | undefined;
  for (const name in parameters) {
    const value = parameters[name];
    if (value === undefined) continue;
    const problem = textProblem(value);
    if (problem) {
      errors ??= [];
      errors.push({ field: printable(name), detail: problem });
      continue;
    }
    canonical[name] = canonicalId(value);
  }
  if (errors) throw badRequest('A path parameter is not acceptable text.', errors);
  return canonical;
};
