import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { FunctionName } from '#manifest';
import { functions, queueResourceName, queues, routes } from '#manifest';
import type { ApiHandler, RequestLogEntry } from './gateway.ts';
import type { WorkerThreadData, WorkerThreadMessage } from './worker-thread.ts';

/**
 * The whole platform in one process, on stand-ins that speak the production protocols:
 * PGlite behind a Postgres wire-protocol socket (or DATABASE_URL), fauxqs for SQS (or
 * AWS_ENDPOINT_URL_SQS), dynalite for DynamoDB (or AWS_ENDPOINT_URL_DYNAMODB), Redis when
 * REDIS_URL is set. The gateway and pollers invoke the very handlers the stack deploys.
 */

export interface LocalRuntimeOptions {
  readonly port?: number;
  readonly host?: string;
  readonly dataDir?: string;
  /** Settings as environment variables; defaults to process.env. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  readonly onRequestLog?: (entry: RequestLogEntry) => void;
  /**
   * Start the queue pollers (default true). `'thread'`: on a worker thread of their own when
   * the database is PostgreSQL, as Lambda runs them in functions apart from the API's (the
   * process then uses two cores); PGlite is one session, so with it they stay on this thread.
   */
  readonly workers?: boolean | 'thread';
  /**
   * The queues were created by this start (set for a worker thread by its main thread; by
   * default, whether the SQS stand-in is in-process), so the first sweep resends all that a
   * previous start left queued in the database.
   */
  readonly freshQueues?: boolean;
  /** Serve the API (default true); off for a workers-only process (bin/worker.ts). */
  readonly api?: boolean;
}

export interface LocalRuntime {
  /** The API's base URL; empty in a workers-only process. */
  readonly url: string;
  /** Tenants whose keys this start created or knows: the dev key when no keys were configured. */
  readonly devKey: string | undefined;
  /** The operator key kept in the data folder when SWITCHYARD_ADMIN_KEY is not set. */
  readonly devAdminKey: string | undefined;
  readonly tenants: readonly string[];
  readonly standIns: Readonly<Record<'database' | 'queues' | 'idempotency' | 'cache', string>>;
  readonly databaseUrl: string;
  stop(): Promise<void>;
}

const projectRoot = resolve(import.meta.dirname, '..', '..');
const devKeyFile = 'dev-api-key';
/** Where `npm start` keeps the dev operator key; `npm run dlq` reads it from there. */
export const devAdminKeyFile = 'dev-admin-key';

/** A key kept in a file of the data folder (owner-only), made on first use. */
const keptKey = async (file: string): Promise<string> => {
  const kept = await readFile(file, 'utf8').then(
    (text) => text.trim(),
    () => '',
  );
  if (kept) return kept;
  const { generateApiKey } = await import('#domain/tenant.ts');
  const key = generateApiKey();
  await writeFile(file, `${key}\n`, { mode: 0o600 });
  return key;
};

/** Loads a function's handler from its manifest entry, as Lambda would load the bundle. */
export const loadHandler = async <H>(fn: FunctionName): Promise<H> => {
  const module = (await import(pathToFileURL(join(projectRoot, functions[fn].entry)).href)) as { handler: H };
  return module.handler;
};

interface Closer {
  readonly name: string;
  readonly close: () => Promise<unknown>;
}

export const startLocalRuntime = async (options: LocalRuntimeOptions = {}): Promise<LocalRuntime> => {
  const env = options.env ?? process.env;
  const closers: Closer[] = [];
  const stopAll = async () => {
    for (const closer of closers.reverse()) {
      await closer.close().catch((error: unknown) => console.error(`stopping ${closer.name}:`, error));
    }
  };
  try {
    return await start(options, env, closers, stopAll);
  } catch (error) {
    await stopAll();
    throw error;
  }
};

