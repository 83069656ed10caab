import { createApiHandler } from '../../shared/http/api-handler.ts';
import { buildOpenApiDocument } from '../../shared/http/openapi.ts';
import { openApiRoutes } from '../../shared/http/routes/public.ts';

let document: ReturnType<typeof buildOpenApiDocument> | undefined;

export const handler = createApiHandler(openApiRoutes, {
  'GET /openapi.json': async () => {
    document ??= buildOpenApiDocument();
    return { status: 200, body: document, cacheControl: 'public, max-age=300' };
  },
});
