import { describe, expect, it } from 'vitest';
import { createRouteTable, type RouteInput } from '#http/route-table.ts';
import { routes } from '#manifest';

const table = createRouteTable(routes);

describe('createRouteTable with the manifest routes', () => {
  it('matches literal routes', () => {
    expect(table.match('GET', '/health')).toEqual({
      kind: 'route',
      routeKey: 'GET /health',
      function: 'health',
      pathParameters: {},
    });
    expect(table.match('POST', '/v1/agents')).toMatchObject({ kind: 'route', routeKey: 'POST /v1/agents' });
    expect(table.match('GET', '/v1/agents')).toMatchObject({ kind: 'route', routeKey: 'GET /v1/agents' });
  });

  it('extracts path parameters', () => {
    expect(table.match('PATCH', '/v1/agents/agt_123')).toEqual({
      kind: 'route',
      routeKey: 'PATCH /v1/agents/{id}',
      function: 'agents',
      pathParameters: { id: 'agt_123' },
    });
  });

  it('URL-decodes parameter values, including an encoded slash', () => {
    expect(table.match('GET', '/v1/agents/a%20b%2Fc%C3%A9')).toMatchObject({
      pathParameters: { id: 'a b/cé' },
    });
  });

  it('passes malformed escapes through undecoded', () => {
    expect(table.match('GET', '/v1/agents/100%')).toMatchObject({
      kind: 'route',
      pathParameters: { id: '100%' },
    });
  });

  it('answers method-not-allowed with the sorted methods of the path', () => {
    expect(table.match('PUT', '/v1/agents/x')).toEqual({
      kind: 'method-not-allowed',
      allow: ['DELETE', 'GET', 'PATCH'],
    });
    expect(table.match('DELETE', '/v1/agents')).toEqual({
      kind: 'method-not-allowed',
      allow: ['GET', 'POST'],
    });
  });

  it('does not treat HEAD as GET', () => {
    expect(table.match('HEAD', '/health')).toEqual({ kind: 'method-not-allowed', allow: ['GET'] });
  });

  it('reports not-found for unknown paths and extra segments', () => {
    expect(table.match('GET', '/nope')).toEqual({ kind: 'not-found' });
    expect(table.match('GET', '/v1/agents/x/runs')).toEqual({ kind: 'not-found' });
    expect(table.match('GET', '/')).toEqual({ kind: 'not-found' });
    expect(table.match('GET', '')).toEqual({ kind: 'not-found' });
  });

  it('does not normalise trailing or doubled slashes', () => {
    expect(table.match('GET', '/v1/agents/')).toEqual({ kind: 'not-found' });
    expect(table.match('GET', '/health/')).toEqual({ kind: 'not-found' });
    expect(table.match('GET', '/v1//agents')).toEqual({ kind: 'not-found' });
    expect(table.match('GET', '/v1/agents//')).toEqual({ kind: 'not-found' });
  });

  it('matches literal segments case-sensitively', () => {
    expect(table.match('GET', '/Health')).toEqual({ kind: 'not-found' });
  });
});

describe('createRouteTable precedence', () => {
  const fixture: RouteInput[] = [
    { method: 'GET', path: '/v1/agents/{id}', function: 'agents' },
    { method: 'GET', path: '/v1/agents/me', function: 'health' },
    { method: 'POST', path: '/v1/agents/{id}/runs', function: 'agents' },
    { method: 'GET', path: '/v1/{kind}/search', function: 'openapi' },
    { method: 'DELETE', path: '/v1/agents/{agentId}/runs/{runId}', function: 'agents' },
    { method: 'POST', path: '/items/special', function: 'health' },
    { method: 'GET', path: '/items/{id}', function: 'agents' },
  ];
  const t = createRouteTable(fixture);

  /** The template `path` matches under `method`, and the parameters it reads. */
  const expectMatch = (method: string, path: string, routeKey: string, pathParameters: object = {}) =>
    expect(t.match(method, path)).toMatchObject({ routeKey, pathParameters });

  it('prefers a literal segment over a parameter, whatever the declaration order', () => {
    expectMatch('GET', '/v1/agents/me', 'GET /v1/agents/me');
    expectMatch('GET', '/v1/agents/you', 'GET /v1/agents/{id}', { id: 'you' });
  });

  it('backtracks into a parameter branch when the literal branch does not match', () => {
    expectMatch('GET', '/v1/agents/search', 'GET /v1/agents/{id}', { id: 'search' });
    expectMatch('GET', '/v1/tools/search', 'GET /v1/{kind}/search', { kind: 'tools' });
  });

  it('uses the less specific template when only it has the method', () => {
    expectMatch('GET', '/items/special', 'GET /items/{id}', { id: 'special' });
    expectMatch('POST', '/items/special', 'POST /items/special');
  });

  it('lists the methods of every matching template in allow', () => {
    expect(t.match('PUT', '/items/special')).toEqual({ kind: 'method-not-allowed', allow: ['GET', 'POST'] });
    expect(t.match('PUT', '/items/other')).toEqual({ kind: 'method-not-allowed', allow: ['GET'] });
  });

  it('names parameters per template', () => {
    expect(t.match('DELETE', '/v1/agents/a1/runs/r%2F2')).toEqual({
      kind: 'route',
      routeKey: 'DELETE /v1/agents/{agentId}/runs/{runId}',
      function: 'agents',
      pathParameters: { agentId: 'a1', runId: 'r/2' },
    });
    expect(t.match('POST', '/v1/agents/a1/runs')).toMatchObject({ pathParameters: { id: 'a1' } });
  });

  it('requires a parameter segment to be non-empty', () => {
    expect(t.match('POST', '/v1/agents//runs')).toEqual({ kind: 'not-found' });
  });

  it('returns fresh pathParameters objects', () => {
    const a = t.match('GET', '/items/1');
    const b = t.match('GET', '/items/1');
    expect(a).toEqual(b);
    if (a.kind !== 'route' || b.kind !== 'route') throw new Error('expected route matches');
    expect(a.pathParameters).not.toBe(b.pathParameters);
  });
});

describe('createRouteTable validation', () => {
  it('rejects templates API Gateway would not accept here', () => {
    expect(() => createRouteTable([{ method: 'GET', path: 'v1/agents', function: 'agents' }])).toThrow(
      /start with/,
    );
    expect(() => createRouteTable([{ method: 'GET', path: '/files/{path+}', function: 'agents' }])).toThrow(
      /Unsupported/,
    );
    expect(() => createRouteTable([{ method: 'GET', path: '/a/x{id}', function: 'agents' }])).toThrow(
      /Unsupported/,
    );
    expect(() => createRouteTable([{ method: 'GET', path: '/a/{id}/{id}', function: 'agents' }])).toThrow(
      /Duplicate path parameter/,
    );
  });

  it('rejects two routes with the same method and shape', () => {
    expect(() =>
      createRouteTable([
        { method: 'GET', path: '/a/{id}', function: 'agents' },
        { method: 'GET', path: '/a/{name}', function: 'agents' },
      ]),
    ).toThrow(/Duplicate route/);
  });
});
