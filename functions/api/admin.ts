import { notFound } from '#domain/errors.ts';
import { createApiHandler } from '#http/api-handler.ts';
import { adminRoutes } from '#http/routes/admin.ts';
import type { ApiRequest } from '#http/types.ts';
import { type QueueName, queues } from '#manifest';
import { executionRepository, tenantRepository } from '#services/container.ts';
import { peekDeadLetters, queueOverview, redriveDeadLetters } from '#services/dead-letters.ts';

const queueNames = queues.map((q) => q.name) as readonly string[];

const queueOf = (request: ApiRequest): QueueName => {
  const name = request.pathParameters['queue'] ?? '';
  if (!queueNames.includes(name)) throw notFound(`queue (one of ${queueNames.join(', ')})`);
  return name as QueueName;
};

const statsBody = (s: Awaited<ReturnType<typeof queueOverview>>[number]['queue']) => ({
  name: s.queue,
  visible: s.visible,
  in_flight: s.inFlight,
  delayed: s.delayed,
  oldest_message_age_seconds: s.oldestMessageAgeSeconds,
});

/** Operator endpoints (`SWITCHYARD_ADMIN_KEY`); never cached, never tenant-scoped. */
export const handler = createApiHandler(adminRoutes, {
  'GET /v1/admin/tenants': async () => {
    const tenants = await tenantRepository().overview();
    return {
      status: 200,
      body: {
        data: tenants.map((t) => ({
          id: t.id,
          name: t.name,
          created_at: t.createdAt.toISOString(),
          active_keys: t.activeKeys,
          agents: t.agents,
        })),
      },
      cacheControl: 'no-store',
    };
  },

  'GET /v1/admin/queues': async () => {
    const overview = await queueOverview();
    return {
      status: 200,
      body: {
        data: overview.map((entry, i) => ({
          queue: queues[i]!.name,
          priority: queues[i]!.priority,
          main: statsBody(entry.queue),
          dlq: statsBody(entry.dlq),
        })),
      },
      cacheControl: 'no-store',
    };
  },

  'GET /v1/admin/dlq/{queue}': async (request, { query }) => {
    const queue = queueOf(request);
    const letters = await peekDeadLetters(queue, query.limit);
    return {
      status: 200,
      body: {
        queue,
        data: letters.map((l) => ({
          message_id: l.messageId,
          type: l.type,
          ids: l.ids,
          failure: l.failure,
          sent_at: l.sentAt,
          receive_count: l.receiveCount,
        })),
      },
      cacheControl: 'no-store',
    };
  },

  'POST /v1/admin/dlq/{queue}/redrive': async (request, { query }) => {
    const queue = queueOf(request);
    const result = await redriveDeadLetters(queue, executionRepository(), query.limit);
    return {
      status: 200,
      body: { queue, moved: result.moved, executions_requeued: result.executionsRequeued },
      cacheControl: 'no-store',
    };
  },
});
