import * as z from 'zod/mini';
import { createWorkflowRunBody, workflowPageLimit, workflowRunStatuses } from '#domain/workflow.ts';
import { oneOfParam, pageQuery, waitParam } from '../query.ts';
import { defineRoutes } from '../route.ts';
import { json, problem, started, versioned } from './responses.ts';

export const workflowExecutionRoutes = /* @__PURE__ */ defineRoutes(
  'workflowExecutions',
  ({ pageOf, stepRunSchema, workflowRunSchema }) => [
    {
      method: 'POST',
      path: '/v1/workflows/{id}/executions',
      auth: 'tenant',
      summary: 'Execute a workflow (202, or 200 when finished within ?wait=N)',
      query: z.object({ wait: waitParam('workflow execution, its steps included') }),
      body: createWorkflowRunBody,
      idempotent: true,
      responses: {
        ...started(workflowRunSchema),
        409: problem('An agent of the workflow is paused'),
      },
    },
    {
      method: 'GET',
      path: '/v1/workflows/{id}/executions',
      auth: 'tenant',
      summary: "List a workflow's executions",
      query: pageQuery(workflowPageLimit, { status: oneOfParam(workflowRunStatuses, 'Filter by status') }),
      responses: { 200: json('A page of workflow executions, newest first', pageOf(workflowRunSchema)) },
    },
    {
      method: 'GET',
      path: '/v1/workflow-executions/{id}',
      auth: 'tenant',
      summary: 'Get a workflow execution with its steps',
      conditional: 'read',
      responses: { 200: json('The workflow execution with its steps', workflowRunSchema, versioned) },
    },
    {
      method: 'GET',
      path: '/v1/workflow-executions/{id}/steps/{key}',
      auth: 'tenant',
      summary: "One step of a workflow execution with its whole input and output (a run's view clips them)",
      params: { key: z.string().check(z.regex(/^[A-Za-z][A-Za-z0-9_-]{0,63}$/)) },
      responses: { 200: json('The step', stepRunSchema) },
    },
    {
      method: 'POST',
      path: '/v1/workflow-executions/{id}/cancel',
      auth: 'tenant',
      summary: 'Cancel a workflow execution: no further steps are scheduled',
      responses: {
        200: json('The workflow execution, cancelled', workflowRunSchema, versioned),
        409: problem('The workflow execution has already finished'),
      },
    },
  ],
);
