import { slowWorkflowMs } from '#domain/workflow.ts';
import type { FinishedRun } from '#services/ports.ts';
import type { Queryable } from '../db.ts';
import { rollupShard } from '../executions.ts';
import { qualified, rollupUpsert } from '../sql.ts';
import { type FinishedRunRow, runColumns, toFinishedRun } from './rows.ts';

// Finishing runs: when their last open step is done (a failure here; completions in
// complete_workflow_steps, migration 0005) or when they are cancelled.

/**
 * Finishes the runs among `ids` that have no open step left (succeeded, or failed by their
 * failed steps, with their steps' usage totals), in the caller's transaction, and rolls them
 * into the daily statistics in the same statement. complete_workflow_steps (migration 0005)
 * finishes runs the same way inside its statement: a change here is a new migration there.
 */
export const settleRuns = async (tx: Queryable, ids: readonly string[]): Promise<FinishedRun[]> => {
  if (ids.length === 0) return [];
  const rows = await tx.query<FinishedRunRow>(
    `WITH agg AS (
       SELECT s.execution_id,
              count(*) FILTER (WHERE s.status IN ('waiting', 'queued', 'running')) AS open,
              count(*) FILTER (WHERE s.status = 'failed') AS failed,
              array_agg(s.key ORDER BY s.position) FILTER (WHERE s.status = 'failed') AS failed_keys,
              COALESCE(sum(s.input_tokens), 0) AS input_tokens, COALESCE(sum(s.output_tokens), 0) AS output_tokens,
              COALESCE(sum(s.cost_usd), 0) AS cost_usd
         FROM workflow_step_runs s WHERE s.execution_id IN (SELECT unnest($1::uuid[]))
        GROUP BY s.execution_id
     ), finished AS (
       UPDATE workflow_executions r SET
              status = CASE WHEN agg.failed > 0 THEN 'failed' ELSE 'succeeded' END,
              error = CASE WHEN agg.failed > 0
                      THEN COALESCE(r.error, jsonb_build_object('code', 'steps_failed', 'message',
                             'steps failed: ' || array_to_string(agg.failed_keys, ', ')))
                      END,
              input_tokens = agg.input_tokens, output_tokens = agg.output_tokens,
              cost_usd = agg.cost_usd, completed_at = now(), version = r.version + 1, updated_at = now(),
              -- Nothing to send (no webhook, not slow): announced in this statement, no second write.
              notified_at = CASE
                WHEN NOT EXISTS (SELECT 1 FROM workflows w WHERE w.id = r.workflow_id AND w.webhook_url IS NOT NULL)
                 AND (r.started_at IS NULL OR now() - r.started_at <= make_interval(secs => ${slowWorkflowMs / 1000}))
                THEN now() END
         FROM agg
        WHERE r.id = agg.execution_id AND agg.open = 0 AND r.status IN ('queued', 'running')
        RETURNING ${qualified('r', runColumns)},
                  (SELECT w.webhook_url IS NOT NULL FROM workflows w WHERE w.id = r.workflow_id) AS has_webhook,
                  r.notified_at IS NOT NULL AS announced
     ), ${rollUpStats}
     SELECT * FROM finished`,
    [ids],
  );
  return rows.map(toFinishedRun);
};

/** The daily statistics rollup of the runs a statement just finished (`finished`). */
export const rollUpStats = `
  stats AS (
    ${rollupUpsert(
      'workflow_stats_daily',
      ['workflow_id', 'day', 'shard'],
      ['finished', 'succeeded', 'failed', 'duration_count', 'duration_ms'],
      `SELECT workflow_id, (created_at AT TIME ZONE 'UTC')::date, ${rollupShard}, count(*),
           count(*) FILTER (WHERE status = 'succeeded'), count(*) FILTER (WHERE status = 'failed'),
           count(started_at), COALESCE(sum(extract(epoch FROM completed_at - started_at) * 1000), 0)::bigint
      FROM finished
     GROUP BY 1, 2
     ORDER BY 1, 2`,
    )}
  )`;
