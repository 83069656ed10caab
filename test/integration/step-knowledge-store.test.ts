import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDatabase, type Database } from '#adapters/postgres/db.ts';
import { migrate } from '#adapters/postgres/migrate.ts';
import { WorkflowRepository } from '#adapters/postgres/workflows.ts';
import { newId } from '#domain/ids.ts';
import { buildDefinition, type StepBody, type StepDefinition } from '#domain/workflow.ts';
import { useEmbeddedPostgres } from '../support/embedded-postgres.ts';
import { describeRealServers } from '../support/real-servers.ts';

/** The workflow store's checks of a step's knowledge on one database (`url` is read once its server runs). */
const stepKnowledgeChecks = (url: () => string) => {
  let db: Database;
  let workflows: WorkflowRepository;
  const tenantId = randomUUID();
  const agentId = randomUUID();
  const baseIds = [randomUUID(), randomUUID()];

  beforeAll(async () => {
    await migrate(url());
    db = createDatabase({ connectionString: url(), max: 2 });
    workflows = new WorkflowRepository(db);
    await db.query('INSERT INTO tenants (id, name) VALUES ($1, $2)', [
      tenantId,
      `step-knowledge-${tenantId}`,
    ]);
    await db.query(
      `INSERT INTO agents (id, tenant_id, name, model, system_prompt, created_at, updated_at)
       VALUES ($1, $2, 'a', 'm', 'p', now(), now())`,
      [agentId, tenantId],
    );
  }, 60_000);
  afterAll(async () => {
    await db?.close();
  });

  const definition = (steps: Omit<StepBody, 'agent_id' | 'input'>[]): StepDefinition[] => {
    const built = buildDefinition(steps.map((step) => ({ agent_id: agentId, input: '{{input}}', ...step })));
    if (!built.ok) throw new Error(JSON.stringify(built.errors));
    return built.steps;
  };

  /** A step of each kind: its own bases, turned off, inherited. */
  const threeKinds = () =>
    definition([
      { key: 'own', knowledge: { knowledge_base_ids: baseIds, top_k: 7, mode: 'semantic' } },
      { key: 'off', knowledge: null },
      { key: 'inherit' },
    ]);

  const insert = async (steps: StepDefinition[], idempotencyKey?: string) => {
    const now = new Date();
    const written = await workflows.insert(
      {
        id: newId(),
        tenantId,
        name: 'grounded',
        description: null,
        onStepFailure: 'fail',
        webhookUrl: null,
        createdAt: now,
        updatedAt: now,
      },
      steps,
      null,
      idempotencyKey ? { key: idempotencyKey, requestHash: 'h' } : undefined,
    );
    if (written.kind !== 'done') throw new Error(written.kind);
    return written.workflow;
  };

  it('reads back what each step said: its own bases, none, or its agent’s (the field absent)', async () => {
    const steps = threeKinds();
    expect(steps.map((step) => step.knowledge)).toEqual([
      { baseIds, topK: 7, mode: 'semantic' },
      null,
      undefined,
    ]);
    const key = `key-${randomUUID()}`;
    const workflow = await insert(steps, key);
    expect((await workflows.findWithSteps(tenantId, workflow.id))?.steps).toEqual(steps);
    expect(await workflows.stepsOfVersion(workflow.id, 1)).toEqual(steps);
    const inherit = (await workflows.stepsOfVersion(workflow.id, 1))[2];
    expect(inherit && 'knowledge' in inherit).toBe(false);
    // The earlier request's workflow, as an Idempotency-Key replay reads it.
    const earlier = await workflows.findByKey(tenantId, key);
    expect(earlier?.row.workflow.steps).toEqual(steps);
  });

  it('stores inherit as SQL NULL and off as {"off": true}, and refuses anything else', async () => {
    const workflow = await insert(threeKinds());
    const rows = await db.query<{ key: string; knowledge: unknown; is_null: boolean }>(
      `SELECT key, knowledge, knowledge IS NULL AS is_null FROM workflow_steps
        WHERE workflow_id = $1 ORDER BY position`,
      [workflow.id],
    );
    expect(rows).toEqual([
      {
        key: 'own',
        knowledge: { knowledge_base_ids: baseIds, top_k: 7, mode: 'semantic' },
        is_null: false,
      },
      { key: 'off', knowledge: { off: true }, is_null: false },
      { key: 'inherit', knowledge: null, is_null: true },
    ]);
    for (const junk of ['"kb"', 'null', '{"top_k": 3}', '{"off": false}']) {
      await expect(
        db.query(
          `UPDATE workflow_steps SET knowledge = $2::jsonb WHERE workflow_id = $1 AND key = 'inherit'`,
          [workflow.id, junk],
        ),
        junk,
      ).rejects.toThrow(/check constraint/);
    }
  });

  it('carries each step’s knowledge into the next version when a PATCH leaves the steps alone, and replaces it when it sends new ones', async () => {
    const workflow = await insert(threeKinds());
    const renamed = await workflows.update(tenantId, workflow.id, { name: 'renamed' }, undefined);
    if (renamed.kind !== 'done') throw new Error(renamed.kind);
    expect(renamed.workflow.version).toBe(2);
    expect(renamed.workflow.steps).toEqual(threeKinds());
    expect(await workflows.stepsOfVersion(workflow.id, 2)).toEqual(threeKinds());

    const swapped = definition([
      { key: 'own', knowledge: null },
      { key: 'off' },
      { key: 'inherit', knowledge: { knowledge_base_ids: [baseIds[1]!] } },
    ]);
    const replaced = await workflows.update(tenantId, workflow.id, { steps: swapped }, undefined);
    if (replaced.kind !== 'done') throw new Error(replaced.kind);
    expect(await workflows.stepsOfVersion(workflow.id, 3)).toEqual(swapped);
    expect((await workflows.findWithSteps(tenantId, workflow.id))?.steps.map((s) => s.knowledge)).toEqual([
      null,
      undefined,
      { baseIds: [baseIds[1]], topK: 5, mode: 'hybrid' },
    ]);
    // The versions pinned by runs in flight keep what they said.
    expect(await workflows.stepsOfVersion(workflow.id, 1)).toEqual(threeKinds());
  });
};

describe("a workflow step's knowledge in embedded PostgreSQL (PGlite)", () => {
  stepKnowledgeChecks(useEmbeddedPostgres());
});

describeRealServers("a workflow step's knowledge in PostgreSQL 15", (servers) => {
  stepKnowledgeChecks(() => servers.postgresUrl);
});
