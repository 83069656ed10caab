import * as z from 'zod/mini';
import type { FieldError } from './errors.ts';
import {
  type KnowledgeUse,
  knowledgeUseErrors,
  knowledgeUseOf,
  type RetrievalRecord,
  retrievalResource,
} from './knowledge.ts';
import { isProviderName, type ProviderName, type ProviderTarget, providerNames } from './llm.ts';

export const executionStatuses = ['queued', 'running', 'succeeded', 'failed', 'cancelled'] as const;
export type ExecutionStatus = (typeof executionStatuses)[number];

export const finishedStatuses: ReadonlySet<ExecutionStatus> = new Set(['succeeded', 'failed', 'cancelled']);
export const isFinished = (status: ExecutionStatus): boolean => finishedStatuses.has(status);

export interface ExecutionError {
  readonly code: string;
  readonly message: string;
}

/** A failed attempt's error as recorded on an execution or a step: its code, and the message (first 2,000 characters). */
export const attemptError = (error: unknown, code: string): ExecutionError => ({
  code,
  message: (error instanceof Error ? error.message : String(error)).slice(0, 2_000),
});

/** What an agent execution and a workflow run keep of the request that started them. */
export interface RunRequest {
  readonly id: string;
  readonly tenantId: string;
  readonly input: string | Record<string, unknown>;
  readonly metadata: Record<string, unknown> | null;
}

/** Where a started run stands: its status, its version (ETag, event id), its clock. */
export interface RunProgress<Status> {
  readonly status: Status;
  readonly version: number;
  readonly startedAt: Date | null;
  readonly completedAt: Date | null;
}

/** What an agent execution and a workflow step record of their model call: null until it answers. */
export interface CallRecord {
  readonly output: string | null;
  readonly error: ExecutionError | null;
  readonly provider: string | null;
  readonly modelUsed: string | null;
  readonly inputTokens: number | null;
  readonly outputTokens: number | null;
  readonly costUsd: number | null;
  readonly cached: boolean;
  /** The passages the answer was grounded in (agents with knowledge), where the read asked for it. */
  readonly retrieval?: RetrievalRecord | null;
}

export interface Execution extends RunRequest, RunProgress<ExecutionStatus>, CallRecord {
  readonly agentId: string;
  readonly model: string;
  readonly systemPrompt: string;
  readonly configuration: Record<string, unknown>;
  readonly attempts: number;
  readonly queuedAt: Date;
}

export const createExecutionBody = z.strictObject({
  input: z.union([z.string().check(z.maxLength(200_000)), z.record(z.string(), z.unknown())]),
  metadata: z.optional(z.record(z.string(), z.unknown())),
});
export type CreateExecutionBody = z.infer<typeof createExecutionBody>;

/** `?wait=N`: hold the request up to N seconds for the result. */
export const maxWaitSeconds = 20;

export const toExecutionResource = (execution: Execution) => ({
  id: execution.id,
  agent_id: execution.agentId,
  status: execution.status,
  input: execution.input,
  metadata: execution.metadata,
  model: execution.model,
  output: execution.output,
  error: execution.error,
  usage: {
    input_tokens: execution.inputTokens ?? 0,
    output_tokens: execution.outputTokens ?? 0,
    cost_usd: execution.costUsd ?? 0,
    cached: execution.cached,
    ...(execution.retrieval && { embedding_tokens: execution.retrieval.embeddingTokens }),
  },
  ...retrievalResource(execution.retrieval),
  provider: execution.provider,
  model_used: execution.modelUsed,
  attempts: execution.attempts,
  queued_at: execution.queuedAt.toISOString(),
  started_at: execution.startedAt?.toISOString() ?? null,
  completed_at: execution.completedAt?.toISOString() ?? null,
  duration_ms:
    execution.startedAt && execution.completedAt
      ? execution.completedAt.getTime() - execution.startedAt.getTime()
      : null,
});

/** What an agent's configuration says about running it. Unknown keys are passed over. */
export interface ExecutionSettings {
  readonly targets: readonly ProviderTarget[];
  readonly temperature?: number;
  readonly maxTokens?: number;
  /** LLM response cache lifetime; 0 turns it off. */
  readonly cacheTtlSeconds: number;
  /** Passages to retrieve before the call (`configuration.knowledge`). */
  readonly knowledge?: KnowledgeUse;
}

const providerOf = (value: unknown, fallback: ProviderName): ProviderName =>
  isProviderName(value) ? value : fallback;

/**
 * The configuration keys the platform reads, checked when an agent is written: a typo such
 * as `"provider": "opnai"` is a 422 there, not a run on the fake model later. Other keys
 * are the tenant's own and pass through.
 */
