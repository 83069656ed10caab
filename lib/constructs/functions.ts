import { Stack } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { NagSuppressions } from 'cdk-nag';
import { Construct } from 'constructs';
import { type FunctionName, functions, type QueueName, queues, routes } from '#manifest';
import { type FunctionAccess, functionAccess, inVpc } from '../access.ts';
import type { StageConfig } from '../stage-config.ts';
import type { Network } from './network.ts';
import type { Queues } from './queues.ts';
import { SwitchyardFunction } from './switchyard-function.ts';
import type { Uploads } from './uploads.ts';

/** What the functions need of the database: Data (Aurora behind RDS Proxy), or LocalData on the local stage. */
export interface DatabaseTarget {
  readonly idempotencyTable: dynamodb.TableV2;
  /** The credentials the runtime reads at connection time; none when the URL carries them. */
  readonly secret: secretsmanager.ISecret | undefined;
  databaseUrl(): string;
  allowQueriesFrom(peer: ec2.IConnectable, description: string): void;
}

/** What the functions need of the cache: Cache (ElastiCache), or LocalData on the local stage. */
export interface CacheTarget {
  url(): string;
  allowFrom(peer: ec2.IConnectable, description: string): void;
}

export interface AppFunctionsProps {
  readonly config: StageConfig;
  /** None on the local stage: LocalStack runs every function on its Docker network. */
  readonly network: Network | undefined;
  readonly data: DatabaseTarget;
  readonly cache: CacheTarget;
  readonly queues: Queues;
  /** The bucket of uploaded document files. */
  readonly uploads: Uploads;
  /** The operator key of `/v1/admin/*`. */
  readonly adminKey: secretsmanager.ISecret;
  /** The OpenAI API key, when the stage names one. */
  readonly openAiKey: secretsmanager.ISecret | undefined;
}

export interface AppFunction {
  readonly name: FunctionName;
  readonly fn: SwitchyardFunction;
  /** What API Gateway and the event sources invoke; CodeDeploy shifts it between versions. */
  readonly alias: lambda.Alias;
}

/** The alias every caller invokes. */
export const liveAlias = 'live';

const upper = (queue: QueueName) => queue.toUpperCase();

const descriptionOf = (name: FunctionName): string => {
  const keys = routes.filter((r) => r.function === name).map((r) => `${r.method} ${r.path}`);
  const consumed = queues.find((q) => q.consumer === name);
  if (consumed) return `Switchyard: consumer of the ${consumed.name} queue`;
  if (keys.length > 0) return `Switchyard API: ${keys.join(', ')}`.slice(0, 256);
  return `Switchyard API: ${name} (API Gateway $default: unmatched routes)`;
};

/**
 * One function per entry of the manifest, each with exactly the access `functionAccess`
 * lists: environment, IAM grants and security group rules are all derived from it.
 */
export class AppFunctions extends Construct {
  readonly byName: Readonly<Record<FunctionName, AppFunction>>;

  constructor(scope: Construct, id: string, props: AppFunctionsProps) {
    super(scope, id);
    const byName: Partial<Record<FunctionName, AppFunction>> = {};
    for (const name of Object.keys(functions) as FunctionName[]) {
      byName[name] = this.create(name, functionAccess[name], props);
    }
    this.byName = byName as Record<FunctionName, AppFunction>;
  }

  get all(): readonly AppFunction[] {
    return Object.values(this.byName);
  }

  private create(name: FunctionName, access: FunctionAccess, props: AppFunctionsProps): AppFunction {
    const { config, network, data, cache, queues: queueSet } = props;
    const def = functions[name];
    const consumed = queues.find((q) => q.consumer === name)?.name;
    const environment: Record<string, string> = {};

    const queueUrlsFor = new Set<QueueName>([
      ...(access.sendsTo ?? []),
      ...(access.inspects ?? []),
      ...(consumed ? [consumed] : []),
    ]);
    const dlqUrlsFor = new Set<QueueName>(access.deadLettersTo ?? []);
    if (access.operatesQueues) {
      for (const q of queues) {
        queueUrlsFor.add(q.name);
        dlqUrlsFor.add(q.name);
      }
    }
    for (const q of queueUrlsFor) environment[`QUEUE_URL_${upper(q)}`] = queueSet.byName[q].queue.queueUrl;
    for (const q of dlqUrlsFor) environment[`DLQ_URL_${upper(q)}`] = queueSet.byName[q].dlq.queueUrl;

    if (access.database) {
      environment['DATABASE_URL'] = data.databaseUrl();
      if (data.secret) environment['DATABASE_SECRET_ARN'] = data.secret.secretArn;
    }
    if (access.cache) environment['REDIS_URL'] = cache.url();
    if (access.idempotency) environment['IDEMPOTENCY_TABLE'] = data.idempotencyTable.tableName;
    if (access.adminKey) environment['SWITCHYARD_ADMIN_KEY_SECRET_ARN'] = props.adminKey.secretArn;
    if (access.uploads) environment['UPLOAD_BUCKET'] = props.uploads.bucket.bucketName;
    if (access.llm) {
      if (config.llmProvider) environment['SWITCHYARD_DEFAULT_PROVIDER'] = config.llmProvider;
      // A name works wherever GetSecretValue takes an ARN, and is all a by-name secret has.
      if (props.openAiKey) environment['OPENAI_API_KEY_SECRET_ARN'] = props.openAiKey.secretName;
    }

    const fn = new SwitchyardFunction(this, name, {
      config,
      name,
      entry: def.entry,
      memoryMb: def.memoryMb,
      timeoutSeconds: def.timeoutSeconds,
      description: descriptionOf(name),
      environment,
      ...(inVpc(access) &&
        network && {
          vpc: { vpc: network.vpc, subnets: network.functionSubnets(Boolean(access.internet)) },
        }),
    });

    this.grant(fn, access, consumed, props);
    if (access.database) data.allowQueriesFrom(fn, `${name} function`);
    if (access.cache) cache.allowFrom(fn, `${name} function`);

    const alias = new lambda.Alias(this, `${name}Alias`, {
      aliasName: liveAlias,
      version: fn.currentVersion,
    });
    return { name, fn, alias };
  }

