-- Up Migration

-- A workflow step's own knowledge, over its agent's `configuration.knowledge`:
--   NULL                                            the step inherits its agent's (every step before this migration);
--   {"off": true}                                   the step retrieves nothing, whatever its agent names (`knowledge: null`);
--   {"knowledge_base_ids": [...], "top_k", "mode"}  the step retrieves from these instead (defaults resolved on write).
-- "Off" is an object, not JSON null: json_build_object renders SQL NULL and jsonb 'null' alike,
-- so the step reads could not tell it from "inherit". Nullable, no default: adding it rewrites nothing.
-- (The COALESCE: a scalar or an object without the ids has no `knowledge_base_ids`, and a CHECK passes on NULL.)
ALTER TABLE workflow_steps ADD COLUMN knowledge jsonb
  CHECK (knowledge IS NULL OR knowledge = '{"off": true}'
         OR COALESCE(jsonb_typeof(knowledge -> 'knowledge_base_ids') = 'array', false));

-- Down Migration

ALTER TABLE workflow_steps DROP COLUMN knowledge;
