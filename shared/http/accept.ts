import { encodeCursor, type KeysetPosition } from '#domain/cursor.ts';
import { newId } from '#domain/ids.ts';
import { recordAudit } from '#services/audit.ts';
import { withIdempotencyKey } from '#services/idempotency.ts';
import type { AuditAction, StartContext } from '#services/ports.ts';
import type { Page } from '#services/resources.ts';
import { requireOptionalObjectBody } from './query.ts';
import type { ApiRequest, ApiResponse } from './types.ts';
import { requirePrincipal } from './types.ts';

/** Records what the request did to a resource, as its principal and under its request id. */
export const auditRequest = (request: ApiRequest, audit: AuditAction, resourceId: string): Promise<void> =>
  recordAudit(requirePrincipal(request), { ...audit, resourceId, requestId: request.requestId });

/**
 * The accept path of the starting POSTs (an agent execution, a workflow execution), written
 * once: `Idempotency-Key` (a replay answers the existing resource as it is now), the audit
 * record (written by the start's own statement, so only for a start that inserts: atomic,
 * and no queue message on the hottest path), `Location`, and `?wait=N` (200 when finished
 * within N seconds, else 202).
 */
export const acceptStart = async <Accepted extends { readonly id: string }, Current>(
  request: ApiRequest,
  options: {
    /** The parent resource's id, part of the idempotency scope with the tenant and route. */
    readonly parentId: string;
    readonly wait: number;
    /**
     * Starts it for the request's tenant, with the request's trace header, key and audit stamp;
     * under a key already used, answers the earlier one.
     */
    readonly start: (tenantId: string, context: StartContext) => Promise<Accepted>;
    readonly audit: AuditAction;
    readonly location: (id: string) => string;
    /** What is answered without waiting; `waitForFinish` answers it after up to `wait` seconds. */
    readonly current: (accepted: Accepted) => Current;
    readonly waitForFinish: (tenantId: string, accepted: Accepted, seconds: number) => Promise<Current>;
    readonly isFinished: (current: Current) => boolean;
    readonly respond: (status: 200 | 202, current: Current, headers: Record<string, string>) => ApiResponse;
  },
): Promise<ApiResponse> => {
  const { tenantId, keyId } = requirePrincipal(request);
  return withIdempotencyKey(
    request,
    `${tenantId}:${request.routeKey}:${options.parentId}`,
    async (idempotency) => {
      const accepted = await options.start(tenantId, {
        trace: request.headers['x-amzn-trace-id'],
        idempotency,
        audit: { id: newId(), ...options.audit, keyId, requestId: request.requestId },
      });
      const current =
        options.wait > 0
          ? await options.waitForFinish(tenantId, accepted, options.wait)
          : options.current(accepted);
      return options.respond(options.isFinished(current) ? 200 : 202, current, {
        location: options.location(accepted.id),
      });
    },
  );
};

/**
 * The cancel action of a run (an agent execution, a workflow execution), written once: the
 * optional JSON object body, the cancel, the audit record, the run as it is now.
 */
export const cancelWithAudit = async <Run extends { readonly id: string }>(
  request: ApiRequest,
  options: {
    readonly cancel: (tenantId: string) => Promise<Run>;
    readonly audit: AuditAction;
    readonly respond: (run: Run) => ApiResponse;
  },
): Promise<ApiResponse> => {
  const { tenantId } = requirePrincipal(request);
  requireOptionalObjectBody(request.body);
  const cancelled = await options.cancel(tenantId);
  await auditRequest(request, options.audit, cancelled.id);
  return options.respond(cancelled);
};

/** A keyset page as the API answers it: `{data, next_cursor}`, never cached. */
export const pageResponse = <T>(page: Page<T>, toResource: (item: T) => unknown): ApiResponse => ({
  status: 200,
  body: { data: page.items.map(toResource), next_cursor: page.next ? encodeCursor(page.next) : null },
  cacheControl: 'private, no-store',
});

/** A list route's query as the services take it: the tenant's, `cursor` as `after`, only the filters given. */
type ListQuery<Q> = Omit<Q, 'cursor'> & { readonly tenantId: string; readonly after?: KeysetPosition };

/**
 * A list route (see query.ts `pageQuery`), written once: the request's tenant, the page from
 * `cursor` on with the filters the client gave (absent ones left out), answered as a page.
 */
export const listPage = async <Q extends { readonly cursor: KeysetPosition | undefined }, T>(
  request: ApiRequest,
  { cursor, ...query }: Q,
  list: (query: ListQuery<Q>) => Promise<Page<T>>,
  toResource: (item: T) => unknown,
): Promise<ApiResponse> => {
  const given = Object.fromEntries(Object.entries(query).filter(([, value]) => value !== undefined));
  const { tenantId } = requirePrincipal(request);
  const page = await list({ ...(given as Omit<Q, 'cursor'>), tenantId, ...(cursor && { after: cursor }) });
  return pageResponse(page, toResource);
};
