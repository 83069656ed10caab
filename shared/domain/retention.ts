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
