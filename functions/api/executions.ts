import type { Execution } from '#domain/execution.ts';
import { isFinished, toExecutionResource } from '#domain/execution.ts';
import { acceptStart, cancelWithAudit, listPage } from '#http/accept.ts';
import { createApiHandler } from '#http/api-handler.ts';
import { versionEtag } from '#http/preconditions.ts';
import { executionRoutes } from '#http/routes/executions.ts';
import type { ApiResponse } from '#http/types.ts';
import { requirePrincipal } from '#http/types.ts';
import { executionService } from '#services/container.ts';

const executions = executionService;

/** Finished executions never change again but for a redrive, which changes the ETag. */
const cacheControlOf = (execution: Execution): string =>
  isFinished(execution.status) ? 'private, max-age=86400' : 'private, no-cache';

const executionResponse = (
  status: number,
  execution: Execution,
  headers?: Record<string, string>,
): ApiResponse => ({
  status,
  body: toExecutionResource(execution),
  etag: versionEtag(execution.version),
  cacheControl: cacheControlOf(execution),
  ...(headers && { headers }),
});

export const handler = createApiHandler(executionRoutes, {
  'POST /v1/agents/{id}/executions': (request, { params, query, body }) =>
    acceptStart(request, {
      parentId: params.id,
      wait: query.wait,
      start: (tenantId, context) => executions().accept(tenantId, params.id, body, context),
      audit: { action: 'execution.created', resourceType: 'execution' },
      location: (id) => `/v1/executions/${id}`,
      current: (accepted) => accepted,
      waitForFinish: (tenantId, accepted, seconds) => executions().waitForFinish(tenantId, accepted, seconds),
      isFinished: (current) => isFinished(current.status),
      respond: executionResponse,
    }),

  'GET /v1/executions/{id}': async (request, { params }) => {
    const { tenantId } = requirePrincipal(request);
    return executionResponse(200, await executions().get(tenantId, params.id));
  },

  'POST /v1/executions/{id}/cancel': (request, { params }) =>
    cancelWithAudit(request, {
      cancel: (tenantId) => executions().cancel(tenantId, params.id),
      audit: { action: 'execution.cancelled', resourceType: 'execution' },
      respond: (cancelled) => executionResponse(200, cancelled),
    }),

  'GET /v1/agents/{id}/executions': (request, { params, query }) =>
    listPage(
      request,
      query,
      (list) => executions().listForAgent({ ...list, agentId: params.id }),
      toExecutionResource,
    ),
});
