import { createApiHandler } from '#http/api-handler.ts';
import { buildOpenApiDocument } from '#http/openapi.ts';
import { openApiRoutes } from '#http/routes/public.ts';

let document: ReturnType<typeof buildOpenApiDocument> | undefined;

export const handler = createApiHandler(openApiRoutes, {
  'GET /openapi.json': async () => {
    document ??= buildOpenApiDocument();
    return { status: 200, body: document, cacheControl: 'public, max-age=300' };
  },
});
