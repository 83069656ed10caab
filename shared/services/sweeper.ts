import type { JobQueue } from '../adapters/aws/job-queue.ts';
import type { ExecutionRepository } from '../adapters/postgres/executions.ts';
import { maxReceiveCount, queues } from '../manifest.ts';
import { logger, metrics } from '../runtime/observability.ts';
import type { ExecutionAnnouncer } from './execution-runner.ts';
import { executeJob } from './executions.ts';

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
    await queue.enqueue('high', executeJob(execution));
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
