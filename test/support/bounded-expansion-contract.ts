import { expect, it } from 'vitest';
import { inlineStepTextChars } from '#domain/workflow.ts';
import { createTestAgent, type TestApi } from './api.ts';

interface StepBody {
  key: string;
  status: string;
  input: string | null;
  input_truncated: boolean;
  output_truncated: boolean;
  error: { code: string; message: string } | null;
}
interface RunBody {
  id: string;
  status: string;
  error: { code: string; message: string } | null;
  steps: StepBody[];
}

/**
 * Templates cannot multiply a run's input past the step input cap, and no read of a run
 * can fail because of what its steps hold (finding 6 of the faults issue).
 */
export const boundedExpansionContract = (api: () => TestApi): void => {
  const createWorkflow = async (steps: Record<string, unknown>[]): Promise<string> => {
    const response = await api().call('/v1/workflows', {
      method: 'POST',
      json: { name: `bounded ${Math.random()}`, steps },
    });
    expect(response.status).toBe(201);
    return ((await response.json()) as { id: string }).id;
  };
  const startAndWait = async (workflowId: string, input: unknown): Promise<Response> =>
    api().call(`/v1/workflows/${workflowId}/executions?wait=20`, { method: 'POST', json: { input } });
  // 192 KB of words: under the 200,000-character input limit, so the run is accepted.
  const bigInput = 'lorem ipsum '.repeat(16_000);

  it('a step whose template multiplies a large input past the cap fails at once, naming the cap; reads stay 200', async () => {
    const agent = await createTestAgent(api());
    const workflowId = await createWorkflow([
      { key: 'amplify', agent_id: agent, input: '{{input}} '.repeat(1_000) },
      { key: 'after', agent_id: agent, input: 'then {{steps.amplify.output}}', depends_on: ['amplify'] },
    ]);
    const started = await startAndWait(workflowId, bigInput);
    expect(started.status).toBe(200);
    const run = (await started.json()) as RunBody;
    expect(run.status).toBe('failed');
    const amplify = run.steps.find((s) => s.key === 'amplify')!;
    expect(amplify.status).toBe('failed');
    // Not retried: the same input renders the same every time.
    expect(amplify.error?.code).toBe('step_error');
    expect(amplify.error?.message).toMatch(/exceeds 262144 bytes.*SWITCHYARD_MAX_STEP_INPUT_BYTES/);
    expect(amplify.input).toBeNull();
    const read = await api().call(`/v1/workflow-executions/${run.id}`);
    expect(read.status).toBe(200);
  });

  it("a run's view clips large step inputs; the step's own route has them whole", async () => {
    const agent = await createTestAgent(api());
    const workflowId = await createWorkflow([
      { key: 'a', agent_id: agent, input: '{{input}}' },
      { key: 'b', agent_id: agent, input: 'short' },
    ]);
    const started = await startAndWait(workflowId, bigInput);
    expect(started.status).toBe(200);
    const run = (await started.json()) as RunBody;
    expect(run.status).toBe('succeeded');
    const a = run.steps.find((s) => s.key === 'a')!;
    expect(a.input).toHaveLength(inlineStepTextChars);
    expect(a.input_truncated).toBe(true);
    expect(a.output_truncated).toBe(false);
    const b = run.steps.find((s) => s.key === 'b')!;
    expect(b.input).toBe('short');
    expect(b.input_truncated).toBe(false);

    const whole = await api().call(`/v1/workflow-executions/${run.id}/steps/a`);
    expect(whole.status).toBe(200);
    const full = (await whole.json()) as StepBody;
    expect(full.input).toBe(bigInput);
    expect(full.input_truncated).toBe(false);

    for (const path of [
      `/v1/workflow-executions/${run.id}/steps/nope`,
      `/v1/workflow-executions/${run.id}/steps/%20`,
    ]) {
      const missing = await api().call(path);
      expect(missing.status).toBe(404);
      expect(missing.headers.get('content-type')).toBe('application/problem+json');
    }
  });
};
