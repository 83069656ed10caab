import * as z from 'zod/mini';
import { integerParam } from '../query.ts';
import { defineRoutes } from '../route.ts';
import { json } from './responses.ts';

export const adminRoutes = /* @__PURE__ */ defineRoutes(
  'admin',
  ({ deadLettersSchema, queueNameSchema, queuesSchema, redriveSchema, tenantsSchema }) => {
    const queue = { queue: queueNameSchema };
    return [
      {
        method: 'GET',
        path: '/v1/admin/tenants',
        auth: 'admin',
        summary: 'List tenants with their live keys and agents (operator)',
        responses: { 200: json('Every tenant', tenantsSchema) },
      },
      {
        method: 'GET',
        path: '/v1/admin/queues',
        auth: 'admin',
        summary: 'Depth, in flight and oldest message age of every queue and DLQ (operator)',
        responses: { 200: json('Every queue with its DLQ', queuesSchema) },
      },
      {
        method: 'GET',
        path: '/v1/admin/dlq/{queue}',
        auth: 'admin',
        summary: "Peek at a queue's dead letters (operator)",
        params: queue,
        query: z.object({ limit: integerParam({ min: 1, max: 10, fallback: 10 }, 'At most 10') }),
        responses: { 200: json('The dead letters, left in place', deadLettersSchema) },
      },
      {
        method: 'POST',
        path: '/v1/admin/dlq/{queue}/redrive',
        auth: 'admin',
        summary: "Move a queue's dead letters back; their executions return to queued (operator)",
        params: queue,
        query: z.object({
          limit: integerParam({ min: 1, max: 10_000, fallback: 1_000 }, 'Messages to move'),
        }),
        responses: { 200: json('What was moved', redriveSchema) },
      },
    ];
  },
);
