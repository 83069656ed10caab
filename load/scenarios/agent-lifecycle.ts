/**
 * create agent (201) → execute (202) → get execution (200, expected < 100 ms) → delete agent (204).
 * k6 twin: load/k6/agent-lifecycle.js.
 */
import { constant } from './shapes.ts';
import { idOf, type Scenario } from './types.ts';

export const agentLifecycle: Scenario = {
  name: 'agent-lifecycle',
  description: 'Each iteration: create an agent, execute it, read the execution back, delete the agent.',
  defaults: { duration: 20, vus: 8 },
  shape: { kind: 'curve', target: constant },
  // The spec: reading an execution is expected under 100 ms.
  overrides: { 'get execution': { p95: 100 } },
  create: () => ({
    async iteration(http, vu, iteration) {
      const created = await http.call('create agent', 'POST', '/v1/agents', {
        expect: 201,
        json: true,
        body: {
          name: `load-${vu}-${iteration}`,
          model: 'gpt-4o-mini',
          system_prompt: 'Answer briefly.',
          configuration: { cache_ttl_seconds: 0 },
        },
      });
      const agentId = idOf(created.json);
      if (!created.ok || !agentId) return;
      const execution = await http.call('execute', 'POST', `/v1/agents/${agentId}/executions`, {
        expect: 202,
        json: true,
        body: { input: `question ${iteration}` },
      });
      const executionId = idOf(execution.json);
      if (execution.ok && executionId) {
        await http.call('get execution', 'GET', `/v1/executions/${executionId}`, { expect: 200 });
      }
      await http.call('delete agent', 'DELETE', `/v1/agents/${agentId}`, { expect: 204 });
    },
  }),
};
