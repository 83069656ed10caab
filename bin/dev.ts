/**
 * `npm start`: the API and the queue workers in one process on local stand-ins (on
 * PostgreSQL, the workers on a thread of their own, as Lambda runs them apart).
 * Ctrl-C / SIGTERM drains the pollers, closes the servers and exits.
 */
import { startLocalRuntime } from './local-runtime/runtime.ts';

const started = performance.now();
const quiet = process.env['SWITCHYARD_QUIET'] === '1';

const runtime = await startLocalRuntime({
  workers: 'thread',
  onRequestLog: quiet
    ? undefined
    : (entry) =>
        console.log(
          `${entry.method} ${entry.path} → ${entry.status} ${entry.ms.toFixed(1)} ms  [${entry.requestId}]`,
        ),
}).catch((error: unknown) => {
  console.error('Switchyard failed to start:', error instanceof Error ? error.message : error);
  process.exit(1);
});

/** Which providers can answer with this environment, for the local start banner. */
const describeProviders = (env: Readonly<Record<string, string | undefined>>): string[] => {
  // Bedrock is left out: whether AWS credentials reach it is only known on the first call.
  const openAi = env['OPENAI_BASE_URL']
    ? `openai (OpenAI-compatible server at ${env['OPENAI_BASE_URL']})`
    : env['OPENAI_API_KEY'] || env['OPENAI_API_KEY_SECRET_ARN']
      ? 'openai (api.openai.com)'
      : undefined;
  return ['local (built-in fake model, no network)', ...(openAi ? [openAi] : [])];
};

const defaultProvider = process.env['SWITCHYARD_DEFAULT_PROVIDER'] || 'local';
const [firstProvider, ...otherProviders] = describeProviders(process.env);
const lines = [
  '',
  `Switchyard is ready in ${Math.round(performance.now() - started)} ms at ${runtime.url}`,
  `  database      ${runtime.standIns.database}`,
  `  queues        ${runtime.standIns.queues}`,
  `  idempotency   ${runtime.standIns.idempotency}`,
  `  cache         ${runtime.standIns.cache}`,
  `  LLM           default provider "${defaultProvider}"; live: ${firstProvider}${otherProviders.map((p) => `, ${p}`).join('')}`,
  ...(otherProviders.length === 0
    ? [
        '                a real model: OPENAI_API_KEY=… SWITCHYARD_DEFAULT_PROVIDER=openai npm start',
        '                (or "provider": "openai" | "bedrock" in an agent\'s configuration)',
      ]
    : []),
  runtime.devKey
    ? `  API key       ${runtime.devKey}   (tenant "dev"; kept in the data folder)`
    : `  tenants       ${runtime.tenants.join(', ')} (keys from SWITCHYARD_API_KEYS)`,
  runtime.devAdminKey
    ? `  operator key  ${runtime.devAdminKey}   (npm run dlq reads it from the data folder)`
    : '  operator key  from SWITCHYARD_ADMIN_KEY',
  '',
  `  curl ${runtime.url}/health`,
  `  curl -H "Authorization: Bearer ${runtime.devKey ?? '<key>'}" ${runtime.url}/v1/agents`,
  '',
];
console.log(lines.join('\n'));

let stopping = false;
const shutdown = async (signal: string) => {
  if (stopping) return;
  stopping = true;
  console.log(`\n${signal}: draining workers and closing…`);
  const timer = setTimeout(() => {
    console.error('shutdown took over 20 s; exiting');
    process.exit(1);
  }, 20_000);
  timer.unref();
  await runtime.stop();
  console.log('stopped');
  process.exit(0);
};
process.on('SIGINT', () => void shutdown('SIGINT'));
process.on('SIGTERM', () => void shutdown('SIGTERM'));
