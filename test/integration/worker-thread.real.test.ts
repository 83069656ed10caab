import { describe, expect, it } from 'vitest';
import { dagRunBody } from '../../load/support/workflow-dag.ts';
import {
  createDagWorkflow,
  createTestAgent,
  realServersEnv,
  type TestApi,
  useTestApi,
} from '../support/api.ts';
import { describeRealServers } from '../support/real-servers.ts';

/**
 * `npm start` on PostgreSQL runs the queue workers on a worker thread (`workers: 'thread'`),
 * apart from the API as Lambda runs them: executions and workflow runs finish there, and
 * stopping drains the thread (useTestApi stops it after the suite). On PGlite, which is one
 * session, the same option keeps the workers on the API's thread.
 */
const finishesWork = (api: () => TestApi) => {
  it('an execution and a three-step workflow run finish, each answered by ?wait', async () => {
    const agentId = await createTestAgent(api());
    const execution = await api().call(`/v1/agents/${agentId}/executions?wait=10`, {
      method: 'POST',
      json: { input: 'on the worker thread' },
    });
    expect(execution.status).toBe(200);
    expect(await execution.json()).toMatchObject({ status: 'succeeded' });

    const id = await createDagWorkflow(api(), 'thread');
    const run = await api().call(`/v1/workflows/${id}/executions?wait=15`, {
      method: 'POST',
      json: dagRunBody(1),
    });
    expect(run.status).toBe(200);
    expect(await run.json()).toMatchObject({ status: 'succeeded' });
  });
};

describeRealServers('queue workers on a thread of their own (PostgreSQL 15, Redis 7)', (servers) => {
  finishesWork(useTestApi(realServersEnv(servers), { workers: 'thread' }));
});

describe('the same option on PGlite keeps the workers on the API thread', () => {
  finishesWork(useTestApi(undefined, { workers: 'thread' }));
});
