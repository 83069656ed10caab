import { describe, expect, it } from 'vitest';
import { database } from '#adapters/postgres/db.ts';
import { runRetention } from '#services/retention.ts';
import { createTestAgent, type TestApi, useTestApi } from '../support/api.ts';
import { jsonOf, until } from '../support/polling.ts';

interface Citation {
  knowledge_base_id: string;
  document_id: string;
  chunk_id: string;
  title: string;
  score: number;
}

interface ExecutionBody {
  id: string;
  status: string;
  output: string | null;
  error: { code: string; message: string } | null;
  usage: { cached: boolean; embedding_tokens?: number; cost_usd: number };
  citations?: Citation[];
  timings?: { retrieval_ms: number };
}

/**
 * Agents that answer from knowledge, end to end on `npm start`'s runtime with its workers: a
 * document ingested through the API, an agent naming its base, executions and a workflow step
 * grounded in it, with citations, retrieval time and usage recorded, and a response cache
 * that a changed document cannot answer from.
 */
describe('agents answering from knowledge (embedded runtime, workers on)', () => {
  const api = useTestApi(() => ({}), { workers: true });

  const postDocument = async (a: TestApi, baseId: string, externalId: string, content: string) => {
    const document = await jsonOf<{ id: string }>(
      await a.call(`/v1/knowledge-bases/${baseId}/documents`, {
        method: 'POST',
        json: { external_id: externalId, title: 'Tide tables', content_type: 'text/markdown', content },
      }),
      202,
    );
    await until(
      async () =>
        jsonOf<{ status: string }>(
          await a.call(`/v1/knowledge-bases/${baseId}/documents/${document.id}`),
          200,
        ),
      (d) => d.status !== 'processing',
      'ingestion',
    );
    return document.id;
  };

  const execute = async (a: TestApi, agentId: string, input: string): Promise<ExecutionBody> => {
    const accepted = await jsonOf<ExecutionBody>(
      await a.call(`/v1/agents/${agentId}/executions`, { method: 'POST', json: { input } }),
      202,
    );
    return until(
      async () => jsonOf<ExecutionBody>(await a.call(`/v1/executions/${accepted.id}`), 200),
      (e) => e.status === 'succeeded' || e.status === 'failed',
      'the execution',
    );
  };

  it('grounds an execution in the passages, records citations, retrieval time and embedding tokens', async () => {
    const a = api();
    const base = await jsonOf<{ id: string }>(
      await a.call('/v1/knowledge-bases', { method: 'POST', json: { name: 'harbour' } }),
      201,
    );
    const documentId = await postDocument(
      a,
      base.id,
      'tides',
      '# Tides\n\nHigh tide at the harbour of Saint-Malo comes at noon; the range reaches thirteen metres.\n\n' +
        '# Boats\n\nFerries leave the harbour two hours after high tide.',
    );
    const agentId = await createTestAgent(a, {
      system_prompt: 'You answer questions about the harbour.',
      configuration: {
        cache_ttl_seconds: 600,
        knowledge: { knowledge_base_ids: [base.id], top_k: 3, mode: 'hybrid' },
      },
    });
    const first = await execute(a, agentId, 'When is high tide at Saint-Malo?');
    expect(first.status, JSON.stringify(first.error)).toBe('succeeded');
    expect(first.citations?.length).toBeGreaterThan(0);
    expect(first.citations?.[0]).toMatchObject({
      knowledge_base_id: base.id,
      document_id: documentId,
      title: 'Tide tables',
    });
    expect(first.timings?.retrieval_ms).toBeGreaterThanOrEqual(0);
    // The local embedder estimates the query's tokens; a hybrid search embeds the query.
    expect(first.usage.embedding_tokens).toBeGreaterThan(0);
    expect(first.usage.cached).toBe(false);

    // The same question, the same passages: the response cache answers.
    const again = await execute(a, agentId, 'When is high tide at Saint-Malo?');
    expect(again.usage.cached).toBe(true);
    expect(again.output).toBe(first.output);
    expect(again.citations?.map((c) => c.chunk_id)).toEqual(first.citations?.map((c) => c.chunk_id));

    // The document replaced (new chunks): the cached answer is not served from the old ones.
    await postDocument(
      a,
      base.id,
      'tides',
      '# Tides\n\nHigh tide at the harbour of Saint-Malo comes at one in the afternoon this week.',
    );
    const after = await execute(a, agentId, 'When is high tide at Saint-Malo?');
    expect(after.usage.cached).toBe(false);
    expect(after.citations?.map((c) => c.chunk_id)).not.toEqual(first.citations?.map((c) => c.chunk_id));
    expect(after.output).not.toBe(first.output);
  });

  it('answers without citations for an agent without knowledge, and refuses a malformed knowledge setting', async () => {
    const a = api();
    const plainId = await createTestAgent(a);
    const plain = await execute(a, plainId, 'hello');
    expect(plain.status).toBe('succeeded');
    expect(plain.citations).toBeUndefined();
    expect(plain.usage.embedding_tokens).toBeUndefined();

    const refused = await a.call('/v1/agents', {
      method: 'POST',
      json: {
        name: 'bad knowledge',
        model: 'm',
        system_prompt: 'p',
        configuration: { knowledge: { knowledge_base_ids: ['not-a-uuid'], top_k: 99, mode: 'fuzzy' } },
      },
    });
    expect(refused.status).toBe(422);
    const problem = (await refused.json()) as { errors: { field: string }[] };
    expect(problem.errors.map((e) => e.field).sort()).toEqual([
      'configuration.knowledge.knowledge_base_ids',
      'configuration.knowledge.mode',
      'configuration.knowledge.top_k',
    ]);
  });

  it('fails an execution whose knowledge base is gone, for good and saying which', async () => {
    const a = api();
    const base = await jsonOf<{ id: string }>(
      await a.call('/v1/knowledge-bases', { method: 'POST', json: { name: 'short-lived' } }),
      201,
    );
    const agentId = await createTestAgent(a, {
      configuration: { knowledge: { knowledge_base_ids: [base.id] } },
    });
    expect((await a.call(`/v1/knowledge-bases/${base.id}`, { method: 'DELETE' })).status).toBe(204);
    const failed = await execute(a, agentId, 'anything');
    expect(failed.status).toBe('failed');
    expect(failed.error?.message).toContain(base.id);
    expect(failed.error?.code).toBe('provider_error');
  });

  it('grounds workflow steps through the same pipeline, each step with its citations', async () => {
    const a = api();
    const base = await jsonOf<{ id: string }>(
      await a.call('/v1/knowledge-bases', { method: 'POST', json: { name: 'runbook' } }),
      201,
    );
    await postDocument(
      a,
      base.id,
      'restart',
      '# Restart\n\nTo restart the pump, close valve B first, then press reset.',
    );
    const agentId = await createTestAgent(a, {
      configuration: { knowledge: { knowledge_base_ids: [base.id], mode: 'keyword' } },
    });
    const workflow = await jsonOf<{ id: string }>(
      await a.call('/v1/workflows', {
        method: 'POST',
        json: {
          name: 'grounded',
          steps: [{ key: 'answer', agent_id: agentId, input: 'How do I restart the pump?' }],
        },
      }),
      201,
    );
    const started = await jsonOf<{ id: string }>(
      await a.call(`/v1/workflows/${workflow.id}/executions`, { method: 'POST', json: { input: {} } }),
      202,
    );
    const run = await until(
      async () =>
        jsonOf<{
          status: string;
          steps: { key: string; citations?: Citation[]; timings?: { retrieval_ms: number } }[];
        }>(await a.call(`/v1/workflow-executions/${started.id}`), 200),
      (r) => r.status === 'succeeded' || r.status === 'failed',
      'the run',
    );
    expect(run.status).toBe('succeeded');
    expect(run.steps[0]?.citations?.[0]?.knowledge_base_id).toBe(base.id);
    expect(run.steps[0]?.timings?.retrieval_ms).toBeGreaterThanOrEqual(0);
    const step = await jsonOf<{ citations?: Citation[] }>(
      await a.call(`/v1/workflow-executions/${started.id}/steps/answer`),
      200,
    );
    expect(step.citations).toEqual(run.steps[0]?.citations);
    // One retrieval row for the step's one attempt.
    const rows = await database().query<{ n: number }>(
      'SELECT count(*)::int AS n FROM knowledge_retrievals WHERE unit_id = $1',
      [`${started.id}/answer`],
    );
    expect(rows[0]?.n).toBe(1);
  });

  it('keeps a retrieval record as long as the executions and runs it belongs to, then retention removes it', async () => {
    const a = api();
    const base = await jsonOf<{ id: string }>(
      await a.call('/v1/knowledge-bases', { method: 'POST', json: { name: 'aging' } }),
      201,
    );
    const agentId = await createTestAgent(a, {
      configuration: { knowledge: { knowledge_base_ids: [base.id], mode: 'keyword' } },
    });
    const execution = await execute(a, agentId, 'anything at all');
    expect(execution.status).toBe('succeeded');
    const rows = () =>
      database()
        .query<{ n: number }>('SELECT count(*)::int AS n FROM knowledge_retrievals WHERE unit_id = $1', [
          execution.id,
        ])
        .then((r) => r[0]?.n);
    expect(await rows()).toBe(1);
    const now = new Date();
    const kept = await runRetention(database(), { now, days: { executions: 30, workflowExecutions: 60 } });
    expect(kept.knowledge.find((t) => t.table === 'knowledge_retrievals')?.cutoff.getTime()).toBe(
      now.getTime() - 60 * 86_400_000,
    );
    expect(await rows()).toBe(1);
    await database().query(
      "UPDATE knowledge_retrievals SET created_at = now() - interval '61 days' WHERE unit_id = $1",
      [execution.id],
    );
    await runRetention(database(), { now, days: { executions: 30, workflowExecutions: 60 } });
    expect(await rows()).toBe(0);
  });
});
