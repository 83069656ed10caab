import { Duration } from 'aws-cdk-lib';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import { Construct } from 'constructs';
import { queues } from '#manifest';
import type { AppFunctions } from './functions.ts';
import type { Queues } from './queues.ts';

export interface WorkersProps {
  readonly functions: AppFunctions;
  readonly queues: Queues;
}

/**
 * Each queue's consumer polls it with the manifest's batch size, batching window and
 * maximum concurrency (the priorities' share of the database), and reports failed records
 * one by one so a batch's good messages are not processed again.
 */
export class Workers extends Construct {
  constructor(scope: Construct, id: string, props: WorkersProps) {
    super(scope, id);
    for (const def of queues) {
      const { alias } = props.functions.byName[def.consumer];
      alias.addEventSource(
        new SqsEventSource(props.queues.byName[def.name].queue, {
          batchSize: def.batchSize,
          ...(def.batchingWindowSeconds > 0 && {
            maxBatchingWindow: Duration.seconds(def.batchingWindowSeconds),
          }),
          maxConcurrency: def.maxConcurrency,
          reportBatchItemFailures: true,
        }),
      );
    }
  }
}
