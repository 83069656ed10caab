import { describe, expect, it } from 'vitest';
import { type ExecutionSettings, executionSettings } from '#domain/execution.ts';
import { knowledgeUseErrors, knowledgeUseOf } from '#domain/knowledge.ts';
import type { StepBody, WorkflowWithSteps } from '#domain/workflow.ts';
import { buildDefinition, createWorkflowBody, stepSettings, toWorkflowResource } from '#domain/workflow.ts';
import { validateBody } from '#http/validation.ts';
import { fieldsOf, validationErrors } from '../support/problems.ts';

const base1 = '0190f5a8-1c2d-7e3f-8a4b-5c6d7e8f9a0b';
const base2 = '0190f5a8-1c2d-7e3f-8a4b-5c6d7e8f9a0c';
const agentId = '0190f5a8-1c2d-7e3f-8a4b-000000000001';

const bodyWithKnowledge = (knowledge: unknown) => ({
  name: 'w',
  steps: [
    { key: 'a', agent_id: agentId, input: '{{input}}' },
    { key: 'b', agent_id: agentId, input: '{{input}}' },
    { key: 'c', agent_id: agentId, input: '{{input}}', knowledge },
  ],
});

const definedSteps = (steps: StepBody[]) => {
  const built = buildDefinition(steps);
  if (!built.ok) throw new Error(`buildDefinition refused: ${JSON.stringify(built.errors)}`);
  return built.steps;
};

describe("a step's knowledge in the workflow body", () => {
  it('refuses a malformed one with a field path per mistake (422)', () => {
    const errors = validationErrors(
      createWorkflowBody,
      bodyWithKnowledge({ knowledge_base_ids: ['not-a-uuid'], top_k: 99, mode: 'fuzzy', rerank: true }),
    );
    expect(fieldsOf(errors).sort()).toEqual([
      'steps.2.knowledge.knowledge_base_ids.0',
      'steps.2.knowledge.mode',
      'steps.2.knowledge.rerank',
      'steps.2.knowledge.top_k',
    ]);
    expect(
      fieldsOf(validationErrors(createWorkflowBody, bodyWithKnowledge({ knowledge_base_ids: [] }))),
    ).toEqual(['steps.2.knowledge.knowledge_base_ids']);
    expect(
      fieldsOf(
        validationErrors(createWorkflowBody, bodyWithKnowledge({ knowledge_base_ids: [base1], top_k: 0 })),
      ),
    ).toEqual(['steps.2.knowledge.top_k']);
    expect(fieldsOf(validationErrors(createWorkflowBody, bodyWithKnowledge('kb')))).toEqual([
      'steps.2.knowledge',
    ]);
    expect(fieldsOf(validationErrors(createWorkflowBody, bodyWithKnowledge({ top_k: 3 })))).toEqual([
      'steps.2.knowledge.knowledge_base_ids',
    ]);
  });

  it('accepts what an agent accepts and refuses what it refuses', () => {
    const ids = (n: number) =>
      Array.from({ length: n }, (_, i) => `0190f5a8-1c2d-7e3f-8a4b-${String(i).padStart(12, '0')}`);
    const candidates: unknown[] = [
      { knowledge_base_ids: [base1] },
      { knowledge_base_ids: [base1.toUpperCase(), base2], top_k: 20, mode: 'semantic' },
      { knowledge_base_ids: ids(5), top_k: 1, mode: 'keyword' },
      { knowledge_base_ids: ids(6) },
      { knowledge_base_ids: [] },
      { knowledge_base_ids: [base1], top_k: 21 },
      { knowledge_base_ids: [base1], top_k: 2.5 },
      { knowledge_base_ids: [base1], top_k: '3' },
      { knowledge_base_ids: [base1], mode: 'HYBRID' },
      { knowledge_base_ids: [base1], extra: 1 },
      { knowledge_base_ids: [42] },
      { knowledge_base_ids: base1 },
      [base1],
      'kb',
      7,
    ];
    for (const knowledge of candidates) {
      const agentAccepts = knowledgeUseErrors(knowledge).length === 0;
      const stepAccepts = createWorkflowBody.safeParse(bodyWithKnowledge(knowledge)).success;
      expect(stepAccepts, JSON.stringify(knowledge)).toBe(agentAccepts);
    }
  });

  it('takes null (off) and an absent field (inherit) apart', () => {
    const off = validateBody(createWorkflowBody, bodyWithKnowledge(null));
    expect(off.steps[2]?.knowledge).toBeNull();
    const inherit = validateBody(createWorkflowBody, {
      name: 'w',
      steps: [{ key: 'a', agent_id: agentId, input: 'x' }],
    });
    expect(inherit.steps[0] && 'knowledge' in inherit.steps[0]).toBe(false);
  });
});

