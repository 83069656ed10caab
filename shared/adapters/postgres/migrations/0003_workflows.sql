-- Up Migration

-- A workflow is a named DAG of steps that run agents. `version` is the definition's
-- version (a PATCH makes a new one) and the ETag; runs pin the version they started on.
CREATE TABLE workflows (
  id               uuid PRIMARY KEY,
  tenant_id        uuid NOT NULL REFERENCES tenants (id),
  name             text NOT NULL,
  description      text,
  on_step_failure  text NOT NULL DEFAULT 'fail' CHECK (on_step_failure IN ('fail', 'continue')),
  webhook_url      text,
  webhook_secret   text,
  version          integer NOT NULL DEFAULT 1,
  step_count       integer NOT NULL,
  created_at       timestamptz NOT NULL,
  updated_at       timestamptz NOT NULL,
  deleted_at       timestamptz
);
CREATE INDEX workflows_tenant_live_page ON workflows (tenant_id, created_at DESC, id DESC)
  WHERE deleted_at IS NULL;
-- Seed 000's expression index, for the case-insensitive name search (`?q=`, a prefix match).
CREATE INDEX workflows_name_lower ON workflows (tenant_id, lower(name) text_pattern_ops)
  WHERE deleted_at IS NULL;

-- The steps of every version of a workflow; a version's steps never change.
CREATE TABLE workflow_steps (
  workflow_id      uuid NOT NULL REFERENCES workflows (id),
  version          integer NOT NULL,
  key              text NOT NULL,
  position         integer NOT NULL,
  agent_id         uuid NOT NULL REFERENCES agents (id),
  input_template   text NOT NULL,
  depends_on       text[] NOT NULL DEFAULT '{}',
  max_attempts     integer NOT NULL,
  backoff_seconds  integer NOT NULL,
  timeout_seconds  integer NOT NULL,
  PRIMARY KEY (workflow_id, version, key)
);
-- "Which workflows use this agent?" when the agent is deleted.
CREATE INDEX workflow_steps_agent ON workflow_steps (agent_id);

CREATE TABLE workflow_executions (
  id                uuid PRIMARY KEY,
  tenant_id         uuid NOT NULL REFERENCES tenants (id),
  workflow_id       uuid NOT NULL REFERENCES workflows (id),
  workflow_version  integer NOT NULL,
  -- Pinned with the version: a PATCH does not change how a run in flight treats a failure.
  on_step_failure   text NOT NULL CHECK (on_step_failure IN ('fail', 'continue')),
  status            text NOT NULL CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
  input             jsonb NOT NULL,
  metadata          jsonb,
  error             jsonb,
  step_count        integer NOT NULL,
  -- Totals over the steps, written when the run finishes.
  input_tokens      bigint NOT NULL DEFAULT 0,
  output_tokens     bigint NOT NULL DEFAULT 0,
  cost_usd          numeric(18, 8) NOT NULL DEFAULT 0,
  -- Bumped by every change: the ETag.
  version           integer NOT NULL DEFAULT 1,
  created_at        timestamptz NOT NULL,
  started_at        timestamptz,
  completed_at      timestamptz,
  updated_at        timestamptz NOT NULL,
  -- Completion events (metrics, webhook, slow alert) handed to the queue: at least once.
  notified_at       timestamptz
);
-- Seed 000's composite index (equality, equality, range/sort), with the keyset tie-breaker.
CREATE INDEX workflow_executions_workflow_status_page
  ON workflow_executions (workflow_id, status, created_at DESC, id DESC);
-- A workflow's runs newest first: the list, the count and latest run of the workflows list,
-- and the raw edge day of the statistics.
CREATE INDEX workflow_executions_workflow_page ON workflow_executions (workflow_id, created_at DESC, id DESC);
-- Unfinished runs are few: "has active executions" (EXISTS) and the live part of the statistics.
CREATE INDEX workflow_executions_active ON workflow_executions (workflow_id, created_at)
  WHERE status IN ('queued', 'running');
CREATE INDEX workflow_executions_unannounced ON workflow_executions (completed_at)
  WHERE notified_at IS NULL AND completed_at IS NOT NULL;

-- One row per step of a run: its state, result and usage. Finished steps are never run again.
CREATE TABLE workflow_step_runs (
  execution_id   uuid NOT NULL REFERENCES workflow_executions (id) ON DELETE CASCADE,
  key            text NOT NULL,
  tenant_id      uuid NOT NULL,
  position       integer NOT NULL,
  agent_id       uuid NOT NULL,
  status         text NOT NULL
    CHECK (status IN ('waiting', 'queued', 'running', 'succeeded', 'failed', 'cancelled', 'skipped')),
  -- Dependencies not yet succeeded: the step is queued by the completion that takes it to 0.
  pending_deps   integer NOT NULL,
  attempts       integer NOT NULL DEFAULT 0,
  input          text,
  output         text,
  error          jsonb,
  model          text,
  provider       text,
  model_used     text,
  input_tokens   integer,
  output_tokens  integer,
  cost_usd       numeric(14, 8),
  cached         boolean NOT NULL DEFAULT false,
  queued_at      timestamptz,
  -- A queued step is due then (after a retry's backoff); past it plus a margin, the sweeper re-sends it.
  ready_at       timestamptz,
  started_at     timestamptz,
  completed_at   timestamptz,
  lease_until    timestamptz,
  updated_at     timestamptz NOT NULL,
  PRIMARY KEY (execution_id, key)
);
-- The sweeper's work: queued or running steps, few at any time.
CREATE INDEX workflow_step_runs_open ON workflow_step_runs (ready_at) WHERE status IN ('queued', 'running');

-- Finished runs rolled up per workflow and UTC day of creation, in the transaction that
-- finishes them: the 30-day statistics read at most 31 rows per workflow, not every run.
CREATE TABLE workflow_stats_daily (
  workflow_id     uuid NOT NULL REFERENCES workflows (id),
  day             date NOT NULL,
  finished        integer NOT NULL DEFAULT 0,
  succeeded       integer NOT NULL DEFAULT 0,
  failed          integer NOT NULL DEFAULT 0,
  duration_count  integer NOT NULL DEFAULT 0,
  duration_ms     bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (workflow_id, day)
);

-- The retention job deletes audit events by age across tenants.
CREATE INDEX audit_events_at ON audit_events (at);

-- Down Migration

DROP INDEX audit_events_at;
DROP TABLE workflow_stats_daily;
DROP TABLE workflow_step_runs;
DROP TABLE workflow_executions;
DROP TABLE workflow_steps;
DROP TABLE workflows;
