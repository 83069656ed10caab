import { AuditRepository } from '#adapters/postgres/audit.ts';
import { database } from '#adapters/postgres/db.ts';
import { UsageRepository } from '#adapters/postgres/usage.ts';
import { encodeCursor } from '#domain/cursor.ts';
import { createApiHandler } from '#http/api-handler.ts';
import { activityRoutes } from '#http/routes/activity.ts';
import { requirePrincipal } from '#http/types.ts';

export const handler = createApiHandler(activityRoutes, {
  'GET /v1/usage': async (request, { query }) => {
    const { tenantId } = requirePrincipal(request);
    const { from, to } = query;
    const rows = await new UsageRepository(database()).daily(tenantId, from, to);
    const totals = {
      executions: 0,
      succeeded: 0,
      failed: 0,
      cached: 0,
      input_tokens: 0,
      output_tokens: 0,
      cost_usd: 0,
    };
    for (const r of rows) {
      totals.executions += r.executions;
      totals.succeeded += r.succeeded;
      totals.failed += r.failed;
      totals.cached += r.cached;
      totals.input_tokens += r.inputTokens;
      totals.output_tokens += r.outputTokens;
      totals.cost_usd += r.costUsd;
    }
    totals.cost_usd = Math.round(totals.cost_usd * 1e8) / 1e8;
    return {
      status: 200,
      body: {
        from,
        to,
        totals,
        data: rows.map((r) => ({
          day: r.day,
          agent_id: r.agentId,
          model: r.model,
          executions: r.executions,
          succeeded: r.succeeded,
          failed: r.failed,
          cached: r.cached,
          input_tokens: r.inputTokens,
          output_tokens: r.outputTokens,
          cost_usd: r.costUsd,
        })),
      },
      cacheControl: 'private, no-store',
    };
  },

  'GET /v1/audit': async (request, { query }) => {
    const { tenantId } = requirePrincipal(request);
    const { limit, cursor: after } = query;
    const rows = await new AuditRepository(database()).page(tenantId, limit + 1, after);
    const items = rows.slice(0, limit);
    const last = items[items.length - 1];
    return {
      status: 200,
      body: {
        data: items.map((e) => ({
          id: e.id,
          at: e.at.toISOString(),
          action: e.action,
          resource_type: e.resourceType,
          resource_id: e.resourceId,
          key_id: e.keyId,
          request_id: e.requestId,
        })),
        next_cursor: rows.length > limit && last ? encodeCursor({ createdAt: last.at, id: last.id }) : null,
      },
      cacheControl: 'private, no-store',
    };
  },
});
