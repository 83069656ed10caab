import { createHash, timingSafeEqual } from 'node:crypto';
import { unauthorized } from '#domain/errors.ts';
import type { Principal } from '#domain/tenant.ts';
import { hashApiKey } from '#domain/tenant.ts';
import { config } from '#runtime/config.ts';
import { sharedCache, tenantRepository } from './container.ts';

/** Cache key of an API key's principal, by hash so no key is ever a cache key. */
export const apiKeyCacheKey = (keyHash: string): string => `key:${keyHash}`;

/** Revocation writes a tombstone at this version, superseding the live entry (version 1). */
export const revokedKeyVersion = 2;

/**
 * The longest a revoked key can still be accepted even if its tombstone never reached the
 * cache (Redis down during the revocation): a principal lives at most CACHE_API_KEY_TTL_SECONDS
 * in L2 (a live entry is never refreshed from a database that says "revoked"), then at most
 * the L1 TTL in a container's memory.
 */
export const revocationBoundSeconds = (): number =>
  config().cache.apiKeyTtlSeconds + Math.ceil(config().cache.l1TtlMs / 1000);

/**
 * Resolves an API key to its tenant: cached, so a warm request runs no query for it; for a
 * bounded time (see {@link revocationBoundSeconds}).
 */
export const authenticateTenant = async (key: string | undefined): Promise<Principal> => {
  if (!key) throw unauthorized();
  const keyHash = hashApiKey(key);
  const principal = await sharedCache().get<Principal>(
    apiKeyCacheKey(keyHash),
    async () => {
      const found = await tenantRepository().principalForKeyHash(keyHash);
      return found ? { version: 1, value: found } : null;
    },
    { ttlSeconds: config().cache.apiKeyTtlSeconds },
  );
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
  if (!adminKey) {
    // Say so: the operator otherwise hunts for a typo in a key that cannot work.
    throw unauthorized(
      'No operator key is configured on this server (SWITCHYARD_ADMIN_KEY, or SWITCHYARD_ADMIN_KEY_SECRET_ARN ' +
        'in AWS), so operator routes are closed.',
    );
  }
  if (!key || !timingSafeEqual(digest(key), digest(adminKey))) {
    throw unauthorized('A valid operator key is required: Authorization: Bearer <operator key>.');
  }
};
