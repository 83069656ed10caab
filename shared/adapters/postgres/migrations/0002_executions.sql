-- Up Migration

-- The placeholder table of the foundation had no writers; executions replace it.
DROP TABLE agent_executions;

-- Completion webhooks: the secret signs deliveries (HMAC), so it is kept, and shown once.
ALTER TABLE agents ADD COLUMN webhook_url text, ADD COLUMN webhook_secret text;

CREATE TABLE executions (
  id               uuid PRIMARY KEY,
  tenant_id        uuid NOT NULL REFERENCES tenants (id),
  agent_id         uuid NOT NULL REFERENCES agents (id),
  status           text NOT NULL CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
  input            jsonb NOT NULL,
  metadata         jsonb,
  -- The agent as it was at acceptance: later edits do not change a run in flight.
  model            text NOT NULL,
  system_prompt    text NOT NULL,
  configuration    jsonb NOT NULL,
  output           text,
  error            jsonb,
  provider         text,
  model_used       text,
  input_tokens     integer,
  output_tokens    integer,
  cost_usd         numeric(14, 8),
  cached           boolean NOT NULL DEFAULT false,
  attempts         integer NOT NULL DEFAULT 0,
  -- Bumped by every change (redrive included): the ETag.
  version          integer NOT NULL DEFAULT 1,
  queued_at        timestamptz NOT NULL,
  started_at       timestamptz,
  completed_at     timestamptz,
  updated_at       timestamptz NOT NULL,
  -- A running attempt owns the execution until then; past it, the sweeper takes over.
  lease_until      timestamptz,
  -- Completion events (metrics, webhook, slow alert) handed to the queue: at least once.
  notified_at      timestamptz
);
-- An agent's executions, newest first (list, keyset) and its count/latest (agents list).
CREATE INDEX executions_agent_page ON executions (agent_id, queued_at DESC, id DESC);
CREATE INDEX executions_agent_status_page ON executions (agent_id, status, queued_at DESC, id DESC);
-- The sweeper's work: only unfinished executions, few at any time.
CREATE INDEX executions_unfinished ON executions (updated_at) WHERE status IN ('queued', 'running');
-- Finished but not yet announced (completion events lost between commit and enqueue).
CREATE INDEX executions_unannounced ON executions (completed_at) WHERE notified_at IS NULL AND completed_at IS NOT NULL;

-- Usage rolled up per tenant, day, agent and model, in the transaction that completes an execution.
CREATE TABLE usage_daily (
  tenant_id      uuid NOT NULL REFERENCES tenants (id),
  day            date NOT NULL,
  agent_id       uuid NOT NULL,
  model          text NOT NULL,
  executions     integer NOT NULL DEFAULT 0,
  succeeded      integer NOT NULL DEFAULT 0,
  failed         integer NOT NULL DEFAULT 0,
  cached         integer NOT NULL DEFAULT 0,
  input_tokens   bigint NOT NULL DEFAULT 0,
  output_tokens  bigint NOT NULL DEFAULT 0,
  cost_usd       numeric(18, 8) NOT NULL DEFAULT 0,
  PRIMARY KEY (tenant_id, day, agent_id, model)
);

-- Every mutation of a tenant, written from the low-priority queue.
CREATE TABLE audit_events (
  id             uuid PRIMARY KEY,
  tenant_id      uuid NOT NULL REFERENCES tenants (id),
  at             timestamptz NOT NULL,
  action         text NOT NULL,
  resource_type  text NOT NULL,
  resource_id    text NOT NULL,
  key_id         uuid,
  request_id     text
);
CREATE INDEX audit_events_tenant_page ON audit_events (tenant_id, at DESC, id DESC);

-- Down Migration

DROP TABLE audit_events;
DROP TABLE usage_daily;
DROP TABLE executions;
ALTER TABLE agents DROP COLUMN webhook_url, DROP COLUMN webhook_secret;
CREATE TABLE agent_executions (
  id            uuid PRIMARY KEY,
  tenant_id     uuid NOT NULL REFERENCES tenants (id),
  agent_id      uuid NOT NULL REFERENCES agents (id),
  status        text NOT NULL,
  queued_at     timestamptz NOT NULL,
  completed_at  timestamptz
);
