import * as z from 'zod/mini';
import type { FieldError } from './errors.ts';
import type {
  CallRecord,
  CreateExecutionBody,
  ExecutionError,
  ExecutionSettings,
  ExecutionStatus,
  RunProgress,
  RunRequest,
} from './execution.ts';
import { createExecutionBody, executionStatuses, isFinished } from './execution.ts';
import { canonicalId, isUuid } from './ids.ts';
import {
  defaultTopK,
  type KnowledgeUse,
  maxKnowledgeBasesPerAgent,
  maxTopK,
  retrievalResource,
  searchModes,
} from './knowledge.ts';
import type { Backoff } from './retry.ts';

/**
 * Workflows: a DAG of steps, each running an agent on an input rendered from a template
 * over the run's input and the outputs of earlier steps. Pure logic: the definition's
 * validation (keys, dependencies, cycles, template references) and template rendering.
 */

export const stepFailureModes = ['fail', 'continue'] as const;
export type StepFailureMode = (typeof stepFailureModes)[number];

/** A run goes through the same statuses as an agent execution. */
export const workflowRunStatuses = executionStatuses;
export type WorkflowRunStatus = ExecutionStatus;

export const stepStatuses = [
  'waiting',
  'queued',
  'running',
  'succeeded',
  'failed',
  'cancelled',
  'skipped',
] as const;
export type StepStatus = (typeof stepStatuses)[number];
export const openStepStatuses: readonly StepStatus[] = ['waiting', 'queued', 'running'];

export const stepLimits = {
  maxSteps: 50,
  maxAttempts: 10,
  defaultMaxAttempts: 3,
  maxBackoffSeconds: 300,
  defaultBackoffSeconds: 1,
  /** Below the high worker's 60 s timeout, so a step's call ends before its invocation does. */
  maxTimeoutSeconds: 50,
  defaultTimeoutSeconds: 30,
} as const;

export interface StepDefinition {
  readonly key: string;
  readonly position: number;
  readonly agentId: string;
  readonly inputTemplate: string;
  readonly dependsOn: readonly string[];
  readonly maxAttempts: number;
  readonly backoffSeconds: number;
  readonly timeoutSeconds: number;
  /**
   * The step's own retrieval: absent, its agent's `configuration.knowledge`; a use, that one
   * instead of the agent's; null, none at all (the agent's turned off for this step).
   */
  readonly knowledge?: KnowledgeUse | null;
}

