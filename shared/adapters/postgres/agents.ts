import type { Agent, AgentListField, AgentStatus, AgentSummary } from '#domain/agent.ts';
import type {
  AgentPageQuery,
  AgentPatch,
  AgentStore,
  ConditionalWrite,
  CreatedAgent,
  KeyedInsert,
  RowIdempotency,
} from '#services/ports.ts';
import type { Database } from './db.ts';
import { earlierInsert } from './keyed-insert.ts';

export type { AgentPageQuery } from '#services/ports.ts';

type AgentWrite = ConditionalWrite<{ agent: Agent }>;

interface AgentRow {
  id: string;
  tenant_id: string;
  name: string;
  model: string;
  system_prompt: string;
  configuration: Record<string, unknown>;
  status: AgentStatus;
  webhook_url: string | null;
  version: number;
  created_at: Date;
  updated_at: Date;
}

const agentColumns =
  'id, tenant_id, name, model, system_prompt, configuration, status, webhook_url, version, created_at, updated_at';

const toAgent = (row: AgentRow): Agent => ({
  id: row.id,
  tenantId: row.tenant_id,
  name: row.name,
  model: row.model,
  systemPrompt: row.system_prompt,
  configuration: row.configuration,
  status: row.status,
  webhookUrl: row.webhook_url,
  version: row.version,
  createdAt: row.created_at,
  updatedAt: row.updated_at,
});

/** List fields and the SQL that produces each: the whitelist `fields=` is checked against. */
const listColumnSql: Record<Exclude<AgentListField, 'execution_count' | 'last_execution_at'>, string> = {
  id: 'a.id',
  name: 'a.name',
  model: 'a.model',
  system_prompt: 'a.system_prompt',
  configuration: 'a.configuration',
  status: 'a.status',
  created_at: 'a.created_at',
  updated_at: 'a.updated_at',
};

export class AgentRepository implements AgentStore {
  constructor(private readonly db: Database) {}

  async insert(agent: Agent, webhookSecret: string | null): Promise<Agent> {
    return (await this.insertOrFind(agent, webhookSecret)).row;
  }

  /**
   * Inserts an agent; under an Idempotency-Key an earlier request already used, inserts
   * nothing and answers that request's agent (`existing`, with its webhook secret: a replay
   * shows what the first answer showed), whatever crashed between its commit and now.
   */
  async insertOrFind(
    agent: Agent,
    webhookSecret: string | null,
    idempotency?: RowIdempotency,
  ): Promise<KeyedInsert<CreatedAgent>> {
    const rows = await this.db.query<AgentRow>(
      `INSERT INTO agents (id, tenant_id, name, model, system_prompt, configuration, status, version,
                           created_at, updated_at, webhook_url, webhook_secret, idempotency_key, request_hash)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9, $10, $11, $12, $13)
       ON CONFLICT (tenant_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
       RETURNING ${agentColumns}`,
      [
        agent.id,
        agent.tenantId,
        agent.name,
        agent.model,
        agent.systemPrompt,
        JSON.stringify(agent.configuration),
        agent.status,
        agent.version,
        agent.createdAt,
        agent.webhookUrl,
        webhookSecret,
        idempotency?.key ?? null,
        idempotency?.requestHash ?? null,
      ],
    );
    if (rows[0]) return { kind: 'created', row: { ...toAgent(rows[0]), webhookSecret } };
    // Only a key conflict inserts nothing; the earlier row is read in a statement of its own,
    // which sees it (the INSERT waited for it to commit).
    const existing = idempotency && (await this.findByKey(agent.tenantId, idempotency.key));
    if (!existing) throw new Error('the agent insert wrote nothing and no row holds its key');
    return existing;
  }

  /** The agent an Idempotency-Key created, deleted or not, with its webhook secret. */
  async findByKey(tenantId: string, key: string): Promise<KeyedInsert<CreatedAgent> | undefined> {
    const rows = await this.db.query<
      AgentRow & { webhook_secret: string | null; request_hash: string | null }
    >(
      `SELECT ${agentColumns}, webhook_secret, request_hash
         FROM agents WHERE tenant_id = $1 AND idempotency_key = $2`,
      [tenantId, key],
    );
    return earlierInsert(rows[0], (row) => ({ ...toAgent(row), webhookSecret: row.webhook_secret }));
  }

  async findById(tenantId: string, id: string): Promise<Agent | null> {
    const rows = await this.db.query<AgentRow>(
      `SELECT ${agentColumns} FROM agents WHERE tenant_id = $1 AND id = $2 AND deleted_at IS NULL`,
      [tenantId, id],
    );
    return rows[0] ? toAgent(rows[0]) : null;
  }

  /**
   * Applies a patch in one statement; with `expectedVersions` (If-Match) only if the row still has one.
   * Tells "gone" from "changed meanwhile" with a second query only when nothing was updated.
   */
  async update(
    tenantId: string,
    id: string,
    patch: AgentPatch,
    expectedVersions: readonly number[] | undefined,
  ): Promise<AgentWrite> {
    const rows = await this.db.query<AgentRow>(
      `UPDATE agents SET
          name = COALESCE($3, name),
          model = COALESCE($4, model),
          system_prompt = COALESCE($5, system_prompt),
          configuration = COALESCE($6::jsonb, configuration),
          status = COALESCE($7, status),
          webhook_url = CASE WHEN $9::boolean THEN $10 ELSE webhook_url END,
          webhook_secret = CASE WHEN $9::boolean THEN $11 ELSE webhook_secret END,
          version = version + 1,
          updated_at = greatest(now(), updated_at + interval '1 millisecond')
        WHERE tenant_id = $1 AND id = $2 AND deleted_at IS NULL AND ($8::int[] IS NULL OR version = ANY($8::int[]))
        RETURNING ${agentColumns}`,
      [
        tenantId,
        id,
        patch.name ?? null,
        patch.model ?? null,
        patch.systemPrompt ?? null,
        patch.configuration === undefined ? null : JSON.stringify(patch.configuration),
        patch.status ?? null,
        expectedVersions ?? null,
        patch.webhook !== undefined,
        patch.webhook?.url ?? null,
        patch.webhook?.secret ?? null,
      ],
    );
    if (rows[0]) return { kind: 'done', agent: toAgent(rows[0]) };
    return this.missOrStale(tenantId, id, expectedVersions);
  }

