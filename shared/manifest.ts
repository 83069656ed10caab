/**
 * The one description of Switchyard's API routes, Lambda functions and queues.
 * Read by the local runtime (bin/dev.ts), the bundler (bin/build.ts) and the CDK
 * stack, so that nothing is listed twice. Pure data: importing it costs nothing.
 */

import type { routes } from './http/routes/index.ts';

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
export type AuthMode = 'none' | 'tenant' | 'admin';
export type QueuePriority = 'high' | 'default' | 'low';

export interface FunctionDef {
  /** Entry module, relative to the project root; exports `handler`. */
  readonly entry: string;
  readonly kind: 'api' | 'worker';
  readonly memoryMb: number;
  readonly timeoutSeconds: number;
}

export interface RouteDef {
  readonly method: HttpMethod;
  /** API Gateway path template, e.g. `/v1/agents/{id}`. */
  readonly path: string;
  readonly function: FunctionName;
  readonly auth: AuthMode;
  readonly summary: string;
}

export interface RetryPolicy {
  /** Retries after the first attempt; the DLQ takes the message after `retries + 1` receives. */
  readonly retries: number;
  readonly baseDelaySeconds: number;
  readonly maxDelaySeconds: number;
}

export interface QueueDef {
  readonly name: QueuePriority;
  readonly priority: QueuePriority;
  readonly consumer: FunctionName;
  readonly batchSize: number;
  readonly batchingWindowSeconds: number;
  /** Concurrent batches (Lambda event source `maxConcurrency`, 2–1000). */
  readonly maxConcurrency: number;
  readonly visibilityTimeoutSeconds: number;
  readonly retentionSeconds: number;
  readonly retry: RetryPolicy;
}

export const functions = {
  agents: { entry: 'functions/api/agents.ts', kind: 'api', memoryMb: 512, timeoutSeconds: 10 },
  health: { entry: 'functions/api/health.ts', kind: 'api', memoryMb: 256, timeoutSeconds: 5 },
  openapi: { entry: 'functions/api/openapi.ts', kind: 'api', memoryMb: 256, timeoutSeconds: 5 },
  fallback: { entry: 'functions/api/fallback.ts', kind: 'api', memoryMb: 128, timeoutSeconds: 3 },
  admin: { entry: 'functions/api/admin.ts', kind: 'api', memoryMb: 256, timeoutSeconds: 25 },
  // ?wait=20 holds a request up to 20 s.
  executions: { entry: 'functions/api/executions.ts', kind: 'api', memoryMb: 512, timeoutSeconds: 25 },
  activity: { entry: 'functions/api/activity.ts', kind: 'api', memoryMb: 256, timeoutSeconds: 10 },
  workflows: { entry: 'functions/api/workflows.ts', kind: 'api', memoryMb: 512, timeoutSeconds: 10 },
  // ?wait=20 holds a request up to 20 s.
  workflowExecutions: {
    entry: 'functions/api/workflow-executions.ts',
    kind: 'api',
    memoryMb: 512,
    timeoutSeconds: 25,
  },
  knowledge: { entry: 'functions/api/knowledge.ts', kind: 'api', memoryMb: 512, timeoutSeconds: 10 },
  // Embeds the query (a provider call for OpenAI and Bedrock models) before its one statement.
  knowledgeSearch: {
    entry: 'functions/api/knowledge-search.ts',
    kind: 'api',
    memoryMb: 1024,
    timeoutSeconds: 10,
  },
  workerHigh: { entry: 'functions/workers/high.ts', kind: 'worker', memoryMb: 1024, timeoutSeconds: 60 },
  workerDefault: { entry: 'functions/workers/default.ts', kind: 'worker', memoryMb: 512, timeoutSeconds: 60 },
  workerLow: { entry: 'functions/workers/low.ts', kind: 'worker', memoryMb: 512, timeoutSeconds: 120 },
} as const satisfies Record<string, FunctionDef>;

export type FunctionName = keyof typeof functions;

/**
 * Every API route, each declared once (with its schemas) beside the others of its function in
 * shared/http/routes/; this is that list. Schemas, no handler code.
 */
export { routes } from './http/routes/index.ts';

export type Route = (typeof routes)[number];
export type RouteKey = `${Route['method']} ${Route['path']}`;

export const routeKey = (route: Pick<RouteDef, 'method' | 'path'>): string => `${route.method} ${route.path}`;

/** The function every unmatched request goes to (API Gateway's `$default` route). */
export const fallbackFunction: FunctionName = 'fallback';

