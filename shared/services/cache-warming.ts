import type { Queryable } from '#adapters/postgres/db.ts';
import { firstUuidV7At } from '#adapters/postgres/retention.ts';
import { logger, metrics } from '#runtime/observability.ts';

/** What one warming touched. */
export interface WarmingResult {
  readonly agents: number;
  readonly workflows: number;
}

/**
 * Keeps the L2 cache (Valkey, shared by every container) holding the agents and workflow
 * definitions that were executed recently, so a cold container's first reads of them are
 * cache hits, not queries. "Recently" is read off the primary keys (UUIDv7, minted at
 * acceptance): a range scan of the last window's ids, no timestamp index needed. Each
 * entity goes through the services' read-through `get`, which fills the tiers that miss.
 */
export const warmCaches = async (
  db: Queryable,
  readers: {
    agent: (tenantId: string, id: string) => Promise<unknown>;
    workflow: (tenantId: string, id: string) => Promise<unknown>;
  },
  options: { windowMinutes?: number; limit?: number; now?: Date } = {},
): Promise<WarmingResult> => {
  const since = firstUuidV7At(
    new Date((options.now ?? new Date()).getTime() - (options.windowMinutes ?? 60) * 60_000),
  );
  const limit = options.limit ?? 200;
  const [agents, workflows] = await Promise.all([
    db.query<{ tenant_id: string; id: string }>(
      `SELECT tenant_id, agent_id AS id FROM executions WHERE id >= $1::uuid
        GROUP BY 1, 2 ORDER BY count(*) DESC LIMIT $2`,
      [since, limit],
    ),
    db.query<{ tenant_id: string; id: string }>(
      `SELECT tenant_id, workflow_id AS id FROM workflow_executions WHERE id >= $1::uuid
        GROUP BY 1, 2 ORDER BY count(*) DESC LIMIT $2`,
      [since, limit],
    ),
  ]);
  // A deleted one is a 404 now: nothing to warm, and the miss is cached as such.
  const read = (
    get: (tenantId: string, id: string) => Promise<unknown>,
    rows: { tenant_id: string; id: string }[],
  ) => Promise.allSettled(rows.map((row) => get(row.tenant_id, row.id)));
  await Promise.all([read(readers.agent, agents), read(readers.workflow, workflows)]);
  metrics.addMetric('CacheWarmed', 'Count', agents.length + workflows.length);
  logger.info('caches warmed', { agents: agents.length, workflows: workflows.length });
  return { agents: agents.length, workflows: workflows.length };
};
