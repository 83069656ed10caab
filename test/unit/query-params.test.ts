import { describe, expect, it } from 'vitest';
import { encodeCursor } from '../../shared/domain/cursor.ts';
import { ProblemError } from '../../shared/domain/errors.ts';
import { QueryReader } from '../../shared/http/query.ts';

const limit = { min: 1, max: 100, fallback: 20 };
const allowed = ['id', 'name', 'model', 'status'] as const;

/** The ProblemError `done()` throws, failing the test if it throws nothing. */
const problemOf = (reader: QueryReader): ProblemError => {
  try {
    reader.done();
  } catch (error) {
    expect(error).toBeInstanceOf(ProblemError);
    return error as ProblemError;
  }
  throw new Error('done() did not throw');
};

describe('QueryReader.integer', () => {
  it('answers the fallback when the parameter is absent, without an error', () => {
    const reader = new QueryReader({});
    expect(reader.integer('limit', limit)).toBe(20);
    expect(() => reader.done()).not.toThrow();
  });

  it('reads integers within the bounds, bounds included', () => {
    const reader = new QueryReader({ a: '1', b: '100', c: '42', d: '007' });
    expect(reader.integer('a', limit)).toBe(1);
    expect(reader.integer('b', limit)).toBe(100);
    expect(reader.integer('c', limit)).toBe(42);
    expect(reader.integer('d', limit)).toBe(7);
    expect(() => reader.done()).not.toThrow();
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
  ])('rejects %j and answers the fallback', (raw) => {
    const reader = new QueryReader({ limit: raw });
    expect(reader.integer('limit', limit)).toBe(20);
    const problem = problemOf(reader);
    expect(problem.extra.errors).toEqual([{ field: 'limit', detail: 'must be an integer from 1 to 100' }]);
  });

  it('accepts 0 when the minimum is 0', () => {
    const reader = new QueryReader({ offset: '0' });
    expect(reader.integer('offset', { min: 0, max: 10, fallback: 5 })).toBe(0);
    expect(() => reader.done()).not.toThrow();
  });
});

describe('QueryReader.oneOf', () => {
  const orders = ['asc', 'desc'] as const;

  it('answers undefined when absent', () => {
    const reader = new QueryReader({});
    expect(reader.oneOf('order', orders)).toBeUndefined();
    expect(() => reader.done()).not.toThrow();
  });

  it('answers an allowed value', () => {
    const reader = new QueryReader({ order: 'desc' });
    expect(reader.oneOf('order', orders)).toBe('desc');
    expect(() => reader.done()).not.toThrow();
  });

  it('rejects anything else, case-sensitively, naming the allowed values', () => {
    for (const raw of ['DESC', 'up', '', 'asc,desc']) {
      const reader = new QueryReader({ order: raw });
      expect(reader.oneOf('order', orders)).toBeUndefined();
      expect(problemOf(reader).extra.errors).toEqual([
        { field: 'order', detail: 'must be one of: asc, desc' },
      ]);
    }
  });
});

describe('QueryReader.fields', () => {
  it('answers every allowed field when absent or empty', () => {
    for (const query of [{}, { fields: '' }]) {
      const reader = new QueryReader(query);
      expect(reader.fields('fields', allowed, 'id')).toEqual(new Set(allowed));
      expect(() => reader.done()).not.toThrow();
    }
  });

  it('answers the fields asked for, with the always field added', () => {
    const reader = new QueryReader({ fields: 'name,model' });
    expect(reader.fields('fields', allowed, 'id')).toEqual(new Set(['id', 'name', 'model']));
    expect(() => reader.done()).not.toThrow();
  });

  it('trims spaces and ignores duplicates', () => {
    const reader = new QueryReader({ fields: ' name , name,id ' });
    expect(reader.fields('fields', allowed, 'id')).toEqual(new Set(['id', 'name']));
    expect(() => reader.done()).not.toThrow();
  });

  it('reports unknown fields by name, keeping the known ones', () => {
    const reader = new QueryReader({ fields: 'name,secret,tenant_id' });
    expect(reader.fields('fields', allowed, 'id')).toEqual(new Set(['id', 'name']));
    const [error, ...rest] = problemOf(reader).extra.errors ?? [];
    expect(rest).toEqual([]);
    expect(error?.field).toBe('fields');
    expect(error?.detail).toContain('secret, tenant_id');
    expect(error?.detail).toContain('allowed: id, name, model, status');
  });
});

describe('QueryReader.cursor', () => {
  const position = {
    createdAt: new Date('2024-03-04T05:06:07.890Z'),
    id: '0190a5f4-7b2c-7d3e-8f40-123456789abc',
  };

  it('answers undefined when absent or empty', () => {
    for (const query of [{}, { cursor: '' }]) {
      const reader = new QueryReader(query);
      expect(reader.cursor('cursor')).toBeUndefined();
      expect(() => reader.done()).not.toThrow();
    }
  });

  it('decodes a cursor the API issued', () => {
    const reader = new QueryReader({ cursor: encodeCursor(position) });
    expect(reader.cursor('cursor')).toEqual(position);
    expect(() => reader.done()).not.toThrow();
  });

  it('reports a cursor the API did not issue', () => {
    const reader = new QueryReader({ cursor: 'bogus' });
    expect(reader.cursor('cursor')).toBeUndefined();
    expect(problemOf(reader).extra.errors).toEqual([
      { field: 'cursor', detail: 'is not a cursor this API issued' },
    ]);
  });
});

describe('QueryReader.done', () => {
  it('throws one 400 problem with every field error collected, in order', () => {
    const reader = new QueryReader({ limit: 'abc', order: 'sideways', fields: 'name,bogus', cursor: '!!' });
    reader.integer('limit', limit);
    reader.oneOf('order', ['asc', 'desc']);
    reader.fields('fields', allowed, 'id');
    reader.cursor('cursor');
    const problem = problemOf(reader);
    expect(problem.status).toBe(400);
    expect(problem.type).toBe('https://switchyard.dev/problems/invalid-query');
    expect(problem.title).toBe('Invalid query parameters');
    expect(problem.extra.errors?.map((e) => e.field)).toEqual(['limit', 'order', 'fields', 'cursor']);
    for (const error of problem.extra.errors ?? []) expect(error.detail.length).toBeGreaterThan(0);
  });

  it('does not throw when every parameter is valid', () => {
    const reader = new QueryReader({ limit: '10', order: 'asc', fields: 'name' });
    reader.integer('limit', limit);
    reader.oneOf('order', ['asc', 'desc']);
    reader.fields('fields', allowed, 'id');
    reader.cursor('cursor');
    expect(() => reader.done()).not.toThrow();
  });

  it('ignores parameters nobody reads', () => {
    const reader = new QueryReader({ unrelated: 'whatever' });
    expect(() => reader.done()).not.toThrow();
  });
});
