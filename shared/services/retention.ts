import type { Queryable } from '#adapters/postgres/db.ts';
import { RetentionRepository } from '#adapters/postgres/retention.ts';
import {
  deletedKnowledgeBaseGraceHours,
  type KnowledgeRetentionTable,
  knowledgeRetentionTables,
  type PurgedTable,
  type RetentionTable,
  retentionTables,
} from '#domain/retention.ts';
import { functions } from '#manifest';
import { config, type RuntimeConfig } from '#runtime/config.ts';
import { logger, metrics } from '#runtime/observability.ts';
import type { Keyset, RetentionStore } from './ports.ts';

export type RetentionDays = RuntimeConfig['retentionDays'];

export interface RetentionOptions {
  /** Count what would be deleted; delete nothing. */
  readonly dryRun?: boolean;
  /** Overrides of the configured days (RETENTION_DAYS_*). */
  readonly days?: Partial<RetentionDays>;
  /** Overrides RETENTION_DAYS_EMBEDDING_CACHE. */
  readonly embeddingCacheDays?: number;
  /** Rows per batch statement (1 to 10,000). */
  readonly batchSize?: number;
  /** How long a run may go on starting batches; null: until everything is deleted. */
  readonly budgetMs?: number | null;
  readonly now?: Date;
}

export interface RetentionTableReport<Table extends PurgedTable = RetentionTable> {
  readonly table: Table;
  /**
   * Rows older than this instant go (stats rollups: days before its UTC day; documents that
   * expired before it; bases deleted before it).
   */
  readonly cutoff: Date;
  /** Rows deleted; on a dry run, the rows that would be. */
  readonly deleted: number;
  /** Rows the deletion cascaded to (workflow step runs; documents' chunks; bases' documents and chunks). */
  readonly cascaded: number;
  readonly batches: number;
  /** Everything past retention is gone (false: the budget ran out first). */
  readonly complete: boolean;
}

export interface RetentionReport {
  readonly dryRun: boolean;
  readonly tables: readonly RetentionTableReport[];
  /** Expired documents, deleted knowledge bases, old embedding cache entries. */
  readonly knowledge: readonly RetentionTableReport<KnowledgeRetentionTable>[];
  /** Every row deleted (or, on a dry run, that would be), cascaded ones included. */
  readonly deleted: number;
  readonly batches: number;
  readonly complete: boolean;
  readonly ms: number;
}

export const defaultBatchSize = 1000;

/**
 * A run on the low worker stops starting batches 30 s before the function's timeout (90 s
 * of 120 s; one batch is bounded by the pool's 10 s statement timeout): what is left, the
 * next scheduled run continues.
 */
export const defaultBudgetMs = (functions.workerLow.timeoutSeconds - 30) * 1000;

const dayMs = 86_400_000;

/** Which retention setting ages each table. */
const daysOf: Readonly<Record<RetentionTable, keyof RetentionDays>> = {
  executions: 'executions',
  workflow_executions: 'workflowExecutions',
  workflow_stats_daily: 'workflowExecutions',
  audit_events: 'audit',
};

interface Progress<Table extends PurgedTable = PurgedTable> {
  table: Table;
  cutoff: Date;
  after: Keyset;
  deleted: number;
  cascaded: number;
  batches: number;
  complete: boolean;
}

/**
 * Workflow runs go by whole UTC days, so the runs deleted are exactly those of the daily
 * statistics rows deleted with them (the workflows list counts runs from those rows).
 */
const cutoffOf = (table: RetentionTable, instant: number): Date =>
  table === 'workflow_executions' || table === 'workflow_stats_daily'
    ? new Date(Math.floor(instant / dayMs) * dayMs)
    : new Date(instant);

/** Where each knowledge table's rows start to go, for a run at `now`. */
const knowledgeCutoffs = (
  now: number,
  cacheDays: number,
  runDays: number,
): Record<KnowledgeRetentionTable, Date> => ({
  // Search stopped showing them when they expired: nothing to wait for.
  knowledge_documents: new Date(now),
  knowledge_bases: new Date(now - deletedKnowledgeBaseGraceHours * 3_600_000),
  embedding_cache: new Date(now - cacheDays * dayMs),
  // Kept as long as the longer-kept of executions and workflow runs, whose citations they are.
  knowledge_retrievals: new Date(now - runDays * dayMs),
});

