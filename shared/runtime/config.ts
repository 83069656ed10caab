import * as z from 'zod/mini';
import type { ModelPrice } from '#domain/pricing.ts';

/**
 * Runtime configuration, read from the environment once per container and validated,
 * so a misconfigured deployment fails at its first request with a clear message.
 */

export interface RuntimeConfig {
  readonly stage: string;
  /** Required by the functions that query; the others (fallback, openapi) run without one. */
  readonly databaseUrl: string | undefined;
  /** Connections per container; 1 on embedded PGlite, whose single session must not interleave. */
  readonly dbPoolMax: number;
  readonly redisUrl: string | undefined;
  readonly adminKey: string | undefined;
  /** In AWS the operator key lives in Secrets Manager; SWITCHYARD_ADMIN_KEY wins when both are set. */
  readonly adminKeySecretArn: string | undefined;
  readonly cache: {
    /** How long a container may serve an entry from memory without asking L2: the staleness bound across containers. */
    readonly l1TtlMs: number;
    readonly l1MaxEntries: number;
    readonly l2TtlSeconds: number;
    /** How long "no such row" is remembered, against lookups of ids and keys that do not exist. */
    readonly negativeTtlSeconds: number;
    /**
     * How long an API key's principal may be cached (at most the L2 TTL): a revoked key is
     * refused within this plus the L1 TTL even when its cache entry could not be tombstoned.
     */
    readonly apiKeyTtlSeconds: number;
    /** How often a container checks for cache writes another one could not make (see two-tier.ts). */
    readonly repairCheckSeconds: number;
  };
  /** Local mode: webhooks may target private and loopback addresses, over http too. */
  readonly webhooksAllowPrivate: boolean;
  /** Expose per-request query counts and timings in a `Server-Timing` header. */
  readonly serverTiming: boolean;
  /** Cap of a workflow step's rendered input: over it the step fails, it is never sent or stored. */
  readonly maxStepInputBytes: number;
  /**
   * How long a worker's claim on an execution or step lasts; unset: the high worker's
   * timeout + 30 s (90 s), so only a dead worker loses it. Shorter only for tests.
   */
  readonly claimLeaseSeconds: number | undefined;
  /** The provider of agents that name none; an unknown name fails at the first model call. */
  readonly defaultProvider: string;
  /** The embedding model of knowledge bases that name none (fixed per base at its creation). */
  readonly defaultEmbeddingModel: {
    readonly provider: string;
    readonly model: string;
    readonly dimensions: number;
  };
  /** Texts per embedding provider call during ingestion. */
  readonly embeddingBatchSize: number;
  /**
   * Where uploaded documents go: the S3 bucket in AWS; under `npm start`, the local runtime's
   * upload server and its folder. Neither: uploads answer 503.
   */
  readonly uploads: {
    readonly bucket: string | undefined;
    readonly localUrl: string | undefined;
    readonly localDir: string | undefined;
    readonly localSecret: string | undefined;
  };
  /** Prices (USD per million tokens) that extend or override the built-in table; unset: none. */
  readonly modelPrices: Readonly<Record<string, ModelPrice>> | undefined;
  /** How long a queued execution or step waits before the sweeper re-sends it. */
  readonly sweeperStaleSeconds: number;
  /** Locally, the SQS stand-in's inspection endpoint (queue ages); in AWS, CloudWatch answers. */
  readonly sqsInspectionUrl: string | undefined;
  /** In AWS the database password comes from this secret (RDS Proxy, rotated). */
  readonly databaseSecretArn: string | undefined;
  readonly queueUrls: Readonly<Record<'high' | 'default' | 'low', string | undefined>>;
  /** Where non-retryable messages go at once, and what operators inspect and redrive. */
  readonly dlqUrls: Readonly<Record<'high' | 'default' | 'low', string | undefined>>;
  readonly idempotencyTable: string | undefined;
  /** Days an embedding cache entry is kept (`RETENTION_DAYS_EMBEDDING_CACHE`). */
  readonly embeddingCacheDays: number;
  /** Days kept before the retention job deletes them (shared/services/retention.ts). */
  readonly retentionDays: {
    readonly executions: number;
    readonly workflowExecutions: number;
    readonly audit: number;
  };
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

type Env = Record<string, string | undefined>;

const intFrom = (env: Env, name: string, fallback: number, min: number, max: number): number => {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ConfigError(`${name} must be an integer from ${min} to ${max}, got "${raw}"`);
  }
  return value;
};

