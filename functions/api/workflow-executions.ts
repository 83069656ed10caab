import { encodeCursor } from '../../shared/domain/cursor.ts';
import type { StepRun, WorkflowRun } from '../../shared/domain/workflow.ts';
import {
  createWorkflowRunBody,
  isRunFinished,
  toRunResource,
  toStepResource,
  workflowPageLimit,
  workflowRunStatuses,
} from '../../shared/domain/workflow.ts';
import { createApiHandler } from '../../shared/http/api-handler.ts';
import { versionEtag } from '../../shared/http/preconditions.ts';
import { QueryReader, requireOptionalObjectBody, waitSecondsOf } from '../../shared/http/query.ts';
import type { ApiResponse } from '../../shared/http/types.ts';
import { requirePrincipal } from '../../shared/http/types.ts';
import { validateBody } from '../../shared/http/validation.ts';
import { recordAudit } from '../../shared/services/audit.ts';
import { workflowService } from '../../shared/services/container.ts';
import { withIdempotencyKey } from '../../shared/services/idempotency.ts';

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

export const handler = createApiHandler({
  'POST /v1/workflows/{id}/executions': async (request) => {
    const principal = requirePrincipal(request);
    const wait = waitSecondsOf(request.query);
    const body = validateBody(createWorkflowRunBody, request.body);
    const workflowId = request.pathParameters['id']!;
    return withIdempotencyKey(
      request,
      `${principal.tenantId}:${request.routeKey}:${workflowId}`,
      async (idempotency) => {
        const { run: accepted, replayed } = await workflows().start(
          principal.tenantId,
          workflowId,
          body,
          request.headers['x-amzn-trace-id'],
          idempotency,
        );
        // A replay (the same Idempotency-Key and body) answers the existing run as it is now.
        if (!replayed) {
          await recordAudit(principal, {
            action: 'workflow_execution.created',
            resourceType: 'workflow_execution',
            resourceId: accepted.id,
            requestId: request.requestId,
          });
        }
        const location = { location: `/v1/workflow-executions/${accepted.id}` };
        const current =
          wait > 0 ? await workflows().waitForFinish(principal.tenantId, accepted, wait) : { run: accepted };
        return runResponse(
          isRunFinished(current.run.status) ? 200 : 202,
          current.run,
          current.steps,
          location,
        );
      },
    );
  },

  'GET /v1/workflow-executions/{id}': async (request) => {
    const { tenantId } = requirePrincipal(request);
    const { run, steps } = await workflows().getRun(tenantId, request.pathParameters['id']!);
    return runResponse(200, run, steps);
  },

  'GET /v1/workflow-executions/{id}/steps/{key}': async (request) => {
    const { tenantId } = requirePrincipal(request);
    const step = await workflows().getRunStep(
      tenantId,
      request.pathParameters['id']!,
      request.pathParameters['key']!,
    );
    return {
      status: 200,
      body: toStepResource(step),
      // A finished step never changes again.
      cacheControl: step.completedAt ? 'private, max-age=86400' : 'private, no-cache',
    };
  },

  'POST /v1/workflow-executions/{id}/cancel': async (request) => {
    const principal = requirePrincipal(request);
    requireOptionalObjectBody(request.body);
    const cancelled = await workflows().cancelRun(principal.tenantId, request.pathParameters['id']!);
    await recordAudit(principal, {
      action: 'workflow_execution.cancelled',
      resourceType: 'workflow_execution',
      resourceId: cancelled.id,
      requestId: request.requestId,
    });
    return runResponse(200, cancelled);
  },

  'GET /v1/workflows/{id}/executions': async (request) => {
    const { tenantId } = requirePrincipal(request);
    const query = new QueryReader(request.query);
    const limit = query.integer('limit', workflowPageLimit);
    const after = query.cursor('cursor');
    const status = query.oneOf('status', workflowRunStatuses);
    query.done();
    const page = await workflows().listRuns({
      tenantId,
      workflowId: request.pathParameters['id']!,
      limit,
      ...(status && { status }),
      ...(after && { after }),
    });
    return {
      status: 200,
      body: {
        data: page.items.map((run) => toRunResource(run)),
        next_cursor: page.next ? encodeCursor(page.next) : null,
      },
      cacheControl: 'private, no-store',
    };
  },
});
