import { describe, expect, it } from 'vitest';
import { database } from '#adapters/postgres/db.ts';
import { createTestAgent, type TestApi, useTestApi } from '../support/api.ts';
import { jsonOf, until } from '../support/polling.ts';

interface Citation {
  knowledge_base_id: string;
  document_id: string;
  chunk_id: string;
  title: string;
  score: number;
}

interface StepRunBody {
  key: string;
  status: string;
  error: { code: string; message: string } | null;
  usage: { embedding_tokens?: number };
  citations?: Citation[];
  timings?: { retrieval_ms: number };
}

interface WorkflowStepBody {
  key: string;
  knowledge?: { knowledge_base_ids: string[]; top_k: number; mode: string } | null;
}

/**
 * A workflow step that names knowledge bases of its own, end to end on `npm start`'s runtime
 * with its workers: the step's bases replace its agent's (an agent without any answers from
 * them), `knowledge: null` turns the agent's off for that step alone, and the definition
 * answers back what each step said.
 */
describe("a workflow step's own knowledge (embedded runtime, workers on)", () => {
  const api = useTestApi(() => ({}), { workers: true });

  /** A base with one ingested document about the pump; answers the base's and the document's ids. */
  const pumpBase = async (a: TestApi, name: string) => {
    const base = await jsonOf<{ id: string }>(
      await a.call('/v1/knowledge-bases', { method: 'POST', json: { name } }),
      201,
    );
    const document = await jsonOf<{ id: string }>(
      await a.call(`/v1/knowledge-bases/${base.id}/documents`, {
        method: 'POST',
        json: {
          title: 'Pump runbook',
          content_type: 'text/markdown',
          content: '# Restart\n\nTo restart the pump, close valve B first, then press reset.',
        },
      }),
      202,
    );
    const ingested = await until(
      async () =>
        jsonOf<{ status: string }>(
          await a.call(`/v1/knowledge-bases/${base.id}/documents/${document.id}`),
          200,
        ),
      (d) => d.status !== 'processing',
      'ingestion',
    );
    expect(ingested.status).toBe('ready');
    return { baseId: base.id, documentId: document.id };
  };

  const createWorkflow = async (a: TestApi, steps: unknown[]) =>
    (
      await jsonOf<{ id: string }>(
        await a.call('/v1/workflows', { method: 'POST', json: { name: 'w', steps } }),
        201,
      )
    ).id;

  const run = async (a: TestApi, workflowId: string) => {
    const started = await jsonOf<{ id: string }>(
      await a.call(`/v1/workflows/${workflowId}/executions`, { method: 'POST', json: { input: {} } }),
      202,
    );
    const finished = await until(
      async () =>
        jsonOf<{ id: string; status: string; steps: StepRunBody[] }>(
          await a.call(`/v1/workflow-executions/${started.id}`),
          200,
        ),
      (r) => r.status === 'succeeded' || r.status === 'failed',
      'the run',
    );
    return { ...finished, step: (key: string) => finished.steps.find((s) => s.key === key) };
  };

  const retrievalsOf = async (unitId: string) =>
    (
      await database().query<{ n: number }>(
        'SELECT count(*)::int AS n FROM knowledge_retrievals WHERE unit_id = $1',
        [unitId],
      )
    )[0]?.n;

  it('answers a step from the bases it names, though its agent has none', async () => {
    const a = api();
    const { baseId, documentId } = await pumpBase(a, 'step-own');
    const agentId = await createTestAgent(a); // no configuration.knowledge
    const workflowId = await createWorkflow(a, [
      {
        key: 'grounded',
        agent_id: agentId,
        input: 'How do I restart the pump?',
        knowledge: { knowledge_base_ids: [baseId.toUpperCase()], top_k: 2, mode: 'keyword' },
      },
      { key: 'plain', agent_id: agentId, input: 'How do I restart the pump?' },
    ]);

    // The definition answers back what each step said, defaults filled in, ids in their canonical spelling.
    const definition = await jsonOf<{ steps: WorkflowStepBody[] }>(
      await a.call(`/v1/workflows/${workflowId}?include=steps`),
      200,
    );
    expect(definition.steps[0]?.knowledge).toEqual({
      knowledge_base_ids: [baseId],
      top_k: 2,
      mode: 'keyword',
    });
    expect(definition.steps[1] && 'knowledge' in definition.steps[1]).toBe(false);

    const finished = await run(a, workflowId);
    expect(finished.status, JSON.stringify(finished.steps)).toBe('succeeded');
    const grounded = finished.step('grounded');
    expect(grounded?.citations?.length).toBeGreaterThan(0);
    expect(grounded?.citations?.length).toBeLessThanOrEqual(2);
    expect(grounded?.citations?.[0]).toMatchObject({
      knowledge_base_id: baseId,
      document_id: documentId,
      title: 'Pump runbook',
    });
    expect(grounded?.timings?.retrieval_ms).toBeGreaterThanOrEqual(0);
    // A keyword search embeds no query.
    expect(grounded?.usage.embedding_tokens).toBe(0);
    // The other step, on the same agent, inherits its agent's knowledge: none.
    expect(finished.step('plain')?.citations).toBeUndefined();
    expect(await retrievalsOf(`${finished.id}/grounded`)).toBe(1);
    expect(await retrievalsOf(`${finished.id}/plain`)).toBe(0);
  });

  it("turns the agent's knowledge off for a step with knowledge: null, and only for it", async () => {
    const a = api();
    const { baseId } = await pumpBase(a, 'agent-own');
    const agentId = await createTestAgent(a, {
      configuration: { cache_ttl_seconds: 0, knowledge: { knowledge_base_ids: [baseId], mode: 'keyword' } },
    });
    const workflowId = await createWorkflow(a, [
      { key: 'off', agent_id: agentId, input: 'How do I restart the pump?', knowledge: null },
      { key: 'inherit', agent_id: agentId, input: 'How do I restart the pump?' },
    ]);
    const definition = await jsonOf<{ steps: WorkflowStepBody[] }>(
      await a.call(`/v1/workflows/${workflowId}?include=steps`),
      200,
    );
    expect(definition.steps.map((s) => s.knowledge)).toEqual([null, undefined]);

    const finished = await run(a, workflowId);
    expect(finished.status, JSON.stringify(finished.steps)).toBe('succeeded');
    expect(finished.step('off')?.citations).toBeUndefined();
    expect(finished.step('off')?.timings).toBeUndefined();
    expect(await retrievalsOf(`${finished.id}/off`)).toBe(0);
    expect(finished.step('inherit')?.citations?.[0]?.knowledge_base_id).toBe(baseId);

    // A PATCH that leaves the steps alone keeps what each said; one that sends new steps replaces it.
    const renamed = await jsonOf<{ version: number; steps: WorkflowStepBody[] }>(
      await a.call(`/v1/workflows/${workflowId}`, { method: 'PATCH', json: { name: 'renamed' } }),
      200,
    );
    expect(renamed.version).toBe(2);
    expect(renamed.steps.map((s) => s.knowledge)).toEqual([null, undefined]);
    const replaced = await jsonOf<{ steps: WorkflowStepBody[] }>(
      await a.call(`/v1/workflows/${workflowId}`, {
        method: 'PATCH',
        json: {
          steps: [
            { key: 'off', agent_id: agentId, input: 'x' },
            {
              key: 'inherit',
              agent_id: agentId,
              input: 'x',
              knowledge: { knowledge_base_ids: [baseId], top_k: 1 },
            },
          ],
        },
      }),
      200,
    );
    expect(replaced.steps.map((s) => s.knowledge)).toEqual([
      undefined,
      { knowledge_base_ids: [baseId], top_k: 1, mode: 'hybrid' },
    ]);
  });

  it('refuses a malformed step knowledge with the field paths of its mistakes (422)', async () => {
    const a = api();
    const agentId = await createTestAgent(a);
    const response = await a.call('/v1/workflows', {
      method: 'POST',
      json: {
        name: 'bad',
        steps: [
          { key: 'a', agent_id: agentId, input: 'x' },
          { key: 'b', agent_id: agentId, input: 'x' },
          {
            key: 'c',
            agent_id: agentId,
            input: 'x',
            knowledge: { knowledge_base_ids: ['not-a-uuid'], top_k: 99, mode: 'fuzzy' },
          },
        ],
      },
    });
    expect(response.status).toBe(422);
    const problem = (await response.json()) as { errors: { field: string }[] };
    expect(problem.errors.map((e) => e.field).sort()).toEqual([
      'steps.2.knowledge.knowledge_base_ids.0',
      'steps.2.knowledge.mode',
      'steps.2.knowledge.top_k',
    ]);
  });
});