/** A text setting; unset or empty is undefined. */
const textFrom = (env: Env, name: string): string | undefined => env[name] || undefined;

/** One URL per queue: `<prefix>_HIGH`, `<prefix>_DEFAULT`, `<prefix>_LOW`. */
const perQueue = (env: Env, prefix: string): RuntimeConfig['queueUrls'] => ({
  high: textFrom(env, `${prefix}_HIGH`),
  default: textFrom(env, `${prefix}_DEFAULT`),
  low: textFrom(env, `${prefix}_LOW`),
});

/** A JSON setting checked against its schema, built only when the setting is given; unset or empty is undefined. */
const jsonFrom = <T>(
  env: Env,
  name: string,
  schema: () => z.ZodMiniType<T>,
  expected: string,
): T | undefined => {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return undefined;
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    // Refused below with the rest of what does not fit the schema.
  }
  const parsed = schema().safeParse(value);
  if (!parsed.success) throw new ConfigError(`${name} must be JSON of ${expected}, got "${raw}"`);
  return parsed.data;
};

const modelPricesSchema = () => {
  const usdPerMillionTokens = z.number().check(z.gte(0));
  return z.record(z.string(), z.object({ input: usdPerMillionTokens, output: usdPerMillionTokens }));
};

const boolFrom = (env: Env, name: string, fallback: boolean): boolean => {
  const raw = env[name]?.toLowerCase();
  if (raw === undefined || raw === '') return fallback;
  if (['1', 'true', 'yes', 'on'].includes(raw)) return true;
  if (['0', 'false', 'no', 'off'].includes(raw)) return false;
  throw new ConfigError(`${name} must be true or false, got "${env[name]}"`);
};

