-- Up Migration

-- What a retrieval fed a model call: the citations, how long it took, the query embeddings'
-- tokens and cost. One row per attempt of an execution (unit_id = its id) or of a workflow
-- step (unit_id = "<workflow execution id>/<step key>"), written by the attempt pipeline for
-- agents that use knowledge only; the unit's reads take its latest attempt's row. Apart from
-- the executions and steps so that their completion statements (and the stored step
-- functions) stay as they are, and units without knowledge pay nothing.
CREATE TABLE knowledge_retrievals (
  unit_id             text NOT NULL,
  attempt             integer NOT NULL,
  tenant_id           uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  -- [{knowledge_base_id, document_id, chunk_id, title, score}], in the order the prompt numbers them.
  citations           jsonb NOT NULL,
  duration_ms         integer NOT NULL,
  embedding_tokens    integer NOT NULL,
  embedding_cost_usd  numeric(14, 8) NOT NULL DEFAULT 0,
  created_at          timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (unit_id, attempt)
);
-- Retention deletes by age, with the executions.
CREATE INDEX knowledge_retrievals_created ON knowledge_retrievals (created_at);

-- Down Migration

DROP TABLE knowledge_retrievals;
