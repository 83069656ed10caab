import type { AuditStamp } from '#services/ports.ts';
import type { Queryable } from './db.ts';

/**
 * A data-modifying CTE that writes the audit records of the rows a CTE named `inserted`
 * returned (with `id`, `tenant_id` and `atColumn`), in the statement that inserts them:
 * atomic with the rows, no queue message on the start path, and nothing for a row not
 * inserted (a replayed Idempotency-Key). Its parameters are numbered from `first`; empty
 * when no item carries a stamp.
 */
export const auditInserted = (
  inserted: string,
  atColumn: string,
  first: number,
  items: readonly { readonly id: string; readonly audit?: AuditStamp | undefined }[],
): { readonly cte: string; readonly values: unknown[] } => {
  const stamped = items.flatMap((item) => (item.audit ? [{ resourceId: item.id, ...item.audit }] : []));
  if (stamped.length === 0) return { cte: '', values: [] };
  const p = (n: number) => `$${first + n}`;
  return {
    cte: `, audited AS (
         INSERT INTO audit_events (id, tenant_id, at, action, resource_type, resource_id, key_id, request_id)
         SELECT a.id, i.tenant_id, i.${atColumn}, a.action, a.resource_type, i.id::text, a.key_id, a.request_id
           FROM ${inserted} i
           JOIN unnest(${p(0)}::uuid[], ${p(1)}::uuid[], ${p(2)}::text[], ${p(3)}::text[], ${p(4)}::uuid[],
                       ${p(5)}::text[]) AS a (resource_id, id, action, resource_type, key_id, request_id)
             ON a.resource_id = i.id
       )`,
    values: [
      stamped.map((s) => s.resourceId),
      stamped.map((s) => s.id),
      stamped.map((s) => s.action),
      stamped.map((s) => s.resourceType),
      stamped.map((s) => s.keyId),
      stamped.map((s) => s.requestId),
    ],
  };
};

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

  /** Idempotent: a redelivered audit message carries the same id and inserts nothing. One statement per batch. */
  async insertMany(events: readonly { tenantId: string; event: AuditEvent }[]): Promise<void> {
    if (events.length === 0) return;
    await this.db.query(
      `INSERT INTO audit_events (id, tenant_id, at, action, resource_type, resource_id, key_id, request_id)
       SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::timestamptz[], $4::text[], $5::text[], $6::text[],
                            $7::uuid[], $8::text[])
       ON CONFLICT (id) DO NOTHING`,
      [
        events.map((e) => e.event.id),
        events.map((e) => e.tenantId),
        events.map((e) => e.event.at),
        events.map((e) => e.event.action),
        events.map((e) => e.event.resourceType),
        events.map((e) => e.event.resourceId),
        events.map((e) => e.event.keyId),
        events.map((e) => e.event.requestId),
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
