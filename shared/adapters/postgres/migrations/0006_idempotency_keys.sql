-- Up Migration

-- Idempotency-Key, kept with the row it created: the durable tier behind the DynamoDB
-- records (shared/services/idempotency.ts). A retry after any crash — the function died
-- between commit and response, its DynamoDB record is gone, expired or stuck in progress —
-- finds the row under (tenant, scope, key) and answers it instead of creating another.
-- `request_hash` is the SHA-256 of the request body as canonical JSON: the same key with
-- another body is refused (422). Rows without a key (most) are not in the indexes.
ALTER TABLE agents ADD COLUMN idempotency_key text, ADD COLUMN request_hash text;
CREATE UNIQUE INDEX agents_idempotency_key ON agents (tenant_id, idempotency_key)
  WHERE idempotency_key IS NOT NULL;

ALTER TABLE workflows ADD COLUMN idempotency_key text, ADD COLUMN request_hash text;
CREATE UNIQUE INDEX workflows_idempotency_key ON workflows (tenant_id, idempotency_key)
  WHERE idempotency_key IS NOT NULL;

-- Starts are scoped by what they start: the same key on another agent or workflow is another request.
ALTER TABLE executions ADD COLUMN idempotency_key text, ADD COLUMN request_hash text;
CREATE UNIQUE INDEX executions_idempotency_key ON executions (tenant_id, agent_id, idempotency_key)
  WHERE idempotency_key IS NOT NULL;

ALTER TABLE workflow_executions ADD COLUMN idempotency_key text, ADD COLUMN request_hash text;
CREATE UNIQUE INDEX workflow_executions_idempotency_key
  ON workflow_executions (tenant_id, workflow_id, idempotency_key)
  WHERE idempotency_key IS NOT NULL;

-- Down Migration

DROP INDEX workflow_executions_idempotency_key;
ALTER TABLE workflow_executions DROP COLUMN idempotency_key, DROP COLUMN request_hash;
DROP INDEX executions_idempotency_key;
ALTER TABLE executions DROP COLUMN idempotency_key, DROP COLUMN request_hash;
DROP INDEX workflows_idempotency_key;
ALTER TABLE workflows DROP COLUMN idempotency_key, DROP COLUMN request_hash;
DROP INDEX agents_idempotency_key;
ALTER TABLE agents DROP COLUMN idempotency_key, DROP COLUMN request_hash;
