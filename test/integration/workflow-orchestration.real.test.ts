import { afterAll, beforeAll, expect, it } from 'vitest';
import { MemoryCache } from '#adapters/cache/memory.ts';
import { TwoTierCache } from '#adapters/cache/two-tier.ts';
import { AgentRepository } from '#adapters/postgres/agents.ts';
import { createDatabase, type Database } from '#adapters/postgres/db.ts';
import { type StepAnswer, WorkflowRunRepository } from '#adapters/postgres/workflow-runs/index.ts';
import { WorkflowRepository } from '#adapters/postgres/workflows.ts';
import { notFound } from '#domain/errors.ts';
import { newId } from '#domain/ids.ts';
import type { JobEnvelope } from '#domain/jobs.ts';
import type { LlmResult } from '#domain/llm.ts';
import { buildDefinition, type StepBody, type StepDefinition } from '#domain/workflow.ts';
import { AttemptPipeline, CompletionAnnouncer } from '#services/attempt-pipeline.ts';
import type { JobQueue } from '#services/ports.ts';
import { sweepKind } from '#services/sweeper.ts';
import { stepAttempts } from '#services/workflow-runner.ts';
import { stepJob } from '#services/workflows.ts';
import type { JobContext } from '#workers/consumer.ts';
import { createTestAgent, startTestApi, type TestApi } from '../support/api.ts';
import { describeRealServers } from '../support/real-servers.ts';

/**
 * The orchestration's guarantees on PostgreSQL, with real concurrent transactions: the
 * join step of a fan-in is released exactly once however its dependencies finish, and a
 * run whose worker dies resumes from its last finished step without running any twice.
 */
