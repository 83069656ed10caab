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

describe('etagMatches (If-None-Match)', () => {
  const etag = '"v3"';

  it('never matches without a header', () => {
    expect(etagMatches(undefined, etag)).toBe(false);
    expect(etagMatches('', etag)).toBe(false);
  });

  it('matches * and the exact tag', () => {
    expect(etagMatches('*', etag)).toBe(true);
    expect(etagMatches('"v3"', etag)).toBe(true);
  });

  it('matches a tag anywhere in a list', () => {
    expect(etagMatches('"v1", "v3"', etag)).toBe(true);
    expect(etagMatches('"v3","v9"', etag)).toBe(true);
    expect(etagMatches('"v1", "v2"', etag)).toBe(false);
  });

  it('matches the weak form of the tag (If-None-Match uses the weak comparison)', () => {
    expect(etagMatches('W/"v3"', etag)).toBe(true);
  });

  it('does not match other versions, unquoted tags or prefixes', () => {
    expect(etagMatches('"v33"', etag)).toBe(false);
    expect(etagMatches('v3', etag)).toBe(false);
    expect(etagMatches('"v"', etag)).toBe(false);
    expect(etagMatches('W/"v4"', etag)).toBe(false);
  });
});

describe('preferredEncoding', () => {
  it('is undefined without a header', () => {
    expect(preferredEncoding(undefined)).toBeUndefined();
    expect(preferredEncoding('')).toBeUndefined();
  });

  it('prefers br over gzip at equal q', () => {
    expect(preferredEncoding('gzip, br')).toBe('br');
    expect(preferredEncoding('br, gzip')).toBe('br');
    expect(preferredEncoding('gzip, deflate, br, zstd')).toBe('br');
    expect(preferredEncoding('gzip;q=0.5, br;q=0.5')).toBe('br');
  });

  it('chooses gzip when br has the lower q', () => {
    expect(preferredEncoding('br;q=0.5, gzip')).toBe('gzip');
    expect(preferredEncoding('br;q=0.1, gzip;q=0.9')).toBe('gzip');
  });

  it('chooses br when gzip has the lower q', () => {
    expect(preferredEncoding('br;q=0.9, gzip;q=0.1')).toBe('br');
  });

  it('uses whichever one is offered', () => {
    expect(preferredEncoding('gzip')).toBe('gzip');
    expect(preferredEncoding('br')).toBe('br');
    expect(preferredEncoding('deflate, gzip')).toBe('gzip');
  });

  it('honours q=0 as a refusal', () => {
    expect(preferredEncoding('br;q=0, gzip')).toBe('gzip');
    expect(preferredEncoding('gzip;q=0, br;q=0')).toBeUndefined();
    expect(preferredEncoding('br;q=0')).toBeUndefined();
    expect(preferredEncoding('gzip;q=0.0')).toBeUndefined();
  });

  it('treats * as any encoding not listed', () => {
    expect(preferredEncoding('*')).toBe('br');
    expect(preferredEncoding('br;q=0, *')).toBe('gzip');
    expect(preferredEncoding('gzip;q=0, *;q=0.5')).toBe('br');
    expect(preferredEncoding('*;q=0')).toBeUndefined();
    expect(preferredEncoding('gzip, *;q=0')).toBe('gzip');
  });

  it('is undefined when only identity (or unknown codings) is acceptable', () => {
    expect(preferredEncoding('identity')).toBeUndefined();
    expect(preferredEncoding('identity;q=1, *;q=0')).toBeUndefined();
    expect(preferredEncoding('deflate, zstd')).toBeUndefined();
  });

  it('is case-insensitive and tolerates spaces after separators', () => {
    expect(preferredEncoding('GZIP')).toBe('gzip');
    expect(preferredEncoding('BR;Q=0, Gzip')).toBe('gzip');
    expect(preferredEncoding('br; q=0.2,  gzip; q=0.8')).toBe('gzip');
  });

  it('treats an unreadable q as a refusal', () => {
    expect(preferredEncoding('br;q=abc, gzip')).toBe('gzip');
  });

  it('tolerates whitespace before the ";" (RFC 9110 weight = OWS ";" OWS "q=" qvalue)', () => {
    expect(preferredEncoding('gzip ;q=0.5')).toBe('gzip');
    // A refusal written with OWS must still be a refusal, not overridden by *.
    expect(preferredEncoding('*, br ;q=0')).toBe('gzip');
  });
});
