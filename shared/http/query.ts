import * as z from 'zod/mini';
import { decodeCursor, type KeysetPosition } from '#domain/cursor.ts';
import type { FieldError } from '#domain/errors.ts';
import { badRequest, invalidQuery } from '#domain/errors.ts';
import { maxWaitSeconds } from '#domain/execution.ts';

/**
 * Query parameters as zod/mini schemas. Each parameter is a string in, a typed value out, with
 * the exact `detail` the API has always answered; `parseQuery` collects every problem so the
 * client learns all of them at once (one 400). Each schema carries its JSON Schema for the
 * OpenAPI document (`queryDocOf`), so a parameter is described where it is parsed.
 */

/** The JSON Schema of a query parameter as the client sends it, with its description. */
export interface QueryDoc {
  readonly schema: Record<string, unknown>;
  readonly description: string;
}

const docs = new WeakMap<z.ZodMiniType, QueryDoc>();

/** The OpenAPI description of a query parameter's schema (undefined for one not made here). */
export const queryDocOf = (schema: z.ZodMiniType): QueryDoc | undefined => docs.get(schema);

/** A raw value refused, with the detail the client is told. */
class Refusal {
  constructor(readonly detail: string) {}
}

type Read<T> = (raw: string) => T | Refusal;

const refuse = (detail: string) => new Refusal(detail);

/** A parameter read from its raw string; `absent` answers when it is missing. */
const param = <T, A>(read: Read<T>, absent: () => A, doc: QueryDoc) => {
  const schema = z.pipe(
    z.optional(z.string()),
    z.transform((raw: string | undefined, ctx): Exclude<T, Refusal> | A => {
      if (raw === undefined) return absent();
      const value = read(raw);
      if (value instanceof Refusal) {
        ctx.issues.push({ code: 'custom', message: value.detail, input: raw });
        return z.NEVER;
      }
      return value as Exclude<T, Refusal>;
    }),
  );
  docs.set(schema, doc);
  return schema;
};

const none = () => undefined;

/** An integer from `min` to `max`; `fallback` when absent. */
export const integerParam = (
  options: { readonly min: number; readonly max: number; readonly fallback: number },
  description: string,
) =>
  param(
    (raw) => {
      const value = /^\d{1,9}$/.test(raw) ? Number(raw) : Number.NaN;
      return Number.isInteger(value) && value >= options.min && value <= options.max
        ? value
        : refuse(`must be an integer from ${options.min} to ${options.max}`);
    },
    () => options.fallback,
    {
      schema: { type: 'integer', minimum: options.min, maximum: options.max, default: options.fallback },
      description,
    },
  );

/** One of `allowed`; undefined when absent. */
export const oneOfParam = <T extends string>(allowed: readonly T[], description: string) =>
  param(
    (raw) =>
      (allowed as readonly string[]).includes(raw)
        ? (raw as T)
        : refuse(`must be one of: ${allowed.join(', ')}`),
    none,
    { schema: { type: 'string', enum: [...allowed] }, description },
  );

/** A comma-separated subset of `allowed`; `always` is added whatever was asked; all when absent. */
export const fieldsParam = <T extends string>(allowed: readonly T[], always: T, description: string) =>
  param(
    (raw): Set<T> | Refusal => {
      if (raw === '') return new Set(allowed);
      const asked = raw.split(',').map((f) => f.trim());
      const unknown = asked.filter((f) => !(allowed as readonly string[]).includes(f));
      if (unknown.length > 0) {
        return refuse(`unknown fields: ${unknown.join(', ')}; allowed: ${allowed.join(', ')}`);
      }
      return new Set([always, ...(asked as T[])]);
    },
    () => new Set(allowed),
    { schema: { type: 'string' }, description },
  );

/** Free text, trimmed; empty is absent. */
export const textParam = (options: { readonly maxLength: number }, description: string) =>
  param(
    (raw): string | undefined | Refusal => {
      const text = raw.trim();
      if (text === '') return undefined;
      return text.length > options.maxLength
        ? refuse(`must be at most ${options.maxLength} characters`)
        : text;
    },
    none,
    { schema: { type: 'string', maxLength: options.maxLength }, description },
  );

/** A calendar day, `YYYY-MM-DD`, from 1970-01-01 to 9999-12-31; undefined when absent or empty. */
export const dayParam = (description: string) =>
  param(
    (raw): string | undefined | Refusal => {
      if (raw === '') return undefined;
      const parsed = new Date(`${raw}T00:00:00Z`);
      // Rejects what Date cannot parse (2026-13-01), what it would roll over (2026-02-30), and
      // years PostgreSQL cannot hold (0000) or no row can have (before 1970).
      const valid =
        /^\d{4}-\d{2}-\d{2}$/.test(raw) &&
        !Number.isNaN(parsed.getTime()) &&
        parsed.getUTCFullYear() >= 1970 &&
        parsed.toISOString().startsWith(raw);
      return valid ? raw : refuse('must be a date from 1970-01-01 to 9999-12-31, YYYY-MM-DD');
    },
    none,
    { schema: { type: 'string', format: 'date' }, description },
  );

/** A keyset cursor this API issued; undefined when absent or empty. */
export const cursorParam = (description = 'next_cursor of the previous page') =>
  param(
    (raw): KeysetPosition | undefined | Refusal => {
      if (raw === '') return undefined;
      return decodeCursor(raw) ?? refuse('is not a cursor this API issued');
    },
    none,
    { schema: { type: 'string' }, description },
  );

/** The query of a keyset-paged list: `limit` (the page size) and `cursor`, then the list's own filters. */
export const pageQuery = <Filters extends Record<string, z.ZodMiniType> = Record<never, never>>(
  limit: { readonly min: number; readonly max: number; readonly fallback: number },
  filters: Filters = {} as Filters,
): z.ZodMiniObject<
  NoInfer<{ limit: ReturnType<typeof integerParam>; cursor: ReturnType<typeof cursorParam> } & Filters>
> => z.object({ limit: integerParam(limit, 'Page size'), cursor: cursorParam(), ...filters });

/** `?wait=N` of a starting POST: hold the request up to N seconds (0–20) for the result. */
export const waitParam = (what: string) =>
  integerParam(
    { min: 0, max: maxWaitSeconds, fallback: 0 },
    `Hold the request up to this many seconds: 200 with the finished ${what}, else 202`,
  );

/** The raw query as API Gateway passes it. */
export type RawQuery = Readonly<Record<string, string | undefined>>;

/** Parses a query with its schema: a 400 naming every refused parameter, in declaration order. */
export const parseQuery = <S extends z.ZodMiniType>(schema: S, query: RawQuery): z.output<S> => {
  const result = schema.safeParse(query);
  if (result.success) return result.data;
  const errors: FieldError[] = result.error.issues.map((issue) => ({
    field: issue.path.map(String).join('.') || '(query)',
    detail: issue.message,
  }));
  throw invalidQuery(errors);
};

/** An action's body (cancel) is optional, and a JSON object when present. */
export const requireOptionalObjectBody = (body: unknown): void => {
  if (body !== undefined && (typeof body !== 'object' || body === null)) {
    throw badRequest('The body, if any, must be a JSON object.');
  }
};
