import { createHash, timingSafeEqual } from 'node:crypto';
import { unauthorized } from '../domain/errors.ts';
import type { Principal } from '../domain/tenant.ts';
import { hashApiKey } from '../domain/tenant.ts';
import { config } from '../runtime/config.ts';
import { sharedCache, tenantRepository } from './container.ts';

/** Cache key of an API key's principal, by hash so no key is ever a cache key. */
export const apiKeyCacheKey = (keyHash: string): string => `key:${keyHash}`;

/** Revocation writes a tombstone at this version, superseding the live entry (version 1). */
export const revokedKeyVersion = 2;

/** Resolves an API key to its tenant: cached, so a warm request runs no query for it. */
export const authenticateTenant = async (key: string | undefined): Promise<Principal> => {
  if (!key) throw unauthorized();
  const keyHash = hashApiKey(key);
  const principal = await sharedCache().get<Principal>(apiKeyCacheKey(keyHash), async () => {
    const found = await tenantRepository().principalForKeyHash(keyHash);
    return found ? { version: 1, value: found } : null;
  });
  if (!principal) throw unauthorized();
  return principal;
};

const digest = (value: string) => createHash('sha256').update(value).digest();

/** The operator key: compared in constant time, never cached in the shared cache or stored. */
export const authenticateAdmin = async (key: string | undefined): Promise<void> => {
  const { adminKey: fromEnv, adminKeySecretArn } = config();
  let adminKey = fromEnv;
  if (!adminKey && adminKeySecretArn) {
    // Powertools caches it in the container for 5 minutes: a rotation takes effect within that.
    const { getSecret } = await import('@aws-lambda-powertools/parameters/secrets');
    adminKey = (await getSecret<string>(adminKeySecretArn, { maxAge: 300 })) ?? undefined;
  }
  if (!key || !adminKey || !timingSafeEqual(digest(key), digest(adminKey))) throw unauthorized();
};
