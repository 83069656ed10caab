import { describe, expect, it } from 'vitest';
import { dagRunBody } from '../../load/support/workflow-dag.ts';
import { createDagWorkflow, createTestAgent, useTestApi } from '../support/api.ts';

interface AuditItem {
  readonly action: string;
  readonly resource_type: string;
  readonly resource_id: string;
  readonly key_id: string | null;
  readonly request_id: string | null;
}

/**
 * A start's audit record is written by the statement that inserts the start: it is there
 * when the 202 is (no worker runs here, so nothing could have come through the low queue),
 * and a replayed Idempotency-Key, which inserts nothing, records nothing again.
 */
describe('the audit record of a start is written with it', () => {
  const api = useTestApi();

  const auditOf = async (resourceId: string): Promise<AuditItem[]> => {
    const response = await api().call('/v1/audit?limit=100');
    expect(response.status).toBe(200);
    const { data } = (await response.json()) as { data: AuditItem[] };
    return data.filter((item) => item.resource_id === resourceId);
  };

  /** POSTs a start twice under one Idempotency-Key; answers the id and the two request ids. */
  const startTwice = async (path: string, body: unknown) => {
    const answers = [];
    for (let i = 0; i < 2; i += 1) {
      const response = await api().call(path, {
        method: 'POST',
        json: body,
        headers: { 'idempotency-key': `start-audit-${path}` },
      });
      expect(response.status).toBe(202);
      answers.push({
        id: ((await response.json()) as { id: string }).id,
        requestId: response.headers.get('x-request-id'),
      });
    }
    expect(answers[1]!.id).toBe(answers[0]!.id);
    return { id: answers[0]!.id, firstRequestId: answers[0]!.requestId };
  };

  it.each([
    {
      kind: 'an agent execution',
      action: 'execution.created',
      resourceType: 'execution',
      start: async () => `/v1/agents/${await createTestAgent(api())}/executions`,
      body: { input: 'audited' },
    },
    {
      kind: 'a workflow run',
      action: 'workflow_execution.created',
      resourceType: 'workflow_execution',
      start: async () => `/v1/workflows/${await createDagWorkflow(api(), 'audited')}/executions`,
      body: dagRunBody(1),
    },
  ])(
    '$kind: one record, there with the 202, none for the replay',
    async ({ action, resourceType, start, body }) => {
      const { id, firstRequestId } = await startTwice(await start(), body);
      const records = await auditOf(id);
      expect(records).toEqual([
        expect.objectContaining({ action, resource_type: resourceType, request_id: firstRequestId }),
      ]);
      expect(records[0]!.key_id).toMatch(/^[0-9a-f-]{36}$/);
    },
  );
});