export const loadConfig = (env: Env = process.env): RuntimeConfig => {
  const embedded = env['SWITCHYARD_EMBEDDED_DB'] === '1';
  const l2TtlSeconds = intFrom(env, 'CACHE_L2_TTL_SECONDS', 300, 1, 86_400);
  return {
    stage: env['STAGE'] ?? 'local',
    databaseUrl: textFrom(env, 'DATABASE_URL'),
    dbPoolMax: embedded ? 1 : intFrom(env, 'DB_POOL_MAX', 5, 1, 100),
    redisUrl: textFrom(env, 'REDIS_URL'),
    adminKey: textFrom(env, 'SWITCHYARD_ADMIN_KEY'),
    adminKeySecretArn: textFrom(env, 'SWITCHYARD_ADMIN_KEY_SECRET_ARN'),
    cache: {
      l1TtlMs: intFrom(env, 'CACHE_L1_TTL_MS', 5_000, 0, 300_000),
      l1MaxEntries: intFrom(env, 'CACHE_L1_MAX_ENTRIES', 10_000, 0, 1_000_000),
      l2TtlSeconds,
      negativeTtlSeconds: intFrom(env, 'CACHE_NEGATIVE_TTL_SECONDS', 30, 1, 3_600),
      apiKeyTtlSeconds: Math.min(intFrom(env, 'CACHE_API_KEY_TTL_SECONDS', 60, 1, 3_600), l2TtlSeconds),
      repairCheckSeconds: intFrom(env, 'CACHE_REPAIR_CHECK_SECONDS', 30, 1, 3_600),
    },
    serverTiming: boolFrom(env, 'SWITCHYARD_SERVER_TIMING', false),
    maxStepInputBytes: intFrom(env, 'SWITCHYARD_MAX_STEP_INPUT_BYTES', 256 * 1024, 1024, 4 * 1024 * 1024),
    defaultProvider: env['SWITCHYARD_DEFAULT_PROVIDER'] || 'local',
    defaultEmbeddingModel: {
      provider: env['SWITCHYARD_EMBEDDING_PROVIDER'] || 'local',
      model: env['SWITCHYARD_EMBEDDING_MODEL'] || 'switchyard-hashing-v1',
      dimensions: intFrom(env, 'SWITCHYARD_EMBEDDING_DIMENSIONS', 384, 1, 16_000),
    },
    embeddingBatchSize: intFrom(env, 'SWITCHYARD_EMBEDDING_BATCH_SIZE', 64, 1, 2048),
    uploads: {
      bucket: textFrom(env, 'UPLOAD_BUCKET'),
      localUrl: textFrom(env, 'SWITCHYARD_LOCAL_UPLOAD_URL'),
      localDir: textFrom(env, 'SWITCHYARD_LOCAL_UPLOAD_DIR'),
      localSecret: textFrom(env, 'SWITCHYARD_LOCAL_UPLOAD_SECRET'),
    },
    modelPrices: jsonFrom(
      env,
      'SWITCHYARD_MODEL_PRICES',
      modelPricesSchema,
      '{"model": {"input": n, "output": n}} (USD per million tokens, n >= 0)',
    ),
    sweeperStaleSeconds: intFrom(env, 'SWEEPER_STALE_SECONDS', 300, 0, 86_400),
    sqsInspectionUrl: textFrom(env, 'SWITCHYARD_SQS_INSPECTION_URL'),
    databaseSecretArn: textFrom(env, 'DATABASE_SECRET_ARN'),
    claimLeaseSeconds: env['SWITCHYARD_CLAIM_LEASE_SECONDS']
      ? intFrom(env, 'SWITCHYARD_CLAIM_LEASE_SECONDS', 90, 5, 3_600)
      : undefined,
    webhooksAllowPrivate: boolFrom(env, 'SWITCHYARD_WEBHOOKS_ALLOW_PRIVATE', false),
    queueUrls: perQueue(env, 'QUEUE_URL'),
    dlqUrls: perQueue(env, 'DLQ_URL'),
    idempotencyTable: textFrom(env, 'IDEMPOTENCY_TABLE'),
    embeddingCacheDays: intFrom(env, 'RETENTION_DAYS_EMBEDDING_CACHE', 90, 1, 36_500),
    retentionDays: {
      executions: intFrom(env, 'RETENTION_DAYS_EXECUTIONS', 90, 1, 36_500),
      workflowExecutions: intFrom(env, 'RETENTION_DAYS_WORKFLOW_EXECUTIONS', 90, 1, 36_500),
      audit: intFrom(env, 'RETENTION_DAYS_AUDIT', 365, 1, 36_500),
    },
  };
};

/**
 * The local provider's simulated latency, ms (`SWITCHYARD_LOCAL_LLM_LATENCY_MS`, default 0). Read
 * when the provider is created rather than with config(): the registry creates it once per
 * container, and anew from the environment after `resetProviders()`.
 */
export const localLlmLatencyMs = (env: Env = process.env): number =>
  intFrom(env, 'SWITCHYARD_LOCAL_LLM_LATENCY_MS', 0, 0, 600_000);

/**
 * The OpenAI-compatible provider's settings. Read when the provider is created, as the local
 * latency is: once per container, and anew after `resetProviders()`.
 */
export const openAiSettings = (env: Env = process.env) => ({
  apiKey: textFrom(env, 'OPENAI_API_KEY'),
  /** In AWS: the Secrets Manager secret that holds the key. */
  apiKeySecretArn: textFrom(env, 'OPENAI_API_KEY_SECRET_ARN'),
  /** An OpenAI-compatible server (vLLM, Ollama); api.openai.com when unset. */
  baseUrl: textFrom(env, 'OPENAI_BASE_URL'),
});

let current: RuntimeConfig | undefined;

/** The container's configuration, read on first use. */
export const config = (): RuntimeConfig => {
  current ??= loadConfig();
  return current;
};

/** For the local runtime and tests, which set the environment before the first request. */
export const resetConfig = (): void => {
  current = undefined;
};
