import { methodNotAllowed, notFound } from '#domain/errors.ts';
import { createDefaultHandler } from '#http/api-handler.ts';
import { createRouteTable } from '#http/route-table.ts';
import { routes } from '#manifest';

const table = createRouteTable(routes);

/**
 * API Gateway's `$default` route: whatever no route matched. Tells a wrong method (405,
 * with `Allow`) from an unknown path (404) using the same manifest the routes come from.
 */
export const handler = createDefaultHandler(async (request) => {
  const match = table.match(request.method, request.path);
  if (match.kind === 'method-not-allowed') throw methodNotAllowed(match.allow);
  throw notFound('route');
});
