import type { JobEnvelope } from '#domain/jobs.ts';
import { logger, metrics } from '#runtime/observability.ts';
import type { AttemptKind, Completed, CompletionAnnouncer } from './attempt-pipeline.ts';
import type { JobQueue } from './ports.ts';

export interface SweepResult {
  readonly resent: number;
  readonly failed: number;
  readonly announced: number;
}

/**
 * Recovers what fell between the cracks, so nothing accepted is lost: units queued but
 * never enqueued (an SQS send that failed after the commit, in-memory queues lost on a
 * local restart, a release whose enqueue was lost), units whose worker died (lease
 * expired), and finished ones whose completion events were never sent. Re-sending is
 * safe: the claim is idempotent.
 */
export const sweepKind = async <Key, Done extends Completed>(
  kind: Pick<AttemptKind<Key, unknown, unknown, Done>, 'plural' | 'takeStuck' | 'takeUnannounced' | 'jobOf'>,
  queue: JobQueue,
  announcer: CompletionAnnouncer<Done>,
  options: { staleSeconds: number; batch?: number },
): Promise<SweepResult> => {
  const batch = options.batch ?? 500;
  const stuck = await kind.takeStuck(options.staleSeconds, batch);
  await Promise.all(stuck.resend.map((key) => queue.enqueue(kind.jobOf(key))));
  await announcer.announce(stuck.failed);
  const unannounced = await kind.takeUnannounced(options.staleSeconds, batch);
  await announcer.announce(unannounced);
  const result = { resent: stuck.resend.length, failed: stuck.failed.length, announced: unannounced.length };
  if (result.resent + result.failed + result.announced > 0) {
    logger.warn(`sweeper recovered ${kind.plural}`, result);
    metrics.addMetric('SweeperResent', 'Count', result.resent);
  }
  return result;
};

/**
 * Documents whose ingestion nobody is working on (a lease that expired with its worker, a
 * message lost before any claim) go back on the queue. Re-sending is safe: the claim takes the
 * lease only when no live one holds it, and the ingestion resumes after the chunks written.
 */
export const sweepDocuments = async <Target>(
  store: { stalled(staleSeconds: number, limit: number): Promise<readonly Target[]> },
  queue: JobQueue,
  jobOf: (target: Target) => JobEnvelope,
  options: { staleSeconds: number; batch?: number },
): Promise<number> => {
  const stalled = await store.stalled(options.staleSeconds, options.batch ?? 500);
  await Promise.all(stalled.map((target) => queue.enqueue(jobOf(target))));
  if (stalled.length > 0) {
    logger.warn('sweeper recovered document ingestions', { resent: stalled.length });
    metrics.addMetric('SweeperResent', 'Count', stalled.length);
  }
  return stalled.length;
};