const start = async (
  options: LocalRuntimeOptions,
  env: Readonly<Record<string, string | undefined>>,
  closers: Closer[],
  stopAll: () => Promise<void>,
): Promise<LocalRuntime> => {
  // Lambda runs Node 22; the SDK's notice about Node 20 is noise here.
  process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] ??= 'true';
  const dataDir = resolve(options.dataDir ?? env['SWITCHYARD_DATA_DIR'] ?? '.switchyard');
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const stage = env['STAGE'] ?? 'local';
  const settings: Record<string, string> = {
    STAGE: stage,
    // Quiet and readable: the runtime prints one line per request; handlers log warnings only.
    POWERTOOLS_LOG_LEVEL: env['POWERTOOLS_LOG_LEVEL'] ?? env['LOG_LEVEL'] ?? 'WARN',
    POWERTOOLS_METRICS_DISABLED: env['POWERTOOLS_METRICS_DISABLED'] ?? 'true',
    POWERTOOLS_TRACE_ENABLED: env['POWERTOOLS_TRACE_ENABLED'] ?? 'false',
    SWITCHYARD_SERVER_TIMING: env['SWITCHYARD_SERVER_TIMING'] ?? 'true',
    AWS_REGION: env['AWS_REGION'] ?? 'us-east-1',
  };
  const standIns: Record<'database' | 'queues' | 'idempotency' | 'cache', string> = {
    database: '',
    queues: '',
    idempotency: '',
    cache: 'L1 in-process only (set REDIS_URL for L2)',
  };

  // Postgres: DATABASE_URL, or PGlite served on a loopback socket so `pg` and the
  // migrations run exactly as against PostgreSQL.
  let databaseUrl = env['DATABASE_URL'];
  if (databaseUrl) {
    standIns.database = `PostgreSQL at ${redactUrl(databaseUrl)}`;
    // One process hosts every function here, each of which has a pool of its own in Lambda.
    if (env['DB_POOL_MAX'] === undefined) settings['DB_POOL_MAX'] = '20';
  } else {
    const { startEmbeddedPostgres } = await import('./embedded-postgres.ts');
    const embedded = await startEmbeddedPostgres(dataDir);
    closers.push({ name: 'PGlite', close: () => embedded.stop() });
    databaseUrl = embedded.url;
    settings['SWITCHYARD_EMBEDDED_DB'] = '1';
    standIns.database = `PGlite (embedded) in ${embedded.dataDir}`;
  }
  settings['DATABASE_URL'] = databaseUrl;
  const { migrate } = await import('#adapters/postgres/migrate.ts');
  await migrate(databaseUrl);

  // The AWS SDK needs a region and credentials even for local stand-ins.
  const needsFakeCredentials = !env['AWS_ENDPOINT_URL_SQS'] || !env['AWS_ENDPOINT_URL_DYNAMODB'];
  if (needsFakeCredentials && !env['AWS_ACCESS_KEY_ID'] && !env['AWS_PROFILE']) {
    settings['AWS_ACCESS_KEY_ID'] = 'local';
    settings['AWS_SECRET_ACCESS_KEY'] = 'local';
  }

  /** The configured endpoint of an AWS API, or an in-process stand-in started for it. */
  const endpointOrStandIn = async (
    variable: 'AWS_ENDPOINT_URL_SQS' | 'AWS_ENDPOINT_URL_DYNAMODB',
    service: string,
    standIn: { name: string; start: () => Promise<{ endpoint: string; stop(): Promise<void> }> },
  ): Promise<{ endpoint: string; description: string }> => {
    const configured = env[variable];
    if (configured) {
      settings[variable] = configured;
      return { endpoint: configured, description: `${service} API at ${configured}` };
    }
    const server = await standIn.start();
    closers.push({ name: standIn.name, close: () => server.stop() });
    settings[variable] = server.endpoint;
    return { endpoint: server.endpoint, description: `${standIn.name} (in-process) at ${server.endpoint}` };
  };
  // Queues, DLQs and the idempotency table are created from the manifest on either.
  const sqs = await endpointOrStandIn('AWS_ENDPOINT_URL_SQS', 'SQS', {
    name: 'fauxqs',
    start: async () => (await import('./sqs.ts')).startLocalSqs(),
  });
  // The API's idempotency records are kept in the data folder: a retry after a restart (or
  // a crash) finds its record. A workers-only process needs none and keeps them in memory.
  const dynamoStore = join(dataDir, 'dynamodb');
  let dynamoKept = false;
  const dynamo = await endpointOrStandIn('AWS_ENDPOINT_URL_DYNAMODB', 'DynamoDB', {
    name: 'dynalite',
    start: async () => {
      const { startLocalDynamo } = await import('./dynamodb.ts');
      const server = await startLocalDynamo(options.api === false ? {} : { path: dynamoStore });
      dynamoKept = server.persistent;
      return server;
    },
  });
  const sqsEndpoint = sqs.endpoint;
  const dynamoEndpoint = dynamo.endpoint;
  standIns.queues = sqs.description;
  // The operator API reads queue ages from the stand-in's inspection endpoint (CloudWatch in AWS).
  settings['SWITCHYARD_SQS_INSPECTION_URL'] = env['AWS_ENDPOINT_URL_SQS']
    ? (env['SWITCHYARD_SQS_INSPECTION_URL'] ?? '')
    : sqsEndpoint;
  standIns.idempotency = dynamoKept ? `${dynamo.description}, records in ${dynamoStore}` : dynamo.description;
  if (env['REDIS_URL']) standIns.cache = `L1 in-process + L2 Redis at ${redactUrl(env['REDIS_URL'])}`;

  // Handlers read their configuration from the environment, as in Lambda.
  settings['SWITCHYARD_EMBEDDED_DB'] ??= '0';
  Object.assign(process.env, settings);
  // Passed through as given, and cleared when not given, so a restart in the same process starts clean.
  for (const name of [
    'REDIS_URL',
    'SWITCHYARD_ADMIN_KEY',
    'CACHE_L1_TTL_MS',
    'CACHE_L2_TTL_SECONDS',
    'CACHE_NEGATIVE_TTL_SECONDS',
    'CACHE_API_KEY_TTL_SECONDS',
    'CACHE_REPAIR_CHECK_SECONDS',
    'SWITCHYARD_WEBHOOKS_ALLOW_PRIVATE',
    'SWITCHYARD_DEFAULT_PROVIDER',
    'SWITCHYARD_LOCAL_LLM_LATENCY_MS',
    'SWEEPER_STALE_SECONDS',
    'SWITCHYARD_CLAIM_LEASE_SECONDS',
    'SWITCHYARD_MAX_STEP_INPUT_BYTES',
  ] as const) {
    if (env[name] === undefined) delete process.env[name];
    else process.env[name] = env[name];
  }
  // No operator key configured: a dev one is kept in the data folder, as the dev API key is,
  // so the operator API (npm run dlq) works out of the box. An empty value keeps it closed.
  let devAdminKey: string | undefined;
  if (env['SWITCHYARD_ADMIN_KEY'] === undefined && options.api !== false) {
    devAdminKey = await keptKey(join(dataDir, devAdminKeyFile));
    process.env['SWITCHYARD_ADMIN_KEY'] = devAdminKey;
  }

  const { SQSClient } = await import('@aws-sdk/client-sqs');
  const sqsClient = new SQSClient({ endpoint: sqsEndpoint, region: settings['AWS_REGION'] });
  closers.push({ name: 'SQS client', close: async () => sqsClient.destroy() });
  const { ensureQueues } = await import('./sqs.ts');
  const provisioned = await ensureQueues(sqsClient, stage);
  for (const queue of queues) {
    process.env[`QUEUE_URL_${queue.name.toUpperCase()}`] = provisioned[queue.name].url;
    process.env[`DLQ_URL_${queue.name.toUpperCase()}`] = provisioned[queue.name].dlqUrl;
  }

  const { DynamoDBClient } = await import('@aws-sdk/client-dynamodb');
  const dynamoClient = new DynamoDBClient({ endpoint: dynamoEndpoint, region: settings['AWS_REGION'] });
  closers.push({ name: 'DynamoDB client', close: async () => dynamoClient.destroy() });
  const { ensureIdempotencyTable } = await import('./dynamodb.ts');
  const { idempotencyTableName } = await import('#manifest');
  const tableName = idempotencyTableName(stage);
  await ensureIdempotencyTable(dynamoClient, tableName);
  process.env['IDEMPOTENCY_TABLE'] = tableName;

  const { resetConfig } = await import('#runtime/config.ts');
  resetConfig();
  const { closeDatabase } = await import('#adapters/postgres/db.ts');
  const { resetContainer } = await import('#services/container.ts');
  const { resetAwsClients } = await import('#adapters/aws/clients.ts');
  closers.push({
    name: 'runtime adapters',
    close: async () => {
      await closeDatabase();
      await resetContainer();
      resetAwsClients();
      (await import('#adapters/aws/job-queue.ts')).resetJobQueue();
      resetConfig();
    },
  });

  // Uploaded documents: kept under the data folder; the API's process also receives them.
  process.env['SWITCHYARD_LOCAL_UPLOAD_DIR'] = dataDir;
  if (options.api !== false) {
    const [{ startLocalUploads }, { jobQueue }, { maxUploadBytes }] = await Promise.all([
      import('./uploads.ts'),
      import('#adapters/aws/job-queue.ts'),
      import('#domain/knowledge.ts'),
    ]);
    const uploads = await startLocalUploads({
      dir: dataDir,
      maxBytes: maxUploadBytes,
      host: options.host ?? env['HOST'] ?? '127.0.0.1',
      enqueue: (job) => jobQueue().enqueue(job),
    });
    closers.push({ name: 'uploads', close: () => uploads.stop() });
    process.env['SWITCHYARD_LOCAL_UPLOAD_URL'] = uploads.url;
    process.env['SWITCHYARD_LOCAL_UPLOAD_SECRET'] = uploads.secret;
  } else {
    delete process.env['SWITCHYARD_LOCAL_UPLOAD_URL'];
    delete process.env['SWITCHYARD_LOCAL_UPLOAD_SECRET'];
  }
  resetConfig();
  (await import('#adapters/uploads/store.ts')).resetUploadStore();

  const { tenants, devKey } =
    options.api === false ? { tenants: [], devKey: undefined } : await bootstrapTenants(env, dataDir);

  let url = '';
  if (options.api !== false) {
    const { startLocalGateway } = await import('./gateway.ts');
    const gateway = await startLocalGateway({
      port: options.port ?? Number(env['PORT'] ?? 3000),
      host: options.host ?? env['HOST'] ?? '127.0.0.1',
      routes,
      stage,
      resolveHandler: (fn) => loadHandler<ApiHandler>(fn),
      ...(options.onRequestLog && { onRequestLog: options.onRequestLog }),
    });
    closers.push({ name: 'gateway', close: () => gateway.close() });
    url = gateway.url;
  }

  const embedded = settings['SWITCHYARD_EMBEDDED_DB'] === '1';
  const freshQueues = options.freshQueues ?? !env['AWS_ENDPOINT_URL_SQS'];
  if (options.workers === 'thread' && !embedded) {
    closers.push(await startWorkerThread({ env: { ...process.env }, freshQueues }));
  } else if (options.workers !== false) {
    await startWorkers(stage, sqsEndpoint, provisioned, closers);
    await startSchedules(env, freshQueues, closers);
  }

  return { url, devKey, devAdminKey, tenants, standIns, databaseUrl, stop: stopAll };
};

