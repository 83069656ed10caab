import * as z from 'zod/mini';
import { createWorkflowBody, updateWorkflowBody, workflowPageLimit } from '#domain/workflow.ts';
import { oneOfParam, pageQuery, textParam } from '../query.ts';
import { defineRoutes } from '../route.ts';
import { created, json, versionedAndDated } from './responses.ts';

export const workflowRoutes = /* @__PURE__ */ defineRoutes(
  'workflows',
  ({ pageOf, workflowListItem, workflowSchema, workflowStatsSchema }) => [
    {
      method: 'POST',
      path: '/v1/workflows',
      auth: 'tenant',
      summary: 'Create a workflow',
      body: createWorkflowBody,
      idempotent: true,
      responses: { 201: created('The workflow', workflowSchema) },
    },
    {
      method: 'GET',
      path: '/v1/workflows',
      auth: 'tenant',
      summary: 'List workflows (q: case-insensitive name prefix)',
      query: pageQuery(workflowPageLimit, {
        q: textParam({ maxLength: 200 }, 'Case-insensitive name prefix'),
      }),
      responses: { 200: json('A page of workflows', pageOf(workflowListItem)) },
    },
    {
      method: 'GET',
      path: '/v1/workflows/stats',
      auth: 'tenant',
      summary: "30-day statistics of all the tenant's workflows",
      responses: { 200: json('Statistics per workflow', z.object({ data: z.array(workflowStatsSchema) })) },
    },
    {
      method: 'GET',
      path: '/v1/workflows/{id}',
      auth: 'tenant',
      summary: 'Get a workflow (?include=steps for its steps)',
      query: z.object({ include: oneOfParam(['steps'], 'Add the steps') }),
      conditional: 'read',
      responses: { 200: json('The workflow', workflowSchema, versionedAndDated) },
    },
    {
      method: 'PATCH',
      path: '/v1/workflows/{id}',
      auth: 'tenant',
      summary: 'Update a workflow: a new version (runs in flight keep theirs)',
      body: updateWorkflowBody,
      conditional: 'write',
      responses: { 200: json('The workflow as updated', workflowSchema, versionedAndDated) },
    },
    {
      method: 'DELETE',
      path: '/v1/workflows/{id}',
      auth: 'tenant',
      summary: 'Delete a workflow (its executions are kept until retention)',
      conditional: 'write',
      responses: { 204: { description: 'Deleted' } },
    },
    {
      method: 'GET',
      path: '/v1/workflows/{id}/stats',
      auth: 'tenant',
      summary: "30-day statistics of a workflow's executions",
      responses: { 200: json('The statistics', workflowStatsSchema) },
    },
  ],
);
