import { Duration } from 'aws-cdk-lib';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import {
  functions,
  maxReceiveCount,
  type QueueName,
  queues as queueDefs,
  queueResourceName,
} from '#manifest';
import type { StageConfig } from '../stage-config.ts';

export interface QueuesProps {
  readonly config: StageConfig;
}

export interface PriorityQueue {
  readonly queue: sqs.Queue;
  readonly dlq: sqs.Queue;
}

/** AWS's guidance for SQS event sources: the consumer may retry a batch within one visibility timeout. */
export const visibilityTimeoutFactor = 6;

/** The SQS message retention maximum: dead letters stay as long as SQS allows. */
const dlqRetention = Duration.days(14);

/**
 * One queue and one DLQ per priority of the manifest: its retention and visibility timeout,
 * the DLQ after `retries + 1` receives, SSE, TLS-only access.
 */
export class Queues extends Construct {
  readonly byName: Readonly<Record<QueueName, PriorityQueue>>;

  constructor(scope: Construct, id: string, props: QueuesProps) {
    super(scope, id);
    const { stage } = props.config;
    const byName: Partial<Record<QueueName, PriorityQueue>> = {};
    for (const def of queueDefs) {
      const consumerTimeout = functions[def.consumer].timeoutSeconds;
      if (def.visibilityTimeoutSeconds < visibilityTimeoutFactor * consumerTimeout) {
        throw new Error(
          `queue ${def.name}: visibility timeout ${def.visibilityTimeoutSeconds} s is under ` +
            `${visibilityTimeoutFactor} × its consumer's timeout (${consumerTimeout} s)`,
        );
      }
      const dlq = new sqs.Queue(this, `${def.name}Dlq`, {
        queueName: queueResourceName(stage, def.name, true),
        retentionPeriod: dlqRetention,
        encryption: sqs.QueueEncryption.SQS_MANAGED,
        enforceSSL: true,
      });
      const queue = new sqs.Queue(this, def.name, {
        queueName: queueResourceName(stage, def.name),
        retentionPeriod: Duration.seconds(def.retentionSeconds),
        visibilityTimeout: Duration.seconds(def.visibilityTimeoutSeconds),
        encryption: sqs.QueueEncryption.SQS_MANAGED,
        enforceSSL: true,
        deadLetterQueue: { queue: dlq, maxReceiveCount: maxReceiveCount(def) },
      });
      byName[def.name] = { queue, dlq };
    }
    this.byName = byName as Record<QueueName, PriorityQueue>;
  }

  get all(): readonly (PriorityQueue & { readonly name: QueueName })[] {
    return queueDefs.map((def) => ({ name: def.name, ...this.byName[def.name] }));
  }
}