/** The high and default queues keep messages 4 days and retry a failed job within seconds. */
const promptDelivery = {
  visibilityTimeoutSeconds: 360,
  retentionSeconds: 4 * 24 * 3600,
  retry: { retries: 3, baseDelaySeconds: 1, maxDelaySeconds: 10 },
} as const;

export const queues = [
  {
    name: 'high',
    priority: 'high',
    consumer: 'workerHigh',
    batchSize: 10,
    batchingWindowSeconds: 0,
    maxConcurrency: 50,
    ...promptDelivery,
  },
  {
    name: 'default',
    priority: 'default',
    consumer: 'workerDefault',
    batchSize: 10,
    batchingWindowSeconds: 1,
    maxConcurrency: 10,
    ...promptDelivery,
  },
  {
    name: 'low',
    priority: 'low',
    consumer: 'workerLow',
    batchSize: 25,
    batchingWindowSeconds: 5,
    maxConcurrency: 2,
    visibilityTimeoutSeconds: 720,
    retentionSeconds: 14 * 24 * 3600,
    retry: { retries: 5, baseDelaySeconds: 5, maxDelaySeconds: 60 },
  },
] as const satisfies readonly QueueDef[];

export type QueueName = (typeof queues)[number]['name'];

/** SQS redrive: a message moves to the DLQ on its `retries + 1`-th receive. */
export const maxReceiveCount = (queue: Pick<QueueDef, 'retry'>): number => queue.retry.retries + 1;

/** Physical queue names for a stage, e.g. `switchyard-dev-high` and `switchyard-dev-high-dlq`. */
export const queueResourceName = (stage: string, queue: QueueName, dlq = false): string =>
  `switchyard-${stage}-${queue}${dlq ? '-dlq' : ''}`;

/** DynamoDB table of idempotency records. */
export const idempotencyTableName = (stage: string): string => `switchyard-${stage}-idempotency`;

/**
 * What a job's handler reaches, in the terms of lib/access.ts `FunctionAccess`: the consumer
 * of the job's queue must have all of it (test/unit/job-routing.test.ts). Secrets come with
 * what needs them (the database's with `database`, the OpenAI key with `llm`).
 */
export interface JobNeeds {
  /** Aurora through RDS Proxy. */
  readonly database?: boolean;
  /** Valkey, the shared L2: without it a handler reads and fills only its own container's L1. */
  readonly cache?: boolean;
  /** Model calls (Bedrock, OpenAI through its key secret). */
  readonly llm?: boolean;
  /** Arbitrary HTTPS endpoints (webhooks, OpenAI). */
  readonly internet?: boolean;
}

/** EventBridge `cron(...)` fields (UTC); unset fields are `*` (or `?` for the day of the week). */
export interface JobCron {
  readonly minute?: string;
  readonly hour?: string;
  readonly day?: string;
  readonly month?: string;
  readonly weekDay?: string;
}

interface ScheduleBase {
  /** The idempotency key is `<keyPrefix>:<time>`: a redelivered event is the same job. */
  readonly keyPrefix: string;
  readonly description: string;
}

/**
 * A job that runs on a clock: an EventBridge rule in AWS (lib/constructs/schedules.ts) and,
 * unless `local: false`, a timer of the local runtime at the same rate (bin/local-runtime/runtime.ts).
 * The local runtime keeps no calendar, so a cron schedule must say it is not run locally.
 */
export type JobSchedule = ScheduleBase &
  (
    | {
        readonly every: { readonly minutes: number };
        /** `intervalSetting`: an environment variable (ms) that overrides the local interval. */
        readonly local?: false | { readonly intervalSetting: string };
      }
    | { readonly cron: JobCron; readonly local: false }
  );

export interface JobDef {
  /** The envelope's `type`: what the consumer dispatches on. */
  readonly type: string;
  /** The one queue it travels on; `enqueue(job)` picks it from here, the consumer runs it from there. */
  readonly queue: QueueName;
  /** Its handler takes all the jobs of this type in an SQS batch at once (one statement for all). */
  readonly batch: boolean;
  readonly needs: JobNeeds;
  /** Job types its handler enqueues: its consumer must be allowed to send to their queues. */
  readonly enqueues: readonly string[];
  readonly schedule?: JobSchedule;
}

/**
 * Every job type, declared once: its queue, how it is handled, what its handler needs and
 * its clock. The producers (`enqueue(job)`), the workers' dispatch, the EventBridge rules and
 * the local scheduler all read this; the handlers themselves are in shared/services/workers.ts,
 * where a type missing here or a handler missing there fails to compile.
 */
