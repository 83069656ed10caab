import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  apiKeyPrefix,
  generateApiKey,
  hashApiKey,
  isValidTenantName,
  parseApiKeysSetting,
} from '#domain/tenant.ts';

describe('parseApiKeysSetting', () => {
  it.each([
    ['parses tenant:key pairs', 'acme:key1,globex:key2', ['acme', 'key1'], ['globex', 'key2']],
    [
      'trims whitespace around pairs, tenants and keys',
      '  acme : key1 ,\n globex:key2\t',
      ['acme', 'key1'],
      ['globex', 'key2'],
    ],
    [
      'keeps everything after the first ":" as the key',
      'acme:a:b:c,globex:sy_x:y',
      ['acme', 'a:b:c'],
      ['globex', 'sy_x:y'],
    ],
    [
      'accepts tenant names of lower-case letters, digits, - and _',
      'a-1_b:k,0team:k2',
      ['a-1_b', 'k'],
      ['0team', 'k2'],
    ],
  ])('%s', (_rule, setting, ...pairs) => {
    expect(parseApiKeysSetting(setting)).toEqual(pairs.map(([tenant, key]) => ({ tenant, key })));
  });

  it('ignores a trailing comma and empty entries', () => {
    expect(parseApiKeysSetting('acme:key1,')).toEqual([{ tenant: 'acme', key: 'key1' }]);
    expect(parseApiKeysSetting('acme:key1,, ,globex:key2')).toHaveLength(2);
    expect(parseApiKeysSetting('')).toEqual([]);
  });

  it('rejects a pair without a key', () => {
    expect(() => parseApiKeysSetting('acme:')).toThrow(/SWITCHYARD_API_KEYS: "acme"/);
    expect(() => parseApiKeysSetting('acme:key1,globex:  ')).toThrow(/"globex"/);
  });

  it('rejects a pair without a tenant', () => {
    expect(() => parseApiKeysSetting(':key1')).toThrow(/SWITCHYARD_API_KEYS/);
    expect(() => parseApiKeysSetting('  :key1')).toThrow(/SWITCHYARD_API_KEYS/);
  });

  it('rejects invalid tenant names, naming them', () => {
    expect(() => parseApiKeysSetting('Acme:key1')).toThrow(/"Acme".*lower-case letters, digits, - and _/);
    expect(() => parseApiKeysSetting('a b:key1')).toThrow(/"a b"/);
    expect(() => parseApiKeysSetting('-acme:key1')).toThrow(/"-acme"/);
    expect(() => parseApiKeysSetting(`${'a'.repeat(64)}:key1`)).toThrow(/SWITCHYARD_API_KEYS/);
  });

  it('rejects an entry without ":" without misquoting it', () => {
    expect(() => parseApiKeysSetting('acme')).toThrow(/SWITCHYARD_API_KEYS/);
    // The entry is "acme"; quoting it as "acm" (its last character cut off) misleads whoever reads the log.
    expect(() => parseApiKeysSetting('acme')).not.toThrow(/"acm"/);
  });

  it('does not echo key material when an entry has no tenant', () => {
    // Someone pasted a bare key: the error message ends up in logs, so it must not contain the key.
    const secret = 'sy_Zm9vYmFyYmF6cXV4cXV1eGNvcmdlZ3JhdWx0';
    expect(() => parseApiKeysSetting(secret)).toThrow(/SWITCHYARD_API_KEYS/);
    let message = '';
    try {
      parseApiKeysSetting(`acme:key1,${secret}`);
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toMatch(/SWITCHYARD_API_KEYS/);
    expect(message).not.toContain(secret.slice(0, 20));
  });
});

describe('isValidTenantName', () => {
  it('allows 1 to 63 characters starting with a letter or digit', () => {
    expect(isValidTenantName('a')).toBe(true);
    expect(isValidTenantName('a'.repeat(63))).toBe(true);
    expect(isValidTenantName('a'.repeat(64))).toBe(false);
    expect(isValidTenantName('')).toBe(false);
    expect(isValidTenantName('_a')).toBe(false);
    expect(isValidTenantName('acme.corp')).toBe(false);
  });
});

describe('generateApiKey', () => {
  it('has the sy_ prefix and at least 43 base64url characters (256 bits) after it', () => {
    const key = generateApiKey();
    expect(key.startsWith('sy_')).toBe(true);
    expect(key.slice(3)).toMatch(/^[A-Za-z0-9_-]{43,}$/);
    expect(Buffer.from(key.slice(3), 'base64url')).toHaveLength(32);
  });

  it('is unique across 1000 calls', () => {
    const keys = new Set(Array.from({ length: 1000 }, () => generateApiKey()));
    expect(keys.size).toBe(1000);
  });
});

describe('hashApiKey', () => {
  it('is the SHA-256 hex digest of the key', () => {
    expect(hashApiKey('')).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    expect(hashApiKey('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    const key = generateApiKey();
    expect(hashApiKey(key)).toBe(createHash('sha256').update(key).digest('hex'));
  });

  it('is stable, 64 lower-case hex characters, and differs between keys', () => {
    const key = generateApiKey();
    expect(hashApiKey(key)).toBe(hashApiKey(key));
    expect(hashApiKey(key)).toMatch(/^[0-9a-f]{64}$/);
    expect(hashApiKey(key)).not.toBe(hashApiKey(generateApiKey()));
  });

  it('hashes the UTF-8 bytes of non-ASCII keys', () => {
    expect(hashApiKey('clé')).toBe(createHash('sha256').update(Buffer.from('clé', 'utf8')).digest('hex'));
  });
});

describe('apiKeyPrefix', () => {
  it('shows 8 characters of a generated key', () => {
    const key = generateApiKey();
    expect(apiKeyPrefix(key)).toBe(key.slice(0, 8));
    expect(apiKeyPrefix(key)).toHaveLength(8);
  });

  it('never reveals a whole key, however short', () => {
    for (let length = 1; length <= 20; length += 1) {
      const key = 'k'.repeat(length);
      const prefix = apiKeyPrefix(key);
      expect(prefix.length, `key of ${length}`).toBeLessThan(length);
      expect(key.startsWith(prefix)).toBe(true);
    }
  });

  it('hides at least 4 characters of keys longer than 4', () => {
    for (let length = 5; length <= 12; length += 1) {
      const key = 'x'.repeat(length);
      expect(length - apiKeyPrefix(key).length, `key of ${length}`).toBeGreaterThanOrEqual(4);
    }
  });
});
