import { encodeCursor } from '../../shared/domain/cursor.ts';
import type { Execution } from '../../shared/domain/execution.ts';
import {
  createExecutionBody,
  executionStatuses,
  isFinished,
  toExecutionResource,
} from '../../shared/domain/execution.ts';
import { createApiHandler } from '../../shared/http/api-handler.ts';
import { versionEtag } from '../../shared/http/preconditions.ts';
import { QueryReader, requireOptionalObjectBody, waitSecondsOf } from '../../shared/http/query.ts';
import type { ApiResponse } from '../../shared/http/types.ts';
import { requirePrincipal } from '../../shared/http/types.ts';
import { validateBody } from '../../shared/http/validation.ts';
import { recordAudit } from '../../shared/services/audit.ts';
import { executionService } from '../../shared/services/container.ts';
import { withIdempotencyKey } from '../../shared/services/idempotency.ts';

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

export const handler = createApiHandler({
  'POST /v1/agents/{id}/executions': async (request) => {
    const principal = requirePrincipal(request);
    const wait = waitSecondsOf(request.query);
    const body = validateBody(createExecutionBody, request.body);
    const agentId = request.pathParameters['id']!;
    return withIdempotencyKey(
      request,
      `${principal.tenantId}:${request.routeKey}:${agentId}`,
      async (idempotency) => {
        const trace = request.headers['x-amzn-trace-id'];
        const { execution: accepted, replayed } = await executions().accept(
          principal.tenantId,
          agentId,
          body,
          trace,
          idempotency,
        );
        // A replay (the same Idempotency-Key and body) answers the existing execution as it is now.
        if (!replayed) {
          await recordAudit(principal, {
            action: 'execution.created',
            resourceType: 'execution',
            resourceId: accepted.id,
            requestId: request.requestId,
          });
        }
        const location = { location: `/v1/executions/${accepted.id}` };
        const current =
          wait > 0 ? await executions().waitForFinish(principal.tenantId, accepted, wait) : accepted;
        return isFinished(current.status)
          ? executionResponse(200, current, location)
          : executionResponse(202, current, location);
      },
    );
  },

  'GET /v1/executions/{id}': async (request) => {
    const { tenantId } = requirePrincipal(request);
    return executionResponse(200, await executions().get(tenantId, request.pathParameters['id']!));
  },

  'POST /v1/executions/{id}/cancel': async (request) => {
    const principal = requirePrincipal(request);
    requireOptionalObjectBody(request.body);
    const cancelled = await executions().cancel(principal.tenantId, request.pathParameters['id']!);
    await recordAudit(principal, {
      action: 'execution.cancelled',
      resourceType: 'execution',
      resourceId: cancelled.id,
      requestId: request.requestId,
    });
    return executionResponse(200, cancelled);
  },

  'GET /v1/agents/{id}/executions': async (request) => {
    const { tenantId } = requirePrincipal(request);
    const query = new QueryReader(request.query);
    const limit = query.integer('limit', { min: 1, max: 100, fallback: 20 });
    const after = query.cursor('cursor');
    const status = query.oneOf('status', executionStatuses);
    query.done();
    const page = await executions().listForAgent({
      tenantId,
      agentId: request.pathParameters['id']!,
      limit,
      ...(status && { status }),
      ...(after && { after }),
    });
    return {
      status: 200,
      body: {
        data: page.items.map(toExecutionResource),
        next_cursor: page.next ? encodeCursor(page.next) : null,
      },
      cacheControl: 'private, no-store',
    };
  },
});
