// Migration 0005 holds the claim and the completion of workflow steps as database functions
// (claim_workflow_steps, complete_workflow_steps); their SQL lives there only. What the code
// relies on besides their results: each takes the locks of its runs, in id order, before its
// statement, as every transaction that changes a run's steps does (no deadlock, exact fan-in).
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { migrationsDir } from '#adapters/postgres/migrate.ts';

const migration = readFileSync(`${migrationsDir}/0005_step_functions.sql`, 'utf8');

/** The body of a function of the migration, between its `$function$` quotes. */
const bodyOf = (fn: string): string => {
  const start = migration.indexOf(`CREATE FUNCTION ${fn}(`);
  expect(start, fn).toBeGreaterThan(-1);
  const open = migration.indexOf('$function$', start) + '$function$'.length;
  return migration.slice(open, migration.indexOf('$function$', open));
};

describe('workflow step functions (migration 0005)', () => {
  it.each(['claim_workflow_steps', 'complete_workflow_steps'])(
    '%s locks its runs in id order before its statement',
    (fn) => {
      const body = bodyOf(fn);
      const lock = body.indexOf(
        'PERFORM 1 FROM workflow_executions r WHERE r.id IN (SELECT unnest($1)) ORDER BY r.id FOR NO KEY UPDATE;',
      );
      expect(lock).toBeGreaterThan(-1);
      expect(lock).toBeLessThan(body.indexOf('RETURN QUERY'));
      // The lock is the function's first statement: nothing runs before it.
      expect(body.slice(body.indexOf('BEGIN') + 'BEGIN'.length, lock).trim()).toBe('');
    },
  );
});
