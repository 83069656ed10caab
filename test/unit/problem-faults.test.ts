import { describe, expect, it } from 'vitest';
import { notFound } from '#domain/errors.ts';
import { classifyError, problemResponse, unavailableRetryAfterSeconds } from '#http/problem.ts';

const withCode = (code: string, message = 'failed'): Error => Object.assign(new Error(message), { code });

const statusOf = (error: unknown): number => problemResponse(error, '/x').statusCode ?? 0;

describe('problemResponse for dependency faults', () => {
  it('answers 503 problem+json with Retry-After while the database is unreachable', () => {
    const unreachable: unknown[] = [
      withCode('ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:5432'),
      withCode('ECONNRESET'),
      withCode('ETIMEDOUT'),
      withCode('EHOSTUNREACH'),
      withCode('ENOTFOUND'),
      new Error('timeout exceeded when trying to connect'),
      new Error('Connection terminated unexpectedly'),
      new Error('Connection terminated due to connection timeout', { cause: new Error('x') }),
      new Error('Client has encountered a connection error and is not queryable'),
      withCode('08006', 'connection failure'),
      withCode('08001'),
      withCode('57P01', 'terminating connection due to administrator command'),
      withCode('57P02'),
      withCode('57P03', 'the database system is starting up'),
      withCode('53300', 'sorry, too many clients already'),
      // Node's happy-eyeballs connect: one error per address tried.
      new AggregateError([withCode('ECONNREFUSED'), withCode('ECONNREFUSED')], 'connect failed'),
      new Error('wrapped', { cause: withCode('ECONNREFUSED') }),
      Object.assign(new Error('Request timed out'), { name: 'TimeoutError' }),
    ];
    for (const error of unreachable) {
      const response = problemResponse(error, '/v1/agents');
      expect(response.statusCode, String(error)).toBe(503);
      expect(response.headers).toEqual({
        'content-type': 'application/problem+json',
        'retry-after': String(unavailableRetryAfterSeconds),
      });
      const body = JSON.parse(response.body as string) as Record<string, unknown>;
      expect(body).toMatchObject({
        type: 'https://switchyard.dev/problems/service-unavailable',
        title: 'Service Unavailable',
        status: 503,
        instance: '/v1/agents',
      });
      // Nothing of the connection (addresses, ports) leaks into the answer.
      expect(response.body).not.toMatch(/127\.0\.0\.1|5432|ECONN/);
    }
    expect(unavailableRetryAfterSeconds).toBeGreaterThanOrEqual(1);
    expect(unavailableRetryAfterSeconds).toBeLessThanOrEqual(5);
  });

  it('answers 400 for PostgreSQL data exceptions (SQLSTATE class 22)', () => {
    for (const code of ['22P05', '22021', '22008', '22003', '22P02', '22007', '22001']) {
      const response = problemResponse(withCode(code, 'invalid byte sequence'), '/v1/workflows');
      expect(response.statusCode, code).toBe(400);
      const body = JSON.parse(response.body as string) as Record<string, unknown>;
      expect(body).toMatchObject({ type: 'https://switchyard.dev/problems/invalid-value', status: 400 });
      expect(body['detail']).toContain(code);
      expect(classifyError(withCode(code))).toBe('data');
    }
  });

  it('keeps everything else an opaque 500, and client problems as they are', () => {
    for (const error of [
      new Error('boom'),
      withCode('42P01', 'relation does not exist'),
      withCode('23505', 'duplicate key'),
      withCode('XX000'),
      withCode('ERR_SOMETHING'),
      'a string',
      null,
      undefined,
    ]) {
      expect(statusOf(error), String(error)).toBe(500);
    }
    expect(statusOf(notFound('agent'))).toBe(404);
  });

  it('does not loop on a cyclic cause chain', () => {
    const a = new Error('a') as Error & { cause?: unknown };
    const b = new Error('b', { cause: a });
    a.cause = b;
    expect(statusOf(a)).toBe(500);
  });
});
