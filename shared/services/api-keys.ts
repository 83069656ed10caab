import type { ApiKeyListing } from '../adapters/postgres/tenants.ts';
import { generateApiKey, isValidTenantName } from '../domain/tenant.ts';
import { apiKeyCacheKey, revokedKeyVersion } from './auth.ts';
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
 * Revokes a key and tombstones its cache entry, so containers sharing the L2 cache stop
 * accepting it at once (and the others within the L1 TTL).
 */
export const revokeApiKey = async (keyId: string): Promise<boolean> => {
  const keyHash = await tenantRepository().revokeKey(keyId);
  if (!keyHash) return false;
  await sharedCache().put(apiKeyCacheKey(keyHash), revokedKeyVersion, null);
  return true;
};
