import * as z from 'zod/mini';
import { agentResource, agentStatuses } from '#domain/agent.ts';
import { executionStatuses } from '#domain/execution.ts';
import { searchModes } from '#domain/knowledge.ts';
import { inlineStepTextChars, stepStatuses, workflowRunStatuses } from '#domain/workflow.ts';
import type { QueueName } from '#manifest';

/**
 * What the API answers, as zod/mini schemas: the route definitions name them per status and
 * /openapi.json is generated from them. The contract suites check every response against the
 * document, so a field the code adds and these omit fails a test.
 */

/** Built on first use by a function that imports them (a pure call: bundles that only import
 * the route list, the workers through the manifest, leave them out). */
export const schemas = /* @__PURE__ */ (() => {
  const timestamp = z.iso.datetime();
  const nullableTimestamp = z.nullable(z.iso.datetime());
  const uuid = z.uuid();
  const json = z.record(z.string(), z.unknown());
  const count = z.int().check(z.gte(0));

  const problemSchema = z.object({
    type: z.string(),
    title: z.string(),
    status: z.int(),
    detail: z.optional(z.string()),
    instance: z.optional(z.string()),
    errors: z.optional(z.array(z.object({ field: z.string(), detail: z.string() }))),
  });

  /** A failed execution's or step's reason. */
  const errorSchema = z.nullable(
    z.looseObject({
      code: z.string().register(z.globalRegistry, { description: 'Machine-readable reason' }),
      message: z.string(),
    }),
  );

  const metadata = z.nullable(json);

  /** Agents and workflows answer their webhook secret once, in the response of the write that set it. */
  const webhookSecret = z.optional(
    z.string().register(z.globalRegistry, {
      description: 'The webhook signing secret: in the answer of the write that set it, never again',
    }),
  );

  const agentSchema = z.extend(agentResource, { webhook_secret: webhookSecret });

  /** A list item has only the fields asked for (`?fields=`); `id` always. */
  const agentListItem = z.object({
    id: z.string(),
    name: z.optional(z.string()),
    model: z.optional(z.string()),
    system_prompt: z.optional(z.string()),
    configuration: z.optional(json),
    status: z.optional(z.enum(agentStatuses)),
    created_at: z.optional(timestamp),
    updated_at: z.optional(timestamp),
    execution_count: z.optional(count),
    last_execution_at: z.optional(nullableTimestamp),
  });

  const usageTotals = z.object({
    input_tokens: count,
    output_tokens: count,
    cost_usd: z.number(),
  });

  const usageWithCache = z.object({
    input_tokens: count,
    output_tokens: count,
    cost_usd: z.number(),
    cached: z.boolean().register(z.globalRegistry, { description: 'Answered from the response cache' }),
    embedding_tokens: z.optional(
      count.register(z.globalRegistry, {
        description:
          "Tokens of the knowledge search's query embeddings (agents with knowledge); cost_usd includes their cost",
      }),
    ),
  });

  /** What an agent with `configuration.knowledge` answered from: present on its executions and steps. */
  const groundedFields = {
    citations: z.optional(
      z
        .array(
          z.object({
            knowledge_base_id: uuid,
            document_id: uuid,
            chunk_id: uuid,
            title: z.string(),
            score: z.number(),
          }),
        )
        .register(z.globalRegistry, {
          description:
            'The passages the answer was grounded in, numbered in the prompt as [1], [2], … in this order',
        }),
    ),
    timings: z.optional(z.object({ retrieval_ms: count })),
  };

  const executionSchema = z.object({
    id: uuid,
    agent_id: uuid,
    status: z.enum(executionStatuses),
    input: z.unknown(),
    metadata,
    model: z.string(),
    output: z.nullable(z.string()),
    error: errorSchema,
    usage: usageWithCache,
    provider: z.nullable(z.string()),
    model_used: z.nullable(z.string()),
    attempts: count,
    queued_at: timestamp,
    started_at: nullableTimestamp,
    completed_at: nullableTimestamp,
    duration_ms: z.nullable(count),
    ...groundedFields,
  });

  const clipped = (what: string) =>
    z.boolean().register(z.globalRegistry, {
      description: `In a run's view, ${what} over ${inlineStepTextChars} characters are clipped; the step's own route has them whole`,
    });

  const stepRunSchema = z.object({
    key: z.string(),
    agent_id: uuid,
    status: z.enum(stepStatuses),
    attempts: count,
    input: z.nullable(z.string()),
    output: z.nullable(z.string()),
    input_truncated: clipped('inputs'),
    output_truncated: clipped('outputs'),
    error: errorSchema,
    model_used: z.nullable(z.string()),
    usage: usageWithCache,
    ...groundedFields,
    queued_at: nullableTimestamp,
    started_at: nullableTimestamp,
    completed_at: nullableTimestamp,
    duration_ms: z.nullable(count),
  });

  const workflowRunSchema = z.object({
    id: uuid,
    workflow_id: uuid,
    workflow_version: z.int(),
    status: z.enum(workflowRunStatuses),
    input: z.unknown(),
    metadata,
    error: errorSchema,
    step_count: count,
    steps_finished: z.optional(count),
    usage: usageTotals,
    created_at: timestamp,
    started_at: nullableTimestamp,
    completed_at: nullableTimestamp,
    duration_ms: z.nullable(count),
    steps: z.optional(z.array(stepRunSchema)),
  });

  const workflowStepSchema = z.object({
    key: z.string(),
    agent_id: uuid,
    input: z.string(),
    depends_on: z.array(z.string()),
    retry: z.object({ max_attempts: z.int(), backoff_seconds: count }),
    timeout_seconds: z.int(),
    knowledge: z.optional(
      z
        .nullable(
          z.object({
            knowledge_base_ids: z.array(uuid),
            top_k: z.int(),
            mode: z.enum(searchModes),
          }),
        )
        .register(z.globalRegistry, {
          description:
            "The step's own knowledge bases, instead of its agent's configuration.knowledge; null: none for this step; absent: the agent's",
        }),
    ),
  });

  const workflowFields = {
    id: uuid,
    name: z.string(),
    description: z.nullable(z.string()),
    version: z
      .int()
      .register(z.globalRegistry, { description: 'Definition version; a PATCH makes a new one' }),
    on_step_failure: z.enum(['fail', 'continue']),
    webhook_url: z.nullable(z.string()),
    step_count: count,
    created_at: timestamp,
    updated_at: timestamp,
    steps: z.optional(
      z.array(workflowStepSchema).register(z.globalRegistry, { description: 'Only with ?include=steps' }),
    ),
  };

  const workflowSchema = z.object({ ...workflowFields, webhook_secret: webhookSecret });

  const workflowListItem = z.object({
    ...workflowFields,
    execution_count: count,
    last_execution_at: nullableTimestamp,
  });

  const workflowStatsSchema = z.object({
    workflow_id: uuid,
    name: z.string(),
    window_days: z.int(),
    execution_count: count,
    avg_duration_seconds: z.number(),
    success_count: count,
    failure_count: count,
    success_rate: z.number().register(z.globalRegistry, { description: 'Percentage, 0–100, 2 decimals' }),
    has_active_executions: z.boolean(),
  });

  const pageOf = <T extends z.ZodMiniType>(item: T) =>
    z.object({ data: z.array(item), next_cursor: z.nullable(z.string()) });

  const usageCounts = {
    executions: count,
    succeeded: count,
    failed: count,
    cached: count,
    input_tokens: count,
    output_tokens: count,
    cost_usd: z.number(),
  };

  const usageSchema = z.object({
    from: z.iso.date(),
    to: z.iso.date(),
    totals: z.object(usageCounts),
    data: z.array(z.object({ day: z.iso.date(), agent_id: uuid, model: z.string(), ...usageCounts })),
  });

  const auditItemSchema = z.object({
    id: z.string(),
    at: timestamp,
    action: z.string(),
    resource_type: z.string(),
    resource_id: z.string(),
    key_id: z.nullable(z.string()),
    request_id: z.nullable(z.string()),
  });

  const check = z.object({
    status: z.enum(['ok', 'down', 'not_configured']),
    ms: z.optional(z.number()),
    error: z.optional(z.string()),
  });

  const healthSchema = z.object({
    status: z.enum(['ok', 'degraded', 'down']),
    checks: z.object({ database: check, cache: check, queues: check, idempotency: check }),
  });

  /** The manifest's queues (not imported: the manifest imports the routes that import this). */
  const queueNames = ['high', 'default', 'low'] as const satisfies readonly QueueName[];
  const queueNameSchema = z.enum(queueNames);

  const tenantsSchema = z.object({
    data: z.array(
      z.object({
        id: z.string(),
        name: z.string(),
        created_at: timestamp,
        active_keys: count,
        agents: count,
      }),
    ),
  });

  const queueStats = z.object({
    name: z.string(),
    visible: count,
    in_flight: count,
    delayed: count,
    oldest_message_age_seconds: z.nullable(z.number()),
  });

  const queuesSchema = z.object({
    data: z.array(
      z.object({ queue: queueNameSchema, priority: z.string(), main: queueStats, dlq: queueStats }),
    ),
  });

  const deadLettersSchema = z.object({
    queue: queueNameSchema,
    data: z.array(
      z.object({
        message_id: z.string(),
        type: z.nullable(z.string()),
        ids: z.record(z.string(), z.string()),
        failure: z.nullable(z.string()),
        sent_at: z.nullable(z.string()),
        receive_count: count,
      }),
    ),
  });

  const redriveSchema = z.object({ queue: queueNameSchema, moved: count, executions_requeued: count });

  const openApiDocumentSchema = z.looseObject({ openapi: z.string(), paths: json });
  return {
    problemSchema,
    errorSchema,
    agentSchema,
    agentListItem,
    usageTotals,
    executionSchema,
    stepRunSchema,
    workflowRunSchema,
    workflowStepSchema,
    workflowSchema,
    workflowListItem,
    workflowStatsSchema,
    pageOf,
    usageSchema,
    auditItemSchema,
    healthSchema,
    queueNameSchema,
    tenantsSchema,
    queuesSchema,
    deadLettersSchema,
    redriveSchema,
    openApiDocumentSchema,
  };
})();
