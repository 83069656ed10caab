import { describe, expect, it } from 'vitest';
import { ifMatchVersions, versionEtag } from '#http/preconditions.ts';
import { etagMatches, preferredEncoding } from '#http/respond.ts';

describe('versionEtag', () => {
  it('is a strong, quoted ETag naming the version', () => {
    expect(versionEtag(1)).toBe('"v1"');
    expect(versionEtag(42)).toBe('"v42"');
    expect(versionEtag(7)).not.toMatch(/^W\//);
  });

  it('is read back by ifMatchVersions', () => {
    for (const version of [1, 2, 99, 123_456_789]) {
      expect(ifMatchVersions(versionEtag(version))).toEqual([version]);
    }
  });
});

describe('ifMatchVersions', () => {
  it('is undefined when the header is absent or *', () => {
    expect(ifMatchVersions(undefined)).toBeUndefined();
    expect(ifMatchVersions('*')).toBeUndefined();
    expect(ifMatchVersions('  *  ')).toBeUndefined();
  });

  it('reads a single tag', () => {
    expect(ifMatchVersions('"v3"')).toEqual([3]);
    expect(ifMatchVersions('  "v3"  ')).toEqual([3]);
  });

  it('reads lists, with or without spaces', () => {
    expect(ifMatchVersions('"v1", "v2","v10"')).toEqual([1, 2, 10]);
    expect(ifMatchVersions('"v5" ,  "v6"')).toEqual([5, 6]);
  });

  it('does not match weak tags: If-Match uses the strong comparison', () => {
    expect(ifMatchVersions('W/"v3"')).toEqual([]);
    expect(ifMatchVersions('W/"v3", "v4"')).toEqual([4]);
  });

  it('ignores tags that are not ours, keeping the ones that are', () => {
    expect(ifMatchVersions('"abc", "v2", v3, "v", "v-1", "v1.5"')).toEqual([2]);
  });

  it('answers [] (which fails the precondition) for junk', () => {
    for (const junk of ['', ' ', 'v3', '"3"', '"V3"', 'garbage', ',', '"v3', 'v3"', '"v1234567890"', '**']) {
      expect(ifMatchVersions(junk), JSON.stringify(junk)).toEqual([]);
    }
  });
});

/** A rule and the answers that show it: each header with what it must give. */
type Rule<T> = [rule: string, cases: [header: string | undefined, expected: T][]];

describe('etagMatches (If-None-Match) against "v3"', () => {
  const rules: Rule<boolean>[] = [
    [
      'never matches without a header',
      [
        [undefined, false],
        ['', false],
      ],
    ],
    [
      'matches * and the exact tag',
      [
        ['*', true],
        ['"v3"', true],
      ],
    ],
    [
      'matches a tag anywhere in a list',
      [
        ['"v1", "v3"', true],
        ['"v3","v9"', true],
        ['"v1", "v2"', false],
      ],
    ],
    ['matches the weak form of the tag (If-None-Match uses the weak comparison)', [['W/"v3"', true]]],
    [
      'does not match other versions, unquoted tags or prefixes',
      [
        ['"v33"', false],
        ['v3', false],
        ['"v"', false],
        ['W/"v4"', false],
      ],
    ],
  ];

  it.each(rules)('%s', (_rule, cases) => {
    for (const [header, expected] of cases) expect(etagMatches(header, '"v3"'), header).toBe(expected);
  });
});

describe('preferredEncoding', () => {
  const rules: Rule<'br' | 'gzip' | undefined>[] = [
    [
      'is undefined without a header',
      [
        [undefined, undefined],
        ['', undefined],
      ],
    ],
    [
      'prefers br over gzip at equal q',
      [
        ['gzip, br', 'br'],
        ['br, gzip', 'br'],
        ['gzip, deflate, br, zstd', 'br'],
        ['gzip;q=0.5, br;q=0.5', 'br'],
      ],
    ],
    [
      'chooses gzip when br has the lower q',
      [
        ['br;q=0.5, gzip', 'gzip'],
        ['br;q=0.1, gzip;q=0.9', 'gzip'],
      ],
    ],
    ['chooses br when gzip has the lower q', [['br;q=0.9, gzip;q=0.1', 'br']]],
    [
      'uses whichever one is offered',
      [
        ['gzip', 'gzip'],
        ['br', 'br'],
        ['deflate, gzip', 'gzip'],
      ],
    ],
    [
      'honours q=0 as a refusal',
      [
        ['br;q=0, gzip', 'gzip'],
        ['gzip;q=0, br;q=0', undefined],
        ['br;q=0', undefined],
        ['gzip;q=0.0', undefined],
      ],
    ],
    [
      'treats * as any encoding not listed',
      [
        ['*', 'br'],
        ['br;q=0, *', 'gzip'],
        ['gzip;q=0, *;q=0.5', 'br'],
        ['*;q=0', undefined],
        ['gzip, *;q=0', 'gzip'],
      ],
    ],
    [
      'is undefined when only identity (or unknown codings) is acceptable',
      [
        ['identity', undefined],
        ['identity;q=1, *;q=0', undefined],
        ['deflate, zstd', undefined],
      ],
    ],
    [
      'is case-insensitive and tolerates spaces after separators',
      [
        ['GZIP', 'gzip'],
        ['BR;Q=0, Gzip', 'gzip'],
        ['br; q=0.2,  gzip; q=0.8', 'gzip'],
      ],
    ],
    ['treats an unreadable q as a refusal', [['br;q=abc, gzip', 'gzip']]],
    [
      'tolerates whitespace before the ";" (RFC 9110 weight = OWS ";" OWS "q=" qvalue)',
      [
        ['gzip ;q=0.5', 'gzip'],
        // A refusal written with OWS must still be a refusal, not overridden by *.
        ['*, br ;q=0', 'gzip'],
      ],
    ],
  ];

  it.each(rules)('%s', (_rule, cases) => {
    for (const [header, expected] of cases) expect(preferredEncoding(header), header).toBe(expected);
  });
});
