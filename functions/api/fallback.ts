import { methodNotAllowed, notFound } from '../../shared/domain/errors.ts';
import { createDefaultHandler } from '../../shared/http/api-handler.ts';
import { createRouteTable } from '../../shared/http/route-table.ts';
import { routes } from '../../shared/manifest.ts';

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
