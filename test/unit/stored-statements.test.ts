// Migration 0005 holds copies of two statements as database functions (claim_workflow_steps,
// complete_workflow_steps): each copy must stay the text of the constant the code documents it
// by, or the functions and the code would drift apart unseen.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { migrationsDir } from '../../shared/adapters/postgres/migrate.ts';
import { claimStepsStatement, completeStepsStatement } from '../../shared/adapters/postgres/workflow-runs.ts';

const migration = readFileSync(`${migrationsDir}/0005_step_functions.sql`, 'utf8');

/** The text between `-- statement: <name>` and `-- end of statement` in the migration. */
const storedCopy = (name: string): string | undefined => {
  const start = migration.indexOf(`-- statement: ${name}\n`);
  if (start === -1) return undefined;
  const from = start + `-- statement: ${name}\n`.length;
  const end = migration.indexOf('\n-- end of statement', from);
  return end === -1 ? undefined : migration.slice(from, end);
};

describe('statements stored as database functions (migration 0005)', () => {
  it.each([
    ['claimStepsStatement', claimStepsStatement, 'claim_workflow_steps'],
    ['completeStepsStatement', completeStepsStatement, 'complete_workflow_steps'],
  ])('%s is the body of its function, word for word', (name, statement, fn) => {
    expect(storedCopy(name)).toBe(statement);
    // …inside the function it is documented by, after the run locks.
    const body = migration.slice(migration.indexOf(`CREATE FUNCTION ${fn}(`));
    expect(body.indexOf(`-- statement: ${name}`)).toBeGreaterThan(body.indexOf('FOR NO KEY UPDATE'));
    expect(body.indexOf(`-- statement: ${name}`)).toBeLessThan(body.indexOf('$function$;'));
  });
});
