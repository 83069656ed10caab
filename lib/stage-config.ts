import { RetentionDays } from 'aws-cdk-lib/aws-logs';

/** How new function versions take traffic: at once, 10 % then the rest after 5 min, or 10 % a minute. */
export type RolloutStrategy = 'all-at-once' | 'canary' | 'linear';
export type LlmProviderName = 'local' | 'openai' | 'bedrock';

/** The PostgreSQL and Redis the `local` stage's functions use instead of Aurora and Valkey. */
export interface LocalServices {
  readonly databaseUrl: string;
  readonly redisUrl: string;
}

/**
 * docs/localstack/compose.yml's PostgreSQL and Redis as LocalStack's Lambda containers reach
 * them: by service name, on the compose network (LAMBDA_DOCKER_NETWORK). Local credentials only.
 */
export const localServiceDefaults: LocalServices = {
  databaseUrl: 'postgresql://switchyard:switchyard@postgres:5432/switchyard',
  redisUrl: 'redis://redis:6379',
};

/** What differs between stages. Read from CDK context (`cdk.json`, `-c key=value`). */
export interface StageConfig {
  readonly stage: string;
  /** Deletion protection, retained data, longer log retention, gradual rollouts. */
  readonly production: boolean;
  /** 0: no internet egress at all (webhooks and OpenAI then fail; Bedrock works through its endpoint). */
  readonly natGateways: number;
  /** Interface endpoint for bedrock-runtime, so model calls never leave the VPC. */
  readonly bedrockEndpoint: boolean;
  readonly auroraMinAcu: number;
  readonly auroraMaxAcu: number;
  readonly cacheMaxDataGb: number;
  readonly cacheMaxEcpuPerSecond: number;
  readonly apiThrottle: { readonly rateLimit: number; readonly burstLimit: number };
  /** Browser origins allowed by CORS; none: no CORS headers at all. */
  readonly corsOrigins: readonly string[];
  readonly logRetention: RetentionDays;
  readonly rollout: RolloutStrategy;
  /** Subscribed to the alarm topic when set. */
  readonly alarmEmail: string | undefined;
  /** SLO: the oldest message on the high queue may be at most this old. */
  readonly oldestHighMessageAgeSeconds: number;
  /** SWITCHYARD_DEFAULT_PROVIDER of the high worker; unset: the runtime's default. */
  readonly llmProvider: LlmProviderName | undefined;
  /** Name of an existing Secrets Manager secret with the OpenAI API key (never the key itself). */
  readonly openAiSecretName: string | undefined;
  /** Rotate the database credentials every 30 days (Secrets Manager hosted rotation). */
  readonly rotateDatabaseSecret: boolean;
  /**
   * Set on the `local` stage only (LocalStack, `npm run deploy:local`): functions use this
   * PostgreSQL and Redis, and the stack leaves out what LocalStack's free edition lacks (VPC,
   * Aurora, RDS Proxy, ElastiCache, migrations Trigger, CodeDeploy, observability; see
   * docs/localstack/README.md). Context `databaseUrl` and `redisUrl` override the defaults.
   */
  readonly localstack: LocalServices | undefined;
}

const defaults: StageConfig = {
  stage: 'dev',
  production: false,
  natGateways: 1,
  bedrockEndpoint: false,
  auroraMinAcu: 0.5,
  auroraMaxAcu: 4,
  cacheMaxDataGb: 1,
  cacheMaxEcpuPerSecond: 5_000,
  apiThrottle: { rateLimit: 100, burstLimit: 200 },
  corsOrigins: [],
  logRetention: RetentionDays.TWO_WEEKS,
  rollout: 'all-at-once',
  alarmEmail: undefined,
  oldestHighMessageAgeSeconds: 60,
  llmProvider: undefined,
  openAiSecretName: undefined,
  rotateDatabaseSecret: true,
  localstack: undefined,
};

/** Per-stage profiles; any other stage name starts from `dev`'s. */
const profiles: Readonly<Record<string, Partial<StageConfig>>> = {
  dev: {},
  prod: {
    production: true,
    natGateways: 2,
    bedrockEndpoint: true,
    auroraMinAcu: 1,
    auroraMaxAcu: 32,
    cacheMaxDataGb: 10,
    cacheMaxEcpuPerSecond: 50_000,
    apiThrottle: { rateLimit: 2_000, burstLimit: 4_000 },
    logRetention: RetentionDays.THREE_MONTHS,
    rollout: 'canary',
  },
  local: {
    natGateways: 0,
    bedrockEndpoint: false,
    rotateDatabaseSecret: false,
    logRetention: RetentionDays.ONE_WEEK,
    // No Bedrock in LocalStack's free edition: the runtime's offline provider.
    llmProvider: 'local',
    localstack: localServiceDefaults,
  },
};