/** The queue workers on a thread of their own (worker-thread.ts); stopping drains them. */
const startWorkerThread = async (data: WorkerThreadData): Promise<Closer> => {
  const { Worker } = await import('node:worker_threads');
  const entry = JSON.stringify(new URL('./worker-thread.ts', import.meta.url).href);
  // A worker thread does not inherit the module hooks tsx registered on this one: it registers its own.
  const thread = new Worker(
    `import('tsx/esm/api').then(({ register }) => { register(); return import(${entry}); })`,
    { eval: true, workerData: data },
  );
  const exited = new Promise<void>((done) => thread.once('exit', () => done()));
  const next = () =>
    new Promise<WorkerThreadMessage>((resolve, reject) => {
      thread.once('message', resolve);
      thread.once('error', reject);
      void exited.then(() => reject(new Error('the worker thread exited')));
    });
  const started = await next();
  if (started.kind !== 'ready') {
    await thread.terminate();
    throw new Error(
      `the worker thread did not start: ${started.kind === 'failed' ? started.message : started.kind}`,
    );
  }
  return {
    name: 'worker thread',
    close: async () => {
      const stopped = next();
      thread.postMessage('stop');
      await stopped.catch(() => undefined);
      await exited;
    },
  };
};

/** Lambda's SQS event source mapping, emulated: a poller per queue invoking its consumer. */
const startWorkers = async (
  stage: string,
  sqsEndpoint: string,
  provisioned: Awaited<ReturnType<typeof import('./sqs.ts').ensureQueues>>,
  closers: Closer[],
): Promise<void> => {
  const { SqsEventSourcePoller } = await import('./sqs-poller.ts');
  const { SqsApi } = await import('#adapters/aws/sqs-api.ts');
  const pollerClient = new SqsApi({
    endpoint: sqsEndpoint,
    region: process.env['AWS_REGION'] ?? 'us-east-1',
  });
  closers.push({ name: 'SQS poller client', close: async () => pollerClient.destroy() });
  for (const queue of queues) {
    const handler = await loadHandler<import('./sqs-poller.ts').SqsBatchHandler>(queue.consumer);
    const poller = new SqsEventSourcePoller({
      client: pollerClient,
      queueUrl: provisioned[queue.name].url,
      queueArn: provisioned[queue.name].arn,
      queue,
      handler,
      functionName: queueResourceName(stage, queue.name).replace('switchyard-', 'switchyard-worker-'),
      timeoutSeconds: functions[queue.consumer].timeoutSeconds,
      memoryMb: functions[queue.consumer].memoryMb,
      reportBatchItemFailures: true,
    });
    poller.start();
    // Closed before the gateway and the database: pollers drain in-flight batches first.
    closers.push({ name: `${queue.name} poller`, close: () => poller.stop() });
  }
};

