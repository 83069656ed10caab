import { decodeCursor, type KeysetPosition } from '../domain/cursor.ts';
import type { FieldError } from '../domain/errors.ts';
import { badRequest, invalidQuery } from '../domain/errors.ts';
import { maxWaitSeconds } from '../domain/execution.ts';

/**
 * Reads query parameters, collecting every problem so the client learns all of them
 * at once; `done()` throws a 400 if there were any.
 */
export class QueryReader {
  private readonly errors: FieldError[] = [];

  constructor(private readonly query: Readonly<Record<string, string | undefined>>) {}

  integer(name: string, options: { min: number; max: number; fallback: number }): number {
    const raw = this.query[name];
    if (raw === undefined) return options.fallback;
    const value = /^\d{1,9}$/.test(raw) ? Number(raw) : Number.NaN;
    if (!Number.isInteger(value) || value < options.min || value > options.max) {
      this.errors.push({ field: name, detail: `must be an integer from ${options.min} to ${options.max}` });
      return options.fallback;
    }
    return value;
  }

  oneOf<T extends string>(name: string, allowed: readonly T[]): T | undefined {
    const raw = this.query[name];
    if (raw === undefined) return undefined;
    if (!(allowed as readonly string[]).includes(raw)) {
      this.errors.push({ field: name, detail: `must be one of: ${allowed.join(', ')}` });
      return undefined;
    }
    return raw as T;
  }

  /** A comma-separated subset of `allowed`; `always` is added whatever was asked. */
  fields<T extends string>(name: string, allowed: readonly T[], always: T): Set<T> {
    const raw = this.query[name];
    if (raw === undefined || raw === '') return new Set(allowed);
    const asked = raw.split(',').map((f) => f.trim());
    const unknown = asked.filter((f) => !(allowed as readonly string[]).includes(f));
    if (unknown.length > 0) {
      this.errors.push({
        field: name,
        detail: `unknown fields: ${unknown.join(', ')}; allowed: ${allowed.join(', ')}`,
      });
    }
    return new Set([always, ...(asked.filter((f) => !unknown.includes(f)) as T[])]);
  }

  /** Free text, trimmed; empty is absent. */
  text(name: string, options: { maxLength: number }): string | undefined {
    const raw = this.query[name]?.trim();
    if (raw === undefined || raw === '') return undefined;
    if (raw.length > options.maxLength) {
      this.errors.push({ field: name, detail: `must be at most ${options.maxLength} characters` });
      return undefined;
    }
    return raw;
  }

  /** A calendar day, `YYYY-MM-DD`, from 1970-01-01 to 9999-12-31. */
  day(name: string, fallback: string): string {
    const raw = this.query[name];
    if (raw === undefined || raw === '') return fallback;
    const parsed = new Date(`${raw}T00:00:00Z`);
    // Rejects what Date cannot parse (2026-13-01), what it would roll over (2026-02-30), and
    // years PostgreSQL cannot hold (0000) or no row can have (before 1970).
    const valid =
      /^\d{4}-\d{2}-\d{2}$/.test(raw) &&
      !Number.isNaN(parsed.getTime()) &&
      parsed.getUTCFullYear() >= 1970 &&
      parsed.toISOString().startsWith(raw);
    if (!valid) {
      this.errors.push({ field: name, detail: 'must be a date from 1970-01-01 to 9999-12-31, YYYY-MM-DD' });
      return fallback;
    }
    return raw;
  }

  /** Records a problem that involves more than one parameter. */
  reject(name: string, detail: string): void {
    this.errors.push({ field: name, detail });
  }

  cursor(name: string): KeysetPosition | undefined {
    const raw = this.query[name];
    if (raw === undefined || raw === '') return undefined;
    const position = decodeCursor(raw);
    if (!position) this.errors.push({ field: name, detail: 'is not a cursor this API issued' });
    return position;
  }

  done(): void {
    if (this.errors.length > 0) throw invalidQuery(this.errors);
  }
}

/** `?wait=N` of a starting POST: hold the request up to N seconds (0–20) for the result. */
export const waitSecondsOf = (query: Readonly<Record<string, string | undefined>>): number => {
  const reader = new QueryReader(query);
  const seconds = reader.integer('wait', { min: 0, max: maxWaitSeconds, fallback: 0 });
  reader.done();
  return seconds;
};

/** An action's body (cancel) is optional, and a JSON object when present. */
export const requireOptionalObjectBody = (body: unknown): void => {
  if (body !== undefined && (typeof body !== 'object' || body === null)) {
    throw badRequest('The body, if any, must be a JSON object.');
  }
};
