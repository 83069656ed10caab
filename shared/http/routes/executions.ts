import * as z from 'zod/mini';
import { createExecutionBody, executionStatuses } from '#domain/execution.ts';
import { oneOfParam, pageQuery, waitParam } from '../query.ts';
import { defineRoutes } from '../route.ts';
import { json, problem, started, versioned } from './responses.ts';

export const executionRoutes = /* @__PURE__ */ defineRoutes('executions', ({ executionSchema, pageOf }) => [
  {
    method: 'POST',
    path: '/v1/agents/{id}/executions',
    auth: 'tenant',
    summary: 'Execute an agent (202, or 200 when finished within ?wait=N)',
    query: z.object({ wait: waitParam('execution') }),
    body: createExecutionBody,
    idempotent: true,
    responses: {
      ...started(executionSchema),
      409: problem('The agent is paused; resume it to execute it'),
    },
  },
  {
    method: 'GET',
    path: '/v1/agents/{id}/executions',
    auth: 'tenant',
    summary: "List an agent's executions",
    query: pageQuery(
      { min: 1, max: 100, fallback: 20 },
      { status: oneOfParam(executionStatuses, 'Filter by status') },
    ),
    responses: { 200: json('A page of executions, newest first', pageOf(executionSchema)) },
  },
  {
    method: 'GET',
    path: '/v1/executions/{id}',
    auth: 'tenant',
    summary: 'Get an execution',
    conditional: 'read',
    responses: { 200: json('The execution', executionSchema, versioned) },
  },
  {
    method: 'POST',
    path: '/v1/executions/{id}/cancel',
    auth: 'tenant',
    summary: 'Cancel a queued or running execution',
    responses: {
      200: json('The execution, cancelled', executionSchema, versioned),
      409: problem('The execution has already finished'),
    },
  },
]);
