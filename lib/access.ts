import type { FunctionName, QueueName } from '#manifest';

/**
 * What each function of the manifest reaches, read off its code (functions/ and the services
 * they call). The stack grants exactly this and nothing more; a function added to the
 * manifest fails to compile here until its access is written down. A worker's access covers
 * the needs of the jobs the manifest puts on its queue (test/unit/job-routing.test.ts).
 */
export interface FunctionAccess {
  /** Aurora through RDS Proxy (DATABASE_URL). */
  readonly database?: boolean;
  /** Valkey (REDIS_URL): the L2 of the two-tier cache, auth lookups included. */
  readonly cache?: boolean;
  /** Queues it enqueues jobs on (SendMessage / SendMessageBatch). */
  readonly sendsTo?: readonly QueueName[];
  /** Queues whose DLQ it parks unrecoverable messages in directly (the consumer's non-retryable path). */
  readonly deadLettersTo?: readonly QueueName[];
  /** GetQueueAttributes only (health checks). */
  readonly inspects?: readonly QueueName[];
  /** Every queue and DLQ: attributes, peek and redrive (the operator API). */
  readonly operatesQueues?: boolean;
  /** The idempotency table: records (Powertools idempotency), or only DescribeTable (health). */
  readonly idempotency?: 'records' | 'describe';
  /** CloudWatch GetMetricStatistics (oldest message age of the operator API). */
  readonly readsMetrics?: boolean;
  /** The operator key (SWITCHYARD_ADMIN_KEY). */
  readonly adminKey?: boolean;
  /** Model calls: Bedrock, and OpenAI through its key secret when configured. */
  readonly llm?: boolean;
  /** The upload bucket (UPLOAD_BUCKET): pre-signs POSTs into it, or reads and deletes uploaded files. */
  readonly uploads?: 'presign' | 'read';
  /** Calls arbitrary HTTPS endpoints (webhooks, OpenAI): needs a NAT route. */
  readonly internet?: boolean;
}

export const functionAccess = {
  agents: { database: true, cache: true, sendsTo: ['low'], idempotency: 'records' },
  health: { database: true, cache: true, inspects: ['high'], idempotency: 'describe' },
  openapi: {},
  fallback: {},
  admin: { database: true, operatesQueues: true, readsMetrics: true, adminKey: true },
  executions: { database: true, cache: true, sendsTo: ['high', 'low'], idempotency: 'records' },
  activity: { database: true, cache: true },
  workflows: { database: true, cache: true, sendsTo: ['low'], idempotency: 'records' },
  workflowExecutions: { database: true, cache: true, sendsTo: ['high', 'low'], idempotency: 'records' },
  knowledge: {
    database: true,
    cache: true,
    sendsTo: ['default', 'low'],
    idempotency: 'records',
    uploads: 'presign',
  },
  knowledgeSearch: { database: true, cache: true, llm: true, internet: true },
  workerHigh: {
    database: true,
    cache: true,
    // Workflow steps: released dependents and step retries go back on the high queue.
    sendsTo: ['high', 'default'],
    deadLettersTo: ['high'],
    llm: true,
    internet: true,
  },
  // Webhooks, and document ingestion's embedding calls.
  workerDefault: {
    database: true,
    deadLettersTo: ['default'],
    uploads: 'read',
    llm: true,
    internet: true,
  },
  workerLow: {
    database: true,
    // The sweeper: lost executions and steps back on high, unsent completion events on default.
    sendsTo: ['high', 'default'],
    deadLettersTo: ['low'],
  },
} as const satisfies Record<FunctionName, FunctionAccess>;

/** Runs in the VPC: it talks to the database or the cache. The others stay out (faster cold starts). */
export const inVpc = (access: FunctionAccess): boolean => Boolean(access.database || access.cache);
