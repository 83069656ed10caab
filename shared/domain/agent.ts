import * as z from 'zod/mini';

export const agentStatuses = ['active', 'paused'] as const;
export type AgentStatus = (typeof agentStatuses)[number];

export interface Agent {
  readonly id: string;
  readonly tenantId: string;
  readonly name: string;
  readonly model: string;
  readonly systemPrompt: string;
  readonly configuration: Record<string, unknown>;
  readonly status: AgentStatus;
  /** Completion webhook; its signing secret never leaves the database but once, when set. */
  readonly webhookUrl: string | null;
  /** Bumped by every change, soft delete included: the source of ETags and cache versions. */
  readonly version: number;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

/** An agent in a list page, with the statistics computed by the same query. */
export interface AgentSummary extends Partial<Agent> {
  readonly id: string;
  readonly executionCount?: number;
  readonly lastExecutionAt?: Date | null;
}

const name = z.string().check(z.trim(), z.minLength(1), z.maxLength(200));
const model = z.string().check(z.trim(), z.minLength(1), z.maxLength(200));
const systemPrompt = z.string().check(z.minLength(1), z.maxLength(100_000));
const configuration = z.record(z.string(), z.unknown());
const webhookUrl = z.nullable(z.string().check(z.maxLength(2048)));

export const createAgentBody = z.strictObject({
  name,
  model,
  system_prompt: systemPrompt,
  configuration: z.optional(configuration),
  webhook_url: z.optional(webhookUrl),
});
export type CreateAgentBody = z.infer<typeof createAgentBody>;

/** Any field of a creation, and the status (pause, resume). */
export const updateAgentBody = z.extend(z.partial(createAgentBody), {
  status: z.optional(z.enum(agentStatuses)),
});
export type UpdateAgentBody = z.infer<typeof updateAgentBody>;

/** Page size of `GET /v1/agents`: read by the handler and documented in OpenAPI from here. */
export const agentPageLimit = { min: 1, max: 100, fallback: 20 } as const;

/** Fields a list may ask for; the SELECT is built from these and nothing else. */
export const agentListFields = [
  'id',
  'name',
  'model',
  'system_prompt',
  'configuration',
  'status',
  'created_at',
  'updated_at',
  'execution_count',
  'last_execution_at',
] as const;
export type AgentListField = (typeof agentListFields)[number];

/** The agent as the API shows it. */
export const agentResource = z.object({
  id: z.string(),
  name: z.string(),
  model: z.string(),
  system_prompt: z.string(),
  configuration: configuration,
  status: z.enum(agentStatuses),
  webhook_url: z.nullable(z.string()),
  created_at: z.string(),
  updated_at: z.string(),
});

export const toAgentResource = (agent: Agent) => ({
  id: agent.id,
  name: agent.name,
  model: agent.model,
  system_prompt: agent.systemPrompt,
  configuration: agent.configuration,
  status: agent.status,
  webhook_url: agent.webhookUrl,
  created_at: agent.createdAt.toISOString(),
  updated_at: agent.updatedAt.toISOString(),
});
