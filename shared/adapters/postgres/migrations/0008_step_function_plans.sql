-- Up Migration

-- claim_workflow_steps and complete_workflow_steps touch a batch of steps (at most an SQS
-- batch's worth) and their runs, every row by its primary key: nested loops over index scans
-- are the plan they are written for. PL/pgSQL caches a generic plan per session after five
-- calls, built without the arrays' sizes (unnest is guessed at 100 rows) and with the tables'
-- statistics of that moment. Pooled sessions live long, and a fresh table has none until
-- autovacuum analyses it, so a plan made while a table was small (a sequential scan of the
-- runs; a bitmap scan of the open-steps index, which finished steps bloat until vacuum) stayed
-- while the table grew. Measured on a fresh database (`npm run load:workflow-runs -- --runs
-- 5000 --warmup 5000`, pg_stat_statements, 2026-12-07): 3.6 and 3.3 ms a call and 4.0 ms of
-- database CPU per run with the cached plans; 1.6 and 2.4 ms a call and 1.3 ms per run with
-- these settings. Planning every call instead (plan_cache_mode = force_custom_plan) mended the
-- plans too, at 2.2 ms of database CPU per run, planning included. The settings hold only
-- inside the two functions.
ALTER FUNCTION claim_workflow_steps(uuid[], text[], double precision, text)
  SET enable_seqscan = off SET enable_bitmapscan = off SET enable_hashjoin = off SET enable_mergejoin = off;
ALTER FUNCTION complete_workflow_steps(uuid[], text[], int[], text[], text[], text[], text[], text[], int[], int[],
                                       numeric[], boolean[], uuid[], text[], text[])
  SET enable_seqscan = off SET enable_bitmapscan = off SET enable_hashjoin = off SET enable_mergejoin = off;

-- Down Migration

ALTER FUNCTION claim_workflow_steps(uuid[], text[], double precision, text) RESET ALL;
ALTER FUNCTION complete_workflow_steps(uuid[], text[], int[], text[], text[], text[], text[], text[], int[], int[],
                                       numeric[], boolean[], uuid[], text[], text[])
  RESET ALL;