/**
 * Deletes agent executions, workflow executions (their step runs by cascade, their stats
 * rollups by day) and audit events older than their retention, expired documents, deleted
 * knowledge bases past their grace and old embedding cache entries, in keyset batches of short
 * autocommit statements, one batch per table in turn so that a large backlog in one table
 * does not starve the others, until done or out of budget.
 */
export const runRetention = (db: Queryable, options: RetentionOptions = {}): Promise<RetentionReport> =>
  retain(new RetentionRepository(db), options);

/** `runRetention` on any store that deletes in keyset batches. */
export const retain = async (
  repository: RetentionStore,
  options: RetentionOptions = {},
): Promise<RetentionReport> => {
  const started = performance.now();
  const batchSize = options.batchSize ?? defaultBatchSize;
  if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 10_000) {
    throw new RangeError(`the retention batch size must be an integer from 1 to 10000, got ${batchSize}`);
  }
  const days = { ...config().retentionDays, ...options.days };
  const now = (options.now ?? new Date()).getTime();
  const fresh = <Table extends PurgedTable>(table: Table, cutoff: Date): Progress<Table> => ({
    table,
    cutoff,
    after: repository.start(table),
    deleted: 0,
    cascaded: 0,
    batches: 0,
    complete: false,
  });
  const aging = retentionTables.map((table) =>
    fresh(table, cutoffOf(table, now - days[daysOf[table]] * dayMs)),
  );
  const cutoffs = knowledgeCutoffs(
    now,
    options.embeddingCacheDays ?? config().embeddingCacheDays,
    Math.max(days.executions, days.workflowExecutions),
  );
  const knowledge = knowledgeRetentionTables.map((table) => fresh(table, cutoffs[table]));
  const progress: Progress[] = [...aging, ...knowledge];

  if (options.dryRun) {
    for (const entry of progress) {
      const { rows, cascaded } = await repository.count(entry.table, entry.cutoff);
      Object.assign(entry, { deleted: rows, cascaded, complete: true });
    }
  } else {
    const budgetMs = options.budgetMs === undefined ? defaultBudgetMs : options.budgetMs;
    const deadline = budgetMs === null ? Number.POSITIVE_INFINITY : started + budgetMs;
    let open = progress;
    while (open.length > 0 && performance.now() < deadline) {
      for (const entry of open) {
        if (performance.now() >= deadline) break;
        const batch = await repository.deleteBatch(entry.table, entry.cutoff, entry.after, batchSize);
        entry.batches += 1;
        entry.deleted += batch.deleted;
        entry.cascaded += batch.cascaded;
        if (batch.next) entry.after = batch.next;
        else entry.complete = true;
      }
      open = open.filter((entry) => !entry.complete);
    }
  }

  const reportOf = <Table extends PurgedTable>({ after: _after, ...report }: Progress<Table>) => report;
  const tables = progress.map(reportOf);
  const report: RetentionReport = {
    dryRun: options.dryRun ?? false,
    tables: aging.map(reportOf),
    knowledge: knowledge.map(reportOf),
    deleted: tables.reduce((sum, t) => sum + t.deleted + t.cascaded, 0),
    batches: tables.reduce((sum, t) => sum + t.batches, 0),
    complete: tables.every((t) => t.complete),
    ms: Math.round(performance.now() - started),
  };
  const summary = {
    dryRun: report.dryRun,
    deleted: report.deleted,
    batches: report.batches,
    complete: report.complete,
    ms: report.ms,
    tables: Object.fromEntries(
      tables.map((t) => [
        t.table,
        {
          cutoff: t.cutoff.toISOString(),
          deleted: t.deleted,
          cascaded: t.cascaded,
          batches: t.batches,
          complete: t.complete,
        },
      ]),
    ),
  };
  if (report.complete) logger.info('retention finished', summary);
  else logger.warn('retention stopped at its time budget; the next run continues', summary);
  if (!report.dryRun) metrics.addMetric('RetentionDeleted', 'Count', report.deleted);
  return report;
};
