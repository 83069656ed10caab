import * as z from 'zod/mini';
import {
  agentListFields,
  agentPageLimit,
  agentResource,
  agentStatuses,
  createAgentBody,
  updateAgentBody,
} from '../domain/agent.ts';
import { createExecutionBody, executionStatuses, maxWaitSeconds } from '../domain/execution.ts';
import {
  createWorkflowBody,
  createWorkflowRunBody,
  inlineStepTextChars,
  stepStatuses,
  updateWorkflowBody,
  workflowPageLimit,
  workflowRunStatuses,
} from '../domain/workflow.ts';
import type { RouteDef } from '../manifest.ts';
import { routeKey, routes } from '../manifest.ts';

/**
 * The OpenAPI 3.1 document, generated from the manifest (paths) and the zod schemas that
 * validate requests (bodies), so it cannot drift from what the API accepts.
 */

interface RouteDoc {
  readonly body?: z.ZodMiniType;
  readonly response?: { status: number; schema?: z.ZodMiniType | Record<string, unknown> };
  readonly query?: readonly { name: string; schema: Record<string, unknown>; description: string }[];
  readonly conditional?: 'read' | 'write';
}

const problemSchema = {
  type: 'object',
  required: ['type', 'title', 'status'],
  properties: {
    type: { type: 'string', format: 'uri' },
    title: { type: 'string' },
    status: { type: 'integer' },
    detail: { type: 'string' },
    instance: { type: 'string' },
    errors: {
      type: 'array',
      items: {
        type: 'object',
        required: ['field', 'detail'],
        properties: { field: { type: 'string' }, detail: { type: 'string' } },
      },
    },
  },
};

const agentListItem = {
  type: 'object',
  required: ['id'],
  properties: {
    ...(z.toJSONSchema(agentResource) as { properties: Record<string, unknown> }).properties,
    execution_count: { type: 'integer', minimum: 0 },
    last_execution_at: { type: ['string', 'null'], format: 'date-time' },
  },
};

const executionSchema = {
  type: 'object',
  required: ['id', 'agent_id', 'status', 'usage', 'attempts', 'queued_at'],
  properties: {
    id: { type: 'string', format: 'uuid' },
    agent_id: { type: 'string', format: 'uuid' },
    status: { type: 'string', enum: [...executionStatuses] },
    input: {},
    metadata: { type: ['object', 'null'] },
    model: { type: 'string' },
    output: { type: ['string', 'null'] },
    error: {
      type: ['object', 'null'],
      properties: { code: { type: 'string' }, message: { type: 'string' } },
    },
    usage: {
      type: 'object',
      properties: {
        input_tokens: { type: 'integer' },
        output_tokens: { type: 'integer' },
        cost_usd: { type: 'number' },
        cached: { type: 'boolean' },
      },
    },
    provider: { type: ['string', 'null'] },
    model_used: { type: ['string', 'null'] },
    attempts: { type: 'integer' },
    queued_at: { type: 'string', format: 'date-time' },
    started_at: { type: ['string', 'null'], format: 'date-time' },
    completed_at: { type: ['string', 'null'], format: 'date-time' },
    duration_ms: { type: ['integer', 'null'] },
  },
};

const pageOf = (item: Record<string, unknown>) => ({
  type: 'object',
  required: ['data', 'next_cursor'],
  properties: { data: { type: 'array', items: item }, next_cursor: { type: ['string', 'null'] } },
});

const cursorParams = [
  { name: 'limit', schema: { type: 'integer', minimum: 1, maximum: 100 }, description: 'Page size' },
  { name: 'cursor', schema: { type: 'string' }, description: 'next_cursor of the previous page' },
];

const queueParam = { type: 'string', enum: ['high', 'default', 'low'] };

const usageSchema = {
  type: 'object',
  properties: {
    input_tokens: { type: 'integer' },
    output_tokens: { type: 'integer' },
    cost_usd: { type: 'number' },
  },
};

const workflowSchema = {
  type: 'object',
  required: ['id', 'name', 'version', 'on_step_failure', 'step_count', 'created_at', 'updated_at'],
  properties: {
    id: { type: 'string', format: 'uuid' },
    name: { type: 'string' },
    description: { type: ['string', 'null'] },
    version: { type: 'integer', description: 'Definition version; a PATCH makes a new one' },
    on_step_failure: { type: 'string', enum: ['fail', 'continue'] },
    webhook_url: { type: ['string', 'null'] },
    step_count: { type: 'integer' },
    created_at: { type: 'string', format: 'date-time' },
    updated_at: { type: 'string', format: 'date-time' },
    steps: { type: 'array', items: { type: 'object' }, description: 'Only with ?include=steps' },
  },
};

