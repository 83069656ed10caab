import { encodeCursor, type KeysetPosition } from '#domain/cursor.ts';
import { recordAudit } from '#services/audit.ts';
import { withIdempotencyKey } from '#services/idempotency.ts';
import { requireOptionalObjectBody } from './query.ts';
import type { ApiRequest, ApiResponse } from './types.ts';
import { requirePrincipal } from './types.ts';

type RowIdempotency = Parameters<Parameters<typeof withIdempotencyKey>[2]>[0];

/**
 * The accept path of the starting POSTs (an agent execution, a workflow execution), written
 * once: `Idempotency-Key` (a replay answers the existing resource as it is now, not audited
 * again), the audit record, `Location`, and `?wait=N` (200 when finished within N seconds,
 * else 202).
 */
export const acceptStart = async <Accepted extends { readonly id: string }, Current>(
  request: ApiRequest,
  options: {
    /** The parent resource's id, part of the idempotency scope with the tenant and route. */
    readonly parentId: string;
    readonly wait: number;
    readonly start: (
      idempotency: RowIdempotency | undefined,
    ) => Promise<{ readonly accepted: Accepted; readonly replayed: boolean }>;
    readonly audit: { readonly action: string; readonly resourceType: string };
    readonly location: (id: string) => string;
    /** What is answered without waiting; `waitForFinish` answers it after up to `wait` seconds. */
    readonly current: (accepted: Accepted) => Current;
    readonly waitForFinish: (accepted: Accepted, seconds: number) => Promise<Current>;
    readonly isFinished: (current: Current) => boolean;
    readonly respond: (status: 200 | 202, current: Current, headers: Record<string, string>) => ApiResponse;
  },
): Promise<ApiResponse> => {
  const principal = requirePrincipal(request);
  return withIdempotencyKey(
    request,
    `${principal.tenantId}:${request.routeKey}:${options.parentId}`,
    async (idempotency) => {
      const { accepted, replayed } = await options.start(idempotency);
      if (!replayed) {
        await recordAudit(principal, {
          ...options.audit,
          resourceId: accepted.id,
          requestId: request.requestId,
        });
      }
      const current =
        options.wait > 0 ? await options.waitForFinish(accepted, options.wait) : options.current(accepted);
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
    readonly audit: { readonly action: string; readonly resourceType: string };
    readonly respond: (run: Run) => ApiResponse;
  },
): Promise<ApiResponse> => {
  const principal = requirePrincipal(request);
  requireOptionalObjectBody(request.body);
  const cancelled = await options.cancel(principal.tenantId);
  await recordAudit(principal, { ...options.audit, resourceId: cancelled.id, requestId: request.requestId });
  return options.respond(cancelled);
};

/** A keyset page as the API answers it: `{data, next_cursor}`, never cached. */
export const pageResponse = <T>(
  page: { readonly items: readonly T[]; readonly next: KeysetPosition | null | undefined },
  toResource: (item: T) => unknown,
): ApiResponse => ({
  status: 200,
  body: { data: page.items.map(toResource), next_cursor: page.next ? encodeCursor(page.next) : null },
  cacheControl: 'private, no-store',
});
