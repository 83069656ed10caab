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

/** Jobs that run on a clock. */
export const scheduledJobs: readonly ScheduledJob[] = [
  {
    type: 'executions.sweep',
    queue: 'low',
    keyPrefix: 'sweep',
    schedule: events.Schedule.rate(Duration.minutes(1)),
    description: 'Re-enqueue executions stuck in queued or running (lost messages, dead workers)',
  },
  {
    type: 'cache.warm',
    queue: 'low',
    keyPrefix: 'warm',
    schedule: events.Schedule.rate(Duration.minutes(5)),
    description: 'Keep the agents and workflows executed in the last hour in the shared cache tier',
  },
  {
    type: 'retention.cleanup',
    queue: 'low',
    keyPrefix: 'retention',
    // Daily at a quiet hour (UTC); a run that exhausts its time budget is continued by the next.
    schedule: events.Schedule.cron({ minute: '17', hour: '3' }),
    description: 'Delete executions, workflow executions and audit events past their retention',
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
          // A late run is as good as a skipped one: the next tick comes (the sweeper's a minute later).
          maxEventAge: Duration.minutes(5),
          retryAttempts: 3,
        }),
      );
      return rule;
    });
  }
}
