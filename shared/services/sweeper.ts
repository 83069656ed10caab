import type { JobQueue } from '../adapters/aws/job-queue.ts';
import type { ExecutionRepository } from '../adapters/postgres/executions.ts';
import type { WorkflowRunRepository } from '../adapters/postgres/workflow-runs/index.ts';
import { maxReceiveCount, queues } from '../manifest.ts';
import { logger, metrics } from '../runtime/observability.ts';
import type { ExecutionAnnouncer } from './execution-runner.ts';
import { executeJob } from './executions.ts';
import type { WorkflowAnnouncer } from './workflow-runner.ts';
import { stepJob } from './workflows.ts';

export interface SweepResult {
  readonly resent: number;
  readonly failed: number;
  readonly announced: number;
}

const highQueue = queues.find((q) => q.name === 'high')!;

/**
 * Recovers what fell between the cracks, so nothing accepted is lost: executions queued
 * but never enqueued (an SQS send that failed after the commit, in-memory queues lost on
 * a local restart), executions whose worker died (lease expired), and finished ones whose
 * completion events were never sent. Re-sending is safe: the claim is idempotent.
 */
export const sweepExecutions = async (
  repository: ExecutionRepository,
  queue: JobQueue,
  announcer: ExecutionAnnouncer,
  options: { staleSeconds: number; batch?: number },
): Promise<SweepResult> => {
  const batch = options.batch ?? 500;
  let resent = 0;
  let failed = 0;
  const stuck = await repository.takeStuck(options.staleSeconds, batch);
  for (const execution of stuck) {
    if (execution.attempts >= maxReceiveCount(highQueue)) {
      // Its last attempt's worker died: the retries are spent.
      const done = await repository.fail(execution.id, {
        code: 'retries_exhausted',
        message: 'the worker running the last attempt stopped before finishing',
      });
      if (done) {
        failed += 1;
        await announcer.announce(done, await repository.agentHasWebhook(done.agentId));
      }
      continue;
    }
    await queue.enqueue(executeJob(execution));
    resent += 1;
  }
  let announced = 0;
  for (const execution of await repository.takeUnannounced(options.staleSeconds, batch)) {
    const found = await repository.findById(execution.tenantId, execution.id);
    if (!found) continue;
    await announcer.announce(found, await repository.agentHasWebhook(found.agentId));
    announced += 1;
  }
  if (resent + failed + announced > 0) {
    logger.warn('sweeper recovered executions', { resent, failed, announced });
    metrics.addMetric('SweeperResent', 'Count', resent);
  }
  return { resent, failed, announced };
};

/**
 * The same for workflow runs: steps queued but never enqueued (or released by a completion
 * whose enqueue was lost), steps whose worker died, and finished runs never announced.
 * A step past its attempts is failed by the worker that claims it.
 */
export const sweepWorkflowRuns = async (
  repository: WorkflowRunRepository,
  queue: JobQueue,
  announcer: WorkflowAnnouncer,
  options: { staleSeconds: number; batch?: number },
): Promise<{ resent: number; announced: number }> => {
  const batch = options.batch ?? 500;
  const stuck = await repository.takeStuckSteps(options.staleSeconds, batch);
  await Promise.all(stuck.map((step) => queue.enqueue(stepJob(step))));
  const unannounced = await repository.takeUnannounced(options.staleSeconds, batch);
  await announcer.announce(unannounced);
  if (stuck.length + unannounced.length > 0) {
    logger.warn('sweeper recovered workflow runs', { resent: stuck.length, announced: unannounced.length });
    metrics.addMetric('SweeperResent', 'Count', stuck.length);
  }
  return { resent: stuck.length, announced: unannounced.length };
};
