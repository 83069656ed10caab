import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { cursorTimeBounds, decodeCursor, encodeCursor } from '#domain/cursor.ts';
import { ProblemError } from '#domain/errors.ts';
import { canonicalId } from '#domain/ids.ts';
import {
  bodyProblems,
  gatePathParameters,
  gateQuery,
  inputLimits,
  jsonDepthExceeds,
} from '#http/input-gate.ts';
import { parseJsonBody } from '#http/request.ts';

const id = '0190a5f4-7b2c-7d3e-8f40-123456789abc';

const event = (body: string, contentType = 'application/json'): APIGatewayProxyEventV2 =>
  ({
    body,
    isBase64Encoded: false,
    headers: { 'content-type': contentType },
  }) as unknown as APIGatewayProxyEventV2;

/** The problem a call throws, as status and field errors. */
const refusal = (call: () => unknown): { status: number; slug: string; fields: string[] } => {
  try {
    call();
  } catch (error) {
    expect(error).toBeInstanceOf(ProblemError);
    const problem = error as ProblemError;
    return {
      status: problem.status,
      slug: problem.slug,
      fields: (problem.extra.errors ?? []).map((e) => e.field),
    };
  }
  throw new Error('expected a refusal');
};

const nested = (depth: number, open = '[', close = ']'): string => open.repeat(depth) + close.repeat(depth);

describe('jsonDepthExceeds', () => {
  it('counts objects and arrays, the body being level 1', () => {
    expect(jsonDepthExceeds(nested(64))).toBe(false);
    expect(jsonDepthExceeds(nested(65))).toBe(true);
    expect(jsonDepthExceeds(`${'{"a":'.repeat(64)}1${'}'.repeat(64)}`)).toBe(false);
    expect(jsonDepthExceeds(`${'{"a":'.repeat(65)}1${'}'.repeat(65)}`)).toBe(true);
    expect(jsonDepthExceeds('[{"a":[{"b":[]}]}]', 4)).toBe(true);
    expect(jsonDepthExceeds('[{"a":[{"b":[]}]}]', 5)).toBe(false);
  });

  it('ignores brackets inside strings, escaped quotes included', () => {
    expect(jsonDepthExceeds(JSON.stringify({ s: '['.repeat(1_000) }))).toBe(false);
    expect(jsonDepthExceeds(JSON.stringify({ s: `\\"${'{'.repeat(100)}\\\\` }))).toBe(false);
    expect(jsonDepthExceeds(JSON.stringify(['"[[[', '\\', '"]]]"']))).toBe(false);
    // A quote after an even run of backslashes closes the string; the brackets after it count.
    expect(jsonDepthExceeds(`["\\\\"${'['.repeat(70)}`)).toBe(true);
  });

  it('stops at the limit: 100,000 levels cost a scan, never a recursion', () => {
    expect(jsonDepthExceeds(nested(100_000))).toBe(true);
    expect(jsonDepthExceeds('"unterminated [[[[')).toBe(false);
    expect(jsonDepthExceeds('')).toBe(false);
  });
});