  private grant(
    fn: SwitchyardFunction,
    access: FunctionAccess,
    consumed: QueueName | undefined,
    props: AppFunctionsProps,
  ): void {
    const { data, queues: queueSet } = props;
    for (const q of access.sendsTo ?? []) queueSet.byName[q].queue.grantSendMessages(fn);
    for (const q of access.deadLettersTo ?? []) queueSet.byName[q].dlq.grantSendMessages(fn);
    for (const q of access.inspects ?? []) queueSet.byName[q].queue.grant(fn, 'sqs:GetQueueAttributes');
    if (access.operatesQueues) {
      for (const { queue, dlq } of queueSet.all) {
        // Redrive: receive from the DLQ, send to the queue, then delete from the DLQ.
        queue.grant(fn, 'sqs:GetQueueAttributes', 'sqs:SendMessage');
        dlq.grant(fn, 'sqs:GetQueueAttributes', 'sqs:ReceiveMessage', 'sqs:DeleteMessage');
      }
    }
    // The consumer's own receive/delete come with its event source; backoff needs this one.
    if (consumed) queueSet.byName[consumed].queue.grant(fn, 'sqs:ChangeMessageVisibility');

    if (access.idempotency === 'records') {
      data.idempotencyTable.grant(
        fn,
        'dynamodb:GetItem',
        'dynamodb:PutItem',
        'dynamodb:UpdateItem',
        'dynamodb:DeleteItem',
      );
    } else if (access.idempotency === 'describe') {
      data.idempotencyTable.grant(fn, 'dynamodb:DescribeTable');
    }

    if (access.uploads) {
      // A pre-signed POST carries its signer's permissions: the API may put upload keys, no more;
      // ingestion reads them and deletes what it has ingested.
      fn.addToRolePolicy(
        new iam.PolicyStatement({
          actions: access.uploads === 'presign' ? ['s3:PutObject'] : ['s3:GetObject', 's3:DeleteObject'],
          resources: [props.uploads.uploadKeysArn],
        }),
      );
      NagSuppressions.addResourceSuppressions(
        fn.role!,
        [
          {
            id: 'AwsSolutions-IAM5',
            appliesTo: [
              `Resource::<${Stack.of(this).getLogicalId(props.uploads.bucket.node.defaultChild as s3.CfnBucket)}.Arn>/uploads/*`,
            ],
            reason:
              'Upload keys are made per document at request time (uploads/<tenant>/<document>/<generation>); the ' +
              'grant is limited to that prefix and to the one or two object actions the function uses.',
          },
        ],
        true,
      );
    }
    if (access.database) data.secret?.grantRead(fn);
    if (access.adminKey) props.adminKey.grantRead(fn);
    if (access.readsMetrics) {
      // GetMetricStatistics has no resource-level permissions.
      fn.addToRolePolicy(
        new iam.PolicyStatement({ actions: ['cloudwatch:GetMetricStatistics'], resources: ['*'] }),
      );
    }
    if (access.llm) {
      const { region, account, partition } = Stack.of(this);
      fn.addToRolePolicy(
        new iam.PolicyStatement({
          // Converse calls InvokeModel; the model is each agent's choice, so any model, and any
          // region for foundation models, where cross-region inference profiles route calls.
          actions: ['bedrock:InvokeModel', 'bedrock:InvokeModelWithResponseStream'],
          resources: [
            `arn:${partition}:bedrock:*::foundation-model/*`,
            `arn:${partition}:bedrock:${region}:${account}:inference-profile/*`,
          ],
        }),
      );
      NagSuppressions.addResourceSuppressions(
        fn.role!,
        [
          {
            id: 'AwsSolutions-IAM5',
            appliesTo: [
              'Resource::arn:<AWS::Partition>:bedrock:*::foundation-model/*',
              'Resource::arn:<AWS::Partition>:bedrock:<AWS::Region>:<AWS::AccountId>:inference-profile/*',
            ],
            reason:
              'Each agent names its model at runtime, so the worker may invoke any Bedrock model (and, through ' +
              'cross-region inference profiles, in any region); only InvokeModel actions are granted.',
          },
        ],
        true,
      );
      props.openAiKey?.grantRead(fn);
    }
  }
}
