import { CfnOutput, Stack, type StackProps, Tags } from 'aws-cdk-lib';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { NagSuppressions } from 'cdk-nag';
import type { Construct } from 'constructs';
import { Api } from './constructs/api.ts';
import { Cache } from './constructs/cache.ts';
import { Data } from './constructs/data.ts';
import { AppFunctions } from './constructs/functions.ts';
import { LocalData } from './constructs/local-data.ts';
import { Migrations } from './constructs/migrations.ts';
import { Network } from './constructs/network.ts';
import { Observability } from './constructs/observability.ts';
import { Queues } from './constructs/queues.ts';
import { Rollout } from './constructs/rollout.ts';
import { Schedules } from './constructs/schedules.ts';
import { Uploads } from './constructs/uploads.ts';
import { Workers } from './constructs/workers.ts';
import type { StageConfig } from './stage-config.ts';

export interface SwitchyardStackProps extends StackProps {
  readonly config: StageConfig;
}

/**
 * One stage of Switchyard: every route, function and queue of the manifest, and what they run on.
 * The `local` stage (LocalStack) keeps the queues, the idempotency table, the API, the functions
 * and the schedules, points the functions at a given PostgreSQL and Redis, and leaves out the
 * parts marked "not on the local stage" (docs/localstack/README.md says why, one by one).
 */
export class SwitchyardStack extends Stack {
  readonly config: StageConfig;
  /** Not on the local stage. */
  readonly network: Network | undefined;
  /** Not on the local stage. */
  readonly data: Data | undefined;
  /** Not on the local stage. */
  readonly cache: Cache | undefined;
  /** The local stage only: its idempotency table and the PostgreSQL and Redis it is given. */
  readonly localData: LocalData | undefined;
  readonly queues: Queues;
  /** The bucket of uploaded document files, and the rule that turns each into an ingestion job. */
  readonly uploads: Uploads;
  readonly functions: AppFunctions;
  /** Not on the local stage (migrations are applied by hand there). */
  readonly migrations: Migrations | undefined;
  readonly api: Api;
  /** Not on the local stage. */
  readonly rollout: Rollout | undefined;
  /** Not on the local stage. */
  readonly observability: Observability | undefined;
  /** The operator key of `/v1/admin/*`, generated at first deploy. */
  readonly adminKey: secretsmanager.Secret;

  constructor(scope: Construct, id: string, props: SwitchyardStackProps) {
    super(scope, id, props);
    const { config } = props;
    this.config = config;
    Tags.of(this).add('project', 'switchyard');
    Tags.of(this).add('stage', config.stage);

    const local = config.localstack;
    let database: Data | LocalData;
    let cache: Cache | LocalData;
    if (local) {
      this.localData = new LocalData(this, 'LocalData', { config, services: local });
      database = cache = this.localData;
    } else {
      this.network = new Network(this, 'Network', { config });
      database = this.data = new Data(this, 'Data', { config, network: this.network });
      cache = this.cache = new Cache(this, 'Cache', { config, network: this.network });
    }
    this.queues = new Queues(this, 'Queues', { config });
    this.uploads = new Uploads(this, 'Uploads', { config, queues: this.queues });

    this.adminKey = new secretsmanager.Secret(this, 'AdminKey', {
      secretName: `switchyard/${config.stage}/admin-key`,
      description: 'Operator key of /v1/admin/* (Authorization: Bearer <key>)',
      generateSecretString: { passwordLength: 48, excludePunctuation: true },
    });
    NagSuppressions.addResourceSuppressions(this.adminKey, [
      {
        id: 'AwsSolutions-SMG4',
        reason:
          'An opaque operator key, not a database credential: there is no service to rotate it in; operators ' +
          'rotate it by putting a new secret version (docs/deploy.md).',
      },
    ]);
    const openAiKey = config.openAiSecretName
      ? secretsmanager.Secret.fromSecretNameV2(this, 'OpenAiKey', config.openAiSecretName)
      : undefined;

    this.functions = new AppFunctions(this, 'Functions', {
      config,
      network: this.network,
      data: database,
      cache,
      queues: this.queues,
      uploads: this.uploads,
      adminKey: this.adminKey,
      openAiKey,
    });
    if (this.network && this.data) {
      this.migrations = new Migrations(this, 'Migrations', {
        config,
        network: this.network,
        data: this.data,
      });
      // New versions take traffic (alias update, event sources) only once the schema is in place.
      this.migrations.trigger.executeBefore(...this.functions.all.map((f) => f.alias));
    }

    this.api = new Api(this, 'Api', { config, functions: this.functions });
    new Workers(this, 'Workers', { functions: this.functions, queues: this.queues });
    new Schedules(this, 'Schedules', { queues: this.queues });
    if (this.data && this.cache && this.migrations) {
      this.rollout = new Rollout(this, 'Rollout', { config, functions: this.functions });
      this.observability = new Observability(this, 'Observability', {
        config,
        api: this.api,
        functions: this.functions,
        extraFunctions: [this.migrations.fn],
        queues: this.queues,
        data: this.data,
        cache: this.cache,
        rolloutAlarms: this.rollout.alarms,
      });
    }

    new CfnOutput(this, 'ApiUrl', {
      // LocalStack serves an HTTP API at <api id>.execute-api.localhost.localstack.cloud on its edge port.
      value: local
        ? `http://${this.api.httpApi.apiId}.execute-api.localhost.localstack.cloud:4566/`
        : this.api.url,
      description: 'Base URL of the HTTP API',
    });
    if (this.observability) {
      new CfnOutput(this, 'DashboardName', { value: this.observability.dashboard.dashboardName });
      new CfnOutput(this, 'AlarmTopicArn', { value: this.observability.topic.topicArn });
    }
    new CfnOutput(this, 'AdminKeySecretArn', {
      value: this.adminKey.secretArn,
      description: 'aws secretsmanager get-secret-value --secret-id <arn> reads the operator key',
    });
    if (this.data) {
      new CfnOutput(this, 'DatabaseProxyEndpoint', { value: this.data.proxy.endpoint });
      new CfnOutput(this, 'DatabaseReaderEndpoint', { value: this.data.readerEndpoint });
    }
  }
}
