import { expect } from 'vitest';
import { createTestAgent, type TestApi } from './api.ts';
import { expectProblem } from './hostile-input-contract.ts';

/** Asserts the answer of a request made while PostgreSQL is unreachable: 503, Retry-After, problem+json. */
export const expectUnavailable = async (response: Response): Promise<void> => {
  const body = await expectProblem(response, 503);
  expect(body.type).toMatch(/service-unavailable$/);
  const retryAfter = Number(response.headers.get('retry-after'));
  expect(retryAfter).toBeGreaterThanOrEqual(1);
  expect(retryAfter).toBeLessThanOrEqual(5);
  expect(JSON.stringify(body)).not.toMatch(/ECONN|127\.0\.0\.1|terminat/i);
};

/**
 * Finding 7: with PostgreSQL away, reads and writes answer 503 + Retry-After (never 500), and the
 * service answers again once it is back. `takeDown` and `bringBack` stop and restore the database
 * (a proxy cut, a server stopped); `api` must run against it.
 */
export const checkDatabaseDown = async (
  api: TestApi,
  takeDown: () => Promise<void>,
  bringBack?: () => Promise<void>,
): Promise<void> => {
  // The key is authenticated (and cached) while the database is up.
  const agentId = await createTestAgent(api);
  expect((await api.call('/v1/agents?limit=1')).status).toBe(200);

  await takeDown();
  // A list always reads PostgreSQL; an id never seen is not in any cache either.
  await expectUnavailable(await api.call('/v1/agents?limit=5'));
  await expectUnavailable(await api.call('/v1/agents/0190a5f4-7b2c-7d3e-8f40-123456789abc'));
  await expectUnavailable(
    await api.call('/v1/agents', {
      method: 'POST',
      json: { name: 'while down', model: 'm', system_prompt: 'p' },
    }),
  );
  await expectUnavailable(await api.call(`/v1/agents/${agentId}`, { method: 'PATCH', json: { name: 'x' } }));
  await expectUnavailable(
    await api.call(`/v1/agents/${agentId}/executions`, { method: 'POST', json: { input: 'hello' } }),
  );
  if (!bringBack) return;

  await bringBack();
  // pg's pool reconnects on the next checkout: the service answers again without a restart.
  let status = 0;
  for (let attempt = 0; attempt < 50 && status !== 200; attempt++) {
    status = (await api.call('/v1/agents?limit=1')).status;
    if (status !== 200) await new Promise((resolve) => setTimeout(resolve, 100));
  }
  expect(status).toBe(200);
  const patched = await api.call(`/v1/agents/${agentId}`, { method: 'PATCH', json: { name: 'after' } });
  expect(patched.status).toBe(200);
};
