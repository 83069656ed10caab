import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeleteItemCommand, DynamoDBClient, ScanCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { database } from '#adapters/postgres/db.ts';
import { resetConfig } from '#runtime/config.ts';
import type { LocalRuntime } from '../../bin/local-runtime/runtime.ts';
import { startLocalRuntime } from '../../bin/local-runtime/runtime.ts';
import { acmeKey, globexKey } from './api.ts';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The same JSON with every object's keys in reverse order. */
const reverseKeys = (value: unknown): unknown =>
  Array.isArray(value)
    ? value.map(reverseKeys)
    : value && typeof value === 'object'
      ? Object.fromEntries(
          Object.keys(value)
            .reverse()
            .map((k) => [k, reverseKeys((value as Record<string, unknown>)[k])]),
        )
      : value;

/** One creating POST, with a fresh scope (its own agent or workflow) set up for a test. */
interface Target {
  readonly path: string;
  readonly body: unknown;
  /** Another body: under the same key, refused. */
  readonly other: unknown;
  /** What a first request answers: 201 (creation) or 202 (a start). */
  readonly status: 201 | 202;
  location(id: string): string;
  /** Rows this target created (of its scope, whatever their key). */
  rows(): Promise<number>;
  /** The request in another scope (another agent or workflow; another tenant for creations). */
  elsewhere(): Promise<{ path: string; key: string; body: unknown }>;
  /** Starts only: finishes the row in the database, as a worker would. */
  finish?(id: string): Promise<void>;
}

interface Answer {
  readonly status: number;
  readonly id: string | undefined;
  readonly location: string | null;
  readonly contentType: string | null;
  readonly body: Record<string, unknown>;
}

/**
 * `Idempotency-Key` on every creating POST, in both tiers: the DynamoDB record (Powertools)
 * and the row that keeps the key (migration 0006). The crash window — the first request
 * committed, then its function died before answering — is simulated by losing the record
 * (deleted through the DynamoDB API), by leaving it stuck in progress, and by restarting
 * the runtime on the same data folder. Rows are counted in the database. The runtime runs
 * in this process (workers off), on `env` (embedded stand-ins, or real servers).
 */
