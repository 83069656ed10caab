import { afterAll, beforeAll, expect, it } from 'vitest';
import { resetProviders } from '#adapters/llm/registry.ts';
import { adminKey, startTestApi, type TestApi } from '../support/api.ts';
import { runToEnd } from '../support/processes.ts';
import { describeRealServers } from '../support/real-servers.ts';
import { replyJson, useStubServer } from '../support/stub-server.ts';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface ExecutionBody {
  id: string;
  status: string;
  attempts: number;
  output: string | null;
  error: { code: string; message: string } | null;
}

/**
 * A provider that fails, through the real high-queue worker: per-message backoff by
 * visibility, the DLQ after exactly maxReceiveCount receives, the execution failed with
 * its reason, and a redrive that brings it back once the provider recovers.
 */
describeRealServers('retries, DLQ and redrive', (servers) => {
  let api: TestApi;
  let failing = true;
  const calls: number[] = [];
  // An OpenAI-compatible endpoint: 503 while `failing`, an answer afterwards.
  const provider = useStubServer((res) => {
    calls.push(Date.now());
    if (failing) replyJson(res, 503, { error: { type: 'overloaded' } });
    else
      replyJson(res, 200, {
        choices: [{ message: { role: 'assistant', content: 'recovered answer' } }],
        usage: { prompt_tokens: 7, completion_tokens: 2 },
      });
  });

  beforeAll(async () => {
    process.env['OPENAI_BASE_URL'] = `${provider.origin}/v1`;
    process.env['OPENAI_API_KEY'] = 'test-key';
    resetProviders();
    api = await startTestApi(
      { DATABASE_URL: servers.postgresUrl, REDIS_URL: servers.redisUrl },
      { workers: true },
    );
  });
  afterAll(async () => {
    await api?.stop();
    delete process.env['OPENAI_BASE_URL'];
    delete process.env['OPENAI_API_KEY'];
  });

  const admin = (path: string, method = 'GET') => api.call(path, { method, key: adminKey });
  const executionOf = async (id: string) =>
    (await (await api.call(`/v1/executions/${id}`)).json()) as ExecutionBody;
  const until = async <T>(
    probe: () => Promise<T | undefined>,
    timeoutMs: number,
    what: string,
  ): Promise<T> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = await probe();
      if (value !== undefined) return value;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await sleep(100);
    }
  };
  /** The execution once it has `status`, within `timeoutMs`. */
  const executionWhen = (id: string, status: string, timeoutMs: number) =>
    until(
      async () => {
        const current = await executionOf(id);
        return current.status === status ? current : undefined;
      },
      timeoutMs,
      `execution ${id} to be ${status}`,
    );
  const deadLetterFor = async (executionId: string) => {
    const peek = (await (await admin('/v1/admin/dlq/high')).json()) as {
      data: { ids: Record<string, string>; failure: string | null; type: string }[];
    };
    return peek.data.find((m) => m.ids['execution_id'] === executionId);
  };

  it('a failing message is retried with growing delays and dead-lettered after exactly 4 receives', async () => {
    const created = await api.call('/v1/agents', {
      method: 'POST',
      json: {
        name: 'flaky',
        model: 'gpt-test',
        system_prompt: 'p',
        configuration: { provider: 'openai', cache_ttl_seconds: 0 },
      },
    });
    const agent = (await created.json()) as { id: string };
    const accepted = (await (
      await api.call(`/v1/agents/${agent.id}/executions`, { method: 'POST', json: { input: 'try hard' } })
    ).json()) as ExecutionBody;

    const failed = await executionWhen(accepted.id, 'failed', 30_000);
    // high: 3 retries → maxReceiveCount 4; one provider call per attempt (no fallback configured).
    expect(calls).toHaveLength(4);
    expect(failed.attempts).toBe(4);
    expect(failed.error?.code).toBe('retries_exhausted');
    expect(failed.error?.message).toMatch(/503/);
    // Backoff 1 s, 2 s, 4 s with equal jitter (rounded up to whole seconds by SQS): the last
    // wait is at least 2 s and longer than the first.
    const gaps = calls.slice(1).map((t, i) => t - calls[i]!);
    expect(gaps[0]).toBeGreaterThanOrEqual(900);
    expect(gaps[2]).toBeGreaterThanOrEqual(1_900);
    expect(gaps[2]!).toBeGreaterThan(gaps[0]!);

    // It moves to the DLQ on the receive after its last, and no further call is made.
    const letter = await until(() => deadLetterFor(accepted.id), 10_000, 'the dead letter');
    expect(letter.type).toBe('agent.execute');
    expect(calls).toHaveLength(4);
    const queues = (await (await admin('/v1/admin/queues')).json()) as {
      data: {
        queue: string;
        dlq: { visible: number; in_flight: number; oldest_message_age_seconds: number | null };
      }[];
    };
    const high = queues.data.find((q) => q.queue === 'high')!;
    // Just peeked, a letter may count as in flight for a moment; either way it is in the DLQ.
    expect(high.dlq.visible + high.dlq.in_flight).toBeGreaterThanOrEqual(1);
    expect(high.dlq.oldest_message_age_seconds).not.toBeNull();

    // The provider recovers; a redrive brings the execution back and it succeeds.
    failing = false;
    const before = await api.call(`/v1/executions/${accepted.id}`);
    const redrive = await admin('/v1/admin/dlq/high/redrive', 'POST');
    expect(redrive.status).toBe(200);
    const moved = (await redrive.json()) as { moved: number; executions_requeued: number };
    expect(moved.moved).toBeGreaterThanOrEqual(1);
    expect(moved.executions_requeued).toBeGreaterThanOrEqual(1);
    const done = await executionWhen(accepted.id, 'succeeded', 15_000);
    expect(done.output).toBe('recovered answer');
    expect(done.error).toBeNull();
    // A redrive is a change: the finished execution's ETag is a new one.
    const after = await api.call(`/v1/executions/${accepted.id}`);
    expect(after.headers.get('etag')).not.toBe(before.headers.get('etag'));
    expect(await deadLetterFor(accepted.id)).toBeUndefined();
  }, 60_000);

  it('a non-retryable failure goes to the DLQ at once, with its reason', async () => {
    const created = await api.call('/v1/agents', {
      method: 'POST',
      json: { name: 'broken', model: 'local-fail-fatal', system_prompt: 'p' },
    });
    const agent = (await created.json()) as { id: string };
    const done = (await (
      await api.call(`/v1/agents/${agent.id}/executions?wait=10`, { method: 'POST', json: { input: 'x' } })
    ).json()) as ExecutionBody;
    expect(done).toMatchObject({ status: 'failed', attempts: 1 });
    const letter = await until(() => deadLetterFor(done.id), 10_000, 'the dead letter');
    expect(letter.failure).toMatch(/400/);
  });

  it('npm run dlq lists the queues and peeks at dead letters through the operator API', async () => {
    const env = { SWITCHYARD_URL: api.url, SWITCHYARD_ADMIN_KEY: adminKey };
    const list = await runToEnd('bin/dlq.ts', ['list'], env);
    expect(list.code, list.output).toBe(0);
    for (const queue of ['high', 'default', 'low'])
      expect(list.output).toMatch(new RegExp(`^${queue}\\s`, 'm'));
    const peek = await runToEnd('bin/dlq.ts', ['peek', 'high'], env);
    expect(peek.code, peek.output).toBe(0);
    expect(JSON.parse(peek.output.slice(peek.output.indexOf('{'))).queue).toBe('high');
    const denied = await runToEnd('bin/dlq.ts', ['list'], { ...env, SWITCHYARD_ADMIN_KEY: 'wrong' });
    expect(denied.code).toBe(1);
    expect(denied.output).toMatch(/401/);
  });

  it('operator queue endpoints need the operator key and name real queues', async () => {
    expect((await api.call('/v1/admin/queues')).status).toBe(401);
    expect((await admin('/v1/admin/dlq/urgent')).status).toBe(404);
    expect((await admin('/v1/admin/dlq/high?limit=11')).status).toBe(400);
  });
});
