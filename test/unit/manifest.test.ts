import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  fallbackFunction,
  functions,
  idempotencyTableName,
  maxReceiveCount,
  queueResourceName,
  queues,
  routeKey,
  routes,
} from '#manifest';

const root = fileURLToPath(new URL('../../', import.meta.url));
const functionNames = Object.keys(functions);
const functionOf = (name: string) =>
  (functions as Record<string, (typeof functions)[keyof typeof functions]>)[name];
const queueNamed = (name: string) => {
  const queue = queues.find((q) => q.name === name);
  expect(queue, name).toBeDefined();
  return queue!;
};

/** The delay before each retry: base × 2^n, capped at max. */
const backoff = (retry: { retries: number; baseDelaySeconds: number; maxDelaySeconds: number }) =>
  Array.from({ length: retry.retries }, (_, n) =>
    Math.min(retry.baseDelaySeconds * 2 ** n, retry.maxDelaySeconds),
  );

describe('manifest: queues', () => {
  it('has exactly the high, default and low queues, each named once', () => {
    const names = queues.map((q) => q.name);
    expect(names).toEqual(['high', 'default', 'low']);
    expect(new Set(names).size).toBe(names.length);
    for (const queue of queues) expect(queue.priority).toBe(queue.name);
  });

  it('retries high and default 3 times, from 1 s doubling up to 10 s', () => {
    for (const name of ['high', 'default']) {
      const queue = queueNamed(name);
      expect(queue.retry, name).toEqual({ retries: 3, baseDelaySeconds: 1, maxDelaySeconds: 10 });
      expect(backoff(queue.retry)).toEqual([1, 2, 4]);
    }
  });

  it('retries low 5 times, from 5 s doubling up to 60 s', () => {
    const queue = queueNamed('low');
    expect(queue.retry).toEqual({ retries: 5, baseDelaySeconds: 5, maxDelaySeconds: 60 });
    expect(backoff(queue.retry)).toEqual([5, 10, 20, 40, 60]);
  });

  it('moves a message to the DLQ after retries + 1 receives: 4 for high and default, 6 for low', () => {
    expect(maxReceiveCount(queueNamed('high'))).toBe(4);
    expect(maxReceiveCount(queueNamed('default'))).toBe(4);
    expect(maxReceiveCount(queueNamed('low'))).toBe(6);
    for (const queue of queues) expect(maxReceiveCount(queue)).toBe(queue.retry.retries + 1);
    expect(maxReceiveCount({ retry: { retries: 0, baseDelaySeconds: 1, maxDelaySeconds: 1 } })).toBe(1);
  });

  it('has a consumer for every queue that exists and is a worker', () => {
    for (const queue of queues) {
      expect(functionNames, queue.name).toContain(queue.consumer);
      expect(functionOf(queue.consumer)?.kind, queue.name).toBe('worker');
    }
  });

  it('gives each queue its own consumer', () => {
    const consumers = queues.map((q) => q.consumer);
    expect(new Set(consumers).size).toBe(consumers.length);
  });

  it('keeps the visibility timeout at least 6 × the consumer timeout (AWS guidance)', () => {
    for (const queue of queues) {
      const consumer = functionOf(queue.consumer)!;
      expect(queue.visibilityTimeoutSeconds, queue.name).toBeGreaterThanOrEqual(6 * consumer.timeoutSeconds);
    }
  });

  it('stays within SQS and Lambda event source limits', () => {
    for (const queue of queues) {
      expect(queue.visibilityTimeoutSeconds).toBeLessThanOrEqual(43_200);
      expect(queue.retentionSeconds).toBeGreaterThanOrEqual(60);
      expect(queue.retentionSeconds).toBeLessThanOrEqual(14 * 24 * 3600);
      expect(queue.maxConcurrency).toBeGreaterThanOrEqual(2);
      expect(queue.maxConcurrency).toBeLessThanOrEqual(1000);
      expect(queue.batchSize).toBeGreaterThanOrEqual(1);
      expect(queue.batchingWindowSeconds).toBeLessThanOrEqual(300);
      // Batches over 10 messages need a batching window (Lambda rejects them otherwise).
      if (queue.batchSize > 10) expect(queue.batchingWindowSeconds, queue.name).toBeGreaterThan(0);
    }
  });

  it('names physical queues and tables by stage', () => {
    expect(queueResourceName('dev', 'high')).toBe('switchyard-dev-high');
    expect(queueResourceName('dev', 'high', true)).toBe('switchyard-dev-high-dlq');
    expect(queueResourceName('prod', 'low')).toBe('switchyard-prod-low');
    expect(idempotencyTableName('prod')).toBe('switchyard-prod-idempotency');
  });
});

