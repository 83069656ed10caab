import type { Agent, AgentSummary } from '#domain/agent.ts';
import { toAgentResource } from '#domain/agent.ts';
import { auditRequest, listPage } from '#http/accept.ts';
import { createApiHandler } from '#http/api-handler.ts';
import { ifMatchVersions, versionEtag } from '#http/preconditions.ts';
import { agentRoutes } from '#http/routes/agents.ts';
import type { ApiRequest, ApiResponse } from '#http/types.ts';
import { requirePrincipal } from '#http/types.ts';
import { agentService } from '#services/container.ts';
import { withIdempotencyKey } from '#services/idempotency.ts';

const agents = agentService;

/** Authenticated, may change at any time: clients revalidate with the ETag. */
const agentCacheControl = 'private, no-cache';

const agentResponse = (
  status: number,
  agent: Agent,
  headers?: Record<string, string>,
  webhookSecret?: string,
): ApiResponse => ({
  status,
  // The webhook secret appears in the response of the write that set it, and never again.
  body: webhookSecret ? { ...toAgentResource(agent), webhook_secret: webhookSecret } : toAgentResource(agent),
  etag: versionEtag(agent.version),
  lastModified: agent.updatedAt,
  cacheControl: agentCacheControl,
  ...(headers && { headers }),
});

const audit = (request: ApiRequest, action: `agent.${'created' | 'updated' | 'deleted'}`, id: string) =>
  auditRequest(request, { action, resourceType: 'agent' }, id);

const listItem = (agent: AgentSummary): Record<string, unknown> => {
  const item: Record<string, unknown> = { id: agent.id };
  if (agent.name !== undefined) item['name'] = agent.name;
  if (agent.model !== undefined) item['model'] = agent.model;
  if (agent.systemPrompt !== undefined) item['system_prompt'] = agent.systemPrompt;
  if (agent.configuration !== undefined) item['configuration'] = agent.configuration;
  if (agent.status !== undefined) item['status'] = agent.status;
  return item;
};

export const handler = createApiHandler(agentRoutes, {
  'POST /v1/agents': async (request, { body }) => {
    const { tenantId } = requirePrincipal(request);
    return withIdempotencyKey(request, `${tenantId}:${request.routeKey}`, async (idempotency) => {
      const { agent, webhookSecret, replayed } = await agents().create(tenantId, body, idempotency);
      if (!replayed) await audit(request, 'agent.created', agent.id);
      return agentResponse(201, agent, { location: `/v1/agents/${agent.id}` }, webhookSecret);
    });
  },

  'GET /v1/agents/{id}': async (request, { params }) => {
    const { tenantId } = requirePrincipal(request);
    return agentResponse(200, await agents().get(tenantId, params.id));
  },

  'PATCH /v1/agents/{id}': async (request, { params, body }) => {
    const { tenantId } = requirePrincipal(request);
    const { agent, webhookSecret } = await agents().update(
      tenantId,
      params.id,
      body,
      ifMatchVersions(request.headers['if-match']),
    );
    await audit(request, 'agent.updated', agent.id);
    return agentResponse(200, agent, undefined, webhookSecret);
  },

  'DELETE /v1/agents/{id}': async (request, { params }) => {
    const { tenantId } = requirePrincipal(request);
    const { id } = params;
    await agents().delete(tenantId, id, ifMatchVersions(request.headers['if-match']));
    await audit(request, 'agent.deleted', id);
    return { status: 204 };
  },

  'GET /v1/agents': (request, { query }) => {
    const { fields } = query;
    return listPage(
      request,
      query,
      (list) => agents().list(list),
      (agent) => {
        const item = listItem(agent);
        if (fields.has('created_at')) item['created_at'] = agent.createdAt?.toISOString();
        if (fields.has('updated_at')) item['updated_at'] = agent.updatedAt?.toISOString();
        if (fields.has('execution_count')) item['execution_count'] = agent.executionCount ?? 0;
        if (fields.has('last_execution_at'))
          item['last_execution_at'] = agent.lastExecutionAt?.toISOString() ?? null;
        return item;
      },
    );
  },
});
