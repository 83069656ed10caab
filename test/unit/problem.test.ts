import { describe, expect, it } from 'vitest';
import {
  conflict,
  invalidQuery,
  methodNotAllowed,
  notFound,
  ProblemError,
  unauthorized,
  validationFailed,
} from '#domain/errors.ts';
import { problemResponse } from '#http/problem.ts';

const bodyOf = (result: ReturnType<typeof problemResponse>): Record<string, unknown> => {
  expect(typeof result.body).toBe('string');
  return JSON.parse(result.body as string) as Record<string, unknown>;
};

/** A problem+json answer with `headers` besides its content type, whose body has exactly these members. */
const expectProblem = (
  result: ReturnType<typeof problemResponse>,
  problem: { status: number; type: string; title: string; detail: string; instance: string },
  headers: Record<string, string> = {},
) => {
  expect(result.statusCode).toBe(problem.status);
  expect(result.headers).toEqual({ 'content-type': 'application/problem+json', ...headers });
  expect(bodyOf(result)).toEqual({ ...problem, type: `https://switchyard.dev/problems/${problem.type}` });
};

describe('problemResponse with a ProblemError', () => {
  it('keeps status, type, title, detail and instance', () => {
    expectProblem(problemResponse(notFound('agent'), '/v1/agents/x'), {
      status: 404,
      type: 'not-found',
      title: 'Not Found',
      detail: 'The agent does not exist.',
      instance: '/v1/agents/x',
    });
  });

  it('keeps field errors', () => {
    const errors = [
      { field: 'name', detail: 'Too small: expected string to have >=1 characters' },
      { field: 'colour', detail: 'unknown field' },
    ];
    const body = bodyOf(problemResponse(validationFailed(errors), 'req-1'));
    expect(body['status']).toBe(422);
    expect(body['type']).toBe('https://switchyard.dev/problems/validation-failed');
    expect(body['errors']).toEqual(errors);
    const query = bodyOf(problemResponse(invalidQuery([{ field: 'limit', detail: 'bad' }]), 'req-2'));
    expect(query['status']).toBe(400);
    expect(query['errors']).toEqual([{ field: 'limit', detail: 'bad' }]);
  });

  it('has no errors member when the problem has none', () => {
    expect(bodyOf(problemResponse(conflict('Name taken.'), 'req'))).not.toHaveProperty('errors');
  });

  it('sends the Allow header of a 405', () => {
    const result = problemResponse(methodNotAllowed(['GET', 'PATCH', 'DELETE']), '/v1/agents/x');
    expect(result.statusCode).toBe(405);
    expect(result.headers).toEqual({
      'content-type': 'application/problem+json',
      allow: 'GET, PATCH, DELETE',
    });
    expect(bodyOf(result)['detail']).toBe('Allowed methods: GET, PATCH, DELETE.');
  });

  it('sends the WWW-Authenticate header of a 401', () => {
    const result = problemResponse(unauthorized(), '/v1/agents');
    expect(result.statusCode).toBe(401);
    expect(result.headers?.['www-authenticate']).toBe('Bearer');
    expect(result.headers?.['content-type']).toBe('application/problem+json');
    expect(bodyOf(result)['title']).toBe('Unauthorized');
  });

  it('renders a custom ProblemError as it is', () => {
    const problem = new ProblemError(429, 'rate-limited', 'Too Many Requests', 'Slow down.', {
      headers: { 'retry-after': '30' },
    });
    expectProblem(
      problemResponse(problem, 'req-9'),
      {
        status: 429,
        type: 'rate-limited',
        title: 'Too Many Requests',
        detail: 'Slow down.',
        instance: 'req-9',
      },
      { 'retry-after': '30' },
    );
  });
});

describe('problemResponse with any other error', () => {
  const secret = 'connect ECONNREFUSED 10.0.3.7:5432 password=hunter2';

  it.each([
    ['an Error', new Error(secret)],
    ['a TypeError', new TypeError(secret)],
    ['a thrown string', secret],
    ['undefined', undefined],
    ['a plain object with status 400', { status: 400, message: secret }],
  ])('answers an opaque 500 for %s', (_, error) => {
    const result = problemResponse(error, '/v1/agents');
    expectProblem(result, {
      status: 500,
      type: 'internal',
      title: 'Internal Server Error',
      detail: 'The request failed on our side; it is logged.',
      instance: '/v1/agents',
    });
    expect(result.body).not.toContain('ECONNREFUSED');
    expect(result.body).not.toContain('hunter2');
  });

  it('does not leak the stack', () => {
    const error = new Error('boom');
    const result = problemResponse(error, 'req');
    expect(result.body).not.toContain('boom');
    expect(result.body).not.toMatch(/at .+:\d+:\d+/);
  });
});