describe('manifest: routes', () => {
  it('sends every route to an api function that exists', () => {
    for (const route of routes) {
      const key = routeKey(route);
      expect(functionNames, key).toContain(route.function);
      expect(functionOf(route.function)?.kind, key).toBe('api');
    }
  });

  it('has unique route keys', () => {
    const keys = routes.map(routeKey);
    expect(new Set(keys).size).toBe(keys.length);
  });

  it('builds route keys as "METHOD /path"', () => {
    expect(routeKey({ method: 'GET', path: '/v1/agents/{id}' })).toBe('GET /v1/agents/{id}');
    expect(routes.map(routeKey)).toContain('PATCH /v1/agents/{id}');
  });

  it('uses absolute paths with well-formed parameters', () => {
    // A literal may end in a custom method (`documents:bulk`): API Gateway takes ":" in a path part.
    for (const route of routes) {
      expect(route.path, routeKey(route)).toMatch(
        /^\/([A-Za-z0-9._:-]+|\{[a-z][A-Za-z0-9]*\})(\/([A-Za-z0-9._:-]+|\{[a-z][A-Za-z0-9]*\}))*$/,
      );
    }
  });

  it('requires the operator key on /v1/admin/* and a tenant key on every other /v1 route', () => {
    const v1 = routes.filter((r) => r.path.startsWith('/v1/'));
    expect(v1.some((r) => r.path.startsWith('/v1/admin/'))).toBe(true);
    for (const route of v1) {
      expect(route.auth, routeKey(route)).toBe(route.path.startsWith('/v1/admin/') ? 'admin' : 'tenant');
    }
  });

  it('has a fallback function that is an api function', () => {
    expect(functionOf(fallbackFunction)?.kind).toBe('api');
  });
});

describe('manifest: functions', () => {
  it('has an entry file on disk for every function', () => {
    for (const [name, fn] of Object.entries(functions)) {
      expect(existsSync(`${root}${fn.entry}`), `${name}: ${fn.entry}`).toBe(true);
    }
  });

  it('keeps api entries under functions/api and worker entries under functions/workers', () => {
    for (const [name, fn] of Object.entries(functions)) {
      expect(fn.entry, name).toMatch(
        fn.kind === 'api' ? /^functions\/api\/.+\.ts$/ : /^functions\/workers\/.+\.ts$/,
      );
    }
  });

  it('stays within Lambda limits, with API functions under the 29 s API Gateway timeout', () => {
    for (const [name, fn] of Object.entries(functions)) {
      expect(fn.memoryMb, name).toBeGreaterThanOrEqual(128);
      expect(fn.memoryMb, name).toBeLessThanOrEqual(10_240);
      expect(fn.timeoutSeconds, name).toBeGreaterThanOrEqual(1);
      expect(fn.timeoutSeconds, name).toBeLessThanOrEqual(fn.kind === 'api' ? 29 : 900);
    }
  });

  it('uses every worker as some queue’s consumer', () => {
    const workers = Object.entries(functions)
      .filter(([, fn]) => fn.kind === 'worker')
      .map(([name]) => name);
    expect(workers.sort()).toEqual(queues.map((q) => q.consumer).sort());
  });
});
