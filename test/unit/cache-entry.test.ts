import { describe, expect, it } from 'vitest';
import type { CacheEntry } from '#adapters/cache/entry.ts';
import { decodeEntry, encodeEntry } from '#adapters/cache/entry.ts';

describe('encodeEntry / decodeEntry', () => {
  it('puts the version first, before a "|", readable without decoding JSON', () => {
    expect(encodeEntry({ version: 3, value: { a: 1 } })).toBe('3|{"a":1}');
    expect(encodeEntry({ version: 0, value: null })).toBe('0|null');
  });

  it.each<CacheEntry>([
    { version: 1, value: { id: 'a1', name: 'Ada', configuration: { temperature: 0.2 }, tags: ['x', 'y'] } },
    { version: 0, value: null },
    { version: 12, value: null },
    { version: 2, value: 'plain string' },
    { version: 3, value: 'pipes | inside | strings' },
    { version: 4, value: { prompt: 'a|b||c', nested: { 'key|with|pipes': '|' } } },
    { version: 5, value: 42 },
    { version: 6, value: false },
    { version: 7, value: [] },
    { version: 8, value: 'unicode: é ✓ 𝄞, newline\n, quote "' },
    { version: Number.MAX_SAFE_INTEGER, value: 'max' },
  ])('round-trips %j', (entry) => {
    expect(decodeEntry(encodeEntry(entry))).toEqual(entry);
  });

  it('keeps tombstones distinct from missing entries', () => {
    const decoded = decodeEntry(encodeEntry({ version: 9, value: null }));
    expect(decoded).toBeDefined();
    expect(decoded).toEqual({ version: 9, value: null });
  });

  it.each([
    [''],
    ['null'],
    ['|null'],
    ['no separator'],
    ['abc|null'],
    ['1.5|null'],
    ['NaN|null'],
    ['Infinity|null'],
    ['1|'],
    ['1|{"unterminated":'],
    ['1|undefined'],
    ['1|{bad json}'],
    ['9007199254740993|null'],
  ])('rejects malformed input %j', (raw) => {
    expect(decodeEntry(raw)).toBeUndefined();
  });
});
