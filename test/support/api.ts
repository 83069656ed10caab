import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll } from 'vitest';
import type { LocalRuntime } from '../../bin/local-runtime/runtime.ts';
import { startLocalRuntime } from '../../bin/local-runtime/runtime.ts';
import { dagAgentBody, dagStepKeys, dagWorkflowBody } from '../../load/support/workflow-dag.ts';
import { checkAgainstOpenApi } from './openapi-check.ts';
import type { RealServers } from './real-servers.ts';

/** Two tenants with known keys, as `SWITCHYARD_API_KEYS` sets them up. */
export const acmeKey = 'acme-test-key-0123456789abcdef';
export const globexKey = 'globex-test-key-0123456789abcdef';
export const adminKey = 'operator-test-key-0123456789abcdef';

export interface TestApi {
  readonly url: string;
  readonly runtime: LocalRuntime;
  /** fetch against the API as a tenant (acme by default). */
  call(path: string, init?: RequestInit & { key?: string | null; json?: unknown }): Promise<Response>;
  stop(): Promise<void>;
}

/**
 * The local runtime on a free port with a fresh data folder: embedded stand-ins unless
 * `env` points at real servers. Workers are off unless asked for.
 */
export const startTestApi = async (
  env: Record<string, string> = {},
  options: { workers?: boolean | 'thread' } = {},
): Promise<TestApi> => {
  const dataDir = await mkdtemp(join(tmpdir(), 'switchyard-test-'));
  const runtime = await startLocalRuntime({
    port: 0,
    dataDir,
    workers: options.workers ?? false,
    env: {
      SWITCHYARD_API_KEYS: `acme:${acmeKey},globex:${globexKey}`,
      SWITCHYARD_ADMIN_KEY: adminKey,
      SWITCHYARD_SERVER_TIMING: 'true',
      ...env,
    },
  });
  return {
    url: runtime.url,
    runtime,
    async call(path, init = {}) {
      const { key = acmeKey, json, headers, ...rest } = init;
      const merged = new Headers(headers);
      if (key !== null && !merged.has('authorization')) merged.set('authorization', `Bearer ${key}`);
      if (json !== undefined && !merged.has('content-type')) merged.set('content-type', 'application/json');
      const response = await fetch(runtime.url + path, {
        ...rest,
        headers: merged,
        ...(json !== undefined && { body: JSON.stringify(json) }),
      });
      // Every answer the suites receive is checked against the OpenAPI document.
      await checkAgainstOpenApi(rest.method ?? 'GET', runtime.url + path, response);
      return response;
    },
    async stop() {
      await runtime.stop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
};

/**
 * fetch against a runtime at `url` that is not a TestApi (`npm start` in another process, say)
 * as a tenant: acme by default, JSON in.
 */
export const callAt = (
  url: string,
  path: string,
  init: RequestInit & { key?: string; json?: unknown } = {},
): Promise<Response> => {
  const { key = acmeKey, json, ...rest } = init;
  return fetch(url + path, {
    ...rest,
    headers: {
      authorization: `Bearer ${key}`,
      ...(json !== undefined && { 'content-type': 'application/json' }),
    },
    ...(json !== undefined && { body: JSON.stringify(json) }),
  });
};

/** Polls the runtime at `url` until its /health reports the cache ok (its Redis connection answers again). */
export const untilCacheUp = async (url: string, timeoutMs = 10_000): Promise<void> => {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    const health = await fetch(`${url}/health`).catch(() => undefined);
    const body = (await health?.json().catch(() => undefined)) as
      | { checks?: { cache?: { status?: string } } }
      | undefined;
    if (body?.checks?.cache?.status === 'ok') return;
    last = body;
    await sleep(25);
  }
  throw new Error(`the cache of ${url} did not come back: ${JSON.stringify(last)}`);
};

/** Queries the request ran, from the `Server-Timing` header the runtime turns on. */
export const queriesOf = (response: Response): number => {
  const match = /queries=(\d+)/.exec(response.headers.get('server-timing') ?? '');
  if (!match) throw new Error('response has no Server-Timing query count');
  return Number(match[1]);
};

/** Creates an agent through the API (no response cache unless overridden) and returns its id. */
export const createTestAgent = async (
  api: TestApi,
  overrides: Record<string, unknown> = {},
  key: string = acmeKey,
): Promise<string> => {
  const response = await api.call('/v1/agents', {
    method: 'POST',
    key,
    json: {
      name: 'test agent',
      model: 'gpt-4o-mini',
      system_prompt: 'p',
      configuration: { cache_ttl_seconds: 0 },
      ...overrides,
    },
  });
  if (response.status !== 201) throw new Error(`creating an agent answered ${response.status}`);
  return ((await response.json()) as { id: string }).id;
};

/** The load tools' three-step workflow (two roots and a join, an agent each); answers its id. */
export const createDagWorkflow = async (api: TestApi, name = 'dag'): Promise<string> => {
  const agentIds = [];
  for (const key of dagStepKeys) agentIds.push(await createTestAgent(api, dagAgentBody(`${name}-${key}`)));
  const response = await api.call('/v1/workflows', { method: 'POST', json: dagWorkflowBody(name, agentIds) });
  if (response.status !== 201) throw new Error(`creating a workflow answered ${response.status}`);
  return ((await response.json()) as { id: string }).id;
};

/**
 * The local runtime for the enclosing describe block: started before its tests, stopped after.
 * `env` is read when the block starts (real servers' URLs exist only then).
 */
export const useTestApi = (
  env: () => Record<string, string> = () => ({}),
  options: { workers?: boolean | 'thread' } = {},
): (() => TestApi) => {
  let api: TestApi | undefined;
  beforeAll(async () => {
    api = await startTestApi(env(), options);
  });
  afterAll(async () => {
    await api?.stop();
  });
  return () => {
    if (!api) throw new Error('the test API has not started');
    return api;
  };
};

/** The runtime's settings for the block's throwaway PostgreSQL 15 and Redis 7, plus `extra`. */
export const realServersEnv =
  (servers: RealServers, extra: Record<string, string> = {}) =>
  (): Record<string, string> => ({
    DATABASE_URL: servers.postgresUrl,
    REDIS_URL: servers.redisUrl,
    ...extra,
  });
