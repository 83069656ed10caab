import type { WorkflowRun } from '#domain/workflow.ts';
import type { KeyedInsert, NewRun, StepAttemptStore, WorkflowRunStore } from '#services/ports.ts';
import type { Database } from '../db.ts';
import { sharedStatement } from '../shared-statement.ts';
import { claim, complete, fail, leaseSecondsLeft, release, retry } from './attempts.ts';
import { cancel } from './cancel.ts';
import { createBatchLimit, createMany, findByKey } from './create.ts';
import { findById, findStep, page, statusOf, webhookTarget } from './read.ts';
import { markAnnounced, takeStuckSteps, takeUnannounced } from './sweep.ts';

export type { StepAnswer } from '#services/ports.ts';

/** An operation's arguments after the database it runs on. */
type Args<Operation> = Operation extends (db: Database, ...args: infer Rest) => unknown ? Rest : never;

/**
 * Workflow runs and their steps. Every state change is conditional (a step completes only
 * if the attempt that ran it still owns it), so redelivered messages, a cancel racing a
 * worker, or two workers on one message resolve in Postgres. Each operation lives in the
 * file of its concern, documented there: create.ts (starting runs), read.ts, attempts.ts (a
 * step attempt's claim, completion, release, retry and failure), cancel.ts, sweep.ts (what the
 * sweeper takes up); the claim and the completion call functions of migration 0005.
 */
export class WorkflowRunRepository implements WorkflowRunStore, StepAttemptStore {
  constructor(private readonly db: Database) {}

  /**
   * A run and all its steps in one statement: roots queued, the others waiting on their
   * dependencies. Starts that arrive together (concurrent requests in one process) share it.
   * One under an Idempotency-Key that an earlier request already used is not created: the
   * earlier run comes back (`existing`), whatever crashed between its commit and now.
   */
  readonly createOrFind: (run: NewRun) => Promise<KeyedInsert<WorkflowRun>> = sharedStatement(
    (runs) => createMany(this.db, runs),
    createBatchLimit,
  );

  /** Creates a run; under a key already used, answers the earlier one. */
  async create(run: NewRun): Promise<WorkflowRun> {
    return (await this.createOrFind(run)).row;
  }

  findByKey(...args: Args<typeof findByKey>) {
    return findByKey(this.db, ...args);
  }

  findById(...args: Args<typeof findById>) {
    return findById(this.db, ...args);
  }

  findStep(...args: Args<typeof findStep>) {
    return findStep(this.db, ...args);
  }

  page(...args: Args<typeof page>) {
    return page(this.db, ...args);
  }

  statusOf(...args: Args<typeof statusOf>) {
    return statusOf(this.db, ...args);
  }

  webhookTarget(...args: Args<typeof webhookTarget>) {
    return webhookTarget(this.db, ...args);
  }

  claim(...args: Args<typeof claim>) {
    return claim(this.db, ...args);
  }

  complete(...args: Args<typeof complete>) {
    return complete(this.db, ...args);
  }

  release(...args: Args<typeof release>) {
    return release(this.db, ...args);
  }

  leaseSecondsLeft(...args: Args<typeof leaseSecondsLeft>) {
    return leaseSecondsLeft(this.db, ...args);
  }

  retry(...args: Args<typeof retry>) {
    return retry(this.db, ...args);
  }

  fail(...args: Args<typeof fail>) {
    return fail(this.db, ...args);
  }

  cancel(...args: Args<typeof cancel>) {
    return cancel(this.db, ...args);
  }

  markAnnounced(...args: Args<typeof markAnnounced>) {
    return markAnnounced(this.db, ...args);
  }

  takeStuckSteps(...args: Args<typeof takeStuckSteps>) {
    return takeStuckSteps(this.db, ...args);
  }

  takeUnannounced(...args: Args<typeof takeUnannounced>) {
    return takeUnannounced(this.db, ...args);
  }
}
