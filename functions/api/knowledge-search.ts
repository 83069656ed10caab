import { toSearchHitResource } from '#domain/knowledge.ts';
import { createApiHandler } from '#http/api-handler.ts';
import { knowledgeSearchRoutes } from '#http/routes/knowledge-search.ts';
import { requirePrincipal } from '#http/types.ts';
import { knowledgeSearchService } from '#services/knowledge-search.ts';

export const handler = createApiHandler(knowledgeSearchRoutes, {
  'POST /v1/knowledge-bases/{id}/search': async (request, { params, body }) => {
    const { tenantId } = requirePrincipal(request);
    const answer = await knowledgeSearchService().search(tenantId, params.id, body);
    return {
      status: 200,
      body: {
        hits: answer.hits.map(toSearchHitResource),
        facets: { content_type: answer.facets.contentType, tags: answer.facets.tags },
        mode: answer.mode,
        cached: answer.cached,
        took_ms: answer.tookMs,
      },
      // A POST's answer: no HTTP cache keeps it; the service has its own.
      cacheControl: 'no-store',
    };
  },
});