const stepRunSchema = {
  type: 'object',
  properties: {
    key: { type: 'string' },
    agent_id: { type: 'string', format: 'uuid' },
    status: { type: 'string', enum: [...stepStatuses] },
    attempts: { type: 'integer' },
    input: { type: ['string', 'null'] },
    output: { type: ['string', 'null'] },
    input_truncated: {
      type: 'boolean',
      description: `In a run's view, inputs over ${inlineStepTextChars} characters are clipped; the step's own route has them whole`,
    },
    output_truncated: {
      type: 'boolean',
      description: `In a run's view, outputs over ${inlineStepTextChars} characters are clipped; the step's own route has them whole`,
    },
    error: { type: ['object', 'null'] },
    usage: usageSchema,
    duration_ms: { type: ['integer', 'null'] },
  },
};

const workflowRunSchema = {
  type: 'object',
  required: ['id', 'workflow_id', 'workflow_version', 'status', 'step_count', 'usage', 'created_at'],
  properties: {
    id: { type: 'string', format: 'uuid' },
    workflow_id: { type: 'string', format: 'uuid' },
    workflow_version: { type: 'integer' },
    status: { type: 'string', enum: [...workflowRunStatuses] },
    input: {},
    metadata: { type: ['object', 'null'] },
    error: { type: ['object', 'null'] },
    step_count: { type: 'integer' },
    steps_finished: { type: 'integer' },
    usage: usageSchema,
    created_at: { type: 'string', format: 'date-time' },
    started_at: { type: ['string', 'null'], format: 'date-time' },
    completed_at: { type: ['string', 'null'], format: 'date-time' },
    duration_ms: { type: ['integer', 'null'] },
    steps: { type: 'array', items: stepRunSchema },
  },
};

const workflowStatsSchema = {
  type: 'object',
  properties: {
    workflow_id: { type: 'string', format: 'uuid' },
    name: { type: 'string' },
    window_days: { type: 'integer' },
    execution_count: { type: 'integer' },
    avg_duration_seconds: { type: 'number' },
    success_count: { type: 'integer' },
    failure_count: { type: 'integer' },
    success_rate: { type: 'number', description: 'Percentage, 0–100, 2 decimals' },
    has_active_executions: { type: 'boolean' },
  },
};

const waitParam = {
  name: 'wait',
  schema: { type: 'integer', minimum: 0, maximum: maxWaitSeconds, default: 0 },
  description: 'Hold the request up to this many seconds: 200 when finished, else 202',
};

