import type { StepRun, WorkflowRun } from '#domain/workflow.ts';
import { isRunFinished, toRunResource, toStepResource } from '#domain/workflow.ts';
import { acceptStart, cancelWithAudit, listPage } from '#http/accept.ts';
import { createApiHandler } from '#http/api-handler.ts';
import { versionEtag } from '#http/preconditions.ts';
import { workflowExecutionRoutes } from '#http/routes/workflow-executions.ts';
import type { ApiResponse } from '#http/types.ts';
import { requirePrincipal } from '#http/types.ts';
import { workflowService } from '#services/container.ts';

const workflows = workflowService;

const runResponse = (
  status: number,
  run: WorkflowRun,
  steps?: readonly StepRun[],
  headers?: Record<string, string>,
): ApiResponse => ({
  status,
  body: toRunResource(run, steps),
  etag: versionEtag(run.version),
  // A finished run never changes again.
  cacheControl: isRunFinished(run.status) ? 'private, max-age=86400' : 'private, no-cache',
  ...(headers && { headers }),
});

export const handler = createApiHandler(workflowExecutionRoutes, {
  'POST /v1/workflows/{id}/executions': (request, { params, query, body }) =>
    acceptStart(request, {
      parentId: params.id,
      wait: query.wait,
      start: (tenantId, context) => workflows().start(tenantId, params.id, body, context),
      audit: { action: 'workflow_execution.created', resourceType: 'workflow_execution' },
      location: (id) => `/v1/workflow-executions/${id}`,
      current: (run): { run: WorkflowRun; steps?: readonly StepRun[] } => ({ run }),
      waitForFinish: (tenantId, run, seconds) => workflows().waitForFinish(tenantId, run, seconds),
      isFinished: (current) => isRunFinished(current.run.status),
      respond: (status, current, headers) => runResponse(status, current.run, current.steps, headers),
    }),

  'GET /v1/workflow-executions/{id}': async (request, { params }) => {
    const { tenantId } = requirePrincipal(request);
    const { run, steps } = await workflows().getRun(tenantId, params.id);
    return runResponse(200, run, steps);
  },

  'GET /v1/workflow-executions/{id}/steps/{key}': async (request, { params }) => {
    const { tenantId } = requirePrincipal(request);
    const step = await workflows().getRunStep(tenantId, params.id, params.key);
    return {
      status: 200,
      body: toStepResource(step),
      // A finished step never changes again.
      cacheControl: step.completedAt ? 'private, max-age=86400' : 'private, no-cache',
    };
  },

  'POST /v1/workflow-executions/{id}/cancel': (request, { params }) =>
    cancelWithAudit(request, {
      cancel: (tenantId) => workflows().cancelRun(tenantId, params.id),
      audit: { action: 'workflow_execution.cancelled', resourceType: 'workflow_execution' },
      respond: (cancelled) => runResponse(200, cancelled),
    }),

  'GET /v1/workflows/{id}/executions': (request, { params, query }) =>
    listPage(
      request,
      query,
      (list) => workflows().listRuns({ ...list, workflowId: params.id }),
      (run) => toRunResource(run),
    ),
});
