// k6 twin of load/scenarios/{types,mixed}.ts and load/report/thresholds.ts. NOT RUN HERE: k6 is not
// installable on this machine; keep in step with the Node scenarios by hand (same request names,
// statuses, mix and thresholds). Run: k6 run -e BASE_URL=https://… -e API_KEY=… load/k6/<scenario>.js
import http from 'k6/http';

export const BASE_URL = (__ENV.BASE_URL || 'http://127.0.0.1:3000').replace(/\/+$/, '');
const API_KEY = __ENV.API_KEY;
if (!API_KEY) throw new Error('set API_KEY (-e API_KEY=...)');

// Same defaults as load/run.ts: p95 < 200 ms, p99 < 500 ms, errors < 1 %; overridable like its flags.
export const P95 = Number(__ENV.P95 || 200);
export const P99 = Number(__ENV.P99 || 500);
export const MAX_ERROR_RATE = Number(__ENV.MAX_ERROR_RATE || 0.01);

/** A `constant-vus` scenario named `name`: VUS (default `vus`) for DURATION (default 20 s). */
export function constantVus(name, vus) {
  return {
    [name]: { executor: 'constant-vus', vus: Number(__ENV.VUS || vus), duration: __ENV.DURATION || '20s' },
  };
}

/** Overall thresholds plus one set per request name (load/run.ts judges each name too). */
export function thresholds(names, overrides = {}, extra = {}) {
  const result = {
    http_req_duration: [`p(95)<${P95}`, `p(99)<${P99}`],
    http_req_failed: [`rate<${MAX_ERROR_RATE}`],
  };
  for (const name of names) {
    const limits = { p95: P95, p99: P99, maxErrorRate: MAX_ERROR_RATE, ...overrides[name] };
    result[`http_req_duration{name:${name}}`] = [`p(95)<${limits.p95}`, `p(99)<${limits.p99}`];
    result[`http_req_failed{name:${name}}`] = [`rate<${limits.maxErrorRate}`];
  }
  for (const [metric, rules] of Object.entries(extra)) result[metric] = rules;
  return result;
}

/** One request, tagged `name`; only `expect` (a status or a list) counts as success (http_req_failed). */
export function call(name, method, path, expect, body) {
  return http.request(method, `${BASE_URL}${path}`, body === undefined ? null : JSON.stringify(body), {
    headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
    tags: { name },
    responseCallback: http.expectedStatuses(...[].concat(expect)),
  });
}

export function idOf(response) {
  try {
    const id = response.json('id');
    return typeof id === 'string' ? id : undefined;
  } catch {
    return undefined;
  }
}

const AGENTS = 5;

/** setup(): the agents the mixed path reads and executes (untimed in load/run.ts). */
export function mixedSetup() {
  const agents = [];
  for (let i = 0; i < AGENTS; i += 1) {
    const response = call('setup', 'POST', '/v1/agents', 201, {
      name: `load-mixed-${i}`,
      model: 'gpt-4o-mini',
      system_prompt: 'Answer briefly.',
    });
    const id = idOf(response);
    if (!id) throw new Error(`setup: creating an agent returned ${response.status}`);
    agents.push(id);
  }
  return { agents };
}

/** Out of every 10 iterations: 5 GET agent, 3 list agents, 2 create execution (mixedStep). */
export function mixedIteration(data, vu, iteration) {
  const agent = data.agents[(vu + iteration) % data.agents.length];
  const slot = (iteration + vu) % 10;
  if (slot < 5) call('get agent', 'GET', `/v1/agents/${agent}`, 200);
  else if (slot < 8) call('list agents', 'GET', '/v1/agents?limit=20', 200);
  else call('execute', 'POST', `/v1/agents/${agent}/executions`, 202, { input: `spike ${vu}-${iteration}` });
}

export function mixedTeardown(data) {
  for (const id of data.agents) call('teardown', 'DELETE', `/v1/agents/${id}`, 204);
}

export const MIXED_NAMES = ['get agent', 'list agents', 'execute'];
