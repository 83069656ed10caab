import { expect, it } from 'vitest';
import { encodeCursor } from '#domain/cursor.ts';
import { createTestAgent, globexKey, type TestApi } from './api.ts';

interface Problem {
  type: string;
  title: string;
  status: number;
  detail?: string;
  errors?: { field: string; detail: string }[];
}

/** Asserts an RFC 9457 answer with this status and, when given, an error naming `field`. */
export const expectProblem = async (response: Response, status: number, field?: string): Promise<Problem> => {
  const text = await response.text();
  expect(response.status, text).toBe(status);
  expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  const body = JSON.parse(text) as Problem;
  expect(body).toMatchObject({ type: expect.any(String), title: expect.any(String), status });
  if (field !== undefined)
    expect(
      body.errors?.map((e) => e.field),
      text,
    ).toContain(field);
  return body;
};

/** A cursor with any payload, as a client could forge one. */
export const forgeCursor = (payload: unknown): string =>
  Buffer.from(JSON.stringify(payload), 'utf8').toString('base64url');

const nested = (depth: number): string => `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;

/**
 * Findings 1 and 2 of "correct under faults and hostile input", over HTTP through the local
 * runtime: client mistakes answer 4xx problem+json (never 5xx, never silently changed input), and
 * an id in another letter case is the same resource, through the same cache entry.
 */
export const hostileInputContract = (api: () => TestApi): void => {
  /** A body sent exactly as written (JSON.stringify cannot write 1e309 or a raw NUL escape choice). */
  const raw = (path: string, method: string, text: string, key?: string) =>
    api().call(path, {
      method,
      body: text,
      headers: { 'content-type': 'application/json' },
      ...(key && { key }),
    });
  const agentCount = async (): Promise<number> => {
    let total = 0;
    let cursor: string | null = null;
    do {
      const page = (await (
        await api().call(`/v1/agents?limit=100&fields=id${cursor ? `&cursor=${cursor}` : ''}`)
      ).json()) as { data: unknown[]; next_cursor: string | null };
      total += page.data.length;
      cursor = page.next_cursor;
    } while (cursor);
    return total;
  };
  const agentBody = (extra: string) =>
    `{"name":"hostile","model":"gpt-4o-mini","system_prompt":"p"${extra ? `,${extra}` : ''}}`;

  it('refuses NUL in any text or JSON field with a 422 naming it, and creates nothing', async () => {
    const before = await agentCount();
    const cases: [string, string][] = [
      ['{"name":"a\\u0000b","model":"m","system_prompt":"p"}', 'name'],
      ['{"name":"n","model":"m\\u0000","system_prompt":"p"}', 'model'],
      ['{"name":"n","model":"m","system_prompt":"\\u0000"}', 'system_prompt'],
      [agentBody('"configuration":{"k":"v\\u0000"}'), 'configuration.k'],
      [agentBody('"configuration":{"list":[1,"\\u0000"]}'), 'configuration.list.1'],
      [agentBody('"webhook_url":"https://example.com/\\u0000"'), 'webhook_url'],
    ];
    for (const [text, field] of cases) await expectProblem(await raw('/v1/agents', 'POST', text), 422, field);
    expect(await agentCount()).toBe(before);

    const id = await createTestAgent(api());
    await expectProblem(await raw(`/v1/agents/${id}`, 'PATCH', '{"name":"x\\u0000"}'), 422, 'name');
    await expectProblem(
      await raw(`/v1/agents/${id}/executions`, 'POST', '{"input":"hello\\u0000"}'),
      422,
      'input',
    );
    await expectProblem(
      await raw(`/v1/agents/${id}/executions`, 'POST', '{"input":{"q":"\\u0000"},"metadata":{"m":1}}'),
      422,
      'input.q',
    );
    await expectProblem(
      await raw(
        '/v1/workflows',
        'POST',
        `{"name":"w\\u0000","steps":[{"key":"a","agent_id":"${id}","input":"x"}]}`,
      ),
      422,
      'name',
    );
    const agent = (await (await api().call(`/v1/agents/${id}`)).json()) as { name: string };
    expect(agent.name).toBe('test agent');
  });

  it('refuses NUL and unpaired surrogates in the query string with a 400 naming the parameter', async () => {
    await expectProblem(await api().call('/v1/workflows?q=%00'), 400, 'q');
    await expectProblem(await api().call('/v1/workflows?q=abc%00def'), 400, 'q');
    await expectProblem(await api().call('/v1/agents?status=%00'), 400, 'status');
    // Percent-encoded lone surrogates are not UTF-8: passed on as sent, and refused as unknown values.
    await expectProblem(await api().call('/v1/agents?status=%ED%A0%80'), 400, 'status');
    expect((await api().call('/v1/workflows?q=%ED%A0%80')).status).toBe(200);
    // Year 0 parses in JS but not in PostgreSQL.
    await expectProblem(await api().call('/v1/usage?to=0000-01-01&from=0000-01-01'), 400, 'to');
  });

  it('refuses unpaired surrogates instead of storing U+FFFD', async () => {
    for (const [text, field] of [
      [agentBody('"configuration":{"s":"\\ud800"}'), 'configuration.s'],
      ['{"name":"\\udc00x","model":"m","system_prompt":"p"}', 'name'],
      [agentBody('"configuration":{"\\ud83d":1}'), undefined],
    ] as const) {
      await expectProblem(await raw('/v1/agents', 'POST', text), 422, field);
    }
    // A paired surrogate (an emoji) is ordinary text and round-trips exactly.
    const created = await raw('/v1/agents', 'POST', agentBody('"configuration":{"s":"\\ud83d\\ude00"}'));
    expect(created.status).toBe(201);
    expect(((await created.json()) as { configuration: { s: string } }).configuration.s).toBe('😀');
  });

  it('refuses JSON nested 5,000 deep before parsing it, and 65 deep; accepts 64', async () => {
    const id = await createTestAgent(api());
    await expectProblem(
      await raw(`/v1/agents/${id}/executions`, 'POST', `{"input":${nested(5_000)}}`),
      422,
      '(body)',
    );
    await expectProblem(await raw('/v1/agents', 'POST', agentBody(`"configuration":${nested(64)}`)), 422);
    const ok = await raw('/v1/agents', 'POST', agentBody(`"configuration":${nested(62)}`));
    expect(ok.status).toBe(201);
  });

  it('refuses __proto__, constructor and prototype keys instead of dropping them', async () => {
    for (const key of ['__proto__', 'constructor', 'prototype']) {
      await expectProblem(
        await raw('/v1/agents', 'POST', agentBody(`"configuration":{"${key}":{"admin":true}}`)),
        422,
        `configuration.${key}`,
      );
    }
    const id = await createTestAgent(api());
    await expectProblem(
      await raw(`/v1/agents/${id}`, 'PATCH', '{"configuration":{"__proto__":{"x":1}}}'),
      422,
      'configuration.__proto__',
    );
  });

  it('refuses numbers that overflow to Infinity instead of storing null', async () => {
    await expectProblem(
      await raw('/v1/agents', 'POST', agentBody('"configuration":{"temperature":1e309}')),
      422,
      'configuration.temperature',
    );
    const id = await createTestAgent(api());
    await expectProblem(
      await raw(`/v1/agents/${id}/executions`, 'POST', '{"input":{"n":-1e400}}'),
      422,
      'input.n',
    );
  });

  it('refuses forged cursors outside 1970..9999 on every paginated route with a 400', async () => {
    const agentId = await createTestAgent(api());
    const workflow = await api().call('/v1/workflows', {
      method: 'POST',
      json: { name: 'cursor probe', steps: [{ key: 'a', agent_id: agentId, input: 'x' }] },
    });
    expect(workflow.status).toBe(201);
    const workflowId = ((await workflow.json()) as { id: string }).id;
    const id = '0190a5f4-7b2c-7d3e-8f40-123456789abc';
    const forged = [
      forgeCursor(['-004714-11-23T00:00:00.000Z', id]),
      forgeCursor(['-271821-04-20T00:00:00.000Z', id]),
      forgeCursor(['+275760-09-13T00:00:00.000Z', id]),
      forgeCursor(['+010000-01-01T00:00:00.000Z', id]),
      forgeCursor(['1969-12-31T23:59:59.999Z', id]),
    ];
    const paginated = [
      '/v1/agents',
      `/v1/agents/${agentId}/executions`,
      '/v1/workflows',
      `/v1/workflows/${workflowId}/executions`,
      '/v1/audit',
    ];
    for (const path of paginated) {
      for (const cursor of forged)
        await expectProblem(await api().call(`${path}?cursor=${cursor}`), 400, 'cursor');
      // A cursor in range still pages, upper-case id and all.
      const fine = encodeCursor({ createdAt: new Date(), id: id.toUpperCase() });
      expect((await api().call(`${path}?cursor=${fine}`)).status, path).toBe(200);
    }
  });

  it('serves an agent through one cache entry whatever the letter case of its id', async () => {
    const id = await createTestAgent(api());
    const upper = id.toUpperCase();
    const mixed = id.slice(0, 18).toUpperCase() + id.slice(18);
    // Warm whatever an id in another spelling would cache.
    for (const spelling of [upper, mixed]) {
      const got = await api().call(`/v1/agents/${spelling}`);
      expect(got.status).toBe(200);
      expect(((await got.json()) as { id: string }).id).toBe(id);
    }
    const paused = await api().call(`/v1/agents/${id}`, { method: 'PATCH', json: { status: 'paused' } });
    expect(paused.status).toBe(200);
    for (const spelling of [upper, mixed]) {
      const got = await api().call(`/v1/agents/${spelling}`);
      expect(((await got.json()) as { status: string }).status).toBe('paused');
      expect(got.headers.get('etag')).toBe(paused.headers.get('etag'));
    }
    // A paused agent runs nothing, whichever spelling asks.
    const run = await api().call(`/v1/agents/${upper}/executions`, { method: 'POST', json: { input: 'hi' } });
    await expectProblem(run, 409);

    // The upper-case spelling writes the same resource too.
    const resumed = await api().call(`/v1/agents/${upper}`, { method: 'PATCH', json: { status: 'active' } });
    expect(resumed.status).toBe(200);
    expect(((await (await api().call(`/v1/agents/${id}`)).json()) as { status: string }).status).toBe(
      'active',
    );

    expect((await api().call(`/v1/agents/${id}`, { method: 'DELETE' })).status).toBe(204);
    for (const spelling of [upper, mixed]) {
      await expectProblem(await api().call(`/v1/agents/${spelling}`), 404);
      await expectProblem(
        await api().call(`/v1/agents/${spelling}/executions`, { method: 'POST', json: { input: 'hi' } }),
        404,
      );
    }
  });

  it('serves a workflow through one cache entry whatever the letter case of its id', async () => {
    const agentId = await createTestAgent(api());
    // A step's agent id in upper case names the same agent, and is stored canonical.
    const created = await api().call('/v1/workflows', {
      method: 'POST',
      json: { name: 'case probe', steps: [{ key: 'a', agent_id: agentId.toUpperCase(), input: 'x' }] },
    });
    expect(created.status).toBe(201);
    const { id } = (await created.json()) as { id: string };
    const withSteps = (await (await api().call(`/v1/workflows/${id}?include=steps`)).json()) as {
      steps: { agent_id: string }[];
    };
    expect(withSteps.steps[0]?.agent_id).toBe(agentId);
    const upper = id.toUpperCase();
    expect(((await (await api().call(`/v1/workflows/${upper}`)).json()) as { name: string }).name).toBe(
      'case probe',
    );
    const renamed = await api().call(`/v1/workflows/${id}`, { method: 'PATCH', json: { name: 'renamed' } });
    expect(renamed.status).toBe(200);
    const got = await api().call(`/v1/workflows/${upper}?include=steps`);
    expect(((await got.json()) as { name: string }).name).toBe('renamed');
    expect(got.headers.get('etag')).toBe(renamed.headers.get('etag'));
    expect((await api().call(`/v1/workflows/${id}`, { method: 'DELETE' })).status).toBe(204);
    await expectProblem(await api().call(`/v1/workflows/${upper}`), 404);
    await expectProblem(
      await api().call(`/v1/workflows/${upper}/executions`, { method: 'POST', json: { input: 'x' } }),
      404,
    );
  });

  it('answers 404 for other spellings of an id and for another tenant’s id', async () => {
    const id = await createTestAgent(api());
    for (const spelling of [`{${id}}`, `urn:uuid:${id}`, `%20${id}`, id.replaceAll('-', ''), `${id}%00`]) {
      const response = await api().call(`/v1/agents/${spelling}`);
      expect(response.status, spelling).toBeLessThan(500);
      await expectProblem(response, response.status);
      expect([400, 404]).toContain(response.status);
    }
    await expectProblem(await api().call(`/v1/agents/${id.toUpperCase()}`, { key: globexKey }), 404);
  });
};
