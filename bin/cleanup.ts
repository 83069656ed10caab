/**
 * `npm run cleanup [-- --dry-run] [--days-executions N] [--days-workflow-executions N]
 *   [--days-audit N] [--batch-size N] [--budget-seconds N]`
 *
 * Runs the retention job once (what the daily schedule runs on the low queue) against
 * DATABASE_URL, or against the local data folder (SWITCHYARD_DATA_DIR, default .switchyard)
 * while the local server is stopped: the local runtime does not schedule it.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';

const usage = `usage: npm run cleanup -- [options]
  --dry-run                       count what would be deleted; delete nothing
  --days-executions N             keep agent executions N days (else RETENTION_DAYS_EXECUTIONS, 90)
  --days-workflow-executions N    keep workflow executions N days (else RETENTION_DAYS_WORKFLOW_EXECUTIONS, 90)
  --days-audit N                  keep audit events N days (else RETENTION_DAYS_AUDIT, 365)
  --batch-size N                  rows per delete statement (1000)
  --budget-seconds N              stop starting batches after N seconds (default: run until done)`;

const usageError = (message: string): never => {
  console.error(`${message}\n${usage}`);
  process.exit(2);
};

const options = {
  'dry-run': { type: 'boolean' },
  'days-executions': { type: 'string' },
  'days-workflow-executions': { type: 'string' },
  'days-audit': { type: 'string' },
  'batch-size': { type: 'string' },
  'budget-seconds': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;
let values: ReturnType<typeof parseArgs<{ options: typeof options }>>['values'] = {};
try {
  ({ values } = parseArgs({ options }));
} catch (error) {
  usageError((error as Error).message);
}
if (values.help) {
  console.log(usage);
  process.exit(0);
}

/** A whole number flag from `min` to `max`, or undefined when not given. */
const flag = (name: keyof typeof options, min: number, max: number): number | undefined => {
  const raw = values[name];
  if (raw === undefined) return undefined;
  const value = Number(raw);
  if (typeof raw !== 'string' || !Number.isInteger(value) || value < min || value > max) {
    return usageError(`--${name} must be a whole number from ${min} to ${max}, got "${String(raw)}"`);
  }
  return value;
};
const days = {
  executions: flag('days-executions', 1, 36_500),
  workflowExecutions: flag('days-workflow-executions', 1, 36_500),
  audit: flag('days-audit', 1, 36_500),
};
const batchSize = flag('batch-size', 1, 10_000);
const budgetSeconds = flag('budget-seconds', 1, 86_400);
const dryRun = values['dry-run'] ?? false;

// The logger is created on import: quiet it first (the table below is the report).
process.env['POWERTOOLS_LOG_LEVEL'] ??= 'ERROR';
process.env['POWERTOOLS_METRICS_DISABLED'] ??= 'true';

let url = process.env['DATABASE_URL'];
let stopEmbedded: (() => Promise<void>) | undefined;
if (!url) {
  const dataDir = resolve(process.env['SWITCHYARD_DATA_DIR'] ?? '.switchyard');
  if (!existsSync(dataDir)) {
    console.log(`no local data in ${dataDir}: nothing to clean up`);
    process.exit(0);
  }
  // The embedded database refuses a folder a running server (or another CLI) holds.
  const { startEmbeddedPostgres } = await import('./local-runtime/embedded-postgres.ts');
  const embedded = await startEmbeddedPostgres(dataDir).catch((error: Error) => {
    console.error(error.message);
    return process.exit(1);
  });
  url = embedded.url;
  stopEmbedded = () => embedded.stop();
}

const { migrate } = await import('#adapters/postgres/migrate.ts');
const { createDatabase } = await import('#adapters/postgres/db.ts');
const { utcDay } = await import('#adapters/postgres/retention.ts');
const { runRetention } = await import('#services/retention.ts');

let exitCode = 0;
const db = createDatabase({
  connectionString: url,
  max: 1,
  ...(process.env['DATABASE_SECRET_ARN'] && { secretArn: process.env['DATABASE_SECRET_ARN'] }),
});
try {
  await migrate(url);
  const definedDays = Object.fromEntries(Object.entries(days).filter(([, value]) => value !== undefined));
  const report = await runRetention(db, {
    dryRun,
    days: definedDays,
    budgetMs: budgetSeconds === undefined ? null : budgetSeconds * 1000,
    ...(batchSize !== undefined && { batchSize }),
  });
  const rows: string[][] = [['table', 'older than', dryRun ? 'would delete' : 'deleted', 'batches', 'done']];
  for (const t of report.tables) {
    const cutoff = t.table === 'workflow_stats_daily' ? utcDay(t.cutoff) : t.cutoff.toISOString();
    rows.push([t.table, cutoff, String(t.deleted), String(t.batches), t.complete ? 'yes' : 'no']);
    if (t.table === 'workflow_executions') {
      rows.push(['  workflow_step_runs', '(cascade)', String(t.cascaded), '', '']);
    }
  }
  for (const t of report.knowledge) {
    rows.push([
      t.table,
      t.cutoff.toISOString(),
      String(t.deleted),
      String(t.batches),
      t.complete ? 'yes' : 'no',
    ]);
    if (t.cascaded > 0) rows.push(['  their documents and chunks', '(cascade)', String(t.cascaded), '', '']);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  for (const row of rows) {
    console.log(
      row.map((cell, i) => (i >= 2 ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!))).join('  '),
    );
  }
  const verb = dryRun ? 'would delete' : 'deleted';
  console.log(`\n${verb} ${report.deleted} rows in ${report.ms} ms`);
  if (!report.complete) console.log('stopped at --budget-seconds; run again to continue');
} catch (error) {
  console.error(error instanceof Error ? error.message : error);
  exitCode = 1;
} finally {
  await db.close();
  await stopEmbedded?.();
}
process.exit(exitCode);
