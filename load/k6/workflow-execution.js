// k6 twin of load/scenarios/workflow-execution.ts (the DAG: load/support/workflow-dag.json). NOT RUN
// HERE: k6 is not installable on this machine; keep in step with the Node scenario by hand.
// k6 run -e BASE_URL=http://127.0.0.1:3000 -e API_KEY=... [-e VUS=8 -e DURATION=20s] \
//   load/k6/workflow-execution.js
// A body check that fails (a 200 whose run did not succeed, a read-back whose steps did not all
// succeed on attempt 1) counts in `errors`, as load/run.ts counts it as an error sample.
import { check, sleep } from 'k6';
import exec from 'k6/execution';
import { Rate } from 'k6/metrics';
import { call, constantVus, idOf, MAX_ERROR_RATE, thresholds } from './lib.js';

const WAIT_SECONDS = 5;
const POLL_SECONDS = 0.05;
const POLL_LIMIT_MS = 30_000;
// The DAG the Node tools run (load/support/workflow-dag.ts reads the same file): step i on agent i.
const DAG = JSON.parse(open('../support/workflow-dag.json'));
const STEP_KEYS = DAG.steps.map((step) => step.key);
const NAMES = ['start execution', 'poll execution', 'get execution'];

const errors = new Rate('errors');
const errorLimits = { errors: [`rate<${MAX_ERROR_RATE}`] };
for (const name of NAMES) errorLimits[`errors{name:${name}}`] = [`rate<${MAX_ERROR_RATE}`];

export const options = {
  scenarios: constantVus('workflows', 8),
  // 'poll execution' has samples only when a start answers 202; a name without samples passes.
  thresholds: thresholds(NAMES, {}, errorLimits),
};

function bodyOf(response) {
  try {
    return response.json();
  } catch {
    return undefined;
  }
}

const finished = (status) => status === 'succeeded' || status === 'failed' || status === 'cancelled';

/** dagRunSucceeded: succeeded, and (when the body lists them) every step succeeded on attempt 1. */
function succeeded(response) {
  const run = bodyOf(response);
  if (run?.status !== 'succeeded') return false;
  if (run.steps === undefined) return true;
  const once = (key) => run.steps.some((s) => s.key === key && s.status === 'succeeded' && s.attempts === 1);
  return run.steps.length === STEP_KEYS.length && STEP_KEYS.every(once);
}

/** One judged request: expected status and body check, as load/run.ts's `check` option. */
function judge(name, response, expected, bodyOk) {
  const ok = [].concat(expected).includes(response.status) && bodyOk(response);
  check(response, { [`${name} ok`]: () => ok });
  errors.add(!ok, { name });
  return ok;
}

export function setup() {
  const agents = DAG.steps.map((step) => {
    const response = call('setup', 'POST', '/v1/agents', 201, {
      name: `load-workflow-${step.key}`,
      ...DAG.agent,
    });
    const id = idOf(response);
    if (!id) throw new Error(`setup: creating an agent returned ${response.status}`);
    return id;
  });
  const created = call('setup', 'POST', '/v1/workflows', 201, {
    name: 'load-workflow',
    steps: DAG.steps.map((step, i) => ({ ...step, agent_id: agents[i] })),
  });
  const workflowId = idOf(created);
  if (!workflowId) throw new Error(`setup: creating the workflow returned ${created.status}`);
  return { agents, workflowId };
}

export default function (data) {
  const vu = exec.vu.idInTest - 1;
  const iteration = exec.vu.iterationInScenario;
  const started = call(
    'start execution',
    'POST',
    `/v1/workflows/${data.workflowId}/executions?wait=${WAIT_SECONDS}`,
    [200, 202],
    { input: { topic: `topic ${vu * 1_000_000 + iteration}` } },
  );
  // 200: finished within the wait, and it must have succeeded; 202: still going, polled.
  judge('start execution', started, [200, 202], (r) => r.status === 202 || succeeded(r));
  const runId = idOf(started);
  if (!runId) return;
  const path = `/v1/workflow-executions/${runId}`;
  if (started.status === 202) {
    let status = bodyOf(started)?.status;
    const deadline = Date.now() + POLL_LIMIT_MS;
    while (!finished(status) && Date.now() < deadline) {
      sleep(POLL_SECONDS);
      const polled = call('poll execution', 'GET', path, 200);
      if (!judge('poll execution', polled, 200, () => true)) break;
      status = bodyOf(polled)?.status;
    }
  }
  judge('get execution', call('get execution', 'GET', path, 200), 200, succeeded);
}

// The workflow first: an agent that a live workflow runs cannot be deleted (409).
export function teardown(data) {
  call('teardown', 'DELETE', `/v1/workflows/${data.workflowId}`, 204);
  for (const id of data.agents) call('teardown', 'DELETE', `/v1/agents/${id}`, 204);
}
