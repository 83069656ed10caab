import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '#runtime/config.ts';
import { thrownBy } from '../support/problems.ts';

const base = { DATABASE_URL: 'postgres://user:pw@localhost:5432/switchyard' };

/** The ConfigError loading `env` throws, failing the test if it throws nothing. */
const configError = (env: Record<string, string | undefined>): ConfigError =>
  thrownBy(ConfigError, () => loadConfig(env));

describe('loadConfig', () => {
  it('reads DATABASE_URL, leaving it undefined when unset or empty (only querying functions need it)', () => {
    expect(loadConfig(base).databaseUrl).toBe(base.DATABASE_URL);
    expect(loadConfig({}).databaseUrl).toBeUndefined();
    expect(loadConfig({ DATABASE_URL: '' }).databaseUrl).toBeUndefined();
  });

  it('raises ConfigError, not a plain Error, for invalid settings', () => {
    const error = configError({ DB_POOL_MAX: 'many' });
    expect(error.name).toBe('ConfigError');
    expect(error).toBeInstanceOf(Error);
  });

  it('applies defaults', () => {
    expect(loadConfig(base)).toEqual({
      stage: 'local',
      databaseUrl: base.DATABASE_URL,
      dbPoolMax: 5,
      redisUrl: undefined,
      adminKey: undefined,
      adminKeySecretArn: undefined,
      cache: {
        l1TtlMs: 5_000,
        l1MaxEntries: 10_000,
        l2TtlSeconds: 300,
        negativeTtlSeconds: 30,
        apiKeyTtlSeconds: 60,
        repairCheckSeconds: 30,
      },
      serverTiming: false,
      maxStepInputBytes: 262_144,
      claimLeaseSeconds: undefined,
      defaultProvider: 'local',
      defaultEmbeddingModel: { provider: 'local', model: 'switchyard-hashing-v1', dimensions: 384 },
      embeddingBatchSize: 64,
      uploads: {},
      embeddingCacheDays: 90,
      sweeperStaleSeconds: 300,
      sqsInspectionUrl: undefined,
      databaseSecretArn: undefined,
      webhooksAllowPrivate: false,
      queueUrls: { high: undefined, default: undefined, low: undefined },
      dlqUrls: { high: undefined, default: undefined, low: undefined },
      idempotencyTable: undefined,
      retentionDays: { executions: 90, workflowExecutions: 90, audit: 365 },
    });
  });

  it('treats empty strings as unset', () => {
    const blank = [
      'REDIS_URL',
      'SWITCHYARD_ADMIN_KEY',
      'DB_POOL_MAX',
      'CACHE_L1_TTL_MS',
      'SWITCHYARD_SERVER_TIMING',
      'QUEUE_URL_HIGH',
      'IDEMPOTENCY_TABLE',
    ];
    const config = loadConfig({ ...base, ...Object.fromEntries(blank.map((name) => [name, ''])) });
    expect(config.redisUrl).toBeUndefined();
    expect(config.adminKey).toBeUndefined();
    expect(config.dbPoolMax).toBe(5);
    expect(config.cache.l1TtlMs).toBe(5_000);
    expect(config.serverTiming).toBe(false);
    expect(config.queueUrls.high).toBeUndefined();
    expect(config.idempotencyTable).toBeUndefined();
  });

  it('reads every setting', () => {
    const config = loadConfig({
      ...base,
      STAGE: 'prod',
      DB_POOL_MAX: '20',
      REDIS_URL: 'redis://cache:6379',
      SWITCHYARD_ADMIN_KEY: 'admin-secret',
      CACHE_L1_TTL_MS: '0',
      CACHE_L1_MAX_ENTRIES: '0',
      CACHE_L2_TTL_SECONDS: '86400',
      CACHE_NEGATIVE_TTL_SECONDS: '1',
      SWITCHYARD_SERVER_TIMING: 'true',
      IDEMPOTENCY_TABLE: 'switchyard-prod-idempotency',
    });
    expect(config).toMatchObject({
      stage: 'prod',
      dbPoolMax: 20,
      redisUrl: 'redis://cache:6379',
      adminKey: 'admin-secret',
      cache: { l1TtlMs: 0, l1MaxEntries: 0, l2TtlSeconds: 86_400, negativeTtlSeconds: 1 },
      serverTiming: true,
      idempotencyTable: 'switchyard-prod-idempotency',
    });
  });

  /** Each bounded setting, its range as the message words it, and values outside that range. */
  const outOfRange: [name: string, range: string, values: string[]][] = [
    ['DB_POOL_MAX', 'from 1 to 100', ['0', '101', 'ten', '2.5']],
    ['CACHE_L1_TTL_MS', 'from 0 to 300000', ['-1', '300001']],
    ['CACHE_L1_MAX_ENTRIES', 'from 0 to 1000000', ['1000001']],
    ['CACHE_L2_TTL_SECONDS', 'from 1 to 86400', ['0']],
    ['CACHE_NEGATIVE_TTL_SECONDS', 'from 1 to 3600', ['3601', 'abc']],
    ['RETENTION_DAYS_EXECUTIONS', 'from 1 to 36500', ['0']],
    ['RETENTION_DAYS_WORKFLOW_EXECUTIONS', 'from 1 to 36500', ['7.5']],
    ['RETENTION_DAYS_AUDIT', 'from 1 to 36500', ['forever']],
  ];

  it.each(
    outOfRange.flatMap(([name, range, values]) => values.map((value) => [name, value, range] as const)),
  )('rejects %s=%j, naming the variable, the range and the value', (name, value, range) => {
    const error = configError({ ...base, [name]: value });
    expect(error.message).toContain(name);
    expect(error.message).toContain(range);
    expect(error.message).toContain(`"${value}"`);
  });

  it('accepts the bounds of integer ranges', () => {
    expect(loadConfig({ ...base, DB_POOL_MAX: '1' }).dbPoolMax).toBe(1);
    expect(loadConfig({ ...base, DB_POOL_MAX: '100' }).dbPoolMax).toBe(100);
    expect(loadConfig({ ...base, CACHE_L1_TTL_MS: '300000' }).cache.l1TtlMs).toBe(300_000);
  });

  const booleanWords: [words: string[], value: boolean][] = [
    [['1', 'true', 'TRUE', 'yes', 'on'], true],
    [['0', 'false', 'False', 'no', 'off'], false],
  ];

  it.each(booleanWords.flatMap(([words, value]) => words.map((word) => [word, value] as const)))(
    'reads SWITCHYARD_SERVER_TIMING=%j as %s',
    (value, expected) => {
      expect(loadConfig({ ...base, SWITCHYARD_SERVER_TIMING: value }).serverTiming).toBe(expected);
    },
  );

  it('rejects booleans it cannot read, naming the variable and the value as written', () => {
    const error = configError({ ...base, SWITCHYARD_SERVER_TIMING: 'Maybe' });
    expect(error.message).toBe('SWITCHYARD_SERVER_TIMING must be true or false, got "Maybe"');
  });

  it('forces one connection on the embedded database, whatever DB_POOL_MAX says', () => {
    expect(loadConfig({ ...base, SWITCHYARD_EMBEDDED_DB: '1' }).dbPoolMax).toBe(1);
    expect(loadConfig({ ...base, SWITCHYARD_EMBEDDED_DB: '1', DB_POOL_MAX: '50' }).dbPoolMax).toBe(1);
    expect(loadConfig({ ...base, SWITCHYARD_EMBEDDED_DB: '0', DB_POOL_MAX: '50' }).dbPoolMax).toBe(50);
  });

  it('reads the queue URLs by priority', () => {
    const url = (priority: string) => `https://sqs.us-east-1.amazonaws.com/123/switchyard-prod-${priority}`;
    const config = loadConfig({
      ...base,
      QUEUE_URL_HIGH: url('high'),
      QUEUE_URL_DEFAULT: url('default'),
      QUEUE_URL_LOW: url('low'),
    });
    expect(config.queueUrls).toEqual({ high: url('high'), default: url('default'), low: url('low') });
    expect(loadConfig({ ...base, QUEUE_URL_LOW: 'http://localhost:4566/low' }).queueUrls).toEqual({
      high: undefined,
      default: undefined,
      low: 'http://localhost:4566/low',
    });
  });

  it('does not read process.env when given an environment', () => {
    const before = process.env['DATABASE_URL'];
    process.env['DATABASE_URL'] = 'postgres://from-process-env';
    try {
      expect(loadConfig(base).databaseUrl).toBe(base.DATABASE_URL);
      expect(loadConfig({}).databaseUrl).toBeUndefined();
      expect(loadConfig().databaseUrl).toBe('postgres://from-process-env');
    } finally {
      if (before === undefined) delete process.env['DATABASE_URL'];
      else process.env['DATABASE_URL'] = before;
    }
  });
});