describe('bodyProblems', () => {
  it('accepts ordinary JSON, astral characters and paired surrogates included', () => {
    expect(
      bodyProblems({
        name: 'Researcher 🔬',
        configuration: { temperature: 0.2, tags: ['a', 'b'], nested: { deep: [1, null, true] } },
        input: 'Grüße, 你好, \ud83d\ude00',
      }),
    ).toEqual([]);
    expect(bodyProblems(Number.MAX_VALUE)).toEqual([]);
    expect(bodyProblems(JSON.parse('{"constructorName": "x", "proto": 1, "__proto": 2}'))).toEqual([]);
  });

  it('refuses NUL in values and keys, naming the field path', () => {
    expect(bodyProblems(JSON.parse('{"name":"a\\u0000b"}'))).toEqual([
      { field: 'name', detail: expect.stringMatching(/NUL/) },
    ]);
    expect(bodyProblems(JSON.parse('{"configuration":{"list":["ok","\\u0000"]}}'))).toEqual([
      { field: 'configuration.list.1', detail: expect.stringMatching(/NUL/) },
    ]);
    expect(bodyProblems(JSON.parse('{"input":{"k\\u0000":1}}'))[0]).toEqual({
      field: 'input.k\\u0000',
      detail: expect.stringMatching(/key.*NUL/),
    });
  });

  it('refuses unpaired surrogates, high or low, in values and keys', () => {
    for (const text of ['\\ud800', '\\udc00', 'a\\ud800b', '\\udc00\\ud800']) {
      const problems = bodyProblems(JSON.parse(`{"input":"${text}"}`));
      expect(problems, text).toEqual([{ field: 'input', detail: expect.stringMatching(/surrogate/) }]);
    }
    const key = bodyProblems(JSON.parse('{"metadata":{"\\ud800":1}}'));
    expect(key).toHaveLength(1);
    // The field name is shown back well-formed.
    expect(key[0]!.field.isWellFormed()).toBe(true);
  });

  it('refuses __proto__, constructor and prototype keys at any depth', () => {
    const body = JSON.parse(
      '{"configuration":{"__proto__":{"admin":true}},"metadata":{"a":[{"constructor":1}]},"input":{"prototype":2}}',
    );
    expect(bodyProblems(body).map((p) => p.field)).toEqual([
      'configuration.__proto__',
      'metadata.a.0.constructor',
      'input.prototype',
    ]);
  });

  it('refuses numbers that overflowed to Infinity', () => {
    expect(bodyProblems(JSON.parse('{"configuration":{"t":1e309,"u":-1e400}}'))).toEqual([
      { field: 'configuration.t', detail: expect.stringMatching(/finite/) },
      { field: 'configuration.u', detail: expect.stringMatching(/finite/) },
    ]);
    expect(bodyProblems(JSON.parse('1e309'))).toEqual([{ field: '(body)', detail: expect.any(String) }]);
  });

  it('caps keys per object and elements per array', () => {
    const wide = Object.fromEntries(Array.from({ length: inputLimits.maxKeys + 1 }, (_, i) => [`k${i}`, i]));
    expect(bodyProblems({ input: wide })).toEqual([
      { field: 'input', detail: expect.stringMatching(/keys/) },
    ]);
    const atLimit = Object.fromEntries(Array.from({ length: inputLimits.maxKeys }, (_, i) => [`k${i}`, i]));
    expect(bodyProblems({ input: atLimit })).toEqual([]);
    expect(bodyProblems({ input: new Array(inputLimits.maxArrayLength + 1).fill(0) })).toEqual([
      { field: 'input', detail: expect.stringMatching(/elements/) },
    ]);
    expect(bodyProblems({ input: new Array(inputLimits.maxArrayLength).fill(0) })).toEqual([]);
  });

  it('reports at most 20 problems', () => {
    expect(bodyProblems(new Array(100).fill('\u0000'))).toHaveLength(20);
  });
});

describe('parseJsonBody through the gate', () => {
  it('parses an acceptable body as before', () => {
    expect(parseJsonBody(event('{"name":"x","n":[1,2,3]}'))).toEqual({ name: 'x', n: [1, 2, 3] });
  });

  it('answers 422 naming the field for refused values', () => {
    expect(refusal(() => parseJsonBody(event('{"configuration":{"__proto__":{}}}')))).toEqual({
      status: 422,
      slug: 'validation-failed',
      fields: ['configuration.__proto__'],
    });
    expect(refusal(() => parseJsonBody(event('{"input":"\\u0000"}'))).fields).toEqual(['input']);
    expect(refusal(() => parseJsonBody(event('{"input":"\\ud800"}'))).fields).toEqual(['input']);
    expect(refusal(() => parseJsonBody(event('{"input":{"x":1e309}}'))).fields).toEqual(['input.x']);
  });

  it('refuses deep nesting before parsing it', () => {
    expect(refusal(() => parseJsonBody(event(`{"input":${nested(5_000, '{"a":', '}')}}`)))).toEqual({
      status: 422,
      slug: 'validation-failed',
      fields: ['(body)'],
    });
    // Not even JSON: refused by depth all the same, without a parse.
    expect(refusal(() => parseJsonBody(event('['.repeat(100_000)))).status).toBe(422);
  });

  it('keeps size, media type and syntax checks first', () => {
    expect(refusal(() => parseJsonBody(event('{"a":1}', 'text/plain'))).status).toBe(415);
    expect(refusal(() => parseJsonBody(event('{"a":'))).slug).toBe('malformed-json');
    expect(refusal(() => parseJsonBody(event(`"${'x'.repeat(300 * 1024)}"`))).status).toBe(413);
  });
});

