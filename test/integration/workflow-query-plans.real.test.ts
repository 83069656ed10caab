import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Database } from '#adapters/postgres/db.ts';
import { migrate } from '#adapters/postgres/migrate.ts';
import { WorkflowRunRepository } from '#adapters/postgres/workflow-runs/index.ts';
import { WorkflowRepository } from '#adapters/postgres/workflows.ts';
import { describeRealServers } from '../support/real-servers.ts';
import {
  captureStatements,
  clientQueryable,
  explain,
  type PlanNode,
  planNodes,
  type SeededWorkflows,
  seedWorkflows,
} from '../support/workflow-fixture.ts';

/**
 * The plans PostgreSQL 15 chooses for the SQL the workflow repositories really send, on a seeded
 * set of tables (2 tenants × 300 workflows with names sharing prefixes, 20,000 runs over 60 days,
 * their daily rollups, VACUUM ANALYZE): the indexes of migration 0003 are shown to serve the
 * queries, not assumed to. The runs are skewed (skew 3: the first workflow has ~2,400 of them, ~190
 * failed), as busy workflows are: with a few dozen runs a workflow's page is rightly read by a
 * bitmap scan and a top-N sort, which says nothing of the index order.
 */
describeRealServers('workflow query plans on PostgreSQL 15', (servers) => {
  let client: pg.Client;
  let seeded: SeededWorkflows;
  const tenantId = () => seeded.tenantIds[0]!;
  // The tenant's first workflow (live: every 25th is deleted).
  const workflowId = () => seeded.workflowIds[0]![0]!;

  /** Records the single statement a repository call sends, then EXPLAINs it with the same values. */
  const planOf = async (call: (db: Database) => Promise<unknown>): Promise<PlanNode[]> => {
    const statements = await captureStatements(call);
    expect(statements).toHaveLength(1);
    return planNodes((await explain(clientQueryable(client), statements[0]!)).plan);
  };
  const indexesOf = (nodes: PlanNode[]) =>
    nodes.map((n) => n['Index Name']).filter((name) => name !== undefined);
  const nodeTypes = (nodes: PlanNode[]) => nodes.map((n) => n['Node Type']);
  const seqScansOf = (nodes: PlanNode[], table: string) =>
    nodes.filter((n) => n['Node Type'] === 'Seq Scan' && n['Relation Name'] === table);

  beforeAll(async () => {
    await migrate(servers.postgresUrl);
    client = new pg.Client({ connectionString: servers.postgresUrl });
    await client.connect();
    seeded = await seedWorkflows(clientQueryable(client), {
      tenants: 2,
      workflowsPerTenant: 300,
      executions: 20_000,
      days: 60,
      deletedEvery: 25,
      skew: 3,
    });
  }, 60_000);
  afterAll(async () => {
    await client?.end();
  });

  it('the name search (?q=, a prefix) uses the expression index on lower(name)', async () => {
    const nodes = await planOf((db) =>
      new WorkflowRepository(db).page({ tenantId: tenantId(), limit: 21, q: 'rep' }),
    );
    expect(indexesOf(nodes)).toContain('workflows_name_lower');
    expect(seqScansOf(nodes, 'workflows')).toEqual([]);
  });

  it("the workflows list's run count and latest run come from an index on workflow_executions", async () => {
    const nodes = await planOf((db) => new WorkflowRepository(db).page({ tenantId: tenantId(), limit: 21 }));
    expect(indexesOf(nodes)).toContain('workflows_tenant_live_page');
    expect(indexesOf(nodes).some((name) => name.startsWith('workflow_executions_'))).toBe(true);
    expect(seqScansOf(nodes, 'workflow_executions')).toEqual([]);
    expect(nodeTypes(nodes)).not.toContain('Sort');
  });

  it("a workflow's runs filtered by status read the (workflow, status, created_at) index in order", async () => {
    const nodes = await planOf((db) =>
      new WorkflowRunRepository(db).page({
        tenantId: tenantId(),
        workflowId: workflowId(),
        limit: 21,
        status: 'failed',
      }),
    );
    expect(indexesOf(nodes)).toContain('workflow_executions_workflow_status_page');
    expect(nodeTypes(nodes)).not.toContain('Sort');
    expect(seqScansOf(nodes, 'workflow_executions')).toEqual([]);
  });

  it("a workflow's runs of any status read the (workflow, created_at) index in order", async () => {
    const nodes = await planOf((db) =>
      new WorkflowRunRepository(db).page({ tenantId: tenantId(), workflowId: workflowId(), limit: 21 }),
    );
    expect(indexesOf(nodes)).toContain('workflow_executions_workflow_page');
    expect(nodeTypes(nodes)).not.toContain('Sort');
    expect(seqScansOf(nodes, 'workflow_executions')).toEqual([]);
  });

  it("one workflow's statistics read the daily rollups by primary key and never scan the runs", async () => {
    const nodes = await planOf((db) => new WorkflowRepository(db).stats(tenantId(), workflowId()));
    expect(indexesOf(nodes)).toContain('workflow_stats_daily_pkey');
    expect(seqScansOf(nodes, 'workflow_stats_daily')).toEqual([]);
    expect(seqScansOf(nodes, 'workflow_executions')).toEqual([]);
  });

  it("all of a tenant's statistics never scan the runs either", async () => {
    const nodes = await planOf((db) => new WorkflowRepository(db).stats(tenantId()));
    expect(seqScansOf(nodes, 'workflow_executions')).toEqual([]);
    expect(indexesOf(nodes).some((name) => name.startsWith('workflow_executions_'))).toBe(true);
  });
});