const docs: Record<string, RouteDoc> = {
  'POST /v1/workflows': { body: createWorkflowBody, response: { status: 201, schema: workflowSchema } },
  'GET /v1/workflows': {
    query: [
      {
        name: 'limit',
        schema: { type: 'integer', minimum: workflowPageLimit.min, maximum: workflowPageLimit.max },
        description: 'Page size',
      },
      { name: 'cursor', schema: { type: 'string' }, description: 'next_cursor of the previous page' },
      { name: 'q', schema: { type: 'string', maxLength: 200 }, description: 'Case-insensitive name prefix' },
    ],
    response: { status: 200, schema: pageOf(workflowSchema) },
  },
  'GET /v1/workflows/stats': {
    response: {
      status: 200,
      schema: { type: 'object', properties: { data: { type: 'array', items: workflowStatsSchema } } },
    },
  },
  'GET /v1/workflows/{id}': {
    query: [{ name: 'include', schema: { type: 'string', enum: ['steps'] }, description: 'Add the steps' }],
    response: { status: 200, schema: workflowSchema },
    conditional: 'read',
  },
  'PATCH /v1/workflows/{id}': {
    body: updateWorkflowBody,
    response: { status: 200, schema: workflowSchema },
    conditional: 'write',
  },
  'DELETE /v1/workflows/{id}': { response: { status: 204 }, conditional: 'write' },
  'GET /v1/workflows/{id}/stats': { response: { status: 200, schema: workflowStatsSchema } },
  'POST /v1/workflows/{id}/executions': {
    body: createWorkflowRunBody,
    query: [waitParam],
    response: { status: 202, schema: workflowRunSchema },
  },
  'GET /v1/workflows/{id}/executions': {
    query: [
      ...cursorParams,
      {
        name: 'status',
        schema: { type: 'string', enum: [...workflowRunStatuses] },
        description: 'Filter by status',
      },
    ],
    response: { status: 200, schema: pageOf(workflowRunSchema) },
  },
  'GET /v1/workflow-executions/{id}': {
    response: { status: 200, schema: workflowRunSchema },
    conditional: 'read',
  },
  'GET /v1/workflow-executions/{id}/steps/{key}': { response: { status: 200, schema: stepRunSchema } },
  'POST /v1/workflow-executions/{id}/cancel': { response: { status: 200, schema: workflowRunSchema } },
  'POST /v1/agents/{id}/executions': {
    body: createExecutionBody,
    query: [
      {
        name: 'wait',
        schema: { type: 'integer', minimum: 0, maximum: maxWaitSeconds, default: 0 },
        description: 'Hold the request up to this many seconds: 200 with the finished execution, else 202',
      },
    ],
    response: { status: 202, schema: executionSchema },
  },
  'GET /v1/agents/{id}/executions': {
    query: [
      ...cursorParams,
      {
        name: 'status',
        schema: { type: 'string', enum: [...executionStatuses] },
        description: 'Filter by status',
      },
    ],
    response: { status: 200, schema: pageOf(executionSchema) },
  },
  'GET /v1/executions/{id}': { response: { status: 200, schema: executionSchema }, conditional: 'read' },
  'POST /v1/executions/{id}/cancel': { response: { status: 200, schema: executionSchema } },
  'GET /v1/usage': {
    query: [
      {
        name: 'from',
        schema: { type: 'string', format: 'date' },
        description: 'First day (default: 29 days before to)',
      },
      {
        name: 'to',
        schema: { type: 'string', format: 'date' },
        description: 'Last day (default: today, UTC)',
      },
    ],
    response: { status: 200, schema: { type: 'object' } },
  },
  'GET /v1/audit': { query: cursorParams, response: { status: 200, schema: pageOf({ type: 'object' }) } },
  'GET /v1/admin/queues': { response: { status: 200, schema: { type: 'object' } } },
  'GET /v1/admin/dlq/{queue}': {
    query: [
      { name: 'limit', schema: { type: 'integer', minimum: 1, maximum: 10 }, description: 'At most 10' },
    ],
    response: { status: 200, schema: { type: 'object' } },
  },
  'POST /v1/admin/dlq/{queue}/redrive': {
    query: [
      {
        name: 'limit',
        schema: { type: 'integer', minimum: 1, maximum: 10_000 },
        description: 'Messages to move',
      },
    ],
    response: { status: 200, schema: { type: 'object' } },
  },
  'GET /health': { response: { status: 200, schema: { type: 'object' } } },
  'GET /openapi.json': { response: { status: 200, schema: { type: 'object' } } },
  'POST /v1/agents': { body: createAgentBody, response: { status: 201, schema: agentResource } },
  'GET /v1/agents/{id}': { response: { status: 200, schema: agentResource }, conditional: 'read' },
  'PATCH /v1/agents/{id}': {
    body: updateAgentBody,
    response: { status: 200, schema: agentResource },
    conditional: 'write',
  },
  'DELETE /v1/agents/{id}': { response: { status: 204 }, conditional: 'write' },
  'GET /v1/admin/tenants': {
    response: {
      status: 200,
      schema: {
        type: 'object',
        required: ['data'],
        properties: {
          data: {
            type: 'array',
            items: {
              type: 'object',
              properties: {
                id: { type: 'string', format: 'uuid' },
                name: { type: 'string' },
                created_at: { type: 'string', format: 'date-time' },
                active_keys: { type: 'integer' },
                agents: { type: 'integer' },
              },
            },
          },
        },
      },
    },
  },
  'GET /v1/agents': {
    query: [
      {
        name: 'limit',
        schema: {
          type: 'integer',
          minimum: agentPageLimit.min,
          maximum: agentPageLimit.max,
          default: agentPageLimit.fallback,
        },
        description: 'Page size',
      },
      { name: 'cursor', schema: { type: 'string' }, description: 'next_cursor of the previous page' },
      {
        name: 'fields',
        schema: { type: 'string' },
        description: `Comma-separated subset of: ${agentListFields.join(', ')} (id is always included)`,
      },
      {
        name: 'status',
        schema: { type: 'string', enum: [...agentStatuses] },
        description: 'Filter by status',
      },
    ],
    response: {
      status: 200,
      schema: {
        type: 'object',
        required: ['data', 'next_cursor'],
        properties: {
          data: { type: 'array', items: agentListItem },
          next_cursor: { type: ['string', 'null'] },
        },
      },
    },
  },
};

const jsonSchemaOf = (schema: z.ZodMiniType | Record<string, unknown>): Record<string, unknown> => {
  if ('_zod' in schema) {
    const { $schema: _, ...rest } = z.toJSONSchema(schema as z.ZodMiniType, { io: 'input' }) as Record<
      string,
      unknown
    >;
    return rest;
  }
  return schema;
};

/** The creating POSTs: each honours Idempotency-Key. */
const creatingRoutes: ReadonlySet<string> = new Set([
  'POST /v1/agents',
  'POST /v1/workflows',
  'POST /v1/agents/{id}/executions',
  'POST /v1/workflows/{id}/executions',
]);