/** The manifest's scheduled jobs, on the queue and at the rate EventBridge runs them in AWS. */
const startSchedules = async (
  env: Readonly<Record<string, string | undefined>>,
  freshQueues: boolean,
  closers: Closer[],
): Promise<void> => {
  // Except those declared not to run here (the daily retention: `npm run cleanup` runs it).
  const { jobQueue } = await import('#adapters/aws/job-queue.ts');
  const { jobTypes, newJob } = await import('#domain/jobs.ts');
  const { localIntervalMs, scheduledJobs } = await import('#manifest');
  const run = (type: string, keyPrefix: string, ids: Record<string, string> = {}) =>
    jobQueue()
      .enqueue(newJob(type, 'system', ids, `${keyPrefix}:${Date.now()}`))
      .catch((error: unknown) => console.error(`could not schedule ${type}:`, error));
  for (const job of scheduledJobs()) {
    const intervalMs = localIntervalMs(job.schedule, env);
    if (intervalMs === undefined) continue;
    if (job.type === jobTypes.sweepExecutions) {
      // A fresh in-process queue holds none of the work a previous process left queued: resend
      // all of it now rather than after the sweeper's staleness (a duplicate is harmless).
      const ids: Record<string, string> = freshQueues ? { queued_before: new Date().toISOString() } : {};
      await run(job.type, job.schedule.keyPrefix, ids);
    }
    const timer = setInterval(() => run(job.type, job.schedule.keyPrefix), intervalMs);
    timer.unref();
    closers.push({ name: `${job.type} schedule`, close: async () => clearInterval(timer) });
  }
};

