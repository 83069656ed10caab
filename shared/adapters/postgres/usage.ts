import type { Queryable } from './db.ts';

export interface UsageRow {
  readonly day: string;
  readonly agentId: string;
  readonly model: string;
  readonly executions: number;
  readonly succeeded: number;
  readonly failed: number;
  readonly cached: number;
  readonly inputTokens: number;
  readonly outputTokens: number;
  readonly costUsd: number;
}

export class UsageRepository {
  constructor(private readonly db: Queryable) {}

  /** The daily rollups of a tenant between two days (inclusive), by the primary key's order. */
  async daily(tenantId: string, from: string, to: string): Promise<UsageRow[]> {
    const rows = await this.db.query<{
      day: string;
      agent_id: string;
      model: string;
      executions: number;
      succeeded: number;
      failed: number;
      cached: number;
      input_tokens: string;
      output_tokens: string;
      cost_usd: string;
    }>(
      // Each key's shards summed (migration 0004).
      `SELECT to_char(day, 'YYYY-MM-DD') AS day, agent_id, model, sum(executions)::int AS executions,
              sum(succeeded)::int AS succeeded, sum(failed)::int AS failed, sum(cached)::int AS cached,
              sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens, sum(cost_usd) AS cost_usd
         FROM usage_daily
        WHERE tenant_id = $1 AND day BETWEEN $2::date AND $3::date
        GROUP BY day, agent_id, model
        ORDER BY day, agent_id, model`,
      [tenantId, from, to],
    );
    return rows.map((r) => ({
      day: r.day,
      agentId: r.agent_id,
      model: r.model,
      executions: r.executions,
      succeeded: r.succeeded,
      failed: r.failed,
      cached: r.cached,
      inputTokens: Number(r.input_tokens),
      outputTokens: Number(r.output_tokens),
      costUsd: Number(r.cost_usd),
    }));
  }
}
