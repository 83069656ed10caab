import { describe, expect, it } from 'vitest';
import { createApiHandler } from '#http/api-handler.ts';
import { activityRoutes } from '#http/routes/activity.ts';
import { routeKey, routes } from '#manifest';

const ok = async () => ({ status: 200 });

describe('route definitions', () => {
  it('are the manifest route list, one key each', () => {
    const keys = routes.map(routeKey);
    expect(new Set(keys).size).toBe(keys.length);
  });

  it('type a function handler map by its routes: a missing or misspelled key fails the typecheck', () => {
    // Never run: the @ts-expect-error lines are the test (`npm run typecheck` fails if they type-check).
    const typeOnly = () => {
      // @ts-expect-error 'GET /v1/audit' is missing
      createApiHandler(activityRoutes, { 'GET /v1/usage': ok });
      createApiHandler(activityRoutes, {
        'GET /v1/usage': ok,
        'GET /v1/audit': ok,
        // @ts-expect-error no such route in this function
        'GET /v1/audits': ok,
      });
    };
    expect(typeOnly).toBeTypeOf('function');
    expect(() => createApiHandler(activityRoutes, { 'GET /v1/usage': ok } as never)).toThrow(
      'no handler for route GET /v1/audit',
    );
  });

  it('hand handlers their parsed query', () => {
    createApiHandler(activityRoutes, {
      'GET /v1/usage': async (_request, { query }) => ({ status: 200, body: query.from.length }),
      'GET /v1/audit': async (_request, { query }) => ({ status: 200, body: query.limit + 1 }),
    });
  });
});
