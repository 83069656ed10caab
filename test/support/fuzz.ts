import { request as httpRequest } from 'node:http';
import { expect, it } from 'vitest';
import { encodeCursor } from '#domain/cursor.ts';
import { type RouteDef, routes } from '#manifest';
import { acmeKey, adminKey, createTestAgent, globexKey, type TestApi } from './api.ts';

/**
 * A seeded fuzz over every route of the manifest: hostile bodies, query strings, headers and ids
 * in every spelling. What it asserts is the API's promise about a client's mistakes: never a 5xx,
 * and every 4xx an RFC 9457 problem (application/problem+json with type, title and status).
 */

/** mulberry32: a tiny seeded PRNG, so every run sends the same requests. */
export const seededRandom = (seed: number): (() => number) => {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
};

interface Fixtures {
  readonly agentId: string;
  readonly workflowId: string;
  readonly executionId: string;
  readonly workflowRunId: string;
  readonly otherTenantAgentId: string;
  readonly cursor: string;
}

export interface FuzzRequest {
  readonly method: string;
  /** Path and raw query string, sent as written (percent escapes included). */
  readonly target: string;
  readonly headers: Record<string, string>;
  readonly body?: string;
  readonly note: string;
}

export interface FuzzFailure {
  readonly request: string;
  readonly status: number;
  readonly problem: string;
}

const uuidOf = (n: number) => `0190a5f4-7b2c-7d3e-8f40-${n.toString(16).padStart(12, '0')}`;

/** Markers replaced in the serialised body by JSON that JSON.stringify cannot write. */
const rawLiterals: Record<string, string> = {
  '"@@INF@@"': '1e309',
  '"@@NEGINF@@"': '-1e400',
  '"@@BIGINT@@"': '123456789012345678901234567890',
  '"@@TINY@@"': '1e-400',
  '"@@NUL@@"': '"a\\u0000b"',
  '"@@LONE@@"': '"x\\ud800y"',
  '"@@LOWLONE@@"': '"\\udfff"',
  '"@@ESCAPEDPROTO@@"': '{"\\u005f_proto__":{"polluted":true}}',
};
const withRawLiterals = (json: string): string =>
  json.replace(/"@@[A-Z]+@@"/g, (marker) => rawLiterals[marker] ?? marker);

const deep = (depth: number): string => `${'['.repeat(depth)}${']'.repeat(depth)}`;
const deepObject = (depth: number): string => `${'{"a":'.repeat(depth)}null${'}'.repeat(depth)}`;

/** Every field any route's body reads, so the generator hits the schemas' real keys. */
const bodyFields = [
  'name',
  'model',
  'system_prompt',
  'configuration',
  'status',
  'webhook_url',
  'input',
  'metadata',
  'steps',
  'description',
  'on_step_failure',
];

/** Every query parameter any route reads, and a few it does not. */
const queryParams = [
  'limit',
  'cursor',
  'fields',
  'status',
  'q',
  'include',
  'wait',
  'from',
  'to',
  'unknown',
  'limit[]',
  '%00',
];

/** The query parameters each route reads. */
const routeQuery: Record<string, readonly string[]> = {
  'GET /v1/agents': ['limit', 'cursor', 'fields', 'status'],
  'GET /v1/agents/{id}/executions': ['limit', 'cursor', 'status'],
  'POST /v1/agents/{id}/executions': ['wait'],
  'GET /v1/workflows': ['limit', 'cursor', 'q'],
  'GET /v1/workflows/{id}': ['include'],
  'POST /v1/workflows/{id}/executions': ['wait'],
  'GET /v1/workflows/{id}/executions': ['limit', 'cursor', 'status'],
  'GET /v1/usage': ['from', 'to'],
  'GET /v1/audit': ['limit', 'cursor'],
  'GET /v1/admin/dlq/{queue}': ['limit'],
  'POST /v1/admin/dlq/{queue}/redrive': ['limit'],
};

const pick = <T>(random: () => number, items: readonly T[]): T => items[Math.floor(random() * items.length)]!;

