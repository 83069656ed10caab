-- Up Migration

-- The daily rollups are hot rows: every completion adds to the same (tenant, day, agent,
-- model) usage row and (workflow, day) stats row, and holds its lock until it commits, so
-- concurrent completions queued behind one another (measured: most of a workflow step
-- completion's time was spent waiting on these locks). Each database connection now adds
-- to its own shard of a row (pg_backend_pid() % 8, see rollupShard); readers sum the shards.
ALTER TABLE usage_daily ADD COLUMN shard smallint NOT NULL DEFAULT 0;
ALTER TABLE usage_daily DROP CONSTRAINT usage_daily_pkey,
  ADD PRIMARY KEY (tenant_id, day, agent_id, model, shard);

ALTER TABLE workflow_stats_daily ADD COLUMN shard smallint NOT NULL DEFAULT 0;
ALTER TABLE workflow_stats_daily DROP CONSTRAINT workflow_stats_daily_pkey,
  ADD PRIMARY KEY (workflow_id, day, shard);

-- Down Migration

-- Shards folded back into one row per key before the column goes.
CREATE TEMP TABLE usage_folded AS
  SELECT tenant_id, day, agent_id, model, sum(executions)::int AS executions, sum(succeeded)::int AS succeeded,
         sum(failed)::int AS failed, sum(cached)::int AS cached, sum(input_tokens)::bigint AS input_tokens,
         sum(output_tokens)::bigint AS output_tokens, sum(cost_usd) AS cost_usd
    FROM usage_daily GROUP BY 1, 2, 3, 4;
DELETE FROM usage_daily;
ALTER TABLE usage_daily DROP CONSTRAINT usage_daily_pkey, DROP COLUMN shard,
  ADD PRIMARY KEY (tenant_id, day, agent_id, model);
INSERT INTO usage_daily (tenant_id, day, agent_id, model, executions, succeeded, failed, cached, input_tokens,
                         output_tokens, cost_usd)
  SELECT * FROM usage_folded;
DROP TABLE usage_folded;

CREATE TEMP TABLE stats_folded AS
  SELECT workflow_id, day, sum(finished)::int AS finished, sum(succeeded)::int AS succeeded,
         sum(failed)::int AS failed, sum(duration_count)::int AS duration_count,
         sum(duration_ms)::bigint AS duration_ms
    FROM workflow_stats_daily GROUP BY 1, 2;
DELETE FROM workflow_stats_daily;
ALTER TABLE workflow_stats_daily DROP CONSTRAINT workflow_stats_daily_pkey, DROP COLUMN shard,
  ADD PRIMARY KEY (workflow_id, day);
INSERT INTO workflow_stats_daily (workflow_id, day, finished, succeeded, failed, duration_count, duration_ms)
  SELECT * FROM stats_folded;
DROP TABLE stats_folded;