describe("a step's knowledge in its definition", () => {
  it('resolves defaults as the agent does, spells ids in lower case once each, keeps null and leaves absent out', () => {
    const body = validateBody(createWorkflowBody, {
      name: 'w',
      steps: [
        {
          key: 'own',
          agent_id: agentId,
          input: 'x',
          knowledge: { knowledge_base_ids: [base1.toUpperCase(), base1, base2] },
        },
        { key: 'off', agent_id: agentId, input: 'x', knowledge: null },
        { key: 'inherit', agent_id: agentId, input: 'x' },
      ],
    });
    const [own, off, inherit] = definedSteps(body.steps);
    const agentWouldUse = knowledgeUseOf({ knowledge: { knowledge_base_ids: [base1, base2] } });
    expect(own?.knowledge).toEqual(agentWouldUse);
    expect(own?.knowledge).toEqual({ baseIds: [base1, base2], topK: 5, mode: 'hybrid' });
    expect(off?.knowledge).toBeNull();
    expect(inherit && 'knowledge' in inherit).toBe(false);
  });

  it('answers a step knowledge back in the resource: the use with defaults, null, or nothing', () => {
    const body = validateBody(createWorkflowBody, {
      name: 'w',
      steps: [
        {
          key: 'own',
          agent_id: agentId,
          input: 'x',
          knowledge: { knowledge_base_ids: [base1], top_k: 2, mode: 'keyword' },
        },
        { key: 'off', agent_id: agentId, input: 'x', knowledge: null },
        { key: 'inherit', agent_id: agentId, input: 'x' },
      ],
    });
    const workflow: WorkflowWithSteps = {
      id: base2,
      tenantId: base2,
      name: 'w',
      description: null,
      onStepFailure: 'fail',
      webhookUrl: null,
      version: 1,
      stepCount: 3,
      createdAt: new Date(0),
      updatedAt: new Date(0),
      steps: definedSteps(body.steps),
    };
    const steps = toWorkflowResource(workflow).steps ?? [];
    expect(steps[0]?.knowledge).toEqual({ knowledge_base_ids: [base1], top_k: 2, mode: 'keyword' });
    expect(steps[1]?.knowledge).toBeNull();
    expect(steps[2] && 'knowledge' in steps[2]).toBe(false);
    // What the resource answers is a body the API takes back as the same definition.
    const resubmitted = validateBody(createWorkflowBody, { name: 'w', steps });
    expect(definedSteps(resubmitted.steps)).toEqual(workflow.steps);
  });
});

describe('stepSettings', () => {
  const agentSettings: ExecutionSettings = executionSettings(
    'm',
    { temperature: 0.2, knowledge: { knowledge_base_ids: [base1], top_k: 3, mode: 'keyword' } },
    'local',
  );
  const own = { baseIds: [base2], topK: 8, mode: 'semantic' as const };

  it("keeps the agent's knowledge when the step names none", () => {
    expect(stepSettings(agentSettings, undefined)).toBe(agentSettings);
  });

  it("replaces the agent's knowledge with the step's, and nothing else", () => {
    expect(stepSettings(agentSettings, own)).toEqual({ ...agentSettings, knowledge: own });
    const plain = executionSettings('m', {}, 'local');
    expect(plain.knowledge).toBeUndefined();
    expect(stepSettings(plain, own).knowledge).toEqual(own);
  });

  it("removes the agent's knowledge for a step that turns it off", () => {
    const off = stepSettings(agentSettings, null);
    expect('knowledge' in off).toBe(false);
    const { knowledge: _removed, ...rest } = agentSettings;
    expect(off).toEqual(rest);
  });
});