  /** Soft delete: the row stays for the history that references it. Bumps the version. */
  /**
   * Refused while the current version of a live workflow runs the agent. The agent's row
   * is locked first: a workflow being created with it holds it FOR SHARE, so the check
   * below runs after that commit and sees it (and a creation after this one sees the agent gone).
   */
  async softDelete(
    tenantId: string,
    id: string,
    expectedVersions: readonly number[] | undefined,
  ): Promise<AgentWrite | { kind: 'in-use'; workflows: { id: string; name: string }[] }> {
    return this.db.transaction(async (tx) => {
      const locked = await tx.query<{ version: number }>(
        'SELECT version FROM agents WHERE tenant_id = $1 AND id = $2 AND deleted_at IS NULL FOR UPDATE',
        [tenantId, id],
      );
      const version = locked[0]?.version;
      if (version === undefined) return { kind: 'not-found' } as const;
      if (expectedVersions && !expectedVersions.includes(version)) return { kind: 'stale' } as const;
      const users = await tx.query<{ id: string; name: string }>(
        `SELECT DISTINCT w.id, w.name
           FROM workflow_steps s JOIN workflows w ON w.id = s.workflow_id AND w.version = s.version
          WHERE s.agent_id = $1 AND w.deleted_at IS NULL
          ORDER BY w.name, w.id LIMIT 20`,
        [id],
      );
      if (users.length > 0) return { kind: 'in-use', workflows: users } as const;
      const rows = await tx.query<AgentRow>(
        `UPDATE agents SET deleted_at = now(), version = version + 1 WHERE id = $1 RETURNING ${agentColumns}`,
        [id],
      );
      return { kind: 'done', agent: toAgent(rows[0]!) } as const;
    });
  }

  private async missOrStale(
    tenantId: string,
    id: string,
    expectedVersions: readonly number[] | undefined,
  ): Promise<AgentWrite> {
    if (expectedVersions === undefined) return { kind: 'not-found' };
    const rows = await this.db.query<{ exists: boolean }>(
      'SELECT EXISTS (SELECT 1 FROM agents WHERE tenant_id = $1 AND id = $2 AND deleted_at IS NULL) AS exists',
      [tenantId, id],
    );
    return rows[0]?.exists ? { kind: 'stale' } : { kind: 'not-found' };
  }

  /**
   * One query for a page: only the asked-for columns, statistics from a lateral
   * subquery on the per-agent executions index, keyset on (created_at, id).
   */
  async page(query: AgentPageQuery): Promise<AgentSummary[]> {
    const select: string[] = [];
    for (const field of query.fields) {
      if (field in listColumnSql)
        select.push(`${listColumnSql[field as keyof typeof listColumnSql]} AS ${field}`);
    }
    // The cursor needs created_at even when the client did not ask for it.
    select.push('a.created_at AS cursor_created_at');
    const withStats = query.fields.has('execution_count') || query.fields.has('last_execution_at');
    if (withStats) select.push('s.execution_count', 's.last_execution_at');

    const values: unknown[] = [query.tenantId, query.limit];
    let where = 'a.tenant_id = $1 AND a.deleted_at IS NULL';
    if (query.status) {
      values.push(query.status);
      where += ` AND a.status = $${values.length}`;
    }
    if (query.after) {
      values.push(query.after.createdAt, query.after.id);
      where += ` AND (a.created_at, a.id) < ($${values.length - 1}::timestamptz, $${values.length}::uuid)`;
    }
    const stats = withStats
      ? `LEFT JOIN LATERAL (
           SELECT count(*)::int AS execution_count, max(e.queued_at) AS last_execution_at
             FROM executions e WHERE e.agent_id = a.id
         ) s ON true`
      : '';
    const rows = await this.db.query<Record<string, unknown>>(
      `SELECT ${select.join(', ')} FROM agents a ${stats}
        WHERE ${where}
        ORDER BY a.created_at DESC, a.id DESC
        LIMIT $2`,
      values,
    );
    return rows.map((row) => ({
      id: row['id'] as string,
      ...(row['name'] !== undefined && { name: row['name'] as string }),
      ...(row['model'] !== undefined && { model: row['model'] as string }),
      ...(row['system_prompt'] !== undefined && { systemPrompt: row['system_prompt'] as string }),
      ...(row['configuration'] !== undefined && {
        configuration: row['configuration'] as Record<string, unknown>,
      }),
      ...(row['status'] !== undefined && { status: row['status'] as AgentStatus }),
      ...(row['updated_at'] !== undefined && { updatedAt: row['updated_at'] as Date }),
      ...(withStats && {
        executionCount: row['execution_count'] as number,
        lastExecutionAt: row['last_execution_at'] as Date | null,
      }),
      createdAt: row['cursor_created_at'] as Date,
    }));
  }
}