export interface Workflow {
  readonly id: string;
  readonly tenantId: string;
  readonly name: string;
  readonly description: string | null;
  readonly onStepFailure: StepFailureMode;
  readonly webhookUrl: string | null;
  /** The definition's version: a PATCH makes a new one; also the ETag and cache version. */
  readonly version: number;
  readonly stepCount: number;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

export interface WorkflowWithSteps extends Workflow {
  readonly steps: readonly StepDefinition[];
}

/** A workflow in a list page, with the statistics computed by the same query. */
export interface WorkflowSummary extends Workflow {
  readonly executionCount: number;
  readonly lastExecutionAt: Date | null;
}

const stepKeyPattern = /^[A-Za-z][A-Za-z0-9_-]{0,63}$/;
const stepKey = z.string().check(z.regex(stepKeyPattern, 'letters, digits, _ or -, ≤ 64'));
export const isStepKey = (value: string): boolean => stepKeyPattern.test(value);
const name = z.string().check(z.trim(), z.minLength(1), z.maxLength(200));
const description = z.nullable(z.string().check(z.maxLength(2_000)));
const webhookUrl = z.nullable(z.string().check(z.maxLength(2048)));

/** A step's `knowledge`: what an agent's `configuration.knowledge` takes, checked the same way. */
const stepKnowledge = z.strictObject({
  knowledge_base_ids: z
    .array(z.string().check(z.refine(isUuid, 'must be a knowledge base id'), z.overwrite(canonicalId)))
    .check(z.minLength(1), z.maxLength(maxKnowledgeBasesPerAgent)),
  top_k: z.optional(z.int().check(z.gte(1), z.lte(maxTopK))),
  mode: z.optional(z.enum(searchModes)),
});

const stepBody = z.strictObject({
  key: stepKey,
  // Canonical spelling, as path ids are: one agent whatever case the client typed.
  agent_id: z.string().check(z.maxLength(100), z.overwrite(canonicalId)),
  input: z.string().check(z.maxLength(100_000)),
  depends_on: z.optional(z.array(stepKey).check(z.maxLength(stepLimits.maxSteps))),
  retry: z.optional(
    z.strictObject({
      max_attempts: z.int().check(z.gte(1), z.lte(stepLimits.maxAttempts)),
      backoff_seconds: z.optional(z.int().check(z.gte(0), z.lte(stepLimits.maxBackoffSeconds))),
    }),
  ),
  timeout_seconds: z.optional(z.int().check(z.gte(1), z.lte(stepLimits.maxTimeoutSeconds))),
  // Absent: the agent's knowledge; null: none for this step; an object: these bases instead.
  knowledge: z.optional(z.nullable(stepKnowledge)),
});
export type StepBody = z.infer<typeof stepBody>;

const steps = z.array(stepBody).check(z.minLength(1), z.maxLength(stepLimits.maxSteps));

export const createWorkflowBody = z.strictObject({
  name,
  description: z.optional(description),
  steps,
  on_step_failure: z.optional(z.enum(stepFailureModes)),
  webhook_url: z.optional(webhookUrl),
});
export type CreateWorkflowBody = z.infer<typeof createWorkflowBody>;

/** Any field of a creation; new steps make a new version. */
export const updateWorkflowBody = z.partial(createWorkflowBody);
export type UpdateWorkflowBody = z.infer<typeof updateWorkflowBody>;

/** Starting a run takes what starting an agent execution takes: `{input, metadata?}`. */
export const createWorkflowRunBody = createExecutionBody;
export type CreateWorkflowRunBody = CreateExecutionBody;

export const workflowPageLimit = { min: 1, max: 100, fallback: 20 } as const;

// ---------------------------------------------------------------------------------------
// Templates: `{{input}}`, `{{input.a.b}}`, `{{steps.<key>.output}}`; nothing else.

export type TemplateReference =
  | { readonly kind: 'input'; readonly path: readonly string[] }
  | { readonly kind: 'step'; readonly key: string };

const placeholder = /\{\{\s*([^{}]*?)\s*\}\}/g;
const inputReference = /^input((?:\.[A-Za-z0-9_-]+)*)$/;
const stepReference = /^steps\.([A-Za-z][A-Za-z0-9_-]{0,63})\.output$/;
/** The step references of a template as a PostgreSQL regular expression (the claim reads their outputs). */
export const stepOutputPattern = '\\{\\{\\s*steps\\.([A-Za-z][A-Za-z0-9_-]{0,63})\\.output\\s*\\}\\}';

/** The references of a template, or the text of the first placeholder that is not one. */
export const parseTemplate = (
  template: string,
): { ok: true; references: TemplateReference[] } | { ok: false; bad: string } => {
  const references: TemplateReference[] = [];
  for (const match of template.matchAll(placeholder)) {
    const expression = match[1] ?? '';
    const input = inputReference.exec(expression);
    if (input) {
      references.push({ kind: 'input', path: (input[1] ?? '').split('.').filter(Boolean) });
      continue;
    }
    const step = stepReference.exec(expression);
    if (step) {
      references.push({ kind: 'step', key: step[1]! });
      continue;
    }
    return { ok: false, bad: match[0] };
  }
  return { ok: true, references };
};

const lookup = (value: unknown, path: readonly string[]): { found: boolean; value: unknown } => {
  let current = value;
  for (const segment of path) {
    if (typeof current !== 'object' || current === null || !Object.hasOwn(current, segment)) {
      return { found: false, value: undefined };
    }
    current = (current as Record<string, unknown>)[segment];
  }
  return { found: true, value: current };
};

const asText = (value: unknown): string =>
  typeof value === 'string' ? value : value === undefined ? '' : JSON.stringify(value);

/** A rendered step input over the cap: the step fails at once, since a retry renders the same. */
export class RenderedInputTooLarge extends Error {
  override name = 'RenderedInputTooLarge';
  constructor(readonly limitBytes: number) {
    super(
      `the rendered step input exceeds ${limitBytes} bytes (SWITCHYARD_MAX_STEP_INPUT_BYTES); ` +
        'reference a smaller part of the input, e.g. {{input.field}}, or fewer copies of it',
    );
  }
}

/** Default cap of a rendered step input: the same as a request body's. */
export const defaultMaxStepInputBytes = 256 * 1024;

/**
 * Renders a validated template; a value that is not text is inserted as JSON. Stops as soon
 * as the text would pass `maxBytes`, so `{{input}}` repeated a thousand times over a large
 * input costs one rendering of each reference, never the whole product.
 */
export const renderTemplate = (
  template: string,
  input: unknown,
  stepOutputs: Readonly<Record<string, string | null>>,
  maxBytes: number = defaultMaxStepInputBytes,
): string => {
  const rendered = new Map<string, { text: string; bytes: number }>();
  let total = 0;
  const charge = (text: string, bytes: number = Buffer.byteLength(text)): string => {
    total += bytes;
    if (total > maxBytes) throw new RenderedInputTooLarge(maxBytes);
    return text;
  };
  let last = 0;
  let out = '';
  for (const match of template.matchAll(placeholder)) {
    out += charge(template.slice(last, match.index));
    last = match.index + match[0].length;
    const expression = match[1] ?? '';
    let piece = rendered.get(expression);
    if (!piece) {
      const text = renderReference(expression, input, stepOutputs) ?? match[0];
      piece = { text, bytes: Buffer.byteLength(text) };
      rendered.set(expression, piece);
    }
    out += charge(piece.text, piece.bytes);
  }
  return out + charge(template.slice(last));
};

const renderReference = (
  expression: string,
  input: unknown,
  stepOutputs: Readonly<Record<string, string | null>>,
): string | undefined => {
  const inputMatch = inputReference.exec(expression);
  if (inputMatch) {
    const found = lookup(input, (inputMatch[1] ?? '').split('.').filter(Boolean));
    return found.found ? asText(found.value) : '';
  }
  const stepMatch = stepReference.exec(expression);
  if (stepMatch) return Object.hasOwn(stepOutputs, stepMatch[1]!) ? (stepOutputs[stepMatch[1]!] ?? '') : '';
  return undefined;
};

/** The step keys a step's template reads the output of. */
export const referencedSteps = (template: string): string[] => {
  const parsed = parseTemplate(template);
  if (!parsed.ok) return [];
  return [
    ...new Set(parsed.references.flatMap((reference) => (reference.kind === 'step' ? [reference.key] : []))),
  ];
};

/** Input paths the templates read that the run's input lacks: the run is refused (422). */
export const missingInputs = (definition: readonly StepDefinition[], input: unknown): FieldError[] => {
  const errors: FieldError[] = [];
  for (const step of definition) {
    const parsed = parseTemplate(step.inputTemplate);
    if (!parsed.ok) continue;
    for (const reference of parsed.references) {
      if (reference.kind !== 'input' || lookup(input, reference.path).found) continue;
      const path = ['input', ...reference.path].join('.');
      errors.push({ field: path, detail: `step "${step.key}" reads ${path}, which the input does not have` });
    }
  }
  return errors;
};

// ---------------------------------------------------------------------------------------
// The graph.

/** Steps depending on each step, directly. */
export const dependentsOf = (definition: readonly StepDefinition[]): Map<string, string[]> => {
  const dependents = new Map<string, string[]>(definition.map((step) => [step.key, []]));
  for (const step of definition) {
    for (const dependency of step.dependsOn) dependents.get(dependency)?.push(step.key);
  }
  return dependents;
};

/** Every key reached from `key` (itself excepted, unless on a cycle) along the edges of `next`. */
const reachableFrom = (key: string, next: ReadonlyMap<string, readonly string[]>): Set<string> => {
  const found = new Set<string>();
  const pending = [...(next.get(key) ?? [])];
  while (pending.length > 0) {
    const step = pending.pop()!;
    if (found.has(step)) continue;
    found.add(step);
    pending.push(...(next.get(step) ?? []));
  }
  return found;
};

/** Every step that (transitively) depends on `key`: skipped when it fails in "continue" mode. */
export const downstreamOf = (definition: readonly StepDefinition[], key: string): Set<string> =>
  reachableFrom(key, dependentsOf(definition));

/** A cycle among the steps as a key path (`a → b → a`), or null when the graph is acyclic. */
const findCycle = (stepsByKey: ReadonlyMap<string, readonly string[]>): string[] | null => {
  const state = new Map<string, 'visiting' | 'done'>();
  const path: string[] = [];
  const visit = (key: string): string[] | null => {
    if (state.get(key) === 'done') return null;
    if (state.get(key) === 'visiting') return [...path.slice(path.indexOf(key)), key];
    state.set(key, 'visiting');
    path.push(key);
    for (const dependency of stepsByKey.get(key) ?? []) {
      const cycle = visit(dependency);
      if (cycle) return cycle;
    }
    path.pop();
    state.set(key, 'done');
    return null;
  };
  for (const key of stepsByKey.keys()) {
    const cycle = visit(key);
    if (cycle) return cycle;
  }
  return null;
};

/**
 * The definition of validated steps, or every field error in it: unique keys, known
 * dependencies, no cycle, and templates that read only the input and steps upstream.
 * Whether the agents exist is the service's question (it needs the database).
 */
export const buildDefinition = (
  body: readonly StepBody[],
): { ok: true; steps: StepDefinition[] } | { ok: false; errors: FieldError[] } => {
  const errors: FieldError[] = [];
  const seen = new Map<string, number>();
  body.forEach((step, i) => {
    if (seen.has(step.key)) {
      errors.push({
        field: `steps.${i}.key`,
        detail: `duplicate key "${step.key}" (also steps.${seen.get(step.key)})`,
      });
    } else seen.set(step.key, i);
  });
  body.forEach((step, i) => {
    (step.depends_on ?? []).forEach((dependency, j) => {
      if (!seen.has(dependency)) {
        errors.push({ field: `steps.${i}.depends_on.${j}`, detail: `no step has the key "${dependency}"` });
      } else if (dependency === step.key) {
        errors.push({ field: `steps.${i}.depends_on.${j}`, detail: 'a step cannot depend on itself' });
      }
    });
    if (new Set(step.depends_on ?? []).size !== (step.depends_on ?? []).length) {
      errors.push({ field: `steps.${i}.depends_on`, detail: 'lists a dependency twice' });
    }
  });
  if (errors.length > 0) return { ok: false, errors };

  const graph = new Map(body.map((step) => [step.key, step.depends_on ?? []]));
  const cycle = findCycle(graph);
  if (cycle)
    return {
      ok: false,
      errors: [{ field: 'steps', detail: `the steps form a cycle: ${cycle.join(' → ')}` }],
    };

  body.forEach((step, i) => {
    const parsed = parseTemplate(step.input);
    if (!parsed.ok) {
      errors.push({
        field: `steps.${i}.input`,
        detail: `${parsed.bad} is not a reference: use {{input}}, {{input.<field>}} or {{steps.<key>.output}}`,
      });
      return;
    }
    const upstream = reachableFrom(step.key, graph);
    for (const reference of parsed.references) {
      if (reference.kind !== 'step' || upstream.has(reference.key)) continue;
      errors.push({
        field: `steps.${i}.input`,
        detail:
          reference.key === step.key
            ? 'a step cannot read its own output'
            : seen.has(reference.key)
              ? `reads steps.${reference.key}.output, but "${reference.key}" is not upstream of "${step.key}" (add it to depends_on)`
              : `reads steps.${reference.key}.output, but no step has the key "${reference.key}"`,
      });
    }
  });
  if (errors.length > 0) return { ok: false, errors };

  return {
    ok: true,
    steps: body.map((step, position) => ({
      key: step.key,
      position,
      agentId: step.agent_id,
      inputTemplate: step.input,
      dependsOn: step.depends_on ?? [],
      maxAttempts: step.retry?.max_attempts ?? stepLimits.defaultMaxAttempts,
      backoffSeconds: step.retry?.backoff_seconds ?? stepLimits.defaultBackoffSeconds,
      timeoutSeconds: step.timeout_seconds ?? stepLimits.defaultTimeoutSeconds,
      ...(step.knowledge !== undefined && { knowledge: stepKnowledgeUse(step.knowledge) }),
    })),
  };
};

/** A step's knowledge with its defaults resolved, as the agent's would be (bases listed once). */
const stepKnowledgeUse = (knowledge: Exclude<StepBody['knowledge'], undefined>): KnowledgeUse | null =>
  knowledge && {
    baseIds: [...new Set(knowledge.knowledge_base_ids)],
    topK: knowledge.top_k ?? defaultTopK,
    mode: knowledge.mode ?? 'hybrid',
  };

/** The agent's settings for a step: its retrieval replaced by the step's own, or removed, when the step says so. */
export const stepSettings = (
  agentSettings: ExecutionSettings,
  knowledge: KnowledgeUse | null | undefined,
): ExecutionSettings => {
  if (knowledge === undefined) return agentSettings;
  const { knowledge: _agents, ...settings } = agentSettings;
  return knowledge === null ? settings : { ...settings, knowledge };
};

/** A step's knowledge as the API shows it (the request's shape, defaults filled in). */
export const toStepKnowledgeResource = (knowledge: KnowledgeUse) => ({
  knowledge_base_ids: [...knowledge.baseIds],
  top_k: knowledge.topK,
  mode: knowledge.mode,
});

/** A step's backoff (`retryDelaySeconds`): its `backoff_seconds` doubled per attempt, capped at SQS's longest message delay. */
export const stepBackoff = (backoffSeconds: number): Backoff => ({
  baseDelaySeconds: backoffSeconds,
  maxDelaySeconds: 900,
});

// ---------------------------------------------------------------------------------------
// Runs.

export interface StepRun extends CallRecord {
  readonly key: string;
  readonly position: number;
  readonly agentId: string;
  readonly status: StepStatus;
  readonly attempts: number;
  readonly input: string | null;
  readonly model: string | null;
  readonly queuedAt: Date | null;
  readonly startedAt: Date | null;
  readonly completedAt: Date | null;
  /** Read clipped to `inlineStepTextChars` (in a run's view); the step's own route has it whole. */
  readonly inputTruncated?: boolean;
  readonly outputTruncated?: boolean;
}

/**
 * Longest step input or output a run shows inline, in characters: 50 steps × 2 × 16 K keeps
 * any run's response well under Lambda's 6 MB, whatever its steps produced.
 */
export const inlineStepTextChars = 16_384;

export interface WorkflowRun extends RunRequest, RunProgress<WorkflowRunStatus> {
  readonly workflowId: string;
  readonly workflowVersion: number;
  readonly error: ExecutionError | null;
  readonly stepCount: number;
  readonly inputTokens: number;
  readonly outputTokens: number;
  readonly costUsd: number;
  readonly createdAt: Date;
}

/** A step's identity within a batch of steps (of any runs). */
export const stepId = (executionId: string, key: string): string => `${executionId}/${key}`;

/** A workflow run slower than this raises an alert on the default queue. */
export const slowWorkflowMs = 120_000;

export const isRunFinished = isFinished;

const iso = (date: Date | null): string | null => date?.toISOString() ?? null;
const durationMs = (started: Date | null, completed: Date | null): number | null =>
  started && completed ? completed.getTime() - started.getTime() : null;

export const toStepResource = (step: StepRun) => ({
  key: step.key,
  agent_id: step.agentId,
  status: step.status,
  attempts: step.attempts,
  input: step.input,
  output: step.output,
  // Clipped: the full values are at /v1/workflow-executions/{id}/steps/{key}.
  input_truncated: step.inputTruncated === true,
  output_truncated: step.outputTruncated === true,
  error: step.error,
  model_used: step.modelUsed ?? step.model,
  usage: {
    input_tokens: step.inputTokens ?? 0,
    output_tokens: step.outputTokens ?? 0,
    cost_usd: step.costUsd ?? 0,
    cached: step.cached,
    ...(step.retrieval && { embedding_tokens: step.retrieval.embeddingTokens }),
  },
  ...retrievalResource(step.retrieval),
  queued_at: iso(step.queuedAt),
  started_at: iso(step.startedAt),
  completed_at: iso(step.completedAt),
  duration_ms: durationMs(step.startedAt, step.completedAt),
});

/** A run as the API shows it; totals are summed from the steps while it runs. */
export const toRunResource = (run: WorkflowRun, stepRuns?: readonly StepRun[]) => {
  const sum = (pick: (step: StepRun) => number | null) =>
    (stepRuns ?? []).reduce((total, step) => total + (pick(step) ?? 0), 0);
  const totals =
    stepRuns && !isRunFinished(run.status)
      ? {
          input_tokens: sum((s) => s.inputTokens),
          output_tokens: sum((s) => s.outputTokens),
          cost_usd: Math.round(sum((s) => s.costUsd) * 1e8) / 1e8,
        }
      : { input_tokens: run.inputTokens, output_tokens: run.outputTokens, cost_usd: run.costUsd };
  return {
    id: run.id,
    workflow_id: run.workflowId,
    workflow_version: run.workflowVersion,
    status: run.status,
    input: run.input,
    metadata: run.metadata,
    error: run.error,
    step_count: run.stepCount,
    ...(stepRuns && {
      steps_finished: stepRuns.filter((s) => !openStepStatuses.includes(s.status)).length,
    }),
    usage: totals,
    created_at: run.createdAt.toISOString(),
    started_at: iso(run.startedAt),
    completed_at: iso(run.completedAt),
    duration_ms: durationMs(run.startedAt, run.completedAt),
    ...(stepRuns && { steps: [...stepRuns].sort((a, b) => a.position - b.position).map(toStepResource) }),
  };
};

export const toWorkflowResource = (workflow: Workflow | WorkflowWithSteps) => ({
  id: workflow.id,
  name: workflow.name,
  description: workflow.description,
  version: workflow.version,
  on_step_failure: workflow.onStepFailure,
  webhook_url: workflow.webhookUrl,
  step_count: workflow.stepCount,
  created_at: workflow.createdAt.toISOString(),
  updated_at: workflow.updatedAt.toISOString(),
  ...('steps' in workflow && {
    steps: workflow.steps.map((step) => ({
      key: step.key,
      agent_id: step.agentId,
      input: step.inputTemplate,
      depends_on: step.dependsOn,
      retry: { max_attempts: step.maxAttempts, backoff_seconds: step.backoffSeconds },
      timeout_seconds: step.timeoutSeconds,
      // Absent when the step inherits its agent's knowledge; null when it turns it off.
      ...(step.knowledge !== undefined && {
        knowledge: step.knowledge && toStepKnowledgeResource(step.knowledge),
      }),
    })),
  }),
});

/** Seed 000's 30-day statistics of one workflow. */
export interface WorkflowStats {
  readonly workflowId: string;
  readonly name: string;
  readonly executionCount: number;
  readonly avgDurationSeconds: number;
  readonly successCount: number;
  readonly failureCount: number;
  readonly hasActiveExecutions: boolean;
}

export const toStatsResource = (stats: WorkflowStats) => ({
  workflow_id: stats.workflowId,
  name: stats.name,
  window_days: 30,
  execution_count: stats.executionCount,
  avg_duration_seconds: Math.round(stats.avgDurationSeconds * 1000) / 1000,
  success_count: stats.successCount,
  failure_count: stats.failureCount,
  success_rate:
    stats.executionCount > 0 ? Math.round((stats.successCount / stats.executionCount) * 10_000) / 100 : 0,
  has_active_executions: stats.hasActiveExecutions,
});
