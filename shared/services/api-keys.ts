import { database } from '#adapters/postgres/db.ts';
import type { ApiKeyListing } from '#adapters/postgres/tenants.ts';
import { generateApiKey, isValidTenantName } from '#domain/tenant.ts';
import { config } from '#runtime/config.ts';
import { apiKeyCacheKey, revocationBoundSeconds, revokedKeyVersion } from './auth.ts';
import { sharedCache, tenantRepository } from './container.ts';

/** Tenant and key management, for the keys CLI (and operator endpoints later). */

export const createApiKey = async (
  tenant: string,
  label: string | null,
): Promise<{ id: string; key: string; tenant: string }> => {
  if (!isValidTenantName(tenant)) {
    throw new Error(`"${tenant}" is not a tenant name: lower-case letters, digits, - and _, up to 63`);
  }
  const repository = tenantRepository();
  const tenantId = await repository.ensureTenant(tenant);
  const key = generateApiKey();
  const { id } = await repository.addKey(tenantId, key, label);
  return { id, key, tenant };
};

export const listApiKeys = (tenant?: string): Promise<ApiKeyListing[]> => tenantRepository().listKeys(tenant);

/**
 * The key is revoked in the database, but its cache tombstone could not be written (Redis
 * unreachable): containers that cached the key keep accepting it for up to `boundSeconds`.
 */
export class RevocationNotEffective extends Error {
  override name = 'RevocationNotEffective';
  constructor(
    readonly keyId: string,
    readonly alreadyRevoked: boolean,
    readonly boundSeconds: number,
  ) {
    super(
      `${alreadyRevoked ? 'key was already revoked' : 'revoked'} ${keyId} in the database, but the cache (Redis) ` +
        `could not be updated, so servers that cached the key may accept it for up to ${boundSeconds} s more. ` +
        `Rerun \`npm run keys -- revoke ${keyId}\` once Redis is reachable to make the revocation effective at once.`,
    );
  }
}

/** `revoked` now, `already-revoked` (its cache tombstone written again), or `not-found`. */
export type Revocation = 'revoked' | 'already-revoked' | 'not-found';

/** The hash of a key revoked earlier, so a rerun can write its tombstone again. */
// Belongs in TenantRepository (shared/adapters/postgres/tenants.ts) next to revokeKey.
const revokedKeyHash = async (keyId: string): Promise<string | null> => {
  const rows = await database().query<{ key_hash: string }>(
    'SELECT key_hash FROM api_keys WHERE id = $1 AND revoked_at IS NOT NULL',
    [keyId],
  );
  return rows[0]?.key_hash ?? null;
};

/**
 * Revokes a key and tombstones its cache entry, so containers sharing the L2 cache stop
 * accepting it at once (and the others within the L1 TTL). Rerunning it for a revoked key
 * writes the tombstone again. Throws {@link RevocationNotEffective} when the tombstone cannot
 * be written within `settleMs`: the key is revoked in the database all the same, and refused
 * everywhere within {@link revocationBoundSeconds}.
 */
export const revokeApiKey = async (keyId: string, { settleMs = 2_000 } = {}): Promise<Revocation> => {
  let keyHash = await tenantRepository().revokeKey(keyId);
  const alreadyRevoked = keyHash === null;
  keyHash ??= await revokedKeyHash(keyId);
  if (!keyHash) return 'not-found';
  const cache = sharedCache();
  // As long as any live principal may be cached, so no late fill can outlast it.
  const outcome = await cache.putChecked(
    apiKeyCacheKey(keyHash),
    revokedKeyVersion,
    null,
    config().cache.apiKeyTtlSeconds,
  );
  if (outcome === 'deferred' && !(await cache.settle(settleMs))) {
    throw new RevocationNotEffective(keyId, alreadyRevoked, revocationBoundSeconds());
  }
  return alreadyRevoked ? 'already-revoked' : 'revoked';
};
