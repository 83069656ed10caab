import type { Workflow, WorkflowWithSteps } from '#domain/workflow.ts';
import { toStatsResource, toWorkflowResource } from '#domain/workflow.ts';
import { auditRequest, listPage } from '#http/accept.ts';
import { createApiHandler } from '#http/api-handler.ts';
import { ifMatchVersions, versionEtag } from '#http/preconditions.ts';
import { workflowRoutes } from '#http/routes/workflows.ts';
import type { ApiRequest, ApiResponse } from '#http/types.ts';
import { requirePrincipal } from '#http/types.ts';
import { workflowService } from '#services/container.ts';
import { withIdempotencyKey } from '#services/idempotency.ts';

const workflows = workflowService;

const workflowResponse = (
  status: number,
  workflow: Workflow | WorkflowWithSteps,
  headers?: Record<string, string>,
  webhookSecret?: string,
): ApiResponse => {
  const body = toWorkflowResource(workflow);
  return {
    status,
    // The webhook secret appears in the response of the write that set it, and never again.
    body: webhookSecret ? { ...body, webhook_secret: webhookSecret } : body,
    etag: versionEtag(workflow.version, 'steps' in workflow ? 'steps' : undefined),
    lastModified: workflow.updatedAt,
    cacheControl: 'private, no-cache',
    ...(headers && { headers }),
  };
};

const audit = (request: ApiRequest, action: `workflow.${'created' | 'updated' | 'deleted'}`, id: string) =>
  auditRequest(request, { action, resourceType: 'workflow' }, id);

export const handler = createApiHandler(workflowRoutes, {
  'POST /v1/workflows': async (request, { body }) => {
    const { tenantId } = requirePrincipal(request);
    return withIdempotencyKey(request, `${tenantId}:${request.routeKey}`, async (idempotency) => {
      const { workflow, webhookSecret, replayed } = await workflows().create(tenantId, body, idempotency);
      if (!replayed) await audit(request, 'workflow.created', workflow.id);
      return workflowResponse(201, workflow, { location: `/v1/workflows/${workflow.id}` }, webhookSecret);
    });
  },

  'GET /v1/workflows/{id}': async (request, { params, query }) => {
    const { tenantId } = requirePrincipal(request);
    const { id } = params;
    // Steps are loaded only when asked for (seed 000's lazy loading), each form cached apart.
    const workflow = query.include
      ? await workflows().getWithSteps(tenantId, id)
      : await workflows().get(tenantId, id);
    return workflowResponse(200, workflow);
  },

  'PATCH /v1/workflows/{id}': async (request, { params, body }) => {
    const { tenantId } = requirePrincipal(request);
    const { workflow, webhookSecret } = await workflows().update(
      tenantId,
      params.id,
      body,
      ifMatchVersions(request.headers['if-match']),
    );
    await audit(request, 'workflow.updated', workflow.id);
    return workflowResponse(200, workflow, undefined, webhookSecret);
  },

  'DELETE /v1/workflows/{id}': async (request, { params }) => {
    const { tenantId } = requirePrincipal(request);
    const { id } = params;
    await workflows().delete(tenantId, id, ifMatchVersions(request.headers['if-match']));
    await audit(request, 'workflow.deleted', id);
    return { status: 204 };
  },

  'GET /v1/workflows': (request, { query }) =>
    listPage(
      request,
      query,
      (list) => workflows().list(list),
      (workflow) => ({
        ...toWorkflowResource(workflow),
        execution_count: workflow.executionCount,
        last_execution_at: workflow.lastExecutionAt?.toISOString() ?? null,
      }),
    ),

  'GET /v1/workflows/stats': async (request) => {
    const { tenantId } = requirePrincipal(request);
    const stats = await workflows().stats(tenantId);
    return { status: 200, body: { data: stats.map(toStatsResource) }, cacheControl: 'private, no-store' };
  },

  'GET /v1/workflows/{id}/stats': async (request, { params }) => {
    const { tenantId } = requirePrincipal(request);
    const [stats] = await workflows().stats(tenantId, params.id);
    return { status: 200, body: toStatsResource(stats!), cacheControl: 'private, no-store' };
  },
});
