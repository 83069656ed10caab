import { newId } from '#domain/ids.ts';
import type { Principal } from '#domain/tenant.ts';
import { apiKeyPrefix, hashApiKey } from '#domain/tenant.ts';
import type { Queryable } from './db.ts';

export interface ApiKeyListing {
  readonly id: string;
  readonly tenant: string;
  readonly prefix: string;
  readonly label: string | null;
  readonly createdAt: Date;
  readonly revokedAt: Date | null;
}

export interface TenantOverview {
  readonly id: string;
  readonly name: string;
  readonly createdAt: Date;
  readonly activeKeys: number;
  readonly agents: number;
}

interface PrincipalRow {
  key_id: string;
  tenant_id: string;
  tenant_name: string;
}

/** Tenants and their API keys. Keys are looked up by hash, never stored in the clear. */
export class TenantRepository {
  constructor(private readonly db: Queryable) {}

  async principalForKeyHash(keyHash: string): Promise<Principal | null> {
    const rows = await this.db.query<PrincipalRow>(
      `SELECT k.id AS key_id, t.id AS tenant_id, t.name AS tenant_name
         FROM api_keys k JOIN tenants t ON t.id = k.tenant_id
        WHERE k.key_hash = $1 AND k.revoked_at IS NULL`,
      [keyHash],
    );
    const row = rows[0];
    return row ? { keyId: row.key_id, tenantId: row.tenant_id, tenantName: row.tenant_name } : null;
  }

  /** Creates the tenant if it does not exist; returns its id either way. */
  async ensureTenant(name: string): Promise<string> {
    const rows = await this.db.query<{ id: string }>(
      `WITH inserted AS (
         INSERT INTO tenants (id, name) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING RETURNING id
       )
       SELECT id FROM inserted UNION ALL SELECT id FROM tenants WHERE name = $2 LIMIT 1`,
      [newId(), name],
    );
    return rows[0]!.id;
  }

  /** Adds a key to a tenant unless that key already exists; returns whether it was added. */
  async addKey(tenantId: string, key: string, label: string | null): Promise<{ id: string; added: boolean }> {
    const keyHash = hashApiKey(key);
    const rows = await this.db.query<{ id: string; added: boolean }>(
      `WITH inserted AS (
         INSERT INTO api_keys (id, tenant_id, key_hash, key_prefix, label) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (key_hash) DO NOTHING RETURNING id
       )
       SELECT id, true AS added FROM inserted
       UNION ALL SELECT id, false AS added FROM api_keys WHERE key_hash = $3 LIMIT 1`,
      [newId(), tenantId, keyHash, apiKeyPrefix(key), label],
    );
    return rows[0]!;
  }

  async listKeys(tenant?: string): Promise<ApiKeyListing[]> {
    const rows = await this.db.query<{
      id: string;
      tenant: string;
      key_prefix: string;
      label: string | null;
      created_at: Date;
      revoked_at: Date | null;
    }>(
      `SELECT k.id, t.name AS tenant, k.key_prefix, k.label, k.created_at, k.revoked_at
         FROM api_keys k JOIN tenants t ON t.id = k.tenant_id
        WHERE $1::text IS NULL OR t.name = $1
        ORDER BY t.name, k.created_at`,
      [tenant ?? null],
    );
    return rows.map((r) => ({
      id: r.id,
      tenant: r.tenant,
      prefix: r.key_prefix,
      label: r.label,
      createdAt: r.created_at,
      revokedAt: r.revoked_at,
    }));
  }

  /** Every tenant with its live keys and agents: one query, counts from correlated subqueries on indexes. */
  async overview(): Promise<TenantOverview[]> {
    const rows = await this.db.query<{
      id: string;
      name: string;
      created_at: Date;
      active_keys: number;
      agents: number;
    }>(
      `SELECT t.id, t.name, t.created_at,
              (SELECT count(*)::int FROM api_keys k WHERE k.tenant_id = t.id AND k.revoked_at IS NULL) AS active_keys,
              (SELECT count(*)::int FROM agents a WHERE a.tenant_id = t.id AND a.deleted_at IS NULL) AS agents
         FROM tenants t
        ORDER BY t.name`,
    );
    return rows.map((r) => ({
      id: r.id,
      name: r.name,
      createdAt: r.created_at,
      activeKeys: r.active_keys,
      agents: r.agents,
    }));
  }

  /** Revokes a key by id; returns its hash (for cache invalidation) or null if there was no live key. */
  async revokeKey(keyId: string): Promise<string | null> {
    const rows = await this.db.query<{ key_hash: string }>(
      `UPDATE api_keys SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL RETURNING key_hash`,
      [keyId],
    );
    return rows[0]?.key_hash ?? null;
  }
}
