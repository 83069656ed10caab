import {
  agentListFields,
  agentPageLimit,
  agentStatuses,
  createAgentBody,
  updateAgentBody,
} from '#domain/agent.ts';
import { fieldsParam, oneOfParam, pageQuery } from '../query.ts';
import { defineRoutes } from '../route.ts';
import { created, json, problem, versionedAndDated } from './responses.ts';

export const agentRoutes = /* @__PURE__ */ defineRoutes(
  'agents',
  ({ agentListItem, agentSchema, pageOf }) => [
    {
      method: 'POST',
      path: '/v1/agents',
      auth: 'tenant',
      summary: 'Create an agent',
      body: createAgentBody,
      idempotent: true,
      responses: { 201: created('The agent', agentSchema) },
    },
    {
      method: 'GET',
      path: '/v1/agents',
      auth: 'tenant',
      summary: 'List agents',
      query: pageQuery(agentPageLimit, {
        fields: fieldsParam(
          agentListFields,
          'id',
          `Comma-separated subset of: ${agentListFields.join(', ')} (id is always included)`,
        ),
        status: oneOfParam(agentStatuses, 'Filter by status'),
      }),
      responses: { 200: json('A page of agents', pageOf(agentListItem)) },
    },
    {
      method: 'GET',
      path: '/v1/agents/{id}',
      auth: 'tenant',
      summary: 'Get an agent',
      conditional: 'read',
      responses: { 200: json('The agent', agentSchema, versionedAndDated) },
    },
    {
      method: 'PATCH',
      path: '/v1/agents/{id}',
      auth: 'tenant',
      summary: 'Update an agent',
      body: updateAgentBody,
      conditional: 'write',
      responses: { 200: json('The agent as updated', agentSchema, versionedAndDated) },
    },
    {
      method: 'DELETE',
      path: '/v1/agents/{id}',
      auth: 'tenant',
      summary: 'Delete an agent',
      conditional: 'write',
      responses: {
        204: { description: 'Deleted' },
        409: problem('The agent is still used by a workflow or has executions in flight'),
      },
    },
  ],
);
