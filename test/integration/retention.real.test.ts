import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Queryable } from '#adapters/postgres/db.ts';
import { RetentionRepository } from '#adapters/postgres/retention.ts';
import type { PurgedTable } from '#domain/retention.ts';
import { startTestApi, type TestApi } from '../support/api.ts';
import { describeRealServers } from '../support/real-servers.ts';
import { retentionContract, retentionTestEnv } from '../support/retention-contract.ts';
import { clearRetentionTables, seedRetention } from '../support/retention-fixture.ts';

interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  'Index Name'?: string;
  'Subplan Name'?: string;
  Plans?: PlanNode[];
}

interface Plan {
  readonly all: PlanNode[];
  readonly batch: PlanNode[];
}

const nodesOf = (node: PlanNode): PlanNode[] => [node, ...(node.Plans ?? []).flatMap(nodesOf)];

describeRealServers('retention on PostgreSQL 15', (servers) => {
  let api: TestApi;
  beforeAll(async () => {
    Object.assign(process.env, retentionTestEnv);
    api = await startTestApi({ DATABASE_URL: servers.postgresUrl }, { workers: true });
  });
  afterAll(async () => {
    await api?.stop();
  });
  retentionContract();

  /**
   * The plans PostgreSQL chooses for the batch statements the repository really sends, on
   * seeded, analyzed tables: the keyset is shown to be read from an index, not assumed to be.
   */
  describe('batch plans', () => {
    let client: pg.Client;
    const now = new Date();
    const days = { executions: 30, workflowExecutions: 30, audit: 30 };
    const cutoff = new Date(now.getTime() - 30 * 86_400_000);

    /**
     * The plan of a batch statement as the repository sends it: all its nodes, and those of
     * its `SELECT … ORDER BY … LIMIT` (the CTE `batch`).
     */
    const batchPlan = async (table: PurgedTable, after?: readonly unknown[]): Promise<Plan> => {
      const captured: { text: string; values: readonly unknown[] }[] = [];
      const recorder: Queryable = {
        query: async <Row>(text: string, values: readonly unknown[] = []) => {
          captured.push({ text, values });
          return [] as Row[];
        },
      };
      const repository = new RetentionRepository(recorder);
      await repository.deleteBatch(table, cutoff, after ?? repository.start(table), 1000);
      expect(captured).toHaveLength(1);
      const { text, values } = captured[0]!;
      const result = await client.query<{ 'QUERY PLAN': { Plan: PlanNode }[] }>(
        `EXPLAIN (FORMAT JSON) ${text}`,
        values as unknown[],
      );
      const all = nodesOf(result.rows[0]!['QUERY PLAN'][0]!.Plan);
      const batch = all.find((n) => n['Subplan Name'] === 'CTE batch');
      expect(batch, 'the statement has its batch as a CTE').toBeDefined();
      return { all, batch: nodesOf(batch!) };
    };

    /**
     * The batch reads `table` through `index` in its order (no sort), and nothing in the
     * statement scans a whole table: the delete (and its cascade count) probe primary keys.
     */
    const expectKeysetScan = (plan: Plan, table: PurgedTable, index: string) => {
      const scans = plan.batch.filter((n) => n['Relation Name'] === table);
      expect(scans.length).toBeGreaterThan(0);
      for (const scan of scans) {
        expect(scan['Node Type']).toMatch(/^Index (Only )?Scan$/);
        expect(scan['Index Name']).toBe(index);
      }
      expect(plan.batch.map((n) => n['Node Type'])).not.toContain('Sort');
      expect(plan.all.filter((n) => n['Node Type'] === 'Seq Scan')).toEqual([]);
    };

    beforeAll(async () => {
      client = new pg.Client({ connectionString: servers.postgresUrl });
      await client.connect();
      const db: Queryable = {
        query: async (text, values) => (await client.query(text, values as unknown[])).rows,
      };
      await clearRetentionTables(db);
      // A few thousand rows each side of the cutoff (audit events: three per instant).
      await seedRetention(db, { now, days, old: 3000, kept: 2000 });
      // Embedding cache entries of a tenant made over the last 200 days, 60,000 of them.
      await client.query(`INSERT INTO tenants (id, name) VALUES ('01900000-0000-7000-8000-00000000e001', 'cache-plans')
                          ON CONFLICT DO NOTHING`);
      await client.query(
        `INSERT INTO embedding_cache (tenant_id, provider, model, dimensions, text_sha256, embedding, created_at)
         SELECT '01900000-0000-7000-8000-00000000e001', 'openai', 'm', 4, sha256(i::text::bytea), '{1,0,0,0}',
                now() - i * interval '288 seconds'
           FROM generate_series(1, 60000) AS i`,
      );
      await client.query('VACUUM ANALYZE executions, workflow_executions, audit_events, embedding_cache');
    }, 60_000);
    afterAll(async () => {
      await client?.end();
    });

    it('an executions batch reads the primary key from the keyset on: no sequential scan, no sort', async () => {
      for (const after of [undefined, ['01800000-0000-7000-8000-000000000000']]) {
        expectKeysetScan(await batchPlan('executions', after), 'executions', 'executions_pkey');
      }
    });

    it('a workflow executions batch reads its primary key too', async () => {
      expectKeysetScan(
        await batchPlan('workflow_executions'),
        'workflow_executions',
        'workflow_executions_pkey',
      );
    });

    it('an audit batch reads audit_events_at from the keyset on: no sequential scan, no sort', async () => {
      for (const after of [undefined, [new Date(cutoff.getTime() - 86_400_000)]]) {
        expectKeysetScan(await batchPlan('audit_events', after), 'audit_events', 'audit_events_at');
      }
    });

    it('an embedding cache batch reads embedding_cache_created from the keyset on and deletes by TID', async () => {
      for (const after of [undefined, [new Date(cutoff.getTime() - 86_400_000)]]) {
        const plan = await batchPlan('embedding_cache', after);
        expectKeysetScan(plan, 'embedding_cache', 'embedding_cache_created');
        const deletes = plan.all.filter(
          (n) => n['Relation Name'] === 'embedding_cache' && !plan.batch.includes(n),
        );
        expect(deletes.map((n) => n['Node Type'])).toContain('Tid Scan');
      }
    });
  });
});
