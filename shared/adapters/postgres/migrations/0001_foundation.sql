-- Up Migration

CREATE TABLE tenants (
  id          uuid PRIMARY KEY,
  name        text NOT NULL UNIQUE,
  created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE api_keys (
  id          uuid PRIMARY KEY,
  tenant_id   uuid NOT NULL REFERENCES tenants (id),
  -- SHA-256 of the key, hex: the key itself is never stored.
  key_hash    text NOT NULL UNIQUE,
  -- First characters of the key, to tell keys apart in listings.
  key_prefix  text NOT NULL,
  label       text,
  created_at  timestamptz NOT NULL DEFAULT now(),
  revoked_at  timestamptz
);
CREATE INDEX api_keys_tenant ON api_keys (tenant_id);

CREATE TABLE agents (
  id             uuid PRIMARY KEY,
  tenant_id      uuid NOT NULL REFERENCES tenants (id),
  name           text NOT NULL,
  model          text NOT NULL,
  system_prompt  text NOT NULL,
  configuration  jsonb NOT NULL DEFAULT '{}'::jsonb,
  status         text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'paused')),
  version        integer NOT NULL DEFAULT 1,
  created_at     timestamptz NOT NULL,
  updated_at     timestamptz NOT NULL,
  deleted_at     timestamptz
);
-- Keyset pagination of a tenant's live agents, newest first, ties broken by id.
CREATE INDEX agents_tenant_live_page ON agents (tenant_id, created_at DESC, id DESC)
  WHERE deleted_at IS NULL;
-- The same for the common status=active filter (seed 000: partial index for active agents).
CREATE INDEX agents_tenant_active_page ON agents (tenant_id, created_at DESC, id DESC)
  WHERE deleted_at IS NULL AND status = 'active';

-- Executions arrive with the executions feature; the agents list already reports
-- their count and latest time, so the table and its per-agent index exist from the start.
CREATE TABLE agent_executions (
  id            uuid PRIMARY KEY,
  tenant_id     uuid NOT NULL REFERENCES tenants (id),
  agent_id      uuid NOT NULL REFERENCES agents (id),
  status        text NOT NULL CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
  queued_at     timestamptz NOT NULL,
  completed_at  timestamptz
);
CREATE INDEX agent_executions_agent_queued ON agent_executions (agent_id, queued_at DESC);

-- Down Migration

DROP TABLE agent_executions;
DROP TABLE agents;
DROP TABLE api_keys;
DROP TABLE tenants;