export const buildFuzzRequests = (fixtures: Fixtures, seed: number, perRoute: number): FuzzRequest[] => {
  const random = seededRandom(seed);
  const id = fixtures.agentId;
  const forged = (payload: unknown) => Buffer.from(JSON.stringify(payload), 'utf8').toString('base64url');

  const idSpellings = (canonical: string): string[] => [
    canonical,
    canonical.toUpperCase(),
    canonical.slice(0, 13).toUpperCase() + canonical.slice(13),
    `%7B${canonical}%7D`,
    `urn:uuid:${canonical}`,
    `%20${canonical}`,
    `${canonical}%20`,
    `%09${canonical}`,
    canonical.replaceAll('-', ''),
    `${canonical}%00`,
    '%00',
    '%ED%A0%80',
    '%F0%9F%98%80',
    '%FF%FE',
    '%',
    '%zz',
    'not-a-uuid',
    '00000000-0000-0000-0000-000000000000',
    'ffffffff-ffff-ffff-ffff-ffffffffffff',
    fixtures.otherTenantAgentId,
    fixtures.otherTenantAgentId.toUpperCase(),
    fixtures.executionId,
    fixtures.workflowId,
    fixtures.workflowRunId,
    '%27%3B%20DROP%20TABLE%20agents%3B%20--',
    '%2e%2e',
    '..%2F..%2Fetc%2Fpasswd',
    'a'.repeat(2_000),
    '1e309',
    '-1',
  ];
  const queueSpellings = ['high', 'default', 'low', 'HIGH', 'nope', '%00', '%ED%A0%80', 'high%20', ''];

  const queryValues = (name: string): string[] => {
    const common = [
      '',
      '%00',
      'a%00b',
      '%ED%A0%80',
      '%C0%80',
      '%FF',
      '%',
      '%zz',
      '+',
      '%20',
      'a'.repeat(4_000),
      '%F0%9F%98%80',
      'null',
      'undefined',
      '[]',
      '{}',
    ];
    switch (name) {
      case 'limit':
      case 'wait':
        return [
          ...common,
          '0',
          '1',
          '-1',
          '100',
          '101',
          '1e3',
          '0x10',
          '1.5',
          '9999999999',
          ' 5',
          '5,6',
          'Infinity',
        ];
      case 'cursor':
        return [
          ...common,
          fixtures.cursor,
          encodeCursor({ createdAt: new Date(), id: id.toUpperCase() }),
          forged(['-004714-11-23T00:00:00.000Z', id]),
          forged(['+275760-09-13T00:00:00.000Z', id]),
          forged(['-271821-04-20T00:00:00.000Z', id]),
          forged(['+010000-01-01T00:00:00.000Z', id]),
          forged(['0000-01-01T00:00:00.000Z', id]),
          forged(['2024-01-01T00:00:00.000Z', `${id}\u0000`]),
          forged(['2024-01-01T00:00:00.000Z', 'x'.repeat(30)]),
          forged(['2024-01-01T00:00:00.000Z\u0000', id]),
          forged({ __proto__: 1 }),
          forged([1e308, id]),
          'AAAA',
          '____',
          'eyJ',
          `${fixtures.cursor}=`,
        ];
      case 'fields':
        return [
          ...common,
          'id',
          'name,status',
          'name,,status',
          'password',
          'id,%00',
          ' name ',
          'a,'.repeat(500),
        ];
      case 'status':
        return [...common, 'active', 'paused', 'queued', 'running', 'succeeded', 'ACTIVE', 'active,paused'];
      case 'q':
        return [...common, 'Res', '%25', '_', '%5C', "'", 'a'.repeat(201), '%E2%80%AE', '%ED%9F%BF'];
      case 'include':
        return [...common, 'steps', 'STEPS', 'steps,steps'];
      case 'from':
      case 'to':
        return [
          ...common,
          '2026-01-01',
          '2026-02-30',
          '0000-01-01',
          '9999-12-31',
          '-001000-01-01',
          '%2B275760-09-13',
          '1970-01-01',
          '2026-1-1',
          '20260101',
        ];
      default:
        return common;
    }
  };

  const hostileStrings = [
    '',
    ' ',
    '@@NUL@@',
    '@@LONE@@',
    '@@LOWLONE@@',
    'x'.repeat(100_001),
    'x'.repeat(250_000),
    '😀'.repeat(1_000),
    '\u202e\u200b',
    "'; DROP TABLE agents; --",
    '{{steps.a.output}}',
    '{{input}}',
    'https://127.0.0.1/hook',
    'http://169.254.169.254/latest/meta-data',
    'https://example.com/hook',
    'active',
    'paused',
    'continue',
  ];
  const hostileValue = (depth = 0): unknown => {
    // Kinds 0–6 are leaves; 12 and 13 are the gate's own cases again, for weight.
    const kind = Math.floor(random() * (depth > 2 ? 7 : 14));
    switch (kind) {
      case 12:
      case 13:
        return pick(random, ['@@NUL@@', '@@LONE@@', '@@LOWLONE@@', '@@INF@@', '@@ESCAPEDPROTO@@']);
      case 0:
      case 1:
        return pick(random, hostileStrings);
      case 2:
        return pick(random, [
          0,
          -0,
          1,
          -1,
          1.5,
          1e308,
          -1e308,
          5e-324,
          2 ** 53 + 1,
          '@@INF@@',
          '@@NEGINF@@',
          '@@BIGINT@@',
          '@@TINY@@',
        ]);
      case 3:
        return pick(random, [true, false, null]);
      case 4:
        return pick(random, ['@@NUL@@', '@@LONE@@', '@@ESCAPEDPROTO@@']);
      case 5:
        return [];
      case 6:
        return {};
      case 7:
        return Object.fromEntries(
          pick(random, [['__proto__'], ['constructor'], ['prototype'], ['toString'], ['a', 'b']]).map((k) => [
            k,
            hostileValue(depth + 1),
          ]),
        );
      case 8:
        return Array.from({ length: Math.floor(random() * 4) }, () => hostileValue(depth + 1));
      case 9:
        return [
          {
            key: pick(random, ['a', 'b', '1', '', '@@NUL@@']),
            agent_id: pick(random, [id, id.toUpperCase(), fixtures.otherTenantAgentId, 'x']),
            input: hostileValue(depth + 1),
          },
        ];
      case 10:
        return Object.fromEntries(Array.from({ length: 1_001 }, (_, i) => [`k${i}`, i]));
      default:
        return new Array(10_001).fill(0);
    }
  };

  /** A body the route would accept, for mutations to reach past the schema into storage. */
  const validBody = (route: RouteDef): Record<string, unknown> => {
    const key = `${route.method} ${route.path}`;
    switch (key) {
      case 'POST /v1/agents':
        return {
          name: 'fuzz',
          model: 'gpt-4o-mini',
          system_prompt: 'p',
          configuration: { temperature: 0.2 },
        };
      case 'PATCH /v1/agents/{id}':
        return { name: 'fuzz renamed', configuration: { t: 1 } };
      case 'POST /v1/workflows':
        return {
          name: 'fuzz flow',
          description: 'd',
          steps: [{ key: 'a', agent_id: id, input: 'x {{input}}' }],
        };
      case 'PATCH /v1/workflows/{id}':
        return { name: 'fuzz flow renamed', description: 'd' };
      case 'POST /v1/agents/{id}/executions':
      case 'POST /v1/workflows/{id}/executions':
        return { input: { topic: 'x' }, metadata: { m: 1 } };
      default:
        return {};
    }
  };
  /** Where a mutation may land in a valid body: its fields, and inside its open-ended objects. */
  const mutationPaths: readonly (readonly (string | number)[])[] = [
    ['name'],
    ['model'],
    ['system_prompt'],
    ['description'],
    ['webhook_url'],
    ['status'],
    ['input'],
    ['input', 'topic'],
    ['input', 'nested', 'deeper'],
    ['metadata', 'm'],
    ['metadata', '__proto__'],
    ['configuration', 'temperature'],
    ['configuration', 'k'],
    ['configuration', 'constructor'],
    ['steps', 0, 'input'],
    ['steps', 0, 'key'],
    ['steps', 0, 'agent_id'],
    ['steps', 0, 'depends_on'],
    ['on_step_failure'],
  ];
  const setPath = (target: Record<string, unknown>, path: readonly (string | number)[], value: unknown) => {
    let node: Record<string | number, unknown> = target;
    for (let i = 0; i < path.length - 1; i++) {
      const step = path[i]!;
      const existing = node[step];
      if (typeof existing !== 'object' || existing === null) {
        node[step] = typeof path[i + 1] === 'number' ? [] : {};
      }
      node = node[step] as Record<string | number, unknown>;
    }
    // defineProperty: a `__proto__` key must become a key of the JSON, not the object's prototype.
    Object.defineProperty(node, path[path.length - 1]!, {
      value,
      enumerable: true,
      writable: true,
      configurable: true,
    });
  };

  const hostileBody = (route: RouteDef): { body: string; note: string } => {
    const roll = random();
    if (roll < 0.55) {
      const body = validBody(route);
      const mutations = 1 + Math.floor(random() * 2);
      const notes: string[] = [];
      for (let m = 0; m < mutations; m++) {
        const path = pick(random, mutationPaths);
        const value = hostileValue();
        setPath(body, path, value);
        notes.push(`${path.join('.')}=${String(JSON.stringify(value)).slice(0, 30)}`);
      }
      return { body: withRawLiterals(JSON.stringify(body)), note: `mutated ${notes.join(' ')}` };
    }
    if (roll < 0.75) {
      return pick(random, [
        { body: '', note: 'empty' },
        { body: 'null', note: 'null' },
        { body: 'true', note: 'true' },
        { body: '42', note: 'number' },
        { body: '"text"', note: 'string' },
        { body: '[]', note: 'array' },
        { body: '{}', note: 'empty object' },
        { body: '{', note: 'truncated' },
        { body: 'not json at all', note: 'not json' },
        { body: '{"a":1} trailing', note: 'trailing garbage' },
        { body: "{'a':1}", note: 'single quotes' },
        { body: '{"a":NaN}', note: 'NaN' },
        { body: '{"input":1e309}', note: '1e309' },
        { body: '{"input":"\\u0000"}', note: 'NUL input' },
        { body: '{"input":"\\ud800"}', note: 'lone surrogate input' },
        { body: '{"input":{"__proto__":{"x":1}}}', note: '__proto__ input' },
        { body: `{"input":${deep(5_000)}}`, note: 'deep 5000' },
        { body: `{"input":${deepObject(65)}}`, note: 'deep 65' },
        { body: deep(200_000), note: 'deep 200000' },
        { body: `{"input":"${'x'.repeat(262_100)}"}`, note: 'just under 256 KB' },
        { body: `{"input":"${'x'.repeat(300_000)}"}`, note: 'over 256 KB' },
        { body: '\uFEFF{"input":"x"}', note: 'BOM' },
        { body: `{"input":"x","input":"y"}`, note: 'duplicate key' },
        { body: '{"input":"x"}\u0000', note: 'raw NUL after' },
      ]);
    }
    const fields: Record<string, unknown> = {};
    for (const field of bodyFields) if (random() < 0.35) fields[field] = hostileValue();
    if (random() < 0.2) fields[pick(random, ['__proto__', 'extra', 'id', 'tenant_id'])] = hostileValue();
    return { body: withRawLiterals(JSON.stringify(fields)), note: `fields ${Object.keys(fields).join(',')}` };
  };

  const contentTypes = [
    'application/json',
    'application/json',
    'application/json',
    'application/json; charset=utf-8',
    'APPLICATION/JSON',
    'application/json; charset=utf-16',
    'application/problem+json',
    'application/vnd.api+json',
    'text/plain',
    'text/json',
    'application/x-www-form-urlencoded',
    'multipart/form-data; boundary=x',
    'application/octet-stream',
    'application/jsonx',
    'json',
  ];
  const odd = {
    'idempotency-key': ['', ' ', 'k'.repeat(256), 'é', 'key with spaces', 'fuzz-key-1', 'fuzz-key-2', '\t'],
    'if-match': [
      '*',
      '"v1"',
      '"v2"',
      'W/"v1"',
      '"v1-steps"',
      '"v99999999999"',
      '"v-1"',
      'garbage',
      '"v1", "v2"',
      '',
    ],
    'if-none-match': ['*', '"v1"', 'W/"v1"', '"v1-steps"', 'garbage', '""', ','],
    accept: ['*/*', 'application/xml', 'text/html', 'application/problem+json', '', 'application/json;q=0'],
    'accept-encoding': ['br', 'gzip', 'gzip;q=0, br;q=0', 'identity', 'x;q=abc', '*', 'br;q=NaN'],
    'x-request-id': ['ok-id', '', 'a'.repeat(500), 'é', 'id with space'],
  } as const;

  const requests: FuzzRequest[] = [];
  const authFor = (route: RouteDef): Record<string, string> => {
    if (route.auth === 'none') return {};
    const key = route.auth === 'admin' ? adminKey : acmeKey;
    const roll = random();
    // Mostly a valid key, so the gate past authentication is reached.
    if (roll < 0.04) return {};
    if (roll < 0.06) return { authorization: `Bearer ${route.auth === 'admin' ? acmeKey : 'wrong-key'}` };
    return { authorization: `Bearer ${key}` };
  };
  const pathWith = (route: RouteDef, spell: (param: string) => string): string =>
    route.path.replace(/\{([^}]+)\}/g, (_, param: string) => spell(param));
  const fixtureFor = (route: RouteDef): string =>
    route.path.startsWith('/v1/workflow-executions')
      ? fixtures.workflowRunId
      : route.path.startsWith('/v1/workflows')
        ? fixtures.workflowId
        : route.path.startsWith('/v1/executions')
          ? fixtures.executionId
          : id;
  const paramSpelling =
    (route: RouteDef) =>
    (param: string): string => {
      if (param === 'queue') return random() < 0.7 ? 'high' : pick(random, queueSpellings);
      const own = fixtureFor(route);
      // Mostly the resource the route serves, so the request gets past the lookup.
      if (random() < 0.6) return own;
      return pick(random, idSpellings(pick(random, [own, id, fixtures.workflowId, fixtures.executionId])));
    };

  for (const route of routes as readonly RouteDef[]) {
    const takesBody = route.method === 'POST' || route.method === 'PATCH';
    // Every spelling of an id on every route with one: a fixed cross product.
    if (route.path.includes('{id}')) {
      const canonical = fixtureFor(route);
      for (const spelling of idSpellings(canonical)) {
        requests.push({
          method: route.method,
          target: pathWith(route, () => spelling),
          headers: { ...authFor(route), ...(takesBody && { 'content-type': 'application/json' }) },
          ...(takesBody && { body: route.path.endsWith('/executions') ? '{"input":"hi"}' : '{}' }),
          note: `id spelling ${spelling.slice(0, 40)}`,
        });
      }
    }
    if (route.path.includes('{queue}')) {
      for (const spelling of queueSpellings.filter((s) => s !== '')) {
        requests.push({
          method: route.method,
          target: pathWith(route, () => spelling),
          headers: authFor(route),
          note: `queue ${spelling}`,
        });
      }
    }
    for (let n = 0; n < perRoute; n++) {
      const headers: Record<string, string> = { ...authFor(route) };
      const query: string[] = [];
      const reads = routeQuery[`${route.method} ${route.path}`] ?? [];
      const params = Math.floor(random() * 4);
      for (let p = 0; p < params; p++) {
        // Mostly the parameters the route reads, so values reach its parser and its queries.
        const name = reads.length > 0 && random() < 0.75 ? pick(random, reads) : pick(random, queryParams);
        query.push(`${name}=${pick(random, queryValues(name))}`);
      }
      for (const [name, values] of Object.entries(odd)) {
        if (random() < 0.15) headers[name] = pick(random, values);
      }
      // The wait a valid query could ask for is held with no workers: keep it short.
      const target =
        `${pathWith(route, paramSpelling(route))}${query.length > 0 ? `?${query.join('&')}` : ''}`.replace(
          /wait=(\d{1,9})(?=&|$)/,
          (whole, seconds: string) => (Number(seconds) > 1 ? 'wait=1' : whole),
        );
      const wrongMethod = random() < 0.04;
      const method = wrongMethod ? pick(random, ['PUT', 'DELETE', 'PATCH', 'GET', 'OPTIONS']) : route.method;
      let body: string | undefined;
      let note = 'no body';
      if (takesBody || random() < 0.1) {
        const generated = hostileBody(route);
        body = generated.body;
        note = generated.note;
        if (random() < 0.85) headers['content-type'] = pick(random, contentTypes);
      }
      requests.push({ method, target, headers, ...(body !== undefined && body !== '' && { body }), note });
    }
  }
  // Deletes last: the fixtures stay for the other routes' requests.
  return [...requests.filter((r) => r.method !== 'DELETE'), ...requests.filter((r) => r.method === 'DELETE')];
};