export const configurationErrors = (configuration: Readonly<Record<string, unknown>>): FieldError[] => {
  const errors: FieldError[] = [];
  const providerError = (value: unknown, field: string) => {
    if (value !== undefined && !isProviderName(value)) {
      errors.push({ field, detail: `must be one of: ${providerNames.join(', ')}` });
    }
  };
  providerError(configuration['provider'], 'configuration.provider');
  const fallback = configuration['fallback'];
  if (fallback !== undefined) {
    if (!Array.isArray(fallback) || fallback.length > 3) {
      errors.push({ field: 'configuration.fallback', detail: 'must be an array of at most 3 targets' });
    } else {
      fallback.forEach((entry: unknown, i) => {
        if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
          errors.push({
            field: `configuration.fallback.${i}`,
            detail: 'must be an object {provider, model, timeout_ms}',
          });
          return;
        }
        const target = entry as Record<string, unknown>;
        providerError(target['provider'], `configuration.fallback.${i}.provider`);
        if (
          target['model'] !== undefined &&
          (typeof target['model'] !== 'string' || target['model'] === '')
        ) {
          errors.push({ field: `configuration.fallback.${i}.model`, detail: 'must be a non-empty string' });
        }
      });
    }
  }
  const temperature = configuration['temperature'];
  if (temperature !== undefined && (typeof temperature !== 'number' || temperature < 0 || temperature > 2)) {
    errors.push({ field: 'configuration.temperature', detail: 'must be a number from 0 to 2' });
  }
  const integer = (name: string, min: number, max: number) => {
    const value = configuration[name];
    if (
      value !== undefined &&
      (!Number.isInteger(value) || (value as number) < min || (value as number) > max)
    ) {
      errors.push({ field: `configuration.${name}`, detail: `must be an integer from ${min} to ${max}` });
    }
  };
  integer('max_tokens', 1, 1_000_000);
  integer('timeout_ms', 1, defaultTimeouts.maxMs);
  integer('cache_ttl_seconds', 0, 86_400);
  errors.push(...knowledgeUseErrors(configuration['knowledge']));
  return errors;
};
const positiveInt = (value: unknown, fallback: number, max: number): number =>
  typeof value === 'number' && Number.isInteger(value) && value > 0 ? Math.min(value, max) : fallback;

/** Seed 004: the primary gets 30 s, each fallback 60 s, unless configured. */
export const defaultTimeouts = { primaryMs: 30_000, fallbackMs: 60_000, maxMs: 300_000 } as const;
export const defaultLlmCacheTtlSeconds = 3_600;

/**
 * Reads the keys the platform understands from an agent's free-form configuration:
 * `provider`, `timeout_ms`, `fallback: [{provider, model, timeout_ms}]`, `temperature`,
 * `max_tokens`, `cache_ttl_seconds`, `knowledge: {knowledge_base_ids, top_k, mode}`.
 */
export const executionSettings = (
  model: string,
  configuration: Readonly<Record<string, unknown>>,
  defaultProvider: ProviderName,
): ExecutionSettings => {
  const primary: ProviderTarget = {
    provider: providerOf(configuration['provider'], defaultProvider),
    model,
    timeoutMs: positiveInt(configuration['timeout_ms'], defaultTimeouts.primaryMs, defaultTimeouts.maxMs),
  };
  const fallbacks = Array.isArray(configuration['fallback']) ? configuration['fallback'] : [];
  const targets = [primary];
  for (const entry of fallbacks.slice(0, 3)) {
    if (typeof entry !== 'object' || entry === null) continue;
    const step = entry as Record<string, unknown>;
    targets.push({
      provider: providerOf(step['provider'], primary.provider),
      model: typeof step['model'] === 'string' && step['model'] ? step['model'] : model,
      timeoutMs: positiveInt(step['timeout_ms'], defaultTimeouts.fallbackMs, defaultTimeouts.maxMs),
    });
  }
  const temperature = configuration['temperature'];
  const maxTokens = configuration['max_tokens'];
  const ttl = configuration['cache_ttl_seconds'];
  const knowledge = knowledgeUseOf(configuration);
  return {
    ...(knowledge && { knowledge }),
    targets,
    ...(typeof temperature === 'number' && { temperature }),
    ...(typeof maxTokens === 'number' && Number.isInteger(maxTokens) && maxTokens > 0 && { maxTokens }),
    cacheTtlSeconds:
      typeof ttl === 'number' && Number.isInteger(ttl) && ttl >= 0
        ? Math.min(ttl, 86_400)
        : defaultLlmCacheTtlSeconds,
  };
};
