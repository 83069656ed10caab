import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { migrate } from '#adapters/postgres/migrate.ts';
import { describeRealServers } from '../support/real-servers.ts';

/**
 * claim_workflow_steps and complete_workflow_steps reach every row by its primary key, whatever
 * the session's cached plan was built on (migration 0008). The trap it closes: PL/pgSQL caches a
 * generic plan after five calls, and on fresh, never-analysed tables (a new deployment) that plan
 * scanned whole tables and kept doing so as they grew. Here the functions are called on fresh
 * tables more than five times in one session, and auto_explain (at NOTICE, so the plans reach
 * this client) shows the plans of their statements on the last call.
 */
describeRealServers('the workflow step functions keep key lookups in cached plans', (servers) => {
  let client: pg.Client;
  const notices: string[] = [];
  const batch = 10;
  const ids = () => Array.from({ length: batch }, () => randomUUID());
  const keys = Array.from({ length: batch }, (_, i) => `step_${i}`);
  const calls = {
    claim_workflow_steps: () =>
      client.query('SELECT * FROM claim_workflow_steps($1::uuid[], $2::text[], $3::float8, $4::text)', [
        ids(),
        keys,
        30,
        '\\{\\{steps\\.([a-z0-9_]+)',
      ]),
    complete_workflow_steps: () => {
      const text = keys.map(() => 'x');
      const numbers = keys.map(() => 1);
      return client.query(
        `SELECT * FROM complete_workflow_steps($1::uuid[], $2::text[], $3::int[], $4::text[], $5::text[],
           $6::text[], $7::text[], $8::text[], $9::int[], $10::int[], $11::numeric[], $12::boolean[],
           $13::uuid[], $14::text[], $15::text[])`,
        [
          ids(),
          keys,
          numbers,
          text,
          text,
          text,
          text,
          text,
          numbers,
          numbers,
          numbers,
          keys.map(() => false),
          ids(),
          keys,
          keys,
        ],
      );
    },
  };

  beforeAll(async () => {
    // A database of its own: tables nobody has analysed yet, as on a first deploy.
    const admin = new pg.Client({ connectionString: servers.postgresUrl });
    await admin.connect();
    await admin.query('CREATE DATABASE step_function_plans');
    await admin.end();
    const url = new URL(servers.postgresUrl);
    url.pathname = '/step_function_plans';
    await migrate(url.href);
    client = new pg.Client({ connectionString: url.href });
    await client.connect();
    client.on('notice', (notice) => notices.push(notice.message ?? ''));
    await client.query("LOAD 'auto_explain'");
    for (const setting of [
      'auto_explain.log_min_duration = 0',
      'auto_explain.log_nested_statements = on',
      'auto_explain.log_level = notice',
      'client_min_messages = notice',
    ]) {
      await client.query(`SET ${setting}`);
    }
  }, 60_000);
  afterAll(async () => {
    await client?.end();
  });

  it.each(Object.keys(calls) as (keyof typeof calls)[])(
    '%s reads steps and runs by primary key on its seventh call in a session',
    async (fn) => {
      for (let call = 0; call < 6; call += 1) await calls[fn]();
      notices.length = 0;
      await calls[fn]();
      const plans = notices.join('\n');
      expect(plans).toContain('Query Text');
      const scans =
        plans.match(
          /(?:Seq Scan|Bitmap Heap Scan|Index Scan|Index Only Scan)(?: using \S+)? on workflow_\w+/g,
        ) ?? [];
      expect(scans.length).toBeGreaterThan(0);
      expect(scans.filter((scan) => /Seq Scan|Bitmap/.test(scan))).toEqual([]);
      expect(scans).toContain('Index Scan using workflow_executions_pkey on workflow_executions');
      expect(scans.some((scan) => scan.startsWith('Index Scan using workflow_step_runs_pkey'))).toBe(true);
    },
  );
});