/** Creates what the requests refer to: an agent, a workflow, an execution and a run of each tenant. */
export const createFuzzFixtures = async (api: TestApi): Promise<Fixtures> => {
  const agentId = await createTestAgent(api);
  await createTestAgent(api);
  const otherTenantAgentId = await createTestAgent(api, {}, globexKey);
  const workflow = await api.call('/v1/workflows', {
    method: 'POST',
    json: { name: 'Fuzz flow', steps: [{ key: 'a', agent_id: agentId, input: 'x {{input}}' }] },
  });
  expect(workflow.status).toBe(201);
  const workflowId = ((await workflow.json()) as { id: string }).id;
  const execution = await api.call(`/v1/agents/${agentId}/executions`, {
    method: 'POST',
    json: { input: 'hi' },
  });
  expect(execution.status).toBe(202);
  const executionId = ((await execution.json()) as { id: string }).id;
  const run = await api.call(`/v1/workflows/${workflowId}/executions`, {
    method: 'POST',
    json: { input: 'hi' },
  });
  expect(run.status).toBe(202);
  const workflowRunId = ((await run.json()) as { id: string }).id;
  const page = (await (await api.call('/v1/agents?limit=1')).json()) as { next_cursor: string | null };
  return {
    agentId,
    workflowId,
    executionId,
    workflowRunId,
    otherTenantAgentId,
    cursor: page.next_cursor ?? encodeCursor({ createdAt: new Date(), id: uuidOf(1) }),
  };
};

