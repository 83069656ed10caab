import { jobQueue } from '#adapters/aws/job-queue.ts';
import { jobTypes, newJob } from '#domain/jobs.ts';
import type { Principal } from '#domain/tenant.ts';
import { logger, metrics } from '#runtime/observability.ts';
import type { AuditAction, JobQueue } from './ports.ts';

export interface AuditEntry extends AuditAction {
  readonly resourceId: string;
  readonly requestId: string;
}

/**
 * Records a tenant's mutation through the low-priority queue: the request does not wait
 * for the audit insert, and a slow audit table never slows the API. A failed enqueue is
 * logged and counted, never turned into an error for a write that already happened.
 */
export const recordAudit = async (principal: Principal, entry: AuditEntry, queue: JobQueue = jobQueue()) => {
  try {
    await queue.enqueue(
      newJob(
        jobTypes.recordAudit,
        principal.tenantId,
        {
          action: entry.action,
          resource_type: entry.resourceType,
          resource_id: entry.resourceId,
          key_id: principal.keyId,
          request_id: entry.requestId,
          at: new Date().toISOString(),
        },
        `audit:${entry.requestId}:${entry.action}:${entry.resourceId}`,
      ),
    );
  } catch (error) {
    metrics.addMetric('AuditEnqueueFailures', 'Count', 1);
    logger.error('audit event not enqueued', { action: entry.action, error: (error as Error).message });
  }
};