describe('gateQuery and gatePathParameters', () => {
  it('passes ordinary parameters through', () => {
    expect(() => gateQuery({ q: 'Research', limit: '20', cursor: 'abc_-' })).not.toThrow();
    expect(gatePathParameters({ id: 'not-a-uuid', queue: 'high' })).toEqual({
      id: 'not-a-uuid',
      queue: 'high',
    });
  });

  it('refuses NUL and unpaired surrogates in query values and names with a 400 naming them', () => {
    expect(refusal(() => gateQuery({ q: 'a\u0000' }))).toEqual({
      status: 400,
      slug: 'invalid-query',
      fields: ['q'],
    });
    expect(refusal(() => gateQuery({ q: '\ud800', limit: '1' })).fields).toEqual(['q']);
    expect(refusal(() => gateQuery({ 'x\u0000': '1' })).fields).toEqual(['x\\u0000']);
  });

  it('refuses NUL in path parameters and canonicalises UUIDs to lower case', () => {
    expect(refusal(() => gatePathParameters({ id: `${id}\u0000` }))).toEqual({
      status: 400,
      slug: 'bad-request',
      fields: ['id'],
    });
    expect(gatePathParameters({ id: id.toUpperCase() })).toEqual({ id });
    expect(canonicalId(id.toUpperCase())).toBe(id);
    // Other spellings are not UUIDs here: passed on unchanged, for the 404 they get today.
    for (const other of [`{${id}}`, `urn:uuid:${id}`, ` ${id}`, id.replaceAll('-', ''), 'abc']) {
      expect(canonicalId(other)).toBe(other);
    }
  });
});

/** A cursor with any JSON payload, as a client could forge one. */
const forge = (payload: unknown): string =>
  Buffer.from(JSON.stringify(payload), 'utf8').toString('base64url');

describe('decodeCursor bounds', () => {
  it('accepts 1970 to 9999 and nothing outside, whatever Date can represent', () => {
    for (const at of ['1970-01-01T00:00:00.000Z', '2026-03-01T12:00:00.000Z', '9999-12-31T23:59:59.999Z']) {
      expect(decodeCursor(forge([at, id])), at).toEqual({ createdAt: new Date(at), id });
    }
    for (const at of [
      '1969-12-31T23:59:59.999Z',
      '-004714-01-01T00:00:00.000Z',
      '-271821-04-20T00:00:00.000Z',
      '+010000-01-01T00:00:00.000Z',
      '+275760-09-13T00:00:00.000Z',
      '0000-01-01T00:00:00.000Z',
    ]) {
      expect(decodeCursor(forge([at, id])), at).toBeUndefined();
    }
    expect(new Date(cursorTimeBounds.min).toISOString()).toBe('1970-01-01T00:00:00.000Z');
    expect(new Date(cursorTimeBounds.max).toISOString()).toBe('9999-12-31T23:59:59.999Z');
  });

  it('decodes the id in its canonical lower-case spelling', () => {
    const at = '2026-03-01T12:00:00.000Z';
    expect(decodeCursor(forge([at, id.toUpperCase()]))).toEqual({ createdAt: new Date(at), id });
    const issued = encodeCursor({ createdAt: new Date(at), id });
    expect(decodeCursor(issued)).toEqual({ createdAt: new Date(at), id });
  });
});
