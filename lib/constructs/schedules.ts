import { Duration } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import { Construct } from 'constructs';
import type { QueueName } from '../../shared/manifest.ts';
import type { Queues } from './queues.ts';

export interface SchedulesProps {
  readonly queues: Queues;
}

export interface ScheduledJob {
  /** The job type, as the queue's consumer dispatches it (shared/services/workers.ts). */
  readonly type: string;
  readonly queue: QueueName;
  /** The idempotency key is `<prefix>:<event time>`: a redelivered event is the same job. */
  readonly keyPrefix: string;
  readonly schedule: events.Schedule;
  readonly description: string;
}

/** Jobs that run on a clock. Retention cleanup and cache warming join here once they exist. */
export const scheduledJobs: readonly ScheduledJob[] = [
  {
    type: 'executions.sweep',
    queue: 'low',
    keyPrefix: 'sweep',
    schedule: events.Schedule.rate(Duration.minutes(1)),
    description: 'Re-enqueue executions stuck in queued or running (lost messages, dead workers)',
  },
];

/**
 * EventBridge rules that put a job envelope on a queue: the same message the runtime would
 * enqueue, its idempotency key and time taken from the event's time.
 */
export class Schedules extends Construct {
  readonly rules: readonly events.Rule[];

  constructor(scope: Construct, id: string, props: SchedulesProps) {
    super(scope, id);
    this.rules = scheduledJobs.map((job) => {
      const rule = new events.Rule(this, job.type.replaceAll('.', '-'), {
        description: job.description,
        schedule: job.schedule,
      });
      rule.addTarget(
        new targets.SqsQueue(props.queues.byName[job.queue].queue, {
          message: events.RuleTargetInput.fromObject({
            type: job.type,
            tenant_id: 'system',
            ids: {},
            idempotency_key: `${job.keyPrefix}:${events.EventField.time}`,
            enqueued_at: events.EventField.time,
          }),
          // A late run is as good as a skipped one: the next comes a minute later.
          maxEventAge: Duration.minutes(5),
          retryAttempts: 3,
        }),
      );
      return rule;
    });
  }
}