const problem = (description: string) => ({
  description,
  content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } },
});

const operation = (route: RouteDef) => {
  const doc = docs[routeKey(route)] ?? {};
  const parameters: unknown[] = [];
  for (const match of route.path.matchAll(/\{(\w+)\}/g)) {
    parameters.push({
      name: match[1],
      in: 'path',
      required: true,
      schema:
        match[1] === 'queue'
          ? queueParam
          : match[1] === 'key'
            ? { type: 'string', pattern: '^[A-Za-z][A-Za-z0-9_-]{0,63}$' }
            : { type: 'string', format: 'uuid' },
    });
  }
  for (const q of doc.query ?? []) {
    parameters.push({
      name: q.name,
      in: 'query',
      required: false,
      schema: q.schema,
      description: q.description,
    });
  }
  if (doc.conditional === 'read') {
    parameters.push({ name: 'If-None-Match', in: 'header', required: false, schema: { type: 'string' } });
  }
  if (doc.conditional === 'write') {
    parameters.push({ name: 'If-Match', in: 'header', required: false, schema: { type: 'string' } });
  }
  const idempotent = creatingRoutes.has(routeKey(route));
  if (idempotent) {
    parameters.push({
      name: 'Idempotency-Key',
      in: 'header',
      required: false,
      schema: { type: 'string', pattern: '^[\\x21-\\x7e]{1,255}$' },
      description:
        'A retry with the same key and body answers the resource the first request created (kept with it, so across crashes too); 409 while the first is in flight, 422 for another body',
    });
  }
  const responses: Record<string, unknown> = {};
  if (doc.response) {
    responses[String(doc.response.status)] = doc.response.schema
      ? {
          description: 'Success',
          content: { 'application/json': { schema: jsonSchemaOf(doc.response.schema) } },
        }
      : { description: 'Success, no content' };
  }
  if (doc.conditional === 'read') responses['304'] = { description: 'Not modified' };
  responses['400'] = problem(
    'Malformed JSON, invalid query or path parameters, NUL or unpaired surrogates in any text, or a value PostgreSQL cannot store',
  );
  if (route.auth !== 'none') responses['401'] = problem('Missing or invalid API key');
  if (route.path.includes('{')) responses['404'] = problem('No such resource in this tenant');
  if (doc.conditional === 'write') responses['412'] = problem('If-Match does not match the current version');
  if (idempotent) {
    responses['409'] = {
      ...problem('A request with this Idempotency-Key is still in flight; retry after Retry-After seconds'),
      headers: { 'Retry-After': { schema: { type: 'integer', minimum: 1 } } },
    };
  }
  if (doc.body) {
    responses['413'] = problem('Body over 256 KB');
    responses['415'] = problem('Body is not application/json');
    responses['422'] = problem(
      'Body does not match the schema (or reuses an Idempotency-Key with another body), or breaks a limit: nesting over 64 levels, over 1,000 keys in an object or 10,000 elements in an array, __proto__/constructor/prototype keys, numbers out of range',
    );
  }
  if (route.auth !== 'none') {
    responses['503'] = {
      ...problem(
        'The database or another required dependency is unreachable; retry after Retry-After seconds',
      ),
      headers: { 'Retry-After': { schema: { type: 'integer', minimum: 1 } } },
    };
  }
  return {
    operationId: `${route.method.toLowerCase()}${route.path.replace(/\{(\w+)\}/g, 'By_$1').replace(/[^A-Za-z0-9]+(\w)?/g, (_, c: string | undefined) => (c ?? '').toUpperCase())}`,
    summary: route.summary,
    ...(route.auth !== 'none' && { security: [{ [route.auth === 'admin' ? 'adminKey' : 'apiKey']: [] }] }),
    ...(parameters.length > 0 && { parameters }),
    ...(doc.body && {
      requestBody: { required: true, content: { 'application/json': { schema: jsonSchemaOf(doc.body) } } },
    }),
    responses,
  };
};

export const buildOpenApiDocument = (serverUrl?: string) => {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of routes as readonly RouteDef[]) {
    paths[route.path] ??= {};
    paths[route.path]![route.method.toLowerCase()] = operation(route);
  }
  return {
    openapi: '3.1.0',
    info: { title: 'Switchyard API', version: '1.0.0', description: 'AI agent and workflow platform' },
    ...(serverUrl && { servers: [{ url: serverUrl }] }),
    paths,
    components: {
      schemas: { Problem: problemSchema },
      securitySchemes: {
        apiKey: { type: 'http', scheme: 'bearer', description: 'Tenant API key' },
        adminKey: { type: 'http', scheme: 'bearer', description: 'Operator key (SWITCHYARD_ADMIN_KEY)' },
      },
    },
  };
};
