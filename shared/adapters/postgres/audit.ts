import type { Queryable } from './db.ts';

export interface AuditEvent {
  readonly id: string;
  readonly at: Date;
  readonly action: string;
  readonly resourceType: string;
  readonly resourceId: string;
  readonly keyId: string | null;
  readonly requestId: string | null;
}

interface AuditRow {
  id: string;
  at: Date;
  action: string;
  resource_type: string;
  resource_id: string;
  key_id: string | null;
  request_id: string | null;
}

export class AuditRepository {
  constructor(private readonly db: Queryable) {}

  /** Idempotent: a redelivered audit message carries the same id and inserts nothing. */
  async insert(tenantId: string, event: AuditEvent): Promise<void> {
    await this.db.query(
      `INSERT INTO audit_events (id, tenant_id, at, action, resource_type, resource_id, key_id, request_id)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (id) DO NOTHING`,
      [
        event.id,
        tenantId,
        event.at,
        event.action,
        event.resourceType,
        event.resourceId,
        event.keyId,
        event.requestId,
      ],
    );
  }

  async page(
    tenantId: string,
    limit: number,
    after?: { createdAt: Date; id: string },
  ): Promise<AuditEvent[]> {
    const values: unknown[] = [tenantId, limit];
    let where = 'tenant_id = $1';
    if (after) {
      values.push(after.createdAt, after.id);
      where += ' AND (at, id) < ($3::timestamptz, $4::uuid)';
    }
    const rows = await this.db.query<AuditRow>(
      `SELECT id, at, action, resource_type, resource_id, key_id, request_id
         FROM audit_events WHERE ${where} ORDER BY at DESC, id DESC LIMIT $2`,
      values,
    );
    return rows.map((r) => ({
      id: r.id,
      at: r.at,
      action: r.action,
      resourceType: r.resource_type,
      resourceId: r.resource_id,
      keyId: r.key_id,
      requestId: r.request_id,
    }));
  }
}
