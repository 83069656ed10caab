import type { WorkflowRun } from '#domain/workflow.ts';
import type { Database } from '../db.ts';
import { rollUpStats } from './finish.ts';
import { type RunRow, runColumns, toRun } from './rows.ts';

/** Cancels a run that is still going: no further step is scheduled, queued ones are cancelled. */
export async function cancel(
  db: Database,
  tenantId: string,
  id: string,
): Promise<WorkflowRun | 'finished' | null> {
  return db.transaction(async (tx) => {
    const rows = await tx.query<RunRow>(
      `WITH finished AS (
           UPDATE workflow_executions SET status = 'cancelled', completed_at = now(), version = version + 1,
                  updated_at = now()
            WHERE tenant_id = $1 AND id = $2 AND status IN ('queued', 'running')
            RETURNING ${runColumns}
         ), ${rollUpStats}
         SELECT * FROM finished`,
      [tenantId, id],
    );
    if (!rows[0]) {
      const exists = await tx.query<{ exists: boolean }>(
        'SELECT EXISTS (SELECT 1 FROM workflow_executions WHERE tenant_id = $1 AND id = $2) AS exists',
        [tenantId, id],
      );
      return exists[0]?.exists ? 'finished' : null;
    }
    // The run's row is locked by the update above, as every change of its steps requires.
    await tx.query(
      `UPDATE workflow_step_runs SET status = 'cancelled', completed_at = now(), lease_until = NULL, updated_at = now()
          WHERE execution_id = $1 AND status IN ('waiting', 'queued', 'running')`,
      [id],
    );
    return toRun(rows[0]);
  });
}
