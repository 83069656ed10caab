import type { FinishedRun } from '#services/ports.ts';
import type { Database } from '../db.ts';
import { qualified, takeStuckStatement } from '../sql.ts';
import { type FinishedRunRow, runColumns, toFinishedRun } from './rows.ts';

// What the sweeper takes up: steps nobody works on, and finished runs not yet announced.

const takeStuckStepsStatement = takeStuckStatement({
  table: 'workflow_step_runs',
  key: 'execution_id, key',
  clock: 'ready_at',
  set: 'ready_at = now(), updated_at = now()',
  returning: 'execution_id, key, tenant_id',
});

/**
 * Open steps nobody is working on: queued and due for `staleSeconds` (an enqueue that
 * was lost) or running past their lease (a worker that died). Touching them keeps the
 * next sweep from taking them again before the re-sent message is handled.
 */
export async function takeStuckSteps(
  db: Database,
  staleSeconds: number,
  limit: number,
): Promise<{ executionId: string; key: string; tenantId: string }[]> {
  const rows = await db.query<{ execution_id: string; key: string; tenant_id: string }>(
    takeStuckStepsStatement,
    [staleSeconds, limit],
  );
  return rows.map((row) => ({ executionId: row.execution_id, key: row.key, tenantId: row.tenant_id }));
}

/** Finished runs whose completion events never reached the queue. */
export async function takeUnannounced(
  db: Database,
  staleSeconds: number,
  limit: number,
): Promise<FinishedRun[]> {
  const rows = await db.query<FinishedRunRow>(
    `SELECT ${qualified('r', runColumns)},
              (SELECT w.webhook_url IS NOT NULL FROM workflows w WHERE w.id = r.workflow_id) AS has_webhook, false AS announced
         FROM workflow_executions r
        WHERE r.notified_at IS NULL AND r.completed_at IS NOT NULL
          AND r.completed_at < now() - make_interval(secs => $1)
        ORDER BY r.completed_at LIMIT $2`,
    [staleSeconds, limit],
  );
  return rows.map(toFinishedRun);
}

export async function markAnnounced(db: Database, ids: readonly string[]): Promise<void> {
  if (ids.length === 0) return;
  // Rows locked in id order, as every transaction on runs does.
  await db.query(
    `UPDATE workflow_executions SET notified_at = now()
        WHERE id IN (SELECT id FROM workflow_executions WHERE id = ANY($1::uuid[]) ORDER BY id FOR NO KEY UPDATE)`,
    [ids],
  );
}
