import { expect, it } from 'vitest';
import { jobQueue } from '#adapters/aws/job-queue.ts';
import { database } from '#adapters/postgres/db.ts';
import { ExecutionRepository } from '#adapters/postgres/executions.ts';
import { newId } from '#domain/ids.ts';
import { jobTypes, newJob } from '#domain/jobs.ts';
import { verifyWebhookSignature } from '#domain/webhooks.ts';
import { executeJob } from '#services/executions.ts';
import { acmeKey, adminKey, globexKey, queriesOf, type TestApi } from './api.ts';
import { startWebhookReceiver } from './webhook-receiver.ts';

interface ExecutionBody {
  id: string;
  agent_id: string;
  status: string;
  output: string | null;
  error: { code: string; message: string } | null;
  usage: { input_tokens: number; output_tokens: number; cost_usd: number; cached: boolean };
  model: string;
  attempts: number;
  queued_at: string;
  started_at: string | null;
  completed_at: string | null;
  duration_ms: number | null;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Agent executions through the API with the workers running, on whatever the runtime was
 * started with (embedded stand-ins, or PostgreSQL + Redis). The runtime runs in this
 * process, so a test can also reach its database and queues to simulate a fault.
 */
export const executionsContract = (api: () => TestApi): void => {
  let counter = 0;
  const createAgent = async (
    overrides: Record<string, unknown> = {},
    key = acmeKey,
  ): Promise<{ id: string }> => {
    counter += 1;
    const response = await api().call('/v1/agents', {
      method: 'POST',
      key,
      json: {
        name: `runner ${counter}`,
        model: 'gpt-4o-mini',
        system_prompt: 'Answer briefly.',
        ...overrides,
      },
    });
    expect(response.status).toBe(201);
    return (await response.json()) as { id: string };
  };
  const execute = (
    agentId: string,
    body: unknown,
    init: { query?: string; headers?: Record<string, string>; key?: string } = {},
  ) =>
    api().call(`/v1/agents/${agentId}/executions${init.query ?? ''}`, {
      method: 'POST',
      json: body,
      ...(init.headers && { headers: init.headers }),
      ...(init.key && { key: init.key }),
    });
  const finished = async (id: string, timeoutMs = 15_000): Promise<ExecutionBody> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const response = await api().call(`/v1/executions/${id}`);
      const body = (await response.json()) as ExecutionBody;
      if (['succeeded', 'failed', 'cancelled'].includes(body.status)) return body;
      if (Date.now() > deadline) throw new Error(`execution ${id} still ${body.status}`);
      await sleep(25);
    }
  };
  const repository = () => new ExecutionRepository(database());

  it('accepts with 202 and a status URL, then runs on the high queue to succeeded with usage', async () => {
    const agent = await createAgent();
    const response = await execute(agent.id, { input: 'Summarise the news', metadata: { source: 'test' } });
    expect(response.status).toBe(202);
    const accepted = (await response.json()) as ExecutionBody;
    expect(response.headers.get('location')).toBe(`/v1/executions/${accepted.id}`);
    expect(accepted).toMatchObject({ agent_id: agent.id, status: 'queued', attempts: 0, output: null });
    const done = await finished(accepted.id);
    expect(done.status).toBe('succeeded');
    expect(done.output).toContain('[local:gpt-4o-mini]');
    expect(done.usage.input_tokens).toBeGreaterThan(0);
    expect(done.usage.output_tokens).toBeGreaterThan(0);
    expect(done.usage).toMatchObject({ cost_usd: 0, cached: false }); // the local provider is free
    expect(done.attempts).toBe(1);
    expect(done.duration_ms).toBeGreaterThanOrEqual(0);
    const read = await api().call(`/v1/executions/${accepted.id}`);
    expect(read.headers.get('cache-control')).toBe('private, max-age=86400');
    const etag = read.headers.get('etag')!;
    expect(
      (await api().call(`/v1/executions/${accepted.id}`, { headers: { 'if-none-match': etag } })).status,
    ).toBe(304);
  });

  it('concurrent accepts share one INSERT; a bad row fails alone', async () => {
    const agent = await createAgent();
    const owner = await database().query<{ tenant_id: string }>(
      'SELECT tenant_id FROM agents WHERE id = $1',
      [agent.id],
    );
    const tenantId = owner[0]!.tenant_id;
    let statements = 0;
    const repository = new ExecutionRepository({
      query: (text, values) => {
        statements += 1;
        return database().query(text, values);
      },
    });
    const accept = (agentId: string) =>
      repository.insert({
        id: newId(),
        tenantId,
        agentId,
        input: 'together',
        metadata: null,
        model: 'gpt-4o-mini',
        systemPrompt: 'p',
        configuration: {},
        queuedAt: new Date(),
      });
    const together = await Promise.all(Array.from({ length: 8 }, () => accept(agent.id)));
    expect(statements).toBe(1);
    expect(new Set(together.map((e) => e.id)).size).toBe(8);
    expect(together.every((e) => e.status === 'queued' && e.agentId === agent.id)).toBe(true);

    // An agent that does not exist breaks the shared INSERT (foreign key): each row is retried alone.
    statements = 0;
    const mixed = await Promise.allSettled([accept(agent.id), accept(newId()), accept(agent.id)]);
    expect(mixed.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(statements).toBe(4);
    const stored = await database().query<{ n: number }>(
      'SELECT count(*)::int AS n FROM executions WHERE agent_id = $1',
      [agent.id],
    );
    expect(stored[0]!.n).toBe(10);
  });

  it('?wait=N answers 200 with the finished execution; the range is checked', async () => {
    const agent = await createAgent();
    const waited = await execute(agent.id, { input: { question: 'why?' } }, { query: '?wait=10' });
    expect(waited.status).toBe(200);
    const body = (await waited.json()) as ExecutionBody;
    expect(body.status).toBe('succeeded');
    expect(waited.headers.get('location')).toBe(`/v1/executions/${body.id}`);
    for (const bad of ['?wait=21', '?wait=-1', '?wait=soon']) {
      expect((await execute(agent.id, { input: 'x' }, { query: bad })).status, bad).toBe(400);
    }
  });

  it('runs the agent as it was at acceptance, whatever is edited afterwards', async () => {
    const agent = await createAgent({ model: 'model-at-acceptance' });
    const accepted = (await (await execute(agent.id, { input: 'hi' })).json()) as ExecutionBody;
    await api().call(`/v1/agents/${agent.id}`, { method: 'PATCH', json: { model: 'model-after-edit' } });
    const done = await finished(accepted.id);
    expect(done.model).toBe('model-at-acceptance');
    expect(done.output).toContain('[local:model-at-acceptance]');
  });

  it('refuses a paused agent with 409, and bad bodies with 422, creating nothing', async () => {
    const agent = await createAgent();
    await api().call(`/v1/agents/${agent.id}`, { method: 'PATCH', json: { status: 'paused' } });
    const paused = await execute(agent.id, { input: 'x' });
    expect(paused.status).toBe(409);
    expect(paused.headers.get('content-type')).toBe('application/problem+json');
    for (const body of [{}, { input: 42 }, { input: 'x', extra: true }, { input: 'x', metadata: 'no' }]) {
      const response = await execute(agent.id, body);
      expect(response.status, JSON.stringify(body)).toBe(422);
    }
    const list = await api().call(`/v1/agents/${agent.id}/executions`);
    expect(((await list.json()) as { data: unknown[] }).data).toEqual([]);
    expect((await execute('01a1fc9c-a510-7789-9bbd-f9c15407d510', { input: 'x' })).status).toBe(404);
  });

  it("isolates tenants: another tenant's agents and executions are 404", async () => {
    const agent = await createAgent();
    const accepted = (await (await execute(agent.id, { input: 'mine' })).json()) as ExecutionBody;
    expect((await execute(agent.id, { input: 'theirs' }, { key: globexKey })).status).toBe(404);
    const other = { key: globexKey };
    expect((await api().call(`/v1/executions/${accepted.id}`, other)).status).toBe(404);
    expect(
      (await api().call(`/v1/executions/${accepted.id}/cancel`, { ...other, method: 'POST' })).status,
    ).toBe(404);
    expect((await api().call(`/v1/agents/${agent.id}/executions`, other)).status).toBe(404);
  });

  it('Idempotency-Key: a replay answers the first response, another body 422, concurrent duplicates create one', async () => {
    const agent = await createAgent();
    const headers = { 'idempotency-key': `key-${Date.now()}` };
    const first = await execute(agent.id, { input: 'once', metadata: { a: 1, b: 2 } }, { headers });
    expect(first.status).toBe(202);
    const firstBody = (await first.json()) as ExecutionBody;
    // The same body, keys in another order: canonical JSON makes it the same request.
    const replay = await execute(agent.id, { metadata: { b: 2, a: 1 }, input: 'once' }, { headers });
    expect(replay.status).toBe(202);
    expect(((await replay.json()) as ExecutionBody).id).toBe(firstBody.id);
    expect(replay.headers.get('location')).toBe(`/v1/executions/${firstBody.id}`);
    const changed = await execute(agent.id, { input: 'twice' }, { headers });
    expect(changed.status).toBe(422);
    // The key is scoped to the tenant: another tenant's identical key is another request.
    const otherAgent = await createAgent({}, globexKey);
    expect((await execute(otherAgent.id, { input: 'once' }, { headers, key: globexKey })).status).toBe(202);

    const concurrentAgent = await createAgent();
    const racing = { 'idempotency-key': `race-${Date.now()}` };
    const answers = await Promise.all(
      Array.from({ length: 8 }, () => execute(concurrentAgent.id, { input: 'race' }, { headers: racing })),
    );
    const statuses = answers.map((a) => a.status);
    expect(statuses.every((s) => s === 202 || s === 409)).toBe(true);
    expect(statuses).toContain(202);
    const ids = new Set(
      await Promise.all(
        answers.filter((a) => a.status === 202).map(async (a) => ((await a.json()) as ExecutionBody).id),
      ),
    );
    expect(ids.size).toBe(1);
    const list = await api().call(`/v1/agents/${concurrentAgent.id}/executions`);
    expect(((await list.json()) as { data: unknown[] }).data).toHaveLength(1);
  });

  it('cancels a queued execution (200, then 409), and discards nothing else', async () => {
    const agent = await createAgent();
    // Committed but not enqueued: it stays queued until cancelled.
    const queued = await repository().insert({
      id: newId(),
      tenantId: (await tenantOf(api())).id,
      agentId: agent.id,
      input: 'never run',
      metadata: null,
      model: 'gpt-4o-mini',
      systemPrompt: 'p',
      configuration: {},
      queuedAt: new Date(),
    });
    const cancel = await api().call(`/v1/executions/${queued.id}/cancel`, { method: 'POST' });
    expect(cancel.status).toBe(200);
    expect(((await cancel.json()) as ExecutionBody).status).toBe('cancelled');
    expect((await api().call(`/v1/executions/${queued.id}/cancel`, { method: 'POST' })).status).toBe(409);
    // Even if its message arrives now, a cancelled execution does not run.
    await jobQueue().enqueue('high', executeJob(queued));
    await sleep(300);
    const after = (await (await api().call(`/v1/executions/${queued.id}`)).json()) as ExecutionBody;
    expect(after).toMatchObject({ status: 'cancelled', attempts: 0, output: null });
  });

  it('cancelling a running execution abandons its model call and discards its answer', async () => {
    const agent = await createAgent({ model: 'local-slow-6000', configuration: { cache_ttl_seconds: 0 } });
    const accepted = (await (await execute(agent.id, { input: 'slowly' })).json()) as ExecutionBody;
    const deadline = Date.now() + 10_000;
    let status = 'queued';
    while (status !== 'running' && Date.now() < deadline) {
      await sleep(50);
      status = ((await (await api().call(`/v1/executions/${accepted.id}`)).json()) as ExecutionBody).status;
    }
    expect(status).toBe('running');
    const cancelledAt = Date.now();
    const cancel = await api().call(`/v1/executions/${accepted.id}/cancel`, { method: 'POST' });
    expect(cancel.status).toBe(200);
    // The worker notices within its poll interval (2 s) and lets go of the message long
    // before the 6 s call would have answered.
    let inFlight = 1;
    while (inFlight > 0 && Date.now() - cancelledAt < 5_000) {
      await sleep(100);
      const queues = (await (await api().call('/v1/admin/queues', { key: adminKey })).json()) as {
        data: { queue: string; main: { in_flight: number } }[];
      };
      inFlight = queues.data.find((q) => q.queue === 'high')!.main.in_flight;
    }
    expect(inFlight).toBe(0);
    expect(Date.now() - cancelledAt).toBeLessThan(5_000);
    const after = (await (await api().call(`/v1/executions/${accepted.id}`)).json()) as ExecutionBody;
    expect(after).toMatchObject({ status: 'cancelled', output: null });
  });

  it('a duplicate delivery of a finished execution calls no model and writes nothing', async () => {
    const agent = await createAgent();
    const done = (await (
      await execute(agent.id, { input: 'dup' }, { query: '?wait=10' })
    ).json()) as ExecutionBody;
    expect(done.status).toBe('succeeded');
    const before = await api().call(`/v1/executions/${done.id}`);
    const usageBefore = await usageExecutions(api(), agent.id);
    const tenantId = (await tenantOf(api())).id;
    await Promise.all([
      jobQueue().enqueue('high', executeJob({ id: done.id, tenantId })),
      jobQueue().enqueue('high', executeJob({ id: done.id, tenantId })),
    ]);
    await sleep(500);
    const after = await api().call(`/v1/executions/${done.id}`);
    expect(after.headers.get('etag')).toBe(before.headers.get('etag'));
    expect(((await after.json()) as ExecutionBody).attempts).toBe(1);
    expect(await usageExecutions(api(), agent.id)).toBe(usageBefore);
  });

  it('the sweeper re-sends an execution whose enqueue was lost', async () => {
    const agent = await createAgent();
    const lost = await repository().insert({
      id: newId(),
      tenantId: (await tenantOf(api())).id,
      agentId: agent.id,
      input: 'lost in transit',
      metadata: null,
      model: 'gpt-4o-mini',
      systemPrompt: 'p',
      configuration: {},
      queuedAt: new Date(Date.now() - 600_000),
    });
    // Make it look stale, as if accepted ten minutes ago and never enqueued.
    await database().query("UPDATE executions SET updated_at = now() - interval '10 minutes' WHERE id = $1", [
      lost.id,
    ]);
    await jobQueue().enqueue('low', newJob(jobTypes.sweepExecutions, 'system', {}, `sweep-test-${lost.id}`));
    const done = await finished(lost.id, 20_000);
    expect(done.status).toBe('succeeded');
    expect(done.output).toContain('lost in transit');
  });

  it('a non-retryable provider error fails the execution at once with its reason', async () => {
    const agent = await createAgent({ model: 'local-fail-fatal' });
    const done = (await (
      await execute(agent.id, { input: 'x' }, { query: '?wait=10' })
    ).json()) as ExecutionBody;
    expect(done.status).toBe('failed');
    expect(done.attempts).toBe(1);
    expect(done.error?.code).toBe('provider_error');
    expect(done.error?.message).toMatch(/400/);
  });

  it('the LLM response cache answers a repeated input: cached, free, per tenant', async () => {
    const agent = await createAgent({ configuration: { cache_ttl_seconds: 600 } });
    const first = (await (
      await execute(agent.id, { input: 'same question' }, { query: '?wait=10' })
    ).json()) as ExecutionBody;
    const second = (await (
      await execute(agent.id, { input: 'same question' }, { query: '?wait=10' })
    ).json()) as ExecutionBody;
    expect(first.usage.cached).toBe(false);
    expect(second.usage.cached).toBe(true);
    expect(second.output).toBe(first.output);
    expect(second.usage.cost_usd).toBe(0);
    const uncachedAgent = await createAgent({ configuration: { cache_ttl_seconds: 0 } });
    await execute(uncachedAgent.id, { input: 'same question' }, { query: '?wait=10' });
    const again = (await (
      await execute(uncachedAgent.id, { input: 'same question' }, { query: '?wait=10' })
    ).json()) as ExecutionBody;
    expect(again.usage.cached).toBe(false);
  });

  it("lists an agent's executions newest first with status filter and cursor; the agents list counts them", async () => {
    const agent = await createAgent();
    const ids: string[] = [];
    for (let i = 0; i < 5; i += 1) {
      ids.push(
        ((await (await execute(agent.id, { input: `n${i}` }, { query: '?wait=10' })).json()) as ExecutionBody)
          .id,
      );
    }
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page = (await (
        await api().call(
          `/v1/agents/${agent.id}/executions?limit=2&status=succeeded${cursor ? `&cursor=${cursor}` : ''}`,
        )
      ).json()) as { data: ExecutionBody[]; next_cursor: string | null };
      seen.push(...page.data.map((e) => e.id));
      cursor = page.next_cursor;
    } while (cursor);
    expect(seen).toEqual([...ids].reverse());
    const none = await api().call(`/v1/agents/${agent.id}/executions?status=failed`);
    expect(((await none.json()) as { data: unknown[] }).data).toEqual([]);
    expect((await api().call(`/v1/agents/${agent.id}/executions?status=done`)).status).toBe(400);
    const list = await api().call('/v1/agents?limit=100&fields=id,execution_count,last_execution_at');
    expect(queriesOf(list)).toBe(1);
    const item = (
      (await list.json()) as { data: { id: string; execution_count: number; last_execution_at: string }[] }
    ).data.find((a) => a.id === agent.id);
    expect(item?.execution_count).toBe(5);
    expect(item?.last_execution_at).toMatch(/Z$/);
  });

  it('sums the shards of a usage row: one row per day, agent and model whatever wrote it', async () => {
    const agent = await createAgent({ model: 'sharded-model' });
    const owner = await database().query<{ tenant_id: string }>(
      'SELECT tenant_id FROM agents WHERE id = $1',
      [agent.id],
    );
    // As three connections (three shards) would have rolled up a day's executions.
    await database().query(
      `INSERT INTO usage_daily (tenant_id, day, agent_id, model, shard, executions, succeeded, failed, cached,
                                input_tokens, output_tokens, cost_usd)
       SELECT $1, current_date, $2, 'sharded-model', s, 2, 1, 1, 0, 10, 5, 0.25 FROM unnest(ARRAY[0, 3, 7]) AS s`,
      [owner[0]!.tenant_id, agent.id],
    );
    const usage = (await (await api().call('/v1/usage')).json()) as {
      data: {
        agent_id: string;
        executions: number;
        succeeded: number;
        failed: number;
        input_tokens: number;
        cost_usd: number;
      }[];
    };
    const rows = usage.data.filter((r) => r.agent_id === agent.id);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      executions: 6,
      succeeded: 3,
      failed: 3,
      input_tokens: 30,
      cost_usd: 0.75,
    });
  });

  it('rolls usage up per day, agent and model, and audits every mutation through the low queue', async () => {
    const agent = await createAgent({ model: 'usage-model' });
    for (let i = 0; i < 3; i += 1) await execute(agent.id, { input: `u${i}` }, { query: '?wait=10' });
    const usage = (await (await api().call('/v1/usage')).json()) as {
      data: {
        agent_id: string;
        model: string;
        executions: number;
        succeeded: number;
        input_tokens: number;
      }[];
    };
    const row = usage.data.find((r) => r.agent_id === agent.id);
    expect(row).toMatchObject({ model: 'usage-model', executions: 3, succeeded: 3 });
    expect(row!.input_tokens).toBeGreaterThan(0);
    expect((await api().call('/v1/usage?from=2026-13-01')).status).toBe(400);
    expect((await api().call('/v1/usage?from=2026-02-01&to=2026-01-01')).status).toBe(400);

    // Audit events arrive through the low queue (batching window 5 s).
    const deadline = Date.now() + 15_000;
    let actions: string[] = [];
    while (Date.now() < deadline) {
      const audit = (await (await api().call('/v1/audit?limit=100')).json()) as {
        data: { action: string; resource_id: string }[];
      };
      actions = audit.data.filter((e) => e.resource_id === agent.id).map((e) => e.action);
      if (actions.length > 0) break;
      await sleep(250);
    }
    expect(actions).toContain('agent.created');
    const globexAudit = (await (await api().call('/v1/audit?limit=100', { key: globexKey })).json()) as {
      data: { resource_id: string }[];
    };
    expect(globexAudit.data.map((e) => e.resource_id)).not.toContain(agent.id);
  });

  it('delivers a signed completion webhook that verifies with the documented recipe', async () => {
    const receiver = await startWebhookReceiver();
    const { received } = receiver;
    try {
      const created = await api().call('/v1/agents', {
        method: 'POST',
        json: { name: 'hooked', model: 'm', system_prompt: 'p', webhook_url: receiver.url },
      });
      expect(created.status).toBe(201);
      const agent = (await created.json()) as { id: string; webhook_secret: string; webhook_url: string };
      expect(agent.webhook_secret).toMatch(/^whsec_/);
      // Shown once: a read never includes it.
      const read = (await (await api().call(`/v1/agents/${agent.id}`)).json()) as Record<string, unknown>;
      expect(read['webhook_secret']).toBeUndefined();
      expect(read['webhook_url']).toBe(receiver.url);

      const done = (await (
        await execute(agent.id, { input: 'notify me' }, { query: '?wait=10' })
      ).json()) as ExecutionBody;
      await receiver.waitFor(1);
      expect(received).toHaveLength(1);
      const [delivery] = received;
      expect(verifyWebhookSignature(agent.webhook_secret, delivery!.body, delivery!.signature)).toBe(true);
      expect(verifyWebhookSignature(agent.webhook_secret, `${delivery!.body} `, delivery!.signature)).toBe(
        false,
      );
      const event = JSON.parse(delivery!.body) as { type: string; data: { id: string; status: string } };
      expect(event).toMatchObject({
        type: 'execution.succeeded',
        data: { id: done.id, status: 'succeeded' },
      });
      expect(delivery!.eventId).toMatch(new RegExp(`^${done.id}\\.`));
    } finally {
      receiver.close();
    }
  });

  it('refuses webhook URLs that are not public https when private targets are not allowed', async () => {
    const response = await api().call('/v1/agents', {
      method: 'POST',
      json: { name: 'x', model: 'm', system_prompt: 'p', webhook_url: 'not a url' },
    });
    expect(response.status).toBe(422);
    const problem = (await response.json()) as { errors: { field: string }[] };
    expect(problem.errors.map((e) => e.field)).toContain('webhook_url');
  });
};

const tenantOf = async (api: TestApi): Promise<{ id: string }> => {
  const rows = await database().query<{ id: string }>("SELECT id FROM tenants WHERE name = 'acme'");
  void api;
  return rows[0]!;
};

const usageExecutions = async (api: TestApi, agentId: string): Promise<number> => {
  const usage = (await (await api.call('/v1/usage')).json()) as {
    data: { agent_id: string; executions: number }[];
  };
  return usage.data.filter((r) => r.agent_id === agentId).reduce((sum, r) => sum + r.executions, 0);
};
