import { expect, it } from 'vitest';
import { database } from '#adapters/postgres/db.ts';
import { WorkflowRunRepository } from '#adapters/postgres/workflow-runs/index.ts';
import { verifyWebhookSignature } from '#domain/webhooks.ts';
import { acmeKey, globexKey, queriesOf, type TestApi } from './api.ts';
import { startWebhookReceiver } from './webhook-receiver.ts';

interface StepBody {
  key: string;
  status: string;
  attempts: number;
  input: string | null;
  output: string | null;
  error: { code: string; message: string } | null;
  usage: { input_tokens: number; output_tokens: number };
}
interface RunBody {
  id: string;
  workflow_id: string;
  workflow_version: number;
  status: string;
  error: { code: string; message: string } | null;
  usage: { input_tokens: number; output_tokens: number; cost_usd: number };
  steps: StepBody[];
}
interface Stats {
  workflow_id: string;
  execution_count: number;
  success_count: number;
  failure_count: number;
  success_rate: number;
  avg_duration_seconds: number;
  has_active_executions: boolean;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Workflows through the API with the workers running, on whatever the runtime was started
 * with (embedded stand-ins, or PostgreSQL + Redis).
 */
export const workflowsContract = (api: () => TestApi): void => {
  let counter = 0;
  const createAgent = async (overrides: Record<string, unknown> = {}, key = acmeKey): Promise<string> => {
    counter += 1;
    const response = await api().call('/v1/agents', {
      method: 'POST',
      key,
      json: {
        name: `step agent ${counter}`,
        model: 'gpt-4o-mini',
        system_prompt: 'Answer briefly.',
        configuration: { cache_ttl_seconds: 0 },
        ...overrides,
      },
    });
    expect(response.status).toBe(201);
    return ((await response.json()) as { id: string }).id;
  };
  const createWorkflow = async (body: Record<string, unknown>, key = acmeKey) => {
    const response = await api().call('/v1/workflows', { method: 'POST', key, json: body });
    return {
      response,
      body: (await response.json()) as { id: string; version: number } & Record<string, unknown>,
    };
  };
  /** Two parallel roots and a join reading both: the shape of most research/summarise flows. */
  const diamond = (agent: string, extra: Record<string, unknown> = {}) => ({
    name: `Diamond ${++counter}`,
    steps: [
      { key: 'research', agent_id: agent, input: 'Research {{input.topic}}' },
      { key: 'outline', agent_id: agent, input: 'Outline {{ input.topic }}' },
      {
        key: 'write',
        agent_id: agent,
        input: 'Write: {{steps.research.output}} | {{steps.outline.output}}',
        depends_on: ['research', 'outline'],
      },
    ],
    ...extra,
  });
  const start = (id: string, body: unknown, query = '', headers?: Record<string, string>) =>
    api().call(`/v1/workflows/${id}/executions${query}`, {
      method: 'POST',
      json: body,
      ...(headers && { headers }),
    });
  const finished = async (id: string, timeoutMs = 20_000): Promise<RunBody> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const body = (await (await api().call(`/v1/workflow-executions/${id}`)).json()) as RunBody;
      if (['succeeded', 'failed', 'cancelled'].includes(body.status)) return body;
      if (Date.now() > deadline) throw new Error(`workflow execution ${id} still ${body.status}`);
      await sleep(25);
    }
  };
  const step = (run: RunBody, key: string) => run.steps.find((s) => s.key === key)!;

  it('creates a workflow (201), reads it without steps unless asked, each form with its own ETag', async () => {
    const agent = await createAgent();
    const { response, body } = await createWorkflow(diamond(agent, { description: 'three steps' }));
    expect(response.status).toBe(201);
    expect(response.headers.get('location')).toBe(`/v1/workflows/${body.id}`);
    expect(body).toMatchObject({
      version: 1,
      step_count: 3,
      on_step_failure: 'fail',
      description: 'three steps',
    });

    const plain = await api().call(`/v1/workflows/${body.id}`);
    expect(plain.status).toBe(200);
    expect(queriesOf(plain)).toBe(0); // written through to the cache by the create
    const plainBody = (await plain.json()) as Record<string, unknown>;
    expect(plainBody['steps']).toBeUndefined();
    const withSteps = await api().call(`/v1/workflows/${body.id}?include=steps`);
    const stepsBody = (await withSteps.json()) as { steps: { key: string; depends_on: string[] }[] };
    expect(stepsBody.steps.map((s) => s.key)).toEqual(['research', 'outline', 'write']);
    expect(stepsBody.steps[2]!.depends_on).toEqual(['research', 'outline']);
    expect(withSteps.headers.get('etag')).not.toBe(plain.headers.get('etag'));
    const etag = plain.headers.get('etag')!;
    expect(
      (await api().call(`/v1/workflows/${body.id}`, { headers: { 'if-none-match': etag } })).status,
    ).toBe(304);
    expect((await api().call(`/v1/workflows/${body.id}?include=nothing`)).status).toBe(400);
    expect((await api().call(`/v1/workflows/${body.id}`, { key: globexKey })).status).toBe(404);
  });

  it('refuses invalid graphs with 422 and a field per problem, creating nothing', async () => {
    const agent = await createAgent();
    const foreign = await createAgent({}, globexKey);
    const cases: [Record<string, unknown>[], string, RegExp][] = [
      [
        [
          { key: 'a', agent_id: agent, input: 'x', depends_on: ['b'] },
          { key: 'b', agent_id: agent, input: 'x', depends_on: ['a'] },
        ],
        'steps',
        /cycle: (a → b → a|b → a → b)/,
      ],
      [[{ key: 'a', agent_id: agent, input: 'x', depends_on: ['ghost'] }], 'steps.0.depends_on.0', /no step/],
      [
        [
          { key: 'a', agent_id: agent, input: 'x' },
          { key: 'a', agent_id: agent, input: 'y' },
        ],
        'steps.1.key',
        /duplicate/,
      ],
      [[{ key: 'a', agent_id: foreign, input: 'x' }], 'steps.0.agent_id', /no such agent/],
      [
        [
          { key: 'a', agent_id: agent, input: 'x' },
          { key: 'b', agent_id: agent, input: '{{steps.a.output}}' },
        ],
        'steps.1.input',
        /not upstream/,
      ],
      [[{ key: 'a', agent_id: agent, input: '{{secrets.key}}' }], 'steps.0.input', /not a reference/],
    ];
    for (const [steps, field, detail] of cases) {
      const { response, body } = await createWorkflow({ name: 'bad', steps });
      expect(response.status, field).toBe(422);
      const errors = body['errors'] as { field: string; detail: string }[];
      expect(errors.find((e) => e.field === field)?.detail, JSON.stringify(errors)).toMatch(detail);
    }
    const list = (await (await api().call('/v1/workflows?q=bad')).json()) as { data: unknown[] };
    expect(list.data).toEqual([]);
  });

  it('runs the graph: roots in parallel, the join once with both outputs; ?wait answers 200', async () => {
    const agent = await createAgent();
    const { body: workflow } = await createWorkflow(diamond(agent));
    const response = await start(workflow.id, { input: { topic: 'owls' } }, '?wait=15');
    expect(response.status).toBe(200);
    const run = (await response.json()) as RunBody;
    expect(response.headers.get('location')).toBe(`/v1/workflow-executions/${run.id}`);
    expect(run.status).toBe('succeeded');
    expect(run.steps.map((s) => [s.key, s.status, s.attempts])).toEqual([
      ['research', 'succeeded', 1],
      ['outline', 'succeeded', 1],
      ['write', 'succeeded', 1],
    ]);
    expect(step(run, 'research').input).toBe('Research owls');
    expect(step(run, 'write').input).toBe(
      `Write: ${step(run, 'research').output} | ${step(run, 'outline').output}`,
    );
    const total = run.steps.reduce((sum, s) => sum + s.usage.input_tokens, 0);
    expect(run.usage.input_tokens).toBe(total);
    expect(total).toBeGreaterThan(0);

    const read = await api().call(`/v1/workflow-executions/${run.id}`);
    expect(queriesOf(read)).toBe(1); // the run and its steps in one query
    expect(read.headers.get('cache-control')).toBe('private, max-age=86400');
    const list = await api().call(`/v1/workflows/${workflow.id}/executions?status=succeeded`);
    expect(queriesOf(list)).toBe(1); // the workflow from the cache, then the page
    expect(((await list.json()) as { data: { id: string }[] }).data.map((r) => r.id)).toEqual([run.id]);
  });

  it('accepts with 202 and one query; refuses an input without the fields the templates read (422)', async () => {
    const agent = await createAgent();
    const { body: workflow } = await createWorkflow(diamond(agent));
    const accepted = await start(workflow.id, { input: { topic: 'tides' } });
    expect(accepted.status).toBe(202);
    expect(queriesOf(accepted)).toBe(1); // definition from the cache, then the run and its steps in one statement
    expect(((await accepted.json()) as RunBody).status).toBe('queued');
    const missing = await start(workflow.id, { input: { subject: 'tides' } });
    expect(missing.status).toBe(422);
    const errors = ((await missing.json()) as { errors: { field: string }[] }).errors;
    expect(errors.map((e) => e.field)).toContain('input.topic');
    for (const bad of [{}, { input: 3 }, { input: {}, extra: 1 }])
      expect((await start(workflow.id, bad)).status).toBe(422);
    expect((await start(workflow.id, { input: { topic: 'x' } }, '?wait=21')).status).toBe(400);
  });

  it('lists with step and execution counts in one query; q is a case-insensitive name prefix', async () => {
    const agent = await createAgent();
    const name = `Quarterly report ${Date.now()}`;
    const { body: workflow } = await createWorkflow({ ...diamond(agent), name });
    await finished(((await (await start(workflow.id, { input: { topic: 'q3' } })).json()) as RunBody).id);
    const response = await api().call(
      `/v1/workflows?q=${encodeURIComponent(name.slice(0, 12).toUpperCase())}`,
    );
    expect(queriesOf(response)).toBe(1);
    const page = (await response.json()) as {
      data: { id: string; step_count: number; execution_count: number; last_execution_at: string | null }[];
    };
    const found = page.data.find((w) => w.id === workflow.id)!;
    expect(found).toMatchObject({ step_count: 3, execution_count: 1 });
    expect(found.last_execution_at).not.toBeNull();
    const none = (await (await api().call('/v1/workflows?q=%25')).json()) as { data: unknown[] };
    expect(none.data).toEqual([]); // % is a character here, not a wildcard
  });

  it('pins runs to their version: a PATCH makes a new one, runs in flight finish on theirs', async () => {
    const slow = await createAgent({ model: 'local-slow-600' });
    const { body: workflow } = await createWorkflow({
      name: 'Pinned',
      steps: [
        { key: 'first', agent_id: slow, input: 'v1 {{input}}' },
        { key: 'second', agent_id: slow, input: 'v1 after {{steps.first.output}}', depends_on: ['first'] },
      ],
    });
    const inFlight = ((await (await start(workflow.id, { input: 'go' })).json()) as RunBody).id;
    const patched = await api().call(`/v1/workflows/${workflow.id}`, {
      method: 'PATCH',
      headers: { 'if-match': '"v1"' },
      json: { steps: [{ key: 'only', agent_id: slow, input: 'v2 {{input}}' }] },
    });
    expect(patched.status).toBe(200);
    expect((await patched.json()) as { version: number; step_count: number }).toMatchObject({
      version: 2,
      step_count: 1,
    });
    const stale = await api().call(`/v1/workflows/${workflow.id}`, {
      method: 'PATCH',
      headers: { 'if-match': '"v1"' },
      json: { name: 'late' },
    });
    expect(stale.status).toBe(412);
    const old = await finished(inFlight);
    expect(old).toMatchObject({ status: 'succeeded', workflow_version: 1 });
    expect(old.steps.map((s) => s.key)).toEqual(['first', 'second']);
    expect(step(old, 'second').input).toMatch(/^v1 after /);
    const next = await finished(((await (await start(workflow.id, { input: 'go' })).json()) as RunBody).id);
    expect(next).toMatchObject({ status: 'succeeded', workflow_version: 2 });
    expect(next.steps.map((s) => [s.key, s.input])).toEqual([['only', 'v2 go']]);
  });

  it('cancels: queued and waiting steps are cancelled, the running call is discarded; again → 409', async () => {
    const slow = await createAgent({ model: 'local-slow-1500' });
    const { body: workflow } = await createWorkflow({
      name: 'Cancellable',
      steps: [
        { key: 'long', agent_id: slow, input: '{{input}}' },
        { key: 'after', agent_id: slow, input: '{{steps.long.output}}', depends_on: ['long'] },
      ],
    });
    const id = ((await (await start(workflow.id, { input: 'x' })).json()) as RunBody).id;
    for (let i = 0; i < 100; i++) {
      const run = (await (await api().call(`/v1/workflow-executions/${id}`)).json()) as RunBody;
      if (step(run, 'long').status === 'running') break;
      await sleep(20);
    }
    const cancelled = await api().call(`/v1/workflow-executions/${id}/cancel`, { method: 'POST' });
    expect(cancelled.status).toBe(200);
    expect(((await cancelled.json()) as RunBody).status).toBe('cancelled');
    expect((await api().call(`/v1/workflow-executions/${id}/cancel`, { method: 'POST' })).status).toBe(409);
    await sleep(2_000); // the slow call ends meanwhile; its answer must not be written
    const run = (await (await api().call(`/v1/workflow-executions/${id}`)).json()) as RunBody;
    expect(run.status).toBe('cancelled');
    expect(run.steps.map((s) => [s.key, s.status, s.output])).toEqual([
      ['long', 'cancelled', null],
      ['after', 'cancelled', null],
    ]);
    expect(
      (
        await api().call('/v1/workflow-executions/01a1fc9c-a510-7789-9bbd-f9c15407d510/cancel', {
          method: 'POST',
        })
      ).status,
    ).toBe(404);
  });

  it('on_step_failure "fail" fails the run and cancels the rest; "continue" skips only what depends on the failure', async () => {
    const good = await createAgent();
    const fatal = await createAgent({ model: 'local-fail-fatal' });
    const steps = [
      { key: 'broken', agent_id: fatal, input: '{{input}}' },
      { key: 'after_broken', agent_id: good, input: '{{steps.broken.output}}', depends_on: ['broken'] },
      { key: 'slow_side', agent_id: good, input: 'side {{input}}', depends_on: [] },
    ];
    const { body: failing } = await createWorkflow({ name: 'Fails', steps });
    const failed = await finished(((await (await start(failing.id, { input: 'x' })).json()) as RunBody).id);
    expect(failed.status).toBe('failed');
    expect(failed.error?.code).toBe('step_failed');
    expect(step(failed, 'broken')).toMatchObject({ status: 'failed', attempts: 1 }); // not retryable: once
    expect(step(failed, 'broken').error?.code).toBe('step_error');
    expect(step(failed, 'after_broken').status).toBe('cancelled');

    const { body: continuing } = await createWorkflow({
      name: 'Continues',
      steps,
      on_step_failure: 'continue',
    });
    const run = await finished(((await (await start(continuing.id, { input: 'x' })).json()) as RunBody).id);
    expect(run.status).toBe('failed');
    expect(run.error?.code).toBe('steps_failed');
    expect(run.steps.map((s) => [s.key, s.status])).toEqual([
      ['broken', 'failed'],
      ['after_broken', 'skipped'],
      ['slow_side', 'succeeded'],
    ]);
  });

  it("retries a step on a retryable error with the step's own policy, then fails it", async () => {
    const flaky = await createAgent({ model: 'local-fail-retryable' });
    const { body: workflow } = await createWorkflow({
      name: 'Retries',
      steps: [
        { key: 'flaky', agent_id: flaky, input: '{{input}}', retry: { max_attempts: 2, backoff_seconds: 0 } },
      ],
    });
    const run = await finished(((await (await start(workflow.id, { input: 'x' })).json()) as RunBody).id);
    expect(run.status).toBe('failed');
    expect(step(run, 'flaky')).toMatchObject({ status: 'failed', attempts: 2 });
    expect(step(run, 'flaky').error?.code).toBe('retries_exhausted');
  });

  it('computes 30-day statistics against a hand-computed fixture, in one query', async () => {
    const agent = await createAgent();
    const { body: workflow } = await createWorkflow({
      name: 'Stats fixture',
      steps: [{ key: 'only', agent_id: agent, input: '{{input}}' }],
    });
    const { body: idle } = await createWorkflow({
      name: 'Stats idle',
      steps: [{ key: 'only', agent_id: agent, input: '{{input}}' }],
    });
    const db = database();
    const runs = new WorkflowRunRepository(db);
    const tenant = (
      await db.query<{ tenant_id: string }>('SELECT tenant_id FROM workflows WHERE id = $1', [workflow.id])
    )[0]!.tenant_id;
    // Each run: created that long ago, started `ran` seconds before it finishes, then finished
    // through the repository (as the workers do), so the rollups are the code's own.
    const fixture: {
      created: string;
      ran: number;
      outcome: 'succeeded' | 'failed' | 'cancelled' | 'running';
    }[] = [
      { created: '40 days', ran: 5, outcome: 'succeeded' }, // outside the window
      { created: '30 days 1 minute', ran: 5, outcome: 'succeeded' }, // outside, on the window's first day
      { created: '29 days 23 hours 50 minutes', ran: 10, outcome: 'succeeded' }, // inside, first (partial) day
      { created: '20 days', ran: 20, outcome: 'failed' },
      { created: '1 day', ran: 30, outcome: 'succeeded' },
      { created: '1 hour', ran: 40, outcome: 'cancelled' },
      { created: '5 minutes', ran: 0, outcome: 'running' }, // counts, has no duration, makes it active
    ];
    for (const [i, row] of fixture.entries()) {
      const id = `01a1fc9c-a510-7789-9bbd-${String(i).padStart(12, '0')}`;
      await db.query(
        `INSERT INTO workflow_executions (id, tenant_id, workflow_id, workflow_version, on_step_failure, status, input,
                                          step_count, created_at, started_at, updated_at)
         VALUES ($1, $2, $3, 1, 'fail', 'running', '"x"', 1, now() - $4::interval, now() - make_interval(secs => $5), now())`,
        [id, tenant, workflow.id, row.created, row.ran],
      );
      await db.query(
        `INSERT INTO workflow_step_runs (execution_id, key, tenant_id, position, agent_id, status, pending_deps, attempts,
                                         started_at, updated_at)
         VALUES ($1, 'only', $2, 0, $3, 'running', 0, 1, now(), now())`,
        [id, tenant, agent],
      );
      const target = { executionId: id, key: 'only', attempt: 1 };
      if (row.outcome === 'succeeded') {
        const call = {
          output: 'o',
          provider: 'local',
          modelUsed: 'm',
          inputTokens: 1,
          outputTokens: 1,
          costUsd: 0,
          cached: false,
        };
        await runs.complete([{ ...target, renderedInput: 'x', model: 'm', call, dependents: [] }]);
      } else if (row.outcome === 'failed') {
        await runs.fail(target, { code: 'step_error', message: 'no' }, 'fail', []);
      } else if (row.outcome === 'cancelled') {
        await runs.cancel(tenant, id);
      }
    }
    // The fixture took a while: refresh the API key's cache entry, so the count is the query's alone.
    await api().call(`/v1/workflows/${workflow.id}`);
    const one = await api().call(`/v1/workflows/${workflow.id}/stats`);
    expect(one.status).toBe(200);
    expect(queriesOf(one)).toBe(1);
    const stats = (await one.json()) as Stats;
    expect(stats).toMatchObject({
      execution_count: 5,
      success_count: 2,
      failure_count: 1,
      success_rate: 40,
      has_active_executions: true,
    });
    expect(stats.avg_duration_seconds).toBeCloseTo((10 + 20 + 30 + 40) / 4, 0);

    const all = await api().call('/v1/workflows/stats');
    expect(queriesOf(all)).toBe(1);
    const data = ((await all.json()) as { data: Stats[] }).data;
    expect(data.find((s) => s.workflow_id === workflow.id)).toMatchObject({ execution_count: 5 });
    expect(data.find((s) => s.workflow_id === idle.id)).toMatchObject({
      execution_count: 0,
      success_rate: 0,
      avg_duration_seconds: 0,
      has_active_executions: false,
    });
    expect((await api().call(`/v1/workflows/${workflow.id}/stats`, { key: globexKey })).status).toBe(404);
  });

  it('deleting an agent a workflow uses is 409 naming it; deleting the workflow keeps its executions', async () => {
    const agent = await createAgent();
    const { body: workflow } = await createWorkflow({ ...diamond(agent), name: 'Holds the agent' });
    const run = await finished(
      ((await (await start(workflow.id, { input: { topic: 't' } })).json()) as RunBody).id,
    );
    const refused = await api().call(`/v1/agents/${agent}`, { method: 'DELETE' });
    expect(refused.status).toBe(409);
    expect(((await refused.json()) as { detail: string }).detail).toContain('"Holds the agent"');
    expect(
      (
        await api().call(`/v1/workflows/${workflow.id}`, {
          method: 'DELETE',
          headers: { 'if-match': '"v9"' },
        })
      ).status,
    ).toBe(412);
    expect((await api().call(`/v1/workflows/${workflow.id}`, { method: 'DELETE' })).status).toBe(204);
    expect((await api().call(`/v1/workflows/${workflow.id}`)).status).toBe(404);
    expect((await start(workflow.id, { input: { topic: 't' } })).status).toBe(404);
    expect((await api().call(`/v1/workflow-executions/${run.id}`)).status).toBe(200);
    expect((await api().call(`/v1/agents/${agent}`, { method: 'DELETE' })).status).toBe(204);
  });

  it('replays a start with the same Idempotency-Key, and refuses another body under it (422)', async () => {
    const agent = await createAgent();
    const { body: workflow } = await createWorkflow(diamond(agent));
    const headers = { 'idempotency-key': `wf-${Date.now()}` };
    const first = await start(workflow.id, { input: { topic: 'a' } }, '', headers);
    const again = await start(workflow.id, { input: { topic: 'a' } }, '', headers);
    expect(first.status).toBe(202);
    expect(again.status).toBe(202);
    expect(((await again.json()) as RunBody).id).toBe(((await first.json()) as RunBody).id);
    expect((await start(workflow.id, { input: { topic: 'b' } }, '', headers)).status).toBe(422);
  });

  it("delivers the workflow's signed completion webhook with the run and its steps", async () => {
    const receiver = await startWebhookReceiver();
    try {
      const agent = await createAgent();
      const { response, body: workflow } = await createWorkflow(
        diamond(agent, { webhook_url: receiver.url }),
      );
      expect(response.status).toBe(201);
      const secret = workflow['webhook_secret'] as string;
      expect(secret).toMatch(/^whsec_/);
      const read = (await (await api().call(`/v1/workflows/${workflow.id}`)).json()) as Record<
        string,
        unknown
      >;
      expect(read['webhook_secret']).toBeUndefined();
      const run = await finished(
        ((await (await start(workflow.id, { input: { topic: 'hooks' } })).json()) as RunBody).id,
      );
      await receiver.waitFor(1);
      expect(receiver.received).toHaveLength(1);
      const [delivery] = receiver.received;
      expect(verifyWebhookSignature(secret, delivery!.body, delivery!.signature)).toBe(true);
      const event = JSON.parse(delivery!.body) as { type: string; data: RunBody };
      expect(event.type).toBe('workflow_execution.succeeded');
      expect(event.data).toMatchObject({ id: run.id, status: 'succeeded' });
      expect(event.data.steps.map((s) => s.status)).toEqual(['succeeded', 'succeeded', 'succeeded']);
    } finally {
      receiver.close();
    }
  });
};