/**
 * Tenants and keys from SWITCHYARD_API_KEYS; without it, a dev tenant whose key is kept
 * in the data folder (owner-only) so every start can print it.
 */
const bootstrapTenants = async (
  env: Readonly<Record<string, string | undefined>>,
  dataDir: string,
): Promise<{ tenants: string[]; devKey: string | undefined }> => {
  const { database } = await import('#adapters/postgres/db.ts');
  const { TenantRepository } = await import('#adapters/postgres/tenants.ts');
  const { generateApiKey, hashApiKey, parseApiKeysSetting } = await import('#domain/tenant.ts');
  const repository = new TenantRepository(database());
  const configured = env['SWITCHYARD_API_KEYS'];
  if (configured) {
    const pairs = parseApiKeysSetting(configured);
    for (const { tenant, key } of pairs) {
      const tenantId = await repository.ensureTenant(tenant);
      await repository.addKey(tenantId, key, 'SWITCHYARD_API_KEYS');
    }
    return { tenants: [...new Set(pairs.map((p) => p.tenant))], devKey: undefined };
  }
  const file = join(dataDir, devKeyFile);
  let key = await readFile(file, 'utf8').then(
    (text) => text.trim(),
    () => undefined,
  );
  const tenantId = await repository.ensureTenant('dev');
  // A kept key that was revoked (keys CLI) is replaced rather than printed uselessly.
  if (key && !(await repository.principalForKeyHash(hashApiKey(key)))) {
    const { added } = await repository.addKey(tenantId, key, 'dev key');
    if (!added) key = undefined;
  }
  if (!key) {
    key = generateApiKey();
    await writeFile(file, `${key}\n`, { mode: 0o600 });
    await repository.addKey(tenantId, key, 'dev key');
  }
  await chmod(file, 0o600);
  return { tenants: ['dev'], devKey: key };
};

/** A connection URL without its password, for printing. */
export const redactUrl = (url: string): string => {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(unparseable URL)';
  }
};
