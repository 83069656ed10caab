/**
 * Seed 000's workflow execution load test. Setup: three agents on the local provider (cache off)
 * and a workflow of two parallel roots and a join reading both (load/support/workflow-dag.ts).
 * Each iteration: start an execution with `?wait=5` — 200 with the run succeeded, or 202 and
 * GET polls until it has finished — then read the execution back: succeeded, every step
 * succeeded on its first attempt. Teardown: delete the workflow, then its agents.
 * k6 twin: load/k6/workflow-execution.js.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import {
  dagAgentBody,
  dagRunBody,
  dagRunSucceeded,
  dagStepKeys,
  dagWorkflowBody,
  isFinishedRunStatus,
} from '../support/workflow-dag.ts';
import { constant } from './shapes.ts';
import { type Http, idOf, type Scenario } from './types.ts';

export const workflowWaitSeconds = 5;
/** Between polls of a run that did not finish within the wait, and how long polling goes on. */
const POLL_MS = 50;
const POLL_LIMIT_MS = 30_000;

const statusOf = (json: unknown): unknown =>
  typeof json === 'object' && json !== null ? (json as { status?: unknown }).status : undefined;

/** Polls a run the start answered 202 for until it has finished, the time is up, or a poll fails. */
const pollUntilFinished = async (http: Http, path: string, status: unknown): Promise<void> => {
  const deadline = performance.now() + POLL_LIMIT_MS;
  while (!isFinishedRunStatus(status) && performance.now() < deadline) {
    await sleep(POLL_MS);
    const polled = await http.call('poll execution', 'GET', path, { expect: 200, json: true });
    if (!polled.ok) return;
    status = statusOf(polled.json);
  }
};

export const workflowExecution: Scenario = {
  name: 'workflow-execution',
  description:
    `Each iteration: start a 3-step workflow (2 parallel roots + a join) with ?wait=${workflowWaitSeconds} ` +
    '(200 and succeeded, or 202 then polled until finished), then read the execution back ' +
    '(succeeded, every step succeeded on its first attempt).',
  defaults: { duration: 20, vus: 8 },
  shape: { kind: 'curve', target: constant },
  create: () => {
    const agents: string[] = [];
    let workflowId: string | undefined;
    return {
      async setup(http) {
        for (const key of dagStepKeys) {
          const created = await http.call('setup', 'POST', '/v1/agents', {
            expect: 201,
            json: true,
            body: dagAgentBody(`load-workflow-${key}`),
          });
          const id = idOf(created.json);
          if (!id) throw new Error(`setup: creating an agent returned ${created.status}`);
          agents.push(id);
        }
        const created = await http.call('setup', 'POST', '/v1/workflows', {
          expect: 201,
          json: true,
          body: dagWorkflowBody('load-workflow', agents),
        });
        workflowId = idOf(created.json);
        if (!workflowId) throw new Error(`setup: creating the workflow returned ${created.status}`);
      },
      async iteration(http, vu, iteration) {
        const started = await http.call(
          'start execution',
          'POST',
          `/v1/workflows/${workflowId}/executions?wait=${workflowWaitSeconds}`,
          {
            expect: [200, 202],
            body: dagRunBody(vu * 1_000_000 + iteration),
            // 200: finished within the wait, and it must have succeeded; 202: still going, polled.
            check: (json, status) => status === 202 || dagRunSucceeded(json),
          },
        );
        const runId = idOf(started.json);
        if (!runId) return;
        const path = `/v1/workflow-executions/${runId}`;
        if (started.status === 202) await pollUntilFinished(http, path, statusOf(started.json));
        await http.call('get execution', 'GET', path, { expect: 200, check: dagRunSucceeded });
      },
      async teardown(http) {
        const failed: string[] = [];
        const remove = async (path: string) => {
          const deleted = await http.call('teardown', 'DELETE', path, { expect: 204 });
          if (!deleted.ok) failed.push(`DELETE ${path}: ${deleted.status}`);
        };
        // The workflow first: an agent that a live workflow runs cannot be deleted (409).
        if (workflowId) await remove(`/v1/workflows/${workflowId}`);
        for (const id of agents) await remove(`/v1/agents/${id}`);
        if (failed.length > 0) throw new Error(failed.join('; '));
      },
    };
  },
};
