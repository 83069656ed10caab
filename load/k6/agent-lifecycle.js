// k6 twin of load/scenarios/agent-lifecycle.ts. NOT RUN HERE: k6 is not installable on this machine;
// keep in step with the Node scenario by hand.
// k6 run -e BASE_URL=http://127.0.0.1:3000 -e API_KEY=... [-e VUS=8 -e DURATION=20s] \
//   load/k6/agent-lifecycle.js
import exec from 'k6/execution';
import { call, constantVus, idOf, thresholds } from './lib.js';

export const options = {
  scenarios: constantVus('lifecycle', 8),
  // The spec: reading an execution is expected under 100 ms.
  thresholds: thresholds(['create agent', 'execute', 'get execution', 'delete agent'], {
    'get execution': { p95: 100 },
  }),
};

export default function () {
  const vu = exec.vu.idInTest - 1;
  const iteration = exec.vu.iterationInScenario;
  const created = call('create agent', 'POST', '/v1/agents', 201, {
    name: `load-${vu}-${iteration}`,
    model: 'gpt-4o-mini',
    system_prompt: 'Answer briefly.',
    configuration: { cache_ttl_seconds: 0 },
  });
  const agentId = idOf(created);
  if (created.status !== 201 || !agentId) return;
  const execution = call('execute', 'POST', `/v1/agents/${agentId}/executions`, 202, {
    input: `question ${iteration}`,
  });
  const executionId = idOf(execution);
  if (execution.status === 202 && executionId) {
    call('get execution', 'GET', `/v1/executions/${executionId}`, 200);
  }
  call('delete agent', 'DELETE', `/v1/agents/${agentId}`, 204);
}