/** What a handler that calls models needs: the run's rows, the response cache, the providers. */
const callsModels = { database: true, cache: true, llm: true, internet: true } as const;

export const jobs = {
  executeAgent: {
    type: 'agent.execute',
    queue: 'high',
    batch: true,
    needs: callsModels,
    // Deferred to its lease's end; completion events.
    enqueues: ['agent.execute', 'webhook.deliver', 'execution.slow_alert'],
  },
  runWorkflowStep: {
    type: 'workflow.step',
    queue: 'high',
    batch: true,
    needs: callsModels,
    // Retries, released dependents and continuations; completion events.
    enqueues: ['workflow.step', 'webhook.deliver', 'execution.slow_alert'],
  },
  // On the high worker because it has the cache this job exists to fill (the low worker has none).
  warmCaches: {
    type: 'cache.warm',
    queue: 'high',
    batch: false,
    needs: { database: true, cache: true },
    enqueues: [],
    schedule: {
      every: { minutes: 5 },
      keyPrefix: 'warm',
      description: 'Keep the agents and workflows executed in the last hour in the shared cache tier',
    },
  },
  deliverWebhook: {
    type: 'webhook.deliver',
    queue: 'default',
    batch: false,
    needs: { database: true, internet: true },
    enqueues: [],
  },
  slowExecutionAlert: {
    type: 'execution.slow_alert',
    queue: 'default',
    batch: false,
    needs: { database: true },
    enqueues: [],
  },
  ingestDocument: {
    type: 'knowledge.ingest',
    queue: 'default',
    batch: false,
    // Embedding providers are model calls (Bedrock, OpenAI over the internet).
    needs: { database: true, llm: true, internet: true },
    enqueues: [],
  },
  recordAudit: {
    type: 'audit.record',
    queue: 'low',
    batch: true,
    needs: { database: true },
    enqueues: [],
  },
  sweepExecutions: {
    type: 'executions.sweep',
    queue: 'low',
    batch: false,
    needs: { database: true },
    // Re-sends what was lost, and announces completions whose events were never sent.
    enqueues: [
      'agent.execute',
      'workflow.step',
      'webhook.deliver',
      'execution.slow_alert',
      'knowledge.ingest',
    ],
    schedule: {
      every: { minutes: 1 },
      keyPrefix: 'sweep',
      description: 'Re-enqueue executions stuck in queued or running (lost messages, dead workers)',
      local: { intervalSetting: 'SWEEPER_INTERVAL_MS' },
    },
  },
  cleanupRetention: {
    type: 'retention.cleanup',
    queue: 'low',
    batch: false,
    needs: { database: true },
    enqueues: [],
    schedule: {
      // Daily at a quiet hour (UTC); a run that exhausts its time budget is continued by the next.
      cron: { minute: '17', hour: '3' },
      keyPrefix: 'retention',
      description: 'Delete executions, workflow executions and audit events past their retention',
      // Local data is dev data: `npm run cleanup` runs it by hand.
      local: false,
    },
  },
} as const satisfies Record<string, JobDef>;

export type JobName = keyof typeof jobs;
export type JobType = (typeof jobs)[JobName]['type'];
/** The declaration of job type `T`. */
export type JobDefOf<T extends JobType> = Extract<(typeof jobs)[JobName], { readonly type: T }>;

const jobsByType: ReadonlyMap<string, JobDef> = new Map(Object.values(jobs).map((job) => [job.type, job]));

/** The declaration of a job type, or undefined for one that does not exist. */
export const jobDefOf = (type: string): JobDef | undefined => jobsByType.get(type);

/** The scheduled jobs: what EventBridge (and, where not declared otherwise, the local runtime) runs on a clock. */
export const scheduledJobs = (): readonly (JobDef & { readonly schedule: JobSchedule })[] =>
  Object.values(jobs).filter(
    (job): job is (typeof jobs)[JobName] & { schedule: JobSchedule } => 'schedule' in job,
  );

/** How often the local runtime enqueues a scheduled job, or undefined when it does not. */
export const localIntervalMs = (
  schedule: JobSchedule,
  env: Readonly<Record<string, string | undefined>> = {},
): number | undefined => {
  if (schedule.local === false || !('every' in schedule)) return undefined;
  const configured = schedule.local ? Number(env[schedule.local.intervalSetting]) : Number.NaN;
  return configured > 0 ? configured : schedule.every.minutes * 60_000;
};
