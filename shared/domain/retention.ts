/**
 * The tables whose rows age out (RETENTION_DAYS_*): agent executions, workflow executions
 * (their step runs go with them), the workflows' daily statistics, audit events.
 */
export const retentionTables = [
  'executions',
  'workflow_executions',
  'workflow_stats_daily',
  'audit_events',
] as const;
export type RetentionTable = (typeof retentionTables)[number];

/**
 * What the knowledge service leaves for retention to remove: documents past their `expires_at`
 * (search stopped showing them at that instant; their chunks go with them), knowledge bases
 * deleted more than a grace period ago (their documents and chunks first, in batches), and
 * embedding cache entries older than their retention, and the retrieval records of agents'
 * calls (citations) once the executions and runs they belong to are past theirs.
 */
export const knowledgeRetentionTables = [
  'knowledge_documents',
  'knowledge_bases',
  'embedding_cache',
  'knowledge_retrievals',
] as const;
export type KnowledgeRetentionTable = (typeof knowledgeRetentionTables)[number];

/** Every table the retention job deletes from. */
export type PurgedTable = RetentionTable | KnowledgeRetentionTable;

/**
 * How long a deleted knowledge base's rows stay. The API forgot it at once; the rows stay a day
 * so that an operator can undo a mistaken delete (clear `deleted_at`) before they are gone, and
 * because keeping them costs only storage. Every ingestion into it stopped at its next write.
 */
export const deletedKnowledgeBaseGraceHours = 24;
