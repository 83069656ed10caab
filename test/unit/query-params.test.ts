import { describe, expect, it } from 'vitest';
import * as z from 'zod/mini';
import { encodeCursor } from '#domain/cursor.ts';
import { ProblemError } from '#domain/errors.ts';
import {
  cursorParam,
  dayParam,
  fieldsParam,
  integerParam,
  oneOfParam,
  parseQuery,
  queryDocOf,
} from '#http/query.ts';
import { thrownBy } from '../support/problems.ts';

const limit = { min: 1, max: 100, fallback: 20 };
const allowed = ['id', 'name', 'model', 'status'] as const;
const orders = ['asc', 'desc'] as const;

const schema = z.object({
  limit: integerParam(limit, 'Page size'),
  order: oneOfParam(orders, 'Order'),
  fields: fieldsParam(allowed, 'id', 'Fields'),
  cursor: cursorParam(),
});

/** The field errors of the 400 `parseQuery` throws, failing the test if it throws nothing. */
const errorsOf = (query: Record<string, string>) => {
  const problem = thrownBy(ProblemError, () => parseQuery(schema, query));
  expect(problem.status).toBe(400);
  expect(problem.type).toBe('https://switchyard.dev/problems/invalid-query');
  expect(problem.title).toBe('Invalid query parameters');
  return problem.extra.errors;
};

describe('integerParam', () => {
  it('answers the fallback when the parameter is absent, without an error', () => {
    expect(parseQuery(schema, {}).limit).toBe(20);
  });

  it('reads integers within the bounds, bounds included', () => {
    for (const [raw, value] of [
      ['1', 1],
      ['100', 100],
      ['42', 42],
      ['007', 7],
    ] as const) {
      expect(parseQuery(schema, { limit: raw }).limit).toBe(value);
    }
  });

  it.each([
    ['1.5'],
    ['-1'],
    ['abc'],
    ['0'],
    ['101'],
    [''],
    [' 5'],
    ['+5'],
    ['1e2'],
    ['0x10'],
    ['5abc'],
    ['99999999999999999999'],
    ['9007199254740993'],
  ])('rejects %j', (raw) => {
    expect(errorsOf({ limit: raw })).toEqual([
      { field: 'limit', detail: 'must be an integer from 1 to 100' },
    ]);
  });

  it('accepts 0 when the minimum is 0', () => {
    const offset = z.object({ offset: integerParam({ min: 0, max: 10, fallback: 5 }, 'Offset') });
    expect(parseQuery(offset, { offset: '0' }).offset).toBe(0);
  });

  it('documents itself for OpenAPI', () => {
    expect(queryDocOf(integerParam(limit, 'Page size'))).toEqual({
      schema: { type: 'integer', minimum: 1, maximum: 100, default: 20 },
      description: 'Page size',
    });
  });
});

describe('oneOfParam', () => {
  it('answers undefined when absent, an allowed value when given', () => {
    expect(parseQuery(schema, {}).order).toBeUndefined();
    expect(parseQuery(schema, { order: 'desc' }).order).toBe('desc');
  });

  it('rejects anything else, case-sensitively, naming the allowed values', () => {
    for (const raw of ['DESC', 'up', '', 'asc,desc']) {
      expect(errorsOf({ order: raw })).toEqual([{ field: 'order', detail: 'must be one of: asc, desc' }]);
    }
  });
});

describe('fieldsParam', () => {
  it('answers every allowed field when absent or empty', () => {
    for (const query of [{}, { fields: '' }])
      expect(parseQuery(schema, query).fields).toEqual(new Set(allowed));
  });

  it('answers the fields asked for, with the always field added; trims and ignores duplicates', () => {
    expect(parseQuery(schema, { fields: 'name,model' }).fields).toEqual(new Set(['id', 'name', 'model']));
    expect(parseQuery(schema, { fields: ' name , name,id ' }).fields).toEqual(new Set(['id', 'name']));
  });

  it('reports unknown fields by name', () => {
    const [error, ...rest] = errorsOf({ fields: 'name,secret,tenant_id' }) ?? [];
    expect(rest).toEqual([]);
    expect(error?.field).toBe('fields');
    expect(error?.detail).toContain('secret, tenant_id');
    expect(error?.detail).toContain('allowed: id, name, model, status');
  });
});

describe('cursorParam', () => {
  const position = {
    createdAt: new Date('2024-03-04T05:06:07.890Z'),
    id: '0190a5f4-7b2c-7d3e-8f40-123456789abc',
  };

  it('answers undefined when absent or empty, decodes a cursor the API issued', () => {
    expect(parseQuery(schema, {}).cursor).toBeUndefined();
    expect(parseQuery(schema, { cursor: '' }).cursor).toBeUndefined();
    expect(parseQuery(schema, { cursor: encodeCursor(position) }).cursor).toEqual(position);
  });

  it('reports a cursor the API did not issue', () => {
    expect(errorsOf({ cursor: 'bogus' })).toEqual([
      { field: 'cursor', detail: 'is not a cursor this API issued' },
    ]);
  });
});

describe('dayParam', () => {
  it('reads days from 1970 to 9999 and refuses year 0 and earlier days PostgreSQL or no row can hold', () => {
    const days = z.object({ a: dayParam('a'), b: dayParam('b'), c: dayParam('c'), d: dayParam('d') });
    expect(parseQuery(days, { a: '1970-01-01', b: '9999-12-31' })).toEqual({
      a: '1970-01-01',
      b: '9999-12-31',
    });
    try {
      parseQuery(days, { a: '1970-01-01', b: '9999-12-31', c: '0000-01-01', d: '1969-12-31' });
      throw new Error('no refusal');
    } catch (error) {
      expect((error as ProblemError).extra.errors?.map((e) => e.field)).toEqual(['c', 'd']);
    }
  });
});

describe('parseQuery', () => {
  it('throws one 400 problem with every field error collected, in declaration order', () => {
    const errors = errorsOf({ limit: 'abc', order: 'sideways', fields: 'name,bogus', cursor: '!!' });
    expect(errors?.map((e) => e.field)).toEqual(['limit', 'order', 'fields', 'cursor']);
    for (const error of errors ?? []) expect(error.detail.length).toBeGreaterThan(0);
  });

  it('ignores parameters the route does not declare', () => {
    expect(() => parseQuery(schema, { unrelated: 'whatever' })).not.toThrow();
  });
});
