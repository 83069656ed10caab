/**
 * `npm run dlq -- list | peek <queue> | redrive <queue> [--limit N]`
 *
 * The operator API from a terminal: talks to SWITCHYARD_URL (default http://127.0.0.1:3000,
 * a running `npm start`, or a deployed stage) with SWITCHYARD_ADMIN_KEY.
 */
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { devAdminKeyFile } from './local-runtime/runtime.ts';

const usage = `usage:
  npm run dlq -- list                       depth, in flight and oldest age of every queue and DLQ
  npm run dlq -- peek <queue>               up to 10 dead letters of high | default | low
  npm run dlq -- redrive <queue> [--limit N] move dead letters back; their executions return to queued
environment: SWITCHYARD_URL (default http://127.0.0.1:3000), SWITCHYARD_ADMIN_KEY (for a local
  npm start without one, the dev operator key it keeps in SWITCHYARD_DATA_DIR, default .switchyard)`;

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: { limit: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
});
const [command, queue] = positionals;
const base = (process.env['SWITCHYARD_URL'] ?? 'http://127.0.0.1:3000').replace(/\/$/, '');
/** Against a local `npm start` without SWITCHYARD_ADMIN_KEY, the dev operator key it keeps. */
const devAdminKey = async (): Promise<string | undefined> => {
  if (!/^http:\/\/(127\.0\.0\.1|localhost)[:/]/.test(`${base}/`)) return undefined;
  const file = join(resolve(process.env['SWITCHYARD_DATA_DIR'] ?? '.switchyard'), devAdminKeyFile);
  return (await readFile(file, 'utf8').catch(() => '')).trim() || undefined;
};
const key = process.env['SWITCHYARD_ADMIN_KEY'] || (await devAdminKey());
if (
  values.help ||
  !command ||
  !['list', 'peek', 'redrive'].includes(command) ||
  (command !== 'list' && !queue) ||
  !key
) {
  console.error(
    key || values.help
      ? usage
      : `SWITCHYARD_ADMIN_KEY is not set (and no dev operator key was found)\n\n${usage}`,
  );
  process.exit(values.help ? 0 : 2);
}

const call = async (method: string, path: string): Promise<unknown> => {
  const response = await fetch(base + path, { method, headers: { authorization: `Bearer ${key}` } });
  const body = (await response.json().catch(() => ({}))) as { detail?: string };
  if (!response.ok) {
    console.error(`${method} ${path} → ${response.status}: ${body.detail ?? ''}`);
    process.exit(1);
  }
  return body;
};

const limit = values.limit ? `?limit=${encodeURIComponent(values.limit)}` : '';
if (command === 'list') {
  const { data } = (await call('GET', '/v1/admin/queues')) as {
    data: { queue: string; main: Record<string, number | null>; dlq: Record<string, number | null> }[];
  };
  console.log(
    'queue'.padEnd(10),
    'visible'.padStart(8),
    'in flight'.padStart(10),
    'delayed'.padStart(8),
    'oldest s'.padStart(9),
    '  dlq'.padStart(6),
    'dlq oldest s'.padStart(13),
  );
  for (const q of data) {
    console.log(
      q.queue.padEnd(10),
      String(q.main['visible']).padStart(8),
      String(q.main['in_flight']).padStart(10),
      String(q.main['delayed']).padStart(8),
      String(q.main['oldest_message_age_seconds'] ?? '-').padStart(9),
      String(q.dlq['visible']).padStart(6),
      String(q.dlq['oldest_message_age_seconds'] ?? '-').padStart(13),
    );
  }
} else if (command === 'peek') {
  console.log(
    JSON.stringify(await call('GET', `/v1/admin/dlq/${encodeURIComponent(queue!)}${limit}`), null, 2),
  );
} else {
  const result = (await call('POST', `/v1/admin/dlq/${encodeURIComponent(queue!)}/redrive${limit}`)) as {
    moved: number;
    executions_requeued: number;
  };
  console.log(
    `moved ${result.moved} message(s) back to ${queue}; ${result.executions_requeued} execution(s) queued again`,
  );
}
