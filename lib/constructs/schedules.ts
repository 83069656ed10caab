import { Duration } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import { Construct } from 'constructs';
import { type JobSchedule, scheduledJobs } from '#manifest';
import type { Queues } from './queues.ts';

export interface SchedulesProps {
  readonly queues: Queues;
}

/** A manifest schedule as EventBridge's. */
export const eventSchedule = (schedule: JobSchedule): events.Schedule =>
  'every' in schedule
    ? events.Schedule.rate(Duration.minutes(schedule.every.minutes))
    : events.Schedule.cron(schedule.cron);

/**
 * EventBridge rules that put a job envelope on a queue: the same message the runtime would
 * enqueue, its idempotency key and time taken from the event's time.
 */
export class Schedules extends Construct {
  readonly rules: readonly events.Rule[];

  constructor(scope: Construct, id: string, props: SchedulesProps) {
    super(scope, id);
    // The jobs the manifest puts on a clock, each on its declared queue.
    this.rules = scheduledJobs().map((job) => {
      const rule = new events.Rule(this, job.type.replaceAll('.', '-'), {
        description: job.schedule.description,
        schedule: eventSchedule(job.schedule),
      });
      rule.addTarget(
        new targets.SqsQueue(props.queues.byName[job.queue].queue, {
          message: events.RuleTargetInput.fromObject({
            type: job.type,
            tenant_id: 'system',
            ids: {},
            idempotency_key: `${job.schedule.keyPrefix}:${events.EventField.time}`,
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
