/**
 * `npm run worker`: the queue workers alone, in their own process, against the queues and
 * database of a running `npm start` (AWS_ENDPOINT_URL_SQS, DATABASE_URL; PGlite is
 * single-process, so this needs PostgreSQL). Lambda runs workers apart from the API; this
 * lets a test kill one for real.
 */
import { startLocalRuntime } from './local-runtime/runtime.ts';

for (const required of ['DATABASE_URL', 'AWS_ENDPOINT_URL_SQS']) {
  if (!process.env[required]) {
    console.error(`npm run worker needs ${required} (the API process prints its stand-ins)`);
    process.exit(2);
  }
}

const runtime = await startLocalRuntime({ api: false }).catch((error: unknown) => {
  console.error('worker failed to start:', error instanceof Error ? error.message : error);
  process.exit(1);
});
console.log(`worker ready (pid ${process.pid}): ${runtime.standIns.queues}; ${runtime.standIns.database}`);

let stopping = false;
const shutdown = async () => {
  if (stopping) return;
  stopping = true;
  await runtime.stop();
  process.exit(0);
};
process.on('SIGINT', () => void shutdown());
process.on('SIGTERM', () => void shutdown());