export const idempotencyContract = (env: () => Record<string, string>): void => {
  let dataDir: string;
  let runtime: LocalRuntime;
  const boot = async () => {
    runtime = await startLocalRuntime({
      port: 0,
      dataDir,
      workers: false,
      env: { SWITCHYARD_API_KEYS: `acme:${acmeKey},globex:${globexKey}`, ...env() },
    });
  };
  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'switchyard-idempotency-'));
    await boot();
  }, 60_000);
  afterAll(async () => {
    await runtime?.stop();
    await rm(dataDir, { recursive: true, force: true });
  });

  let counter = 0;
  const unique = () => `${Date.now()}-${++counter}`;

  const post = async (
    path: string,
    body: unknown,
    idempotencyKey?: string,
    tenantKey = acmeKey,
  ): Promise<Answer> => {
    const response = await fetch(runtime.url + path, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${tenantKey}`,
        'content-type': 'application/json',
        ...(idempotencyKey && { 'idempotency-key': idempotencyKey }),
      },
      body: JSON.stringify(body),
    });
    const json = (await response.json()) as Record<string, unknown>;
    return {
      status: response.status,
      id: json['id'] as string | undefined,
      location: response.headers.get('location'),
      contentType: response.headers.get('content-type'),
      body: json,
    };
  };
  const created = async (path: string, body: unknown, tenantKey = acmeKey): Promise<string> => {
    const answer = await post(path, body, undefined, tenantKey);
    expect(answer.status, JSON.stringify(answer.body)).toBe(201);
    return answer.id!;
  };
  const count = async (sql: string, values: unknown[]): Promise<number> =>
    (await database().query<{ n: number }>(sql, values))[0]!.n;

  const agentBody = (name: string, prompt = 'Answer briefly.') => ({
    name,
    model: 'gpt-4o-mini',
    system_prompt: prompt,
  });
  const newAgent = (tenantKey = acmeKey) => created('/v1/agents', agentBody(`agent ${unique()}`), tenantKey);
  const workflowBody = (name: string, agentId: string, description?: string) => ({
    name,
    ...(description && { description }),
    steps: [{ key: 'only', agent_id: agentId, input: 'Answer {{input.topic}}' }],
  });
  const newWorkflow = async (tenantKey = acmeKey) =>
    created('/v1/workflows', workflowBody(`workflow ${unique()}`, await newAgent(tenantKey)), tenantKey);

  const targets: Record<string, () => Promise<Target>> = {
    'POST /v1/agents': async () => {
      const name = `keyed agent ${unique()}`;
      return {
        path: '/v1/agents',
        body: agentBody(name),
        other: agentBody(name, 'Answer at length.'),
        status: 201,
        location: (id) => `/v1/agents/${id}`,
        rows: () => count('SELECT count(*)::int AS n FROM agents WHERE name = $1', [name]),
        elsewhere: async () => ({ path: '/v1/agents', key: globexKey, body: agentBody(name) }),
      };
    },
    'POST /v1/workflows': async () => {
      const name = `keyed workflow ${unique()}`;
      const agentId = await newAgent();
      return {
        path: '/v1/workflows',
        body: workflowBody(name, agentId),
        other: workflowBody(name, agentId, 'another description'),
        status: 201,
        location: (id) => `/v1/workflows/${id}`,
        rows: () => count('SELECT count(*)::int AS n FROM workflows WHERE name = $1', [name]),
        elsewhere: async () => ({
          path: '/v1/workflows',
          key: globexKey,
          body: workflowBody(name, await newAgent(globexKey)),
        }),
      };
    },
    'POST /v1/agents/{id}/executions': async () => {
      const agentId = await newAgent();
      return {
        path: `/v1/agents/${agentId}/executions`,
        body: { input: 'once', metadata: { a: 1, b: 2 } },
        other: { input: 'twice' },
        status: 202,
        location: (id) => `/v1/executions/${id}`,
        rows: () => count('SELECT count(*)::int AS n FROM executions WHERE agent_id = $1', [agentId]),
        elsewhere: async () => ({
          path: `/v1/agents/${await newAgent()}/executions`,
          key: acmeKey,
          body: { input: 'once', metadata: { a: 1, b: 2 } },
        }),
        finish: async (id) => {
          await database().query(
            `UPDATE executions SET status = 'succeeded', output = 'done', started_at = now(), completed_at = now(),
                    version = version + 1, updated_at = now() WHERE id = $1`,
            [id],
          );
        },
      };
    },
    'POST /v1/workflows/{id}/executions': async () => {
      const workflowId = await newWorkflow();
      return {
        path: `/v1/workflows/${workflowId}/executions`,
        body: { input: { topic: 'owls' } },
        other: { input: { topic: 'bats' } },
        status: 202,
        location: (id) => `/v1/workflow-executions/${id}`,
        rows: () =>
          count('SELECT count(*)::int AS n FROM workflow_executions WHERE workflow_id = $1', [workflowId]),
        elsewhere: async () => ({
          path: `/v1/workflows/${await newWorkflow()}/executions`,
          key: acmeKey,
          body: { input: { topic: 'owls' } },
        }),
        finish: async (id) => {
          await database().query(
            `UPDATE workflow_step_runs SET status = 'succeeded', output = 'done', completed_at = now(),
                    updated_at = now() WHERE execution_id = $1`,
            [id],
          );
          await database().query(
            `UPDATE workflow_executions SET status = 'succeeded', started_at = now(), completed_at = now(),
                    version = version + 1, updated_at = now() WHERE id = $1`,
            [id],
          );
        },
      };
    },
  };

  // The idempotency table, through the DynamoDB API the runtime configured.
  const dynamo = () =>
    new DynamoDBClient({
      endpoint: process.env['AWS_ENDPOINT_URL_DYNAMODB']!,
      region: process.env['AWS_REGION'] ?? 'us-east-1',
    });
  const tableName = () => process.env['IDEMPOTENCY_TABLE']!;
  const recordKeys = async (client: DynamoDBClient): Promise<string[]> => {
    const { Items = [] } = await client.send(new ScanCommand({ TableName: tableName() }));
    return Items.map((item) => item['id']!.S!);
  };
  /** The function died after its commit and the record is gone (deleted, expired, never completed). */
  const loseRecords = async () => {
    const client = dynamo();
    try {
      for (const id of await recordKeys(client)) {
        await client.send(new DeleteItemCommand({ TableName: tableName(), Key: { id: { S: id } } }));
      }
      expect(await recordKeys(client)).toEqual([]);
    } finally {
      client.destroy();
    }
  };
  /** The function died after its commit, leaving its record in progress until `until` (ms). */
  const stickRecords = async (until: number) => {
    const client = dynamo();
    try {
      for (const id of await recordKeys(client)) {
        await client.send(
          new UpdateItemCommand({
            TableName: tableName(),
            Key: { id: { S: id } },
            UpdateExpression: 'SET #status = :inprogress, in_progress_expiration = :until REMOVE #data',
            ExpressionAttributeNames: { '#status': 'status', '#data': 'data' },
            ExpressionAttributeValues: { ':inprogress': { S: 'INPROGRESS' }, ':until': { N: String(until) } },
          }),
        );
      }
    } finally {
      client.destroy();
    }
  };

  for (const [route, setUp] of Object.entries(targets)) {
    it(`${route}: the same key twice answers the same row, and the database holds one`, async () => {
      const target = await setUp();
      const key = `twice-${unique()}`;
      const first = await post(target.path, target.body, key);
      expect(first.status, JSON.stringify(first.body)).toBe(target.status);
      expect(first.location).toBe(target.location(first.id!));
      const again = await post(target.path, target.body, key);
      expect(again.status).toBe(target.status);
      expect(again.id).toBe(first.id);
      expect(again.location).toBe(target.location(first.id!));
      expect(await target.rows()).toBe(1);
      // Without the header, the same body is another request.
      expect((await post(target.path, target.body)).status).toBe(target.status);
      expect(await target.rows()).toBe(2);
    });

    it(`${route}: the same key with another body is refused (422 problem+json), by either tier`, async () => {
      const target = await setUp();
      const key = `other-${unique()}`;
      const first = await post(target.path, target.body, key);
      expect(first.status).toBe(target.status);
      const refused = await post(target.path, target.other, key);
      expect(refused.status).toBe(422);
      expect(refused.contentType).toContain('application/problem+json');
      expect(refused.body['type']).toMatch(/idempotency-key-reused$/);
      // Without the record, the row refuses it.
      await loseRecords();
      const byRow = await post(target.path, target.other, key);
      expect(byRow.status).toBe(422);
      expect(byRow.contentType).toContain('application/problem+json');
      expect(byRow.body['type']).toMatch(/idempotency-key-reused$/);
      expect(await target.rows()).toBe(1);
    });

    it(`${route}: a retry after the function died past its commit (record gone) answers the same row`, async () => {
      const target = await setUp();
      const key = `lost-${unique()}`;
      const first = await post(target.path, target.body, key);
      expect(first.status).toBe(target.status);
      await loseRecords();
      // The same body with its keys in another order is the same request (canonical JSON).
      const reordered = reverseKeys(target.body);
      const retry = await post(target.path, reordered, key);
      expect(retry.status).toBe(target.status);
      expect(retry.id).toBe(first.id);
      expect(retry.location).toBe(target.location(first.id!));
      expect(await target.rows()).toBe(1);
      if (target.finish) {
        // A start that has finished since is answered 200 with its current state.
        await target.finish(first.id!);
        await loseRecords();
        const done = await post(target.path, target.body, key);
        expect(done.status).toBe(200);
        expect(done.id).toBe(first.id);
        expect(done.body['status']).toBe('succeeded');
        expect(done.location).toBe(target.location(first.id!));
        expect(await target.rows()).toBe(1);
      }
    });

    it(`${route}: a record stuck in progress after a crash answers 409 until it expires, then the same row`, async () => {
      const target = await setUp();
      const key = `stuck-${unique()}`;
      const first = await post(target.path, target.body, key);
      expect(first.status).toBe(target.status);
      const until = Date.now() + 1_500;
      await stickRecords(until);
      const inFlight = await post(target.path, target.body, key);
      expect(inFlight.status).toBe(409);
      expect(inFlight.body['type']).toMatch(/idempotency-in-flight$/);
      await sleep(until - Date.now() + 100);
      const retry = await post(target.path, target.body, key);
      expect(retry.status).toBe(target.status);
      expect(retry.id).toBe(first.id);
      expect(await target.rows()).toBe(1);
    });

    it(`${route}: the same key elsewhere (another agent, workflow or tenant) is another request`, async () => {
      const target = await setUp();
      const key = `scope-${unique()}`;
      const first = await post(target.path, target.body, key);
      expect(first.status).toBe(target.status);
      const elsewhere = await target.elsewhere();
      const there = await post(elsewhere.path, elsewhere.body, key, elsewhere.key);
      expect(there.status, JSON.stringify(there.body)).toBe(target.status);
      expect(there.id).not.toBe(first.id);
      // Both stand: each scope's replay answers its own row.
      expect((await post(target.path, target.body, key)).id).toBe(first.id);
      expect((await post(elsewhere.path, elsewhere.body, key, elsewhere.key)).id).toBe(there.id);
    });
  }

  it('a creation answers the webhook secret again on a replay of it, not after the resource changed', async () => {
    const key = `secret-${unique()}`;
    const body = { ...agentBody(`hooked ${unique()}`), webhook_url: 'https://hooks.example.com/switchyard' };
    const first = await post('/v1/agents', body, key);
    expect(first.status).toBe(201);
    expect(first.body['webhook_secret']).toMatch(/^whsec_/);
    await loseRecords();
    const replay = await post('/v1/agents', body, key);
    expect(replay.id).toBe(first.id);
    expect(replay.body['webhook_secret']).toBe(first.body['webhook_secret']);
    const patched = await fetch(`${runtime.url}/v1/agents/${first.id}`, {
      method: 'PATCH',
      headers: { authorization: `Bearer ${acmeKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'renamed' }),
    });
    expect(patched.status).toBe(200);
    await loseRecords();
    const later = await post('/v1/agents', body, key);
    expect(later.id).toBe(first.id);
    expect(later.body['webhook_secret']).toBeUndefined();
  });

  it('without the DynamoDB tier, concurrent duplicates still make one row each (the unique key)', async () => {
    const table = process.env['IDEMPOTENCY_TABLE'];
    delete process.env['IDEMPOTENCY_TABLE'];
    resetConfig();
    try {
      for (const setUp of Object.values(targets)) {
        const target = await setUp();
        const key = `race-${unique()}`;
        // Concurrent: the starts share one INSERT (and meet their key within it).
        const answers = await Promise.all(
          Array.from({ length: 6 }, () => post(target.path, target.body, key)),
        );
        expect(answers.map((a) => a.status)).toEqual(Array(6).fill(target.status));
        expect(new Set(answers.map((a) => a.id)).size).toBe(1);
        expect(await target.rows()).toBe(1);
        expect((await post(target.path, target.other, key)).status).toBe(422);
      }
    } finally {
      process.env['IDEMPOTENCY_TABLE'] = table;
      resetConfig();
    }
  });

  it('a restart on the same data folder keeps the records (dynalite on disk) and the rows', async () => {
    const keyed: { target: Target; key: string; id: string }[] = [];
    for (const setUp of Object.values(targets)) {
      const target = await setUp();
      const key = `restart-${unique()}`;
      const first = await post(target.path, target.body, key);
      expect(first.status).toBe(target.status);
      keyed.push({ target, key, id: first.id! });
    }
    const client = dynamo();
    const before = await recordKeys(client).finally(() => client.destroy());
    expect(before.length).toBeGreaterThanOrEqual(keyed.length);
    await runtime.stop();
    await boot();
    if (!env()['AWS_ENDPOINT_URL_DYNAMODB']) {
      expect(runtime.standIns.idempotency).toContain('records in');
      const after = dynamo();
      expect((await recordKeys(after).finally(() => after.destroy())).sort()).toEqual(before.sort());
    }
    // The restarted runtime keeps records again (a new key, a new record).
    const fresh = (await targets['POST /v1/agents']!()).body;
    expect((await post('/v1/agents', fresh, `after-restart-${unique()}`)).status).toBe(201);
    const client2 = dynamo();
    expect((await recordKeys(client2).finally(() => client2.destroy())).length).toBe(before.length + 1);
    for (const { target, key, id } of keyed) {
      const retry = await post(target.path, target.body, key);
      expect(retry.status).toBe(target.status);
      expect(retry.id).toBe(id);
      expect(await target.rows()).toBe(1);
      expect((await post(target.path, target.other, key)).status).toBe(422);
    }
  }, 60_000);
};