const describeRequest = (request: FuzzRequest): string =>
  `${request.method} ${request.target.slice(0, 160)} [${request.note.slice(0, 80)}] ${JSON.stringify(request.headers).slice(0, 200)}`;

/** node:http rather than fetch: any method may carry a body, and the target is sent as written. */
const send = (
  base: string,
  request: FuzzRequest,
): Promise<{ status: number; contentType: string | null; text: string }> =>
  new Promise((resolve, reject) => {
    const req = httpRequest(
      base + request.target,
      {
        method: request.method,
        // Framed: node:http sends a GET's body unframed, which the server reads as a broken next request.
        headers:
          request.body === undefined
            ? request.headers
            : { ...request.headers, 'content-length': String(Buffer.byteLength(request.body)) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            contentType: res.headers['content-type'] ?? null,
            text: Buffer.concat(chunks).toString('utf8'),
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(request.body);
  });

/** Sends the requests, a few at a time, and returns every answer that breaks the promise. */
export const runFuzz = async (
  api: TestApi,
  requests: readonly FuzzRequest[],
  concurrency = 4,
): Promise<{ failures: FuzzFailure[]; statuses: Map<number, number> }> => {
  const failures: FuzzFailure[] = [];
  const statuses = new Map<number, number>();
  let next = 0;
  const worker = async () => {
    while (next < requests.length) {
      const request = requests[next++]!;
      const response = await send(api.url, request);
      const text = response.text;
      statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
      const fail = (problem: string) =>
        failures.push({
          request: describeRequest(request),
          status: response.status,
          problem: `${problem}: ${text.slice(0, 300)}`,
        });
      if (response.status >= 500) {
        fail('server error');
        continue;
      }
      if (response.status < 400) continue;
      if (!/^application\/problem\+json/.test(response.contentType ?? '')) {
        fail(`content-type ${response.contentType}`);
        continue;
      }
      try {
        const body = JSON.parse(text) as Record<string, unknown>;
        if (
          typeof body['type'] !== 'string' ||
          typeof body['title'] !== 'string' ||
          body['status'] !== response.status
        ) {
          fail('problem without type/title/status');
        }
      } catch {
        fail('problem body is not JSON');
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { failures, statuses };
};

/**
 * The fuzz test itself, for a describe block whose runtime `api` answers: a fixed seed, every
 * route of the manifest, no 5xx and a problem+json for every 4xx.
 */
export const fuzzEveryRoute = (api: () => TestApi, options: { seed: number; concurrency?: number }): void => {
  it('answers hostile bodies, queries, headers and ids without a 5xx, every 4xx a problem', async () => {
    const fixtures = await createFuzzFixtures(api());
    const requests = buildFuzzRequests(fixtures, options.seed, 30);
    expect(requests.length).toBeGreaterThan(900);
    const { failures, statuses } = await runFuzz(api(), requests, options.concurrency);
    const summary = `${failures.length} failures; statuses ${JSON.stringify([...statuses].sort((a, b) => a[0] - b[0]))}`;
    expect(failures.slice(0, 15), summary).toEqual([]);
    // The run reached past the gate: successes, and refusals of several kinds.
    for (const status of [200, 400, 404, 422])
      expect(statuses.get(status) ?? 0, String(status)).toBeGreaterThan(0);
  }, 120_000);
};
