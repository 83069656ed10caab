/** The mixed read/write path shared by spike and stress: get agent, list agents, create execution. */
import type { Http, LoadShape, Scenario, ScenarioRun } from './types.ts';
import { idOf } from './types.ts';

const AGENTS = 5;

/** Out of every 10 iterations of a VU: 5 GET agent, 3 list, 2 executions (deterministic, no RNG). */
export const mixedStep = (iteration: number): 'get agent' | 'list agents' | 'execute' => {
  const slot = iteration % 10;
  return slot < 5 ? 'get agent' : slot < 8 ? 'list agents' : 'execute';
};

export const mixedRun = (): ScenarioRun => {
  const agents: string[] = [];
  return {
    async setup(http: Http) {
      for (let i = 0; i < AGENTS; i += 1) {
        const created = await http.call('setup', 'POST', '/v1/agents', {
          expect: 201,
          json: true,
          body: { name: `load-mixed-${i}`, model: 'gpt-4o-mini', system_prompt: 'Answer briefly.' },
        });
        const id = idOf(created.json);
        if (!id) throw new Error(`setup: creating an agent returned ${created.status}`);
        agents.push(id);
      }
    },
    async iteration(http, vu, iteration) {
      const agent = agents[(vu + iteration) % agents.length]!;
      const step = mixedStep(iteration + vu);
      if (step === 'get agent') await http.call(step, 'GET', `/v1/agents/${agent}`, { expect: 200 });
      else if (step === 'list agents') await http.call(step, 'GET', '/v1/agents?limit=20', { expect: 200 });
      else {
        await http.call(step, 'POST', `/v1/agents/${agent}/executions`, {
          expect: 202,
          body: { input: `spike ${vu}-${iteration}` },
        });
      }
    },
    async teardown(http) {
      for (const id of agents) await http.call('teardown', 'DELETE', `/v1/agents/${id}`, { expect: 204 });
    },
  };
};

/** What mixedStep's 5 / 3 / 2 in 10 are, for the scenarios' descriptions. */
const mixDescription = 'GET agent (50 %), list agents (30 %) and create execution (20 %)';

/**
 * A scenario on the mixed path, at most 32 VUs by default: spike and stress differ only in
 * shape. `shapeDescription` says how the VUs move; the description adds the mix.
 */
export const mixedScenario = (
  name: string,
  shapeDescription: string,
  duration: number,
  shape: LoadShape,
): Scenario => ({
  name,
  description: `${shapeDescription} on ${mixDescription}.`,
  defaults: { duration, vus: 32 },
  shape,
  create: mixedRun,
});
