import type { JobEnvelope } from '#domain/jobs.ts';

/**
 * Ports the services declare and the adapters implement: a service names what it needs, not
 * which adapter provides it. (The repositories are still typed by their PostgreSQL classes.)
 */

export interface EnqueueOptions {
  /** Not visible to consumers before this (SQS caps it at 900 s). */
  readonly delaySeconds?: number;
}

/** What services need of the queues: put jobs on them, each on the queue its type is declared on. */
export interface JobQueue {
  enqueue(job: JobEnvelope, options?: EnqueueOptions): Promise<void>;
}
