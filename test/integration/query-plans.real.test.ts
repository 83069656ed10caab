import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type AgentPageQuery, AgentRepository } from '#adapters/postgres/agents.ts';
import type { Database, Queryable } from '#adapters/postgres/db.ts';
import { migrate } from '#adapters/postgres/migrate.ts';
import { agentListFields } from '#domain/agent.ts';
import { describeRealServers } from '../support/real-servers.ts';

interface PlanNode {
  'Node Type': string;
  'Index Name'?: string;
  Plans?: PlanNode[];
}

const nodesOf = (node: PlanNode): PlanNode[] => [node, ...(node.Plans ?? []).flatMap(nodesOf)];

/**
 * The plans PostgreSQL chooses for the SQL the repository really sends, on a seeded table:
 * the indexes are shown to serve the queries, not assumed to.
 */
describeRealServers('query plans on PostgreSQL 15', (servers) => {
  let client: pg.Client;
  const tenantId = '01900000-0000-7000-8000-000000000001';

  /** Records the repository's statement instead of running it, then EXPLAINs it. */
  const planOf = async (query: Omit<AgentPageQuery, 'tenantId'>): Promise<PlanNode[]> => {
    const captured: { text: string; values: readonly unknown[] }[] = [];
    const recorder: Queryable = {
      query: async (text, values = []) => {
        captured.push({ text, values });
        return [];
      },
    };
    // page() runs one plain query; a recorder stands in for the database.
    await new AgentRepository(recorder as Database).page({ tenantId, ...query });
    expect(captured).toHaveLength(1);
    const { text, values } = captured[0]!;
    const result = await client.query<{ 'QUERY PLAN': { Plan: PlanNode }[] }>(
      `EXPLAIN (FORMAT JSON) ${text}`,
      values as unknown[],
    );
    return nodesOf(result.rows[0]!['QUERY PLAN'][0]!.Plan);
  };

  beforeAll(async () => {
    await migrate(servers.postgresUrl);
    client = new pg.Client({ connectionString: servers.postgresUrl });
    await client.connect();
    // 20 tenants × 2,000 agents, a tenth paused, a twentieth deleted, and executions for some.
    await client.query(`
      INSERT INTO tenants (id, name)
      SELECT ('01900000-0000-7000-8000-' || lpad(to_hex(t), 12, '0'))::uuid, 'tenant' || t
        FROM generate_series(1, 20) t;
      INSERT INTO agents (id, tenant_id, name, model, system_prompt, configuration, status, created_at, updated_at, deleted_at)
      SELECT gen_random_uuid(), ('01900000-0000-7000-8000-' || lpad(to_hex(t), 12, '0'))::uuid,
             'agent ' || a, 'gpt-4o', 'prompt', '{}'::jsonb,
             CASE WHEN a % 10 = 0 THEN 'paused' ELSE 'active' END,
             now() - a * interval '1 minute', now(),
             CASE WHEN a % 20 = 0 THEN now() END
        FROM generate_series(1, 20) t, generate_series(1, 2000) a;
      INSERT INTO executions (id, tenant_id, agent_id, status, input, model, system_prompt, configuration,
                              queued_at, updated_at)
      SELECT gen_random_uuid(), tenant_id, id, 'succeeded', '"hi"'::jsonb, model, system_prompt, configuration,
             now(), now()
        FROM agents WHERE name LIKE 'agent 1%';
      ANALYZE;
    `);
  }, 60_000);
  afterAll(async () => {
    await client?.end();
  });

  const indexScans = (nodes: PlanNode[]) =>
    nodes.filter((n) => n['Node Type'].includes('Index')).map((n) => n['Index Name']);

  it('a first page reads the live-agents keyset index in order: no sort, no sequential scan', async () => {
    const nodes = await planOf({ limit: 21, fields: new Set(['id', 'name', 'status', 'created_at']) });
    expect(indexScans(nodes)).toContain('agents_tenant_live_page');
    expect(nodes.map((n) => n['Node Type'])).not.toContain('Sort');
    expect(nodes.map((n) => n['Node Type'])).not.toContain('Seq Scan');
  });

  it('a later page seeks the same index from the cursor', async () => {
    const nodes = await planOf({
      limit: 21,
      fields: new Set(['id', 'name']),
      after: { createdAt: new Date(Date.now() - 500 * 60_000), id: 'ffffffff-ffff-7fff-bfff-ffffffffffff' },
    });
    expect(indexScans(nodes)).toContain('agents_tenant_live_page');
    expect(nodes.map((n) => n['Node Type'])).not.toContain('Sort');
  });

  it('status=active uses the partial index for active agents', async () => {
    const nodes = await planOf({ limit: 21, fields: new Set(['id', 'name']), status: 'active' });
    expect(indexScans(nodes)).toContain('agents_tenant_active_page');
    expect(nodes.map((n) => n['Node Type'])).not.toContain('Sort');
  });

  it('execution statistics come from the per-agent executions index, one lookup per listed agent', async () => {
    const nodes = await planOf({ limit: 21, fields: new Set(agentListFields) });
    const indexes = indexScans(nodes);
    expect(indexes).toContain('agents_tenant_live_page');
    // Either of the per-agent executions indexes answers the count and the latest time.
    expect(indexes.some((name) => name?.startsWith('executions_agent_'))).toBe(true);
    expect(nodes.filter((n) => n['Node Type'] === 'Seq Scan')).toEqual([]);
  });
});