type Context = (key: string) => unknown;

const text = (value: unknown): string | undefined =>
  value === undefined || value === null || value === '' ? undefined : String(value);

const list = (value: unknown): string[] | undefined => {
  if (Array.isArray(value)) return value.map(String);
  const raw = text(value);
  return raw === undefined
    ? undefined
    : raw
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
};

// `-c key=value` arrives as a string; cdk.json may hold real JSON values.
const bool = (value: unknown): boolean | undefined => {
  if (typeof value === 'boolean') return value;
  const raw = text(value)?.toLowerCase();
  if (raw === undefined) return undefined;
  if (raw === 'true') return true;
  if (raw === 'false') return false;
  throw new Error(`expected true or false, got "${raw}"`);
};

const int = (key: string, value: unknown): number | undefined => {
  const raw = text(value);
  if (raw === undefined) return undefined;
  const parsed = Number(raw);
  if (!Number.isInteger(parsed) || parsed < 0) throw new Error(`context ${key} must be an integer ≥ 0`);
  return parsed;
};

const oneOf = <T extends string>(key: string, value: unknown, allowed: readonly T[]): T | undefined => {
  const raw = text(value);
  if (raw === undefined) return undefined;
  if (!(allowed as readonly string[]).includes(raw)) {
    throw new Error(`context ${key} must be one of ${allowed.join(', ')}, got "${raw}"`);
  }
  return raw as T;
};

const stagePattern = /^[a-z][a-z0-9-]{0,11}$/;

const urlWithScheme = (key: string, value: unknown, schemes: readonly string[]): string | undefined => {
  const raw = text(value);
  if (raw === undefined) return undefined;
  let scheme: string;
  try {
    scheme = new URL(raw).protocol.slice(0, -1);
  } catch {
    throw new Error(`context ${key} must be a URL (${schemes.join(' or ')})`);
  }
  if (!schemes.includes(scheme)) throw new Error(`context ${key} must be a ${schemes.join(' or ')} URL`);
  return raw;
};

/** The local stage's PostgreSQL and Redis: the defaults, or `-c databaseUrl=… -c redisUrl=…`. */
const localServicesFrom = (base: StageConfig, context: Context): LocalServices | undefined => {
  const databaseUrl = urlWithScheme('databaseUrl', context('databaseUrl'), ['postgres', 'postgresql']);
  const redisUrl = urlWithScheme('redisUrl', context('redisUrl'), ['redis', 'rediss']);
  if (!base.localstack) {
    if (databaseUrl || redisUrl) {
      throw new Error(
        'context databaseUrl and redisUrl apply to the local stage only (AWS stages run Aurora and Valkey)',
      );
    }
    return undefined;
  }
  return {
    databaseUrl: databaseUrl ?? base.localstack.databaseUrl,
    redisUrl: redisUrl ?? base.localstack.redisUrl,
  };
};

/** The stage's configuration: its profile, then any context overrides. */
export const stageConfigFrom = (context: Context): StageConfig => {
  const stage = text(context('stage')) ?? 'dev';
  // Stage names go into queue, table, function and cache names, which have tight character sets.
  if (!stagePattern.test(stage)) {
    throw new Error(`stage must match ${stagePattern} (lower case, ≤ 12 characters), got "${stage}"`);
  }
  const base: StageConfig = { ...defaults, ...profiles[stage], stage };
  const overrides: Partial<Record<keyof StageConfig, unknown>> = {
    alarmEmail: text(context('alarmEmail')),
    corsOrigins: list(context('corsOrigins')),
    natGateways: int('natGateways', context('natGateways')),
    bedrockEndpoint: bool(context('bedrockEndpoint')),
    rollout: oneOf('rollout', context('rollout'), ['all-at-once', 'canary', 'linear'] as const),
    llmProvider: oneOf('llmProvider', context('llmProvider'), ['local', 'openai', 'bedrock'] as const),
    openAiSecretName: text(context('openAiSecretName')),
    rotateDatabaseSecret: bool(context('rotateDatabaseSecret')),
    localstack: localServicesFrom(base, context),
  };
  const defined = Object.fromEntries(Object.entries(overrides).filter(([, v]) => v !== undefined));
  return { ...base, ...defined };
};
