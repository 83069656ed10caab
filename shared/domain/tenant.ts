import { createHash, randomBytes } from 'node:crypto';

/** Who is calling: resolved from the API key on every request. */
export interface Principal {
  readonly tenantId: string;
  readonly tenantName: string;
  readonly keyId: string;
}

/** 32 random bytes (256 bits), base64url, behind a recognisable prefix for secret scanners. */
export const generateApiKey = (): string => `sy_${randomBytes(32).toString('base64url')}`;

/** Keys are stored and looked up by this hash only. */
export const hashApiKey = (key: string): string => createHash('sha256').update(key, 'utf8').digest('hex');

/** What a listing shows of a key: enough to tell keys apart, too little to use one. */
export const apiKeyPrefix = (key: string): string => key.slice(0, Math.min(8, Math.max(0, key.length - 4)));

const tenantName = /^[a-z0-9][a-z0-9_-]{0,62}$/;

export const isValidTenantName = (name: string): boolean => tenantName.test(name);

/** Parses `SWITCHYARD_API_KEYS="acme:key1,globex:key2"`. */
export const parseApiKeysSetting = (value: string): { tenant: string; key: string }[] =>
  value
    .split(',')
    .map((pair) => pair.trim())
    .filter((pair) => pair.length > 0)
    .map((pair, index) => {
      const separator = pair.indexOf(':');
      // Never quote the entry itself: without a ':' it may be a bare key.
      if (separator <= 0) throw new Error(`SWITCHYARD_API_KEYS: entry ${index + 1} is not "tenant:key"`);
      const tenant = pair.slice(0, separator).trim();
      const key = pair.slice(separator + 1).trim();
      if (key.length === 0 || !isValidTenantName(tenant)) {
        throw new Error(
          `SWITCHYARD_API_KEYS: "${tenant}" (entry ${index + 1}) needs a key and a tenant name of ` +
            'lower-case letters, digits, - and _',
        );
      }
      return { tenant, key };
    });
