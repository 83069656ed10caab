import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { expect, it } from 'vitest';
import { routes } from '#manifest';
import { adminKey, globexKey, queriesOf, type TestApi } from './api.ts';

const uuidV7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const rfc3339Utc = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;

interface AgentBody {
  id: string;
  name: string;
  model: string;
  system_prompt: string;
  configuration: Record<string, unknown>;
  status: string;
  created_at: string;
  updated_at: string;
}

/**
 * The agents API contract, asserted over HTTP through the local gateway. The same tests
 * run against the embedded stand-ins and against real PostgreSQL + Redis.
 */
export const agentsApiContract = (api: () => TestApi): void => {
  let counter = 0;
  const createAgent = async (overrides: Record<string, unknown> = {}, key?: string): Promise<AgentBody> => {
    counter += 1;
    const response = await api().call('/v1/agents', {
      method: 'POST',
      json: { name: `agent ${counter}`, model: 'gpt-4o-mini', system_prompt: 'Be brief.', ...overrides },
      ...(key && { key }),
    });
    expect(response.status).toBe(201);
    return (await response.json()) as AgentBody;
  };
  const countAgents = async (key?: string): Promise<number> => {
    let total = 0;
    let cursor: string | null = null;
    do {
      const response = await api().call(
        `/v1/agents?limit=100&fields=id${cursor ? `&cursor=${cursor}` : ''}`,
        {
          ...(key && { key }),
        },
      );
      const page = (await response.json()) as { data: unknown[]; next_cursor: string | null };
      total += page.data.length;
      cursor = page.next_cursor;
    } while (cursor);
    return total;
  };

  it('creates an agent: 201, Location, the full resource with defaults', async () => {
    const response = await api().call('/v1/agents', {
      method: 'POST',
      json: { name: 'Researcher', model: 'gpt-4o', system_prompt: 'You research topics.' },
    });
    expect(response.status).toBe(201);
    const body = (await response.json()) as AgentBody;
    expect(response.headers.get('location')).toBe(`/v1/agents/${body.id}`);
    expect(body).toEqual({
      id: expect.stringMatching(uuidV7),
      name: 'Researcher',
      model: 'gpt-4o',
      system_prompt: 'You research topics.',
      configuration: {},
      status: 'active',
      webhook_url: null,
      created_at: expect.stringMatching(rfc3339Utc),
      updated_at: expect.stringMatching(rfc3339Utc),
    });
    expect(response.headers.get('etag')).toMatch(/^"v\d+"$/);
  });

  it('gets an agent with ETag, Last-Modified and private caching; If-None-Match answers 304', async () => {
    const created = await createAgent({ configuration: { temperature: 0.2 } });
    const response = await api().call(`/v1/agents/${created.id}`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual(created);
    const etag = response.headers.get('etag')!;
    expect(etag).toBeTruthy();
    expect(new Date(response.headers.get('last-modified')!).toString()).not.toBe('Invalid Date');
    expect(response.headers.get('cache-control')).toMatch(/^private/);

    const revalidated = await api().call(`/v1/agents/${created.id}`, { headers: { 'if-none-match': etag } });
    expect(revalidated.status).toBe(304);
    expect(await revalidated.text()).toBe('');
    expect(revalidated.headers.get('etag')).toBe(etag);
  });

  it('keeps the ETag the same whatever the encoding, and compresses bodies over 1 KB', async () => {
    const created = await createAgent({ system_prompt: 'Think step by step. '.repeat(200) });
    const plain = await api().call(`/v1/agents/${created.id}`, {
      headers: { 'accept-encoding': 'identity' },
    });
    // fetch decodes transparently; ask node:http-level bytes via a raw request instead.
    const raw = async (encoding: string) => {
      const { request } = await import('node:http');
      return new Promise<{ headers: Record<string, unknown>; body: Buffer }>((resolve, reject) => {
        const req = request(
          `${api().url}/v1/agents/${created.id}`,
          {
            headers: { authorization: `Bearer acme-test-key-0123456789abcdef`, 'accept-encoding': encoding },
          },
          (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('end', () => resolve({ headers: res.headers, body: Buffer.concat(chunks) }));
          },
        );
        req.on('error', reject);
        req.end();
      });
    };
    const br = await raw('br');
    const gzip = await raw('gzip');
    expect(br.headers['content-encoding']).toBe('br');
    expect(gzip.headers['content-encoding']).toBe('gzip');
    expect(JSON.parse(brotliDecompressSync(br.body).toString())).toEqual(created);
    expect(JSON.parse(gunzipSync(gzip.body).toString())).toEqual(created);
    expect(br.body.length).toBeLessThan(JSON.stringify(created).length / 5);
    expect(br.headers['etag']).toBe(plain.headers.get('etag'));
    expect(gzip.headers['etag']).toBe(plain.headers.get('etag'));

    const small = await createAgent();
    const smallRaw = await api().call(`/v1/agents/${small.id}`, { headers: { 'accept-encoding': 'br' } });
    expect(smallRaw.headers.get('content-encoding')).toBeNull();
  });

  it('patches partially, changes the ETag on every change, and honours If-Match', async () => {
    const created = await createAgent({ configuration: { a: 1 } });
    const first = await api().call(`/v1/agents/${created.id}`);
    const etag1 = first.headers.get('etag')!;

    const patched = await api().call(`/v1/agents/${created.id}`, {
      method: 'PATCH',
      json: { name: 'Renamed', status: 'paused' },
      headers: { 'if-match': etag1 },
    });
    expect(patched.status).toBe(200);
    const body = (await patched.json()) as AgentBody;
    expect(body).toMatchObject({
      name: 'Renamed',
      status: 'paused',
      model: created.model,
      configuration: { a: 1 },
    });
    expect(new Date(body.updated_at).getTime()).toBeGreaterThan(new Date(created.updated_at).getTime());
    const etag2 = patched.headers.get('etag')!;
    expect(etag2).not.toBe(etag1);

    // A stale If-Match changes nothing.
    const stale = await api().call(`/v1/agents/${created.id}`, {
      method: 'PATCH',
      json: { name: 'Lost update' },
      headers: { 'if-match': etag1 },
    });
    expect(stale.status).toBe(412);
    expect(stale.headers.get('content-type')).toBe('application/problem+json');
    const after = await api().call(`/v1/agents/${created.id}`);
    expect(((await after.json()) as AgentBody).name).toBe('Renamed');
    expect(after.headers.get('etag')).toBe(etag2);

    // Without If-Match the write goes through; the old ETag no longer revalidates.
    const third = await api().call(`/v1/agents/${created.id}`, {
      method: 'PATCH',
      json: { configuration: {} },
    });
    expect(third.status).toBe(200);
    expect(((await third.json()) as AgentBody).configuration).toEqual({});
    const recheck = await api().call(`/v1/agents/${created.id}`, { headers: { 'if-none-match': etag2 } });
    expect(recheck.status).toBe(200);
  });

  it('deletes softly: 204, then 404 on every route, and gone from the list', async () => {
    const created = await createAgent();
    const deleted = await api().call(`/v1/agents/${created.id}`, { method: 'DELETE' });
    expect(deleted.status).toBe(204);
    expect(await deleted.text()).toBe('');
    expect((await api().call(`/v1/agents/${created.id}`)).status).toBe(404);
    expect(
      (await api().call(`/v1/agents/${created.id}`, { method: 'PATCH', json: { name: 'x' } })).status,
    ).toBe(404);
    expect((await api().call(`/v1/agents/${created.id}`, { method: 'DELETE' })).status).toBe(404);
    const list = await api().call('/v1/agents?limit=100&fields=id');
    const ids = ((await list.json()) as { data: { id: string }[] }).data.map((a) => a.id);
    expect(ids).not.toContain(created.id);
  });

  it('lists newest first with keyset cursors that visit every agent once', async () => {
    const made: string[] = [];
    for (let i = 0; i < 7; i += 1) made.push((await createAgent({ name: `page ${i}` })).id);
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const response = await api().call(`/v1/agents?limit=3${cursor ? `&cursor=${cursor}` : ''}`);
      expect(response.status).toBe(200);
      const page = (await response.json()) as {
        data: { id: string; created_at: string }[];
        next_cursor: string | null;
      };
      expect(page.data.length).toBeLessThanOrEqual(3);
      seen.push(...page.data.map((a) => a.id));
      cursor = page.next_cursor;
      pages += 1;
    } while (cursor && pages < 100);
    expect(new Set(seen).size).toBe(seen.length);
    // Newest first: the seven just made come first, in reverse order of creation.
    expect(seen.slice(0, 7)).toEqual([...made].reverse());
    expect(seen.length).toBe(await countAgents());
  });

  it('pushes fields down, always includes id, filters by status, reports execution statistics', async () => {
    const paused = await createAgent({ name: 'sleeper' });
    await api().call(`/v1/agents/${paused.id}`, { method: 'PATCH', json: { status: 'paused' } });
    const response = await api().call('/v1/agents?fields=name,execution_count,last_execution_at&limit=5');
    const page = (await response.json()) as { data: Record<string, unknown>[] };
    expect(page.data.length).toBeGreaterThan(0);
    for (const item of page.data) {
      expect(Object.keys(item).sort()).toEqual(['execution_count', 'id', 'last_execution_at', 'name']);
      expect(item['execution_count']).toBe(0);
      expect(item['last_execution_at']).toBeNull();
    }
    const pausedOnly = await api().call('/v1/agents?status=paused&limit=100&fields=id,status');
    const pausedItems = ((await pausedOnly.json()) as { data: { id: string; status: string }[] }).data;
    expect(pausedItems.map((a) => a.id)).toContain(paused.id);
    expect(pausedItems.every((a) => a.status === 'paused')).toBe(true);
    const activeOnly = await api().call('/v1/agents?status=active&limit=100&fields=id');
    expect(((await activeOnly.json()) as { data: { id: string }[] }).data.map((a) => a.id)).not.toContain(
      paused.id,
    );
  });

  it('rejects invalid query parameters with 400 and every field error', async () => {
    for (const query of [
      'limit=0',
      'limit=101',
      'limit=abc',
      'limit=1.5',
      'cursor=garbage!',
      'fields=id,secret',
      'status=deleted',
    ]) {
      const response = await api().call(`/v1/agents?${query}`);
      expect(response.status, query).toBe(400);
      expect(response.headers.get('content-type')).toBe('application/problem+json');
    }
    const many = await api().call('/v1/agents?limit=0&status=x&fields=nope');
    const problem = (await many.json()) as { errors: { field: string }[]; status: number; type: string };
    expect(problem.status).toBe(400);
    expect(problem.errors.map((e) => e.field).sort()).toEqual(['fields', 'limit', 'status']);
  });

  it('answers client mistakes with problem+json 4xx and writes nothing', async () => {
    const before = await countAgents();
    const post = (init: RequestInit & { json?: unknown }) =>
      api().call('/v1/agents', { method: 'POST', ...init });

    const malformed = await post({ body: '{"name": ', headers: { 'content-type': 'application/json' } });
    expect(malformed.status).toBe(400);
    expect(((await malformed.json()) as { type: string }).type).toMatch(/malformed-json$/);

    const unknownField = await post({ json: { name: 'a', model: 'm', system_prompt: 'p', temperature: 1 } });
    expect(unknownField.status).toBe(422);
    const unknownProblem = (await unknownField.json()) as { errors: { field: string; detail: string }[] };
    expect(unknownProblem.errors).toContainEqual({ field: 'temperature', detail: 'unknown field' });

    const missing = await post({ json: { name: '' } });
    expect(missing.status).toBe(422);
    const missingFields = ((await missing.json()) as { errors: { field: string }[] }).errors.map(
      (e) => e.field,
    );
    expect(missingFields).toEqual(expect.arrayContaining(['name', 'model', 'system_prompt']));

    const wrongType = await post({ json: { name: 'a', model: 'm', system_prompt: 'p', configuration: [] } });
    expect(wrongType.status).toBe(422);

    const notJson = await post({
      body: 'name=a',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(notJson.status).toBe(415);
    const noType = await post({ body: '{}', headers: { 'content-type': 'text/plain' } });
    expect(noType.status).toBe(415);

    const huge = await post({ json: { name: 'a', model: 'm', system_prompt: 'x'.repeat(300 * 1024) } });
    expect(huge.status).toBe(413);

    const badPatch = await api().call(`/v1/agents/${(await createAgent()).id}`, {
      method: 'PATCH',
      json: { status: 'archived' },
    });
    expect(badPatch.status).toBe(422);
    for (const response of [malformed, unknownField, missing, wrongType, notJson, noType, huge, badPatch]) {
      expect(response.headers.get('content-type')).toBe('application/problem+json');
    }
    // One agent was created above on purpose (for the PATCH); nothing else was written.
    expect(await countAgents()).toBe(before + 1);
  });

  it('answers unknown routes 404 and wrong methods 405 with Allow, as problem+json', async () => {
    const unknown = await api().call('/v1/nothing-here');
    expect(unknown.status).toBe(404);
    expect(unknown.headers.get('content-type')).toBe('application/problem+json');
    const wrongMethod = await api().call('/v1/agents', { method: 'PUT', json: {} });
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.headers.get('allow')).toBe('GET, POST');
    const wrongItemMethod = await api().call('/v1/agents/01a1fc9c-a510-7789-9bbd-f9c15407d510', {
      method: 'POST',
    });
    expect(wrongItemMethod.status).toBe(405);
    expect(wrongItemMethod.headers.get('allow')).toBe('DELETE, GET, PATCH');
    const notAnId = await api().call('/v1/agents/not-a-uuid');
    expect(notAnId.status).toBe(404);
  });

  it('requires a valid API key on every tenant route', async () => {
    const agent = await createAgent();
    const tenantRoutes = routes.filter((r) => r.auth === 'tenant');
    for (const route of tenantRoutes) {
      const path = route.path.replace('{id}', agent.id);
      for (const key of [null, 'wrong-key']) {
        const response = await api().call(path, {
          method: route.method,
          key,
          ...(route.method === 'POST' || route.method === 'PATCH' ? { json: { name: 'x' } } : {}),
        });
        expect(response.status, `${route.method} ${route.path} with ${key}`).toBe(401);
        expect(response.headers.get('www-authenticate')).toBe('Bearer');
      }
    }
    // The 401s changed nothing.
    expect((await api().call(`/v1/agents/${agent.id}`)).status).toBe(200);
  });

  it('serves operator routes only with the operator key', async () => {
    await createAgent({}, globexKey);
    const tenants = await api().call('/v1/admin/tenants', { key: adminKey });
    expect(tenants.status).toBe(200);
    expect(tenants.headers.get('cache-control')).toBe('no-store');
    const body = (await tenants.json()) as { data: { name: string; active_keys: number; agents: number }[] };
    const byName = new Map(body.data.map((t) => [t.name, t]));
    expect(byName.get('acme')?.active_keys).toBe(1);
    expect(byName.get('globex')?.active_keys).toBe(1);
    expect(byName.get('globex')?.agents).toBeGreaterThanOrEqual(1);
    expect(queriesOf(tenants)).toBe(1);
    for (const key of [null, globexKey, 'acme-test-key-0123456789abcdef', `${adminKey}x`]) {
      const denied = await api().call('/v1/admin/tenants', { key });
      expect(denied.status, String(key)).toBe(401);
      expect(denied.headers.get('content-type')).toBe('application/problem+json');
    }
    // The operator key is not a tenant key.
    expect((await api().call('/v1/agents', { key: adminKey })).status).toBe(401);
  });

  it("isolates tenants: another tenant's agent is 404 on every route and never listed", async () => {
    const acmeAgent = await createAgent({ name: 'acme secret' });
    const other = { key: globexKey };
    expect((await api().call(`/v1/agents/${acmeAgent.id}`, other)).status).toBe(404);
    const patch = await api().call(`/v1/agents/${acmeAgent.id}`, {
      ...other,
      method: 'PATCH',
      json: { name: 'pwned' },
    });
    expect(patch.status).toBe(404);
    const del = await api().call(`/v1/agents/${acmeAgent.id}`, { ...other, method: 'DELETE' });
    expect(del.status).toBe(404);
    const globexAgent = await createAgent({ name: 'globex own' }, globexKey);
    const globexList = await api().call('/v1/agents?limit=100&fields=id,name', other);
    const globexItems = ((await globexList.json()) as { data: { id: string; name: string }[] }).data;
    expect(globexItems.map((a) => a.id)).toContain(globexAgent.id);
    expect(globexItems.map((a) => a.name)).not.toContain('acme secret');
    const acmeList = await api().call('/v1/agents?limit=100&fields=id');
    expect(((await acmeList.json()) as { data: { id: string }[] }).data.map((a) => a.id)).not.toContain(
      globexAgent.id,
    );
    // Acme's agent is untouched.
    const intact = await api().call(`/v1/agents/${acmeAgent.id}`);
    expect(((await intact.json()) as AgentBody).name).toBe('acme secret');
  });

  it('counts queries: a cached GET runs none, a list page exactly one', async () => {
    const agent = await createAgent();
    await api().call('/v1/agents?limit=1'); // warms the key lookup
    const cachedGet = await api().call(`/v1/agents/${agent.id}`);
    expect(cachedGet.status).toBe(200);
    expect(queriesOf(cachedGet)).toBe(0);
    const again = await api().call(`/v1/agents/${agent.id}`);
    expect(queriesOf(again)).toBe(0);
    for (const query of ['limit=20', 'limit=5&fields=id,name', 'status=active&fields=id,execution_count']) {
      const list = await api().call(`/v1/agents?${query}`);
      expect(list.status).toBe(200);
      expect(queriesOf(list), query).toBe(1);
    }
    const update = await api().call(`/v1/agents/${agent.id}`, { method: 'PATCH', json: { name: 'counted' } });
    expect(queriesOf(update)).toBe(1);
    // The write stored the new version: the next read is still query-free, and fresh.
    const afterWrite = await api().call(`/v1/agents/${agent.id}`);
    expect(queriesOf(afterWrite)).toBe(0);
    expect(((await afterWrite.json()) as AgentBody).name).toBe('counted');
  });

  it('echoes X-Request-Id, or generates one, on every response', async () => {
    const echoed = await api().call('/v1/agents?limit=1', { headers: { 'x-request-id': 'trace-abc.123' } });
    expect(echoed.headers.get('x-request-id')).toBe('trace-abc.123');
    const generated = await api().call('/v1/agents?limit=1');
    expect(generated.headers.get('x-request-id')).toMatch(/\S{8,}/);
    const errored = await api().call('/v1/agents/x', { key: null, headers: { 'x-request-id': 'err-1' } });
    expect(errored.status).toBe(401);
    expect(errored.headers.get('x-request-id')).toBe('err-1');
  });

  it('serves /health without auth, reporting each dependency', async () => {
    const response = await api().call('/health', { key: null });
    expect(response.status).toBe(200);
    const body = (await response.json()) as { status: string; checks: Record<string, { status: string }> };
    expect(body.checks['database']?.status).toBe('ok');
    expect(body.checks['queues']?.status).toBe('ok');
    expect(body.checks['idempotency']?.status).toBe('ok');
    expect(Object.keys(body.checks).sort()).toEqual(['cache', 'database', 'idempotency', 'queues']);
  });

  it('serves an OpenAPI 3.1 document of every route without auth', async () => {
    const response = await api().call('/openapi.json', { key: null });
    expect(response.status).toBe(200);
    const doc = (await response.json()) as {
      openapi: string;
      paths: Record<string, Record<string, unknown>>;
    };
    expect(doc.openapi).toBe('3.1.0');
    for (const route of routes) {
      expect(
        doc.paths[route.path]?.[route.method.toLowerCase()],
        `${route.method} ${route.path}`,
      ).toBeDefined();
    }
    const create = doc.paths['/v1/agents']?.['post'] as {
      requestBody: {
        content: { 'application/json': { schema: { required: string[]; additionalProperties: boolean } } };
      };
    };
    const schema = create.requestBody.content['application/json'].schema;
    expect(schema.required.sort()).toEqual(['model', 'name', 'system_prompt']);
    expect(schema.additionalProperties).toBe(false);
  });
};