describeRealServers('workflow orchestration on PostgreSQL 15', (servers) => {
  let api: TestApi;
  let db: Database;
  let tenantId: string;
  let agentId: string;

  beforeAll(async () => {
    api = await startTestApi({ DATABASE_URL: servers.postgresUrl }); // migrates; workers off
    agentId = await createTestAgent(api);
    db = createDatabase({ connectionString: servers.postgresUrl, max: 20 });
    tenantId = (
      await db.query<{ tenant_id: string }>('SELECT tenant_id FROM agents WHERE id = $1', [agentId])
    )[0]!.tenant_id;
  });
  afterAll(async () => {
    await db?.close();
    await api?.stop();
  });

  const defineWorkflow = async (steps: StepBody[]): Promise<{ id: string; steps: StepDefinition[] }> => {
    const built = buildDefinition(steps);
    if (!built.ok) throw new Error(JSON.stringify(built.errors));
    const now = new Date();
    const written = await new WorkflowRepository(db).insert(
      {
        id: newId(),
        tenantId,
        name: `wf ${now.getTime()}`,
        description: null,
        onStepFailure: 'fail',
        webhookUrl: null,
        createdAt: now,
        updatedAt: now,
      },
      built.steps,
      null,
    );
    if (written.kind !== 'done') throw new Error(written.kind);
    return { id: written.workflow.id, steps: built.steps };
  };

  const startRun = (workflow: { id: string; steps: StepDefinition[] }) =>
    new WorkflowRunRepository(db).create({
      id: newId(),
      tenantId,
      workflowId: workflow.id,
      workflowVersion: 1,
      onStepFailure: 'fail',
      input: { topic: 'owls' },
      metadata: null,
      steps: workflow.steps,
      createdAt: new Date(),
    });

  const answerOf = (executionId: string, key: string, dependents: string[]): StepAnswer => ({
    executionId,
    key,
    attempt: 1,
    renderedInput: key,
    model: 'm',
    dependents,
    call: {
      output: `out ${key}`,
      provider: 'local',
      modelUsed: 'm',
      inputTokens: 1,
      outputTokens: 1,
      costUsd: 0,
      cached: false,
    },
  });

  /** A step runner on the real repositories with a counting model and a recording queue. */
  const stepRunner = (continueWithinMs = 0) => {
    const runs = new WorkflowRunRepository(db);
    const calls: string[] = [];
    const sent: JobEnvelope[] = [];
    const queue: JobQueue = {
      enqueue: async (job: JobEnvelope) => {
        sent.push(job);
      },
    };
    const agents = new AgentRepository(db);
    const kind = stepAttempts({
      runs,
      queue,
      stepsOfVersion: (id, version) => new WorkflowRepository(db).stepsOfVersion(id, version),
      findAgent: async (tenant, id) => {
        const agent = await agents.findById(tenant, id);
        if (!agent) throw notFound('agent');
        return agent;
      },
      defaultProvider: () => 'local',
    });
    const announcer = new CompletionAnnouncer(kind, queue);
    const runner = new AttemptPipeline(
      kind,
      announcer,
      async (_settings, request): Promise<LlmResult> => {
        calls.push(String(request.input));
        return {
          output: `answer to ${request.input}`,
          provider: 'local',
          model: 'm',
          inputTokens: 2,
          outputTokens: 3,
          attempts: [],
        } as unknown as LlmResult;
      },
      new TwoTierCache(new MemoryCache(5_000, 100), undefined, {
        l2TtlSeconds: 60,
        negativeTtlSeconds: 5,
        negativeL1TtlMs: 5_000,
      }),
      queue,
      { leaseSeconds: 60, continueWithinMs },
    );
    return { runs, calls, sent, runner, queue, kind, announcer };
  };

  it('releases the join of an 8-way fan-in exactly once when its dependencies finish at the same instant', async () => {
    const roots = Array.from({ length: 8 }, (_, i) => `r${i}`);
    const workflow = await defineWorkflow([
      ...roots.map((key) => ({ key, agent_id: agentId, input: '{{input.topic}}' })),
      { key: 'join', agent_id: agentId, input: 'all done', depends_on: roots },
    ]);
    const runs = new WorkflowRunRepository(db);
    for (let round = 0; round < 10; round++) {
      const run = await startRun(workflow);
      const claimed = await runs.claim(
        roots.map((key) => ({ executionId: run.id, key })),
        60,
      );
      expect(claimed.size).toBe(8);
      // Eight completions, each in its own transaction on its own connection, all at once.
      const results = await Promise.all(roots.map((key) => runs.complete([answerOf(run.id, key, ['join'])])));
      const released = results.flatMap((r) => r.released.map((s) => s.key));
      expect(released, `round ${round}`).toEqual(['join']);
      const join = await db.query<{ status: string; pending_deps: number }>(
        `SELECT status, pending_deps FROM workflow_step_runs WHERE execution_id = $1 AND key = 'join'`,
        [run.id],
      );
      expect(join[0]).toEqual({ status: 'queued', pending_deps: 0 });
      // A redelivered completion of a finished step changes nothing and releases nothing.
      const again = await runs.complete([answerOf(run.id, 'r0', ['join'])]);
      expect(again).toMatchObject({ released: [], finished: [] });
      expect(again.done.size).toBe(0);
    }
  });

  it('resumes a run whose worker died from its last finished step, running no step twice', async () => {
    const workflow = await defineWorkflow([
      { key: 'a', agent_id: agentId, input: '{{input.topic}}' },
      { key: 'b', agent_id: agentId, input: 'b after {{steps.a.output}}', depends_on: ['a'] },
      { key: 'c', agent_id: agentId, input: 'c after {{steps.b.output}}', depends_on: ['b'] },
    ]);
    const { runs, calls, sent, runner, queue, kind, announcer } = stepRunner();
    const context = { queue: 'high', receiveCount: 1, finalAttempt: false } as unknown as JobContext;
    const deliver = (key: string) =>
      runner.runBatch([{ job: stepJob({ executionId: run.id, key, tenantId }), context }]);

    const run = await startRun(workflow);
    await deliver('a');
    expect(sent.map((job) => job.ids['step'])).toEqual(['b']); // a finished, b released

    // b's worker claims it and dies before answering: the step stays running under its lease.
    await runs.claim([{ executionId: run.id, key: 'b' }], 60);
    await deliver('b'); // a redelivery while the lease lives does nothing
    expect(calls).toHaveLength(1);
    await db.query(
      `UPDATE workflow_step_runs SET lease_until = now() - interval '1 second', ready_at = now() - interval '1 hour'
        WHERE execution_id = $1 AND key = 'b'`,
      [run.id],
    );
    // The sweeper finds it and sends it again; that message runs b (its second attempt), then c.
    sent.length = 0;
    const swept = await sweepKind(kind, queue, announcer, { staleSeconds: 60 });
    expect(swept.resent).toBe(1);
    expect(sent.map((job) => job.ids['step'])).toEqual(['b']);
    await deliver('b');
    await deliver('c');
    await deliver('a'); // a stale redelivery of a finished step: nothing runs

    expect(calls).toEqual(['owls', 'b after answer to owls', 'c after answer to b after answer to owls']);
    const steps = await db.query<{ key: string; status: string; attempts: number }>(
      'SELECT key, status, attempts FROM workflow_step_runs WHERE execution_id = $1 ORDER BY position',
      [run.id],
    );
    expect(steps).toEqual([
      { key: 'a', status: 'succeeded', attempts: 1 },
      { key: 'b', status: 'succeeded', attempts: 2 },
      { key: 'c', status: 'succeeded', attempts: 1 },
    ]);
    const finished = await db.query<{ status: string; input_tokens: string; notified: boolean }>(
      'SELECT status, input_tokens, notified_at IS NOT NULL AS notified FROM workflow_executions WHERE id = $1',
      [run.id],
    );
    expect(finished[0]).toEqual({ status: 'succeeded', input_tokens: '6', notified: true });
  });

  it('runs the steps a completion released in the same invocation, with no message between them', async () => {
    const workflow = await defineWorkflow([
      { key: 'a', agent_id: agentId, input: '{{input.topic}}' },
      { key: 'b', agent_id: agentId, input: 'b after {{steps.a.output}}', depends_on: ['a'] },
      { key: 'c', agent_id: agentId, input: 'c after {{steps.a.output}}', depends_on: ['a'] },
      {
        key: 'd',
        agent_id: agentId,
        input: '{{steps.b.output}} + {{steps.c.output}}',
        depends_on: ['b', 'c'],
      },
    ]);
    const { calls, sent, runner } = stepRunner(55_000);
    const run = await startRun(workflow);
    const context = { queue: 'high', receiveCount: 1, finalAttempt: false } as unknown as JobContext;
    await runner.runBatch([{ job: stepJob({ executionId: run.id, key: 'a', tenantId }), context }]);
    expect(calls).toHaveLength(4);
    expect(sent).toEqual([]); // b and c ran here (in parallel), then d
    const finished = await db.query<{ status: string }>(
      'SELECT status FROM workflow_executions WHERE id = $1',
      [run.id],
    );
    expect(finished[0]?.status).toBe('succeeded');
  });

  it('hands the claimed steps back when recording a batch fails, so the retried message runs them at once', async () => {
    const workflow = await defineWorkflow([{ key: 'only', agent_id: agentId, input: '{{input.topic}}' }]);
    const { runs, calls, runner } = stepRunner();
    const run = await startRun(workflow);
    const complete = runs.complete.bind(runs);
    let failures = 1;
    runs.complete = async (answers) => {
      if (failures-- > 0) throw new Error('connection lost');
      return complete(answers);
    };
    const context = { queue: 'high', receiveCount: 1, finalAttempt: false } as unknown as JobContext;
    const job = stepJob({ executionId: run.id, key: 'only', tenantId });
    await expect(runner.runBatch([{ job, context }])).rejects.toThrow('connection lost');
    const released = await db.query<{ status: string; lease: boolean }>(
      `SELECT status, lease_until IS NOT NULL AS lease FROM workflow_step_runs WHERE execution_id = $1`,
      [run.id],
    );
    expect(released).toEqual([{ status: 'queued', lease: false }]);
    await runner.runBatch([{ job, context }]); // the retry, at once: no lease to wait out
    expect(calls).toHaveLength(2); // the first answer was never recorded, so the model was asked again
    const steps = await db.query<{ status: string; attempts: number }>(
      'SELECT status, attempts FROM workflow_step_runs WHERE execution_id = $1',
      [run.id],
    );
    expect(steps).toEqual([{ status: 'succeeded', attempts: 2 }]);
  });
});
