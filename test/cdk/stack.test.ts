import { randomUUID } from 'node:crypto';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { jobEnvelope } from '#domain/jobs.ts';
import { uploadedFileJob, uploadKey } from '#domain/knowledge.ts';
import { type FunctionName, functions, jobs, queues, routeKey, routes } from '#manifest';
import { functionAccess, inVpc } from '../../lib/access.ts';
import { stageConfigFrom } from '../../lib/stage-config.ts';
import * as everyStage from '../support/stack-expectations.ts';
import { synthStack } from './synth.ts';
import { TemplateView } from './template.ts';

const functionNames = Object.keys(functions) as FunctionName[];
const send = ['sqs:GetQueueAttributes', 'sqs:GetQueueUrl', 'sqs:SendMessage'];
const consume = [
  'sqs:ChangeMessageVisibility',
  'sqs:DeleteMessage',
  'sqs:GetQueueAttributes',
  'sqs:GetQueueUrl',
  'sqs:ReceiveMessage',
];
const redrive = {
  queue: ['sqs:GetQueueAttributes', 'sqs:SendMessage'],
  dlq: ['sqs:DeleteMessage', 'sqs:GetQueueAttributes', 'sqs:ReceiveMessage'],
};

/** What each function may do on the queues, read off its code (the brief), not off lib/access.ts. */
const expectedQueueAccess: Record<FunctionName, Record<string, string[]>> = {
  agents: { low: send },
  health: { high: ['sqs:GetQueueAttributes'] },
  openapi: {},
  fallback: {},
  admin: Object.fromEntries(
    queues.flatMap((q) => [
      [q.name, redrive.queue],
      [`${q.name}-dlq`, redrive.dlq],
    ]),
  ),
  executions: { high: send, low: send },
  activity: {},
  workflows: { low: send },
  workflowExecutions: { high: send, low: send },
  // Documents posted go to ingestion (default); audit records (low).
  knowledge: { default: send, low: send },
  knowledgeSearch: {},
  workerHigh: { high: [...new Set([...consume, ...send])].sort(), 'high-dlq': send, default: send },
  workerDefault: { default: consume, 'default-dlq': send },
  // The sweeper re-sends executions and steps (high) and unsent completion events (default).
  workerLow: { low: consume, 'low-dlq': send, high: send, default: send },
};

let dev: TemplateView;
let prod: TemplateView;

beforeAll(() => {
  dev = new TemplateView(Template.fromStack(synthStack().stack), 'dev');
  prod = new TemplateView(
    Template.fromStack(synthStack({ stage: 'prod', corsOrigins: 'https://app.example.com' }).stack),
    'prod',
  );
}, 60_000);

describe('API', () => {
  it("has exactly the manifest routes, each to its function's alias, and $default to the fallback", () => {
    everyStage.expectManifestRoutes(dev);
    for (const [, integration] of dev.ofType('AWS::ApiGatewayV2::Integration')) {
      expect(integration.Properties).toMatchObject({
        IntegrationType: 'AWS_PROXY',
        PayloadFormatVersion: '2.0',
      });
      expect(dev.get((integration.Properties['IntegrationUri'] as { Ref: string }).Ref).Type).toBe(
        'AWS::Lambda::Alias',
      );
    }
  });

  it('is an HTTP API whose $default stage throttles, logs access as JSON and has per-route metrics', () => {
    dev.template.resourceCountIs('AWS::ApiGatewayV2::Api', 1);
    dev.template.hasResourceProperties('AWS::ApiGatewayV2::Api', { ProtocolType: 'HTTP' });
    dev.template.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      StageName: '$default',
      AutoDeploy: true,
      DefaultRouteSettings: {
        DetailedMetricsEnabled: true,
        ThrottlingRateLimit: 100,
        ThrottlingBurstLimit: 200,
      },
      AccessLogSettings: {
        DestinationArn: Match.anyValue(),
        Format: Match.stringLikeRegexp('"routeKey":"\\$context.routeKey"'),
      },
    });
    prod.template.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      DefaultRouteSettings: Match.objectLike({ ThrottlingRateLimit: 2000, ThrottlingBurstLimit: 4000 }),
    });
  });

  it("sends CORS headers only for the origins a stage names, with the manifest's methods", () => {
    const [, devApi] = dev.ofType('AWS::ApiGatewayV2::Api')[0]!;
    expect(devApi.Properties['CorsConfiguration']).toBeUndefined();
    prod.template.hasResourceProperties('AWS::ApiGatewayV2::Api', {
      CorsConfiguration: {
        AllowOrigins: ['https://app.example.com'],
        AllowMethods: [...new Set(routes.map((r) => r.method))],
        AllowHeaders: Match.arrayWith(['authorization', 'if-match', 'idempotency-key']),
        ExposeHeaders: Match.arrayWith(['etag', 'location', 'x-request-id']),
      },
    });
  });
});

describe('functions', () => {
  it('one per manifest entry (and migrate): nodejs22.x, arm64, traced, its memory and timeout', () => {
    const names = dev.ofType('AWS::Lambda::Function').map(([, f]) => f.Properties['FunctionName']);
    expect(names.filter((n) => typeof n === 'string').sort()).toEqual(
      [...functionNames, 'migrate'].map((n) => `switchyard-dev-${n}`).sort(),
    );
    for (const name of functionNames) {
      const fn = dev.get(dev.functionId(name)).Properties;
      expect(fn, name).toMatchObject({
        Runtime: 'nodejs22.x',
        Architectures: ['arm64'],
        TracingConfig: { Mode: 'Active' },
        Handler: 'index.handler',
        MemorySize: functions[name].memoryMb,
        Timeout: functions[name].timeoutSeconds,
      });
    }
  });

  it('share Powertools service, namespace and stage, source maps, own log group with retention', () => {
    for (const name of [...functionNames, 'migrate']) {
      const id = dev.functionId(name);
      expect(dev.environmentOf(id), name).toMatchObject({
        STAGE: 'dev',
        POWERTOOLS_SERVICE_NAME: 'switchyard',
        POWERTOOLS_METRICS_NAMESPACE: 'Switchyard',
        NODE_OPTIONS: '--enable-source-maps',
      });
      const logGroup = (dev.get(id).Properties['LoggingConfig'] as { LogGroup: { Ref: string } }).LogGroup
        .Ref;
      expect(dev.get(logGroup).Properties).toMatchObject({
        LogGroupName: `/aws/lambda/switchyard-dev-${name}`,
        RetentionInDays: 14,
      });
    }
    prod.template.hasResourceProperties('AWS::Logs::LogGroup', {
      LogGroupName: '/aws/lambda/switchyard-prod-agents',
      RetentionInDays: 90,
    });
  });

  it('run in the VPC only when they query or cache; only the callers of the internet behind NAT', () => {
    const egressSubnets = dev
      .ofType('AWS::EC2::Subnet')
      .filter(([, s]) => JSON.stringify(s.Properties['Tags']).includes('"egress"'))
      .map(([id]) => id);
    expect(egressSubnets.length).toBe(2);
    for (const name of functionNames) {
      const vpcConfig = dev.get(dev.functionId(name)).Properties['VpcConfig'] as
        | { SubnetIds: { Ref: string }[] }
        | undefined;
      const access = functionAccess[name];
      expect(Boolean(vpcConfig), name).toBe(inVpc(access));
      if (!vpcConfig) continue;
      const behindNat = vpcConfig.SubnetIds.every((s) => egressSubnets.includes(s.Ref));
      // Webhooks and model calls (workers), and the query embeddings of OpenAI-model bases (search).
      expect(behindNat, name).toBe(['workerHigh', 'workerDefault', 'knowledgeSearch'].includes(name));
    }
  });

  it('get the endpoints they use and no others', () => {
    for (const name of functionNames) {
      const env = dev.environmentOf(dev.functionId(name));
      const queueVars = Object.keys(env).filter((k) => /^(QUEUE|DLQ)_URL_/.test(k));
      const expectedVars = Object.keys(expectedQueueAccess[name]).map((q) =>
        q.endsWith('-dlq') ? `DLQ_URL_${q.slice(0, -4).toUpperCase()}` : `QUEUE_URL_${q.toUpperCase()}`,
      );
      expect(queueVars.sort(), name).toEqual(expectedVars.sort());
      for (const variable of queueVars) {
        const queue = variable.replace(/^(QUEUE|DLQ)_URL_/, '').toLowerCase();
        const ref = env[variable] as { Ref: string };
        expect(ref.Ref, `${name} ${variable}`).toBe(
          dev.queueId(variable.startsWith('DLQ') ? `${queue}-dlq` : queue),
        );
      }
      const access = functionAccess[name] as { database?: boolean; cache?: boolean; idempotency?: string };
      expect('DATABASE_URL' in env, name).toBe(Boolean(access.database));
      expect('DATABASE_SECRET_ARN' in env, name).toBe(Boolean(access.database));
      expect('REDIS_URL' in env, name).toBe(Boolean(access.cache));
      expect('IDEMPOTENCY_TABLE' in env, name).toBe(Boolean(access.idempotency));
    }
    const executions = dev.environmentOf(dev.functionId('executions'));
    expect(JSON.stringify(executions['DATABASE_URL'])).toMatch(
      /postgresql:\/\/switchyard@.*:5432\/switchyard\?sslmode=verify-full/,
    );
    expect(JSON.stringify(executions['REDIS_URL'])).toContain('rediss://');
    expect(executions['IDEMPOTENCY_TABLE']).toEqual({
      Ref: dev.find('AWS::DynamoDB::GlobalTable', 'TableName', 'switchyard-dev-idempotency'),
    });
  });

  it('are invoked through a live alias that CodeDeploy shifts, rolling back on errors and latency', () => {
    for (const name of functionNames) {
      const aliasId = dev.aliasIdOf(dev.functionId(name));
      const alias = dev.get(aliasId);
      expect(alias.Properties['Name']).toBe('live');
      const update = alias.UpdatePolicy?.['CodeDeployLambdaAliasUpdate'] as {
        DeploymentGroupName: { Ref: string };
      };
      const group = dev.get(update.DeploymentGroupName.Ref).Properties;
      expect(group['DeploymentConfigName']).toBe('CodeDeployDefault.LambdaAllAtOnce');
      expect(group['AutoRollbackConfiguration']).toEqual({
        Enabled: true,
        Events: ['DEPLOYMENT_FAILURE', 'DEPLOYMENT_STOP_ON_REQUEST', 'DEPLOYMENT_STOP_ON_ALARM'],
      });
      const alarms = (
        group['AlarmConfiguration'] as { Alarms: { Name: { Ref: string } }[]; Enabled: boolean }
      ).Alarms;
      const metrics = alarms.map(({ Name }) => dev.get(Name.Ref).Properties['MetricName']).sort();
      expect(metrics, name).toEqual(['Duration', 'Errors']);
    }
    const canaries = prod
      .ofType('AWS::CodeDeploy::DeploymentGroup')
      .map(([, g]) => g.Properties['DeploymentConfigName']);
    expect(new Set(canaries)).toEqual(new Set(['CodeDeployDefault.LambdaCanary10Percent5Minutes']));
  });
});

describe('queues', () => {
  it("has each manifest queue and its DLQ with the manifest's settings, SSE and TLS only", () => {
    everyStage.expectManifestQueues(dev);
    for (const def of queues) {
      expect(dev.get(dev.queueId(`${def.name}-dlq`)).Properties).toMatchObject({
        SqsManagedSseEnabled: true,
      });
      // The consumer may take its whole timeout several times over before a message reappears.
      expect(def.visibilityTimeoutSeconds).toBeGreaterThanOrEqual(6 * functions[def.consumer].timeoutSeconds);
    }
    const policies = dev.ofType('AWS::SQS::QueuePolicy');
    const secured = policies.filter(([, p]) =>
      JSON.stringify(p.Properties['PolicyDocument']).includes('"aws:SecureTransport":"false"'),
    );
    expect(secured.flatMap(([, p]) => p.Properties['Queues'] as unknown[]).length).toBe(queues.length * 2);
  });

  it("feed each consumer's alias: batch size, window, max concurrency, partial batch responses", () => {
    for (const { def, mapping } of everyStage.manifestQueueMappings(dev)) {
      expect(mapping.Properties['MaximumBatchingWindowInSeconds']).toBe(
        def.batchingWindowSeconds || undefined,
      );
      // On the alias, so workers roll out and roll back like the API.
      expect(JSON.stringify(mapping.Properties['FunctionName'])).toContain(':live');
    }
  });

  /** The one schedule rule whose message is a job of `type`: its expression, queue and job as SQS gets it. */
  const scheduledJob = (type: string, keyPrefix: string, time: string) => {
    const found = dev
      .ofType('AWS::Events::Rule')
      .map(([, rule]) => ({
        rule,
        target: (
          rule.Properties['Targets'] as {
            Arn: unknown;
            InputTransformer: { InputPathsMap: Record<string, string>; InputTemplate: string };
          }[]
        )[0]!,
      }))
      .filter(({ target }) => target.InputTransformer.InputTemplate.includes(`"type":"${type}"`));
    expect(found).toHaveLength(1);
    const [{ rule, target }] = found as [(typeof found)[number]];
    expect(target.InputTransformer.InputPathsMap).toEqual({ time: '$.time' });
    // EventBridge quotes a bare placeholder's string value and splices one inside quotes.
    const body = target.InputTransformer.InputTemplate.replaceAll(
      `"${keyPrefix}:<time>"`,
      `"${keyPrefix}:${time}"`,
    ).replaceAll('<time>', JSON.stringify(time));
    return {
      expression: rule.Properties['ScheduleExpression'],
      arn: target.Arn,
      job: JSON.parse(body) as unknown,
    };
  };

  it.each([
    ['sweeper', 'low', 'every minute', 'executions.sweep', 'sweep', 'rate(1 minute)'],
    ['retention', 'low', 'once a day', 'retention.cleanup', 'retention', 'cron(17 3 * * ? *)'],
    // On the high queue: its worker is the one with the cache (Valkey) that warming fills.
    ['cache warming', 'high', 'every 5 minutes', 'cache.warm', 'warm', 'rate(5 minutes)'],
  ])(
    'gets the %s job on the %s queue %s, as a valid job envelope',
    (_name, queue, _when, type, keyPrefix, expression) => {
      const time = '2025-01-01T00:00:00Z';
      const scheduled = scheduledJob(type, keyPrefix, time);
      expect(scheduled.expression).toBe(expression);
      expect(scheduled.arn).toEqual({ 'Fn::GetAtt': [dev.queueId(queue), 'Arn'] });
      expect(jobEnvelope.safeParse(scheduled.job).success).toBe(true);
      expect(scheduled.job).toEqual({
        type,
        tenant_id: 'system',
        ids: {},
        idempotency_key: `${keyPrefix}:${time}`,
        enqueued_at: time,
      });
    },
  );
});

describe('uploads', () => {
  it('is a private, encrypted, TLS-only bucket whose upload keys expire within a week', () => {
    const bucket = dev.ofType('AWS::S3::Bucket')[0]![1];
    expect(bucket.Properties['BucketEncryption']).toEqual({
      ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
    });
    expect(bucket.Properties['PublicAccessBlockConfiguration']).toEqual({
      BlockPublicAcls: true,
      BlockPublicPolicy: true,
      IgnorePublicAcls: true,
      RestrictPublicBuckets: true,
    });
    expect(bucket.Properties['NotificationConfiguration']).toEqual({
      EventBridgeConfiguration: { EventBridgeEnabled: true },
    });
    const rules = (bucket.Properties['LifecycleConfiguration'] as { Rules: Record<string, unknown>[] }).Rules;
    expect(rules).toContainEqual(
      expect.objectContaining({ Prefix: 'uploads/', ExpirationInDays: 7, Status: 'Enabled' }),
    );
    expect(rules).toContainEqual(
      expect.objectContaining({ AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 } }),
    );
    const policy = dev.ofType('AWS::S3::BucketPolicy')[0]![1].Properties['PolicyDocument'] as {
      Statement: { Effect: string; Condition?: unknown }[];
    };
    expect(policy.Statement).toContainEqual(
      expect.objectContaining({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
    );
    // CORS for browser uploads only where the stage names origins.
    expect(bucket.Properties['CorsConfiguration']).toBeUndefined();
    const prodBucket = prod.ofType('AWS::S3::Bucket')[0]![1];
    expect(prodBucket.Properties['CorsConfiguration']).toEqual({
      CorsRules: [
        {
          AllowedHeaders: ['*'],
          AllowedMethods: ['POST'],
          AllowedOrigins: ['https://app.example.com'],
          MaxAge: 3600,
        },
      ],
    });
  });

  it("turns each uploaded file into the ingestion job of its key on the ingestion job's queue", () => {
    const rule = dev
      .ofType('AWS::Events::Rule')
      .filter(([, r]) => JSON.stringify(r.Properties['EventPattern'] ?? null).includes('aws.s3'))[0]![1];
    const pattern = rule.Properties['EventPattern'] as Record<string, unknown>;
    expect(pattern['detail-type']).toEqual(['Object Created']);
    expect(JSON.stringify(pattern['detail'])).toContain('{"prefix":"uploads/"}');
    const [target] = rule.Properties['Targets'] as {
      Arn: unknown;
      InputTransformer: { InputPathsMap: Record<string, string>; InputTemplate: string };
    }[];
    expect(target!.Arn).toEqual({ 'Fn::GetAtt': [dev.queueId(jobs.ingestDocument.queue), 'Arn'] });
    expect(target!.InputTransformer.InputPathsMap).toEqual({
      'detail-object-key': '$.detail.object.key',
      time: '$.time',
    });
    const key = uploadKey(randomUUID(), randomUUID(), 2);
    const time = '2026-12-07T00:00:00Z';
    // EventBridge quotes a bare placeholder's string value and splices one inside quotes.
    const body = target!.InputTransformer.InputTemplate.replaceAll(
      '"ingest:<detail-object-key>"',
      `"ingest:${key}"`,
    )
      .replaceAll('<detail-object-key>', JSON.stringify(key))
      .replaceAll('<time>', JSON.stringify(time));
    const job = JSON.parse(body) as unknown;
    expect(jobEnvelope.safeParse(job).success).toBe(true);
    expect(job).toEqual(uploadedFileJob(key, time));
  });

  it('lets the knowledge API put upload keys and the ingestion worker read and delete them, no one else', () => {
    for (const name of functionNames) {
      const s3Access = dev.accessOf(dev.functionId(name), 's3');
      const expected =
        name === 'knowledge'
          ? ['s3:PutObject']
          : name === 'workerDefault'
            ? ['s3:DeleteObject', 's3:GetObject']
            : undefined;
      expect(Object.values(s3Access)[0], name).toEqual(expected);
      if (expected) expect(dev.environmentOf(dev.functionId(name))['UPLOAD_BUCKET'], name).toBeDefined();
    }
  });
});

describe('data', () => {
  it('is Aurora PostgreSQL Serverless v2 (writer + reader), encrypted, behind RDS Proxy with TLS', () => {
    dev.template.hasResourceProperties('AWS::RDS::DBCluster', {
      Engine: 'aurora-postgresql',
      StorageEncrypted: true,
      ServerlessV2ScalingConfiguration: { MinCapacity: 0.5, MaxCapacity: 4 },
      EnableCloudwatchLogsExports: ['postgresql'],
    });
    const instances = dev.ofType('AWS::RDS::DBInstance');
    expect(instances.map(([, i]) => i.Properties['DBInstanceClass'])).toEqual([
      'db.serverless',
      'db.serverless',
    ]);
    expect(instances.every(([, i]) => i.Properties['PubliclyAccessible'] === false)).toBe(true);
    dev.template.hasResourceProperties('AWS::RDS::DBProxy', {
      EngineFamily: 'POSTGRESQL',
      RequireTLS: true,
      Auth: [Match.objectLike({ AuthScheme: 'SECRETS', ClientPasswordAuthType: 'POSTGRES_SCRAM_SHA_256' })],
    });
    dev.template.hasResourceProperties('AWS::RDS::DBProxyEndpoint', { TargetRole: 'READ_ONLY' });
    prod.template.hasResourceProperties('AWS::RDS::DBCluster', { DeletionProtection: true });
  });

  it('admits the functions that query at the proxy only, and only the proxy at Aurora', () => {
    const proxySg = (
      dev.ofType('AWS::RDS::DBProxy')[0]![1].Properties['VpcSecurityGroupIds'] as { 'Fn::GetAtt': [string] }[]
    )[0]!['Fn::GetAtt'][0];
    const sourcesOf = (groupId: string) =>
      dev
        .ofType('AWS::EC2::SecurityGroupIngress')
        .filter(([, rule]) => JSON.stringify(rule.Properties['GroupId']).includes(`"${groupId}"`))
        .map(
          ([, rule]) =>
            (rule.Properties['SourceSecurityGroupId'] as { 'Fn::GetAtt': [string] })['Fn::GetAtt'][0],
        );
    const functionOfSg = (sg: string) =>
      [...functionNames, 'migrate' as const].find((n) => {
        const config = dev.get(dev.functionId(n)).Properties['VpcConfig'] as
          | { SecurityGroupIds: unknown[] }
          | undefined;
        return JSON.stringify(config?.SecurityGroupIds ?? []).includes(`"${sg}"`);
      });
    const expectedDatabaseUsers = functionNames.filter((n) => 'database' in functionAccess[n]);
    expect(sourcesOf(proxySg).map(functionOfSg).sort()).toEqual([...expectedDatabaseUsers, 'migrate'].sort());
    expect(dev.ofType('AWS::EC2::SecurityGroupIngress').every(([, r]) => !('CidrIp' in r.Properties))).toBe(
      true,
    );

    const clusterSg = (
      dev.ofType('AWS::RDS::DBCluster')[0]![1].Properties['VpcSecurityGroupIds'] as {
        'Fn::GetAtt': [string];
      }[]
    )[0]!['Fn::GetAtt'][0];
    const clusterSources = sourcesOf(clusterSg).map((sg) => dev.get(sg).Properties['GroupDescription']);
    expect(clusterSources).toHaveLength(2);
    expect(clusterSources).toContain('RDS Proxy: PostgreSQL from the functions that query, and to Aurora');
  });

  it('runs the migrations before the new versions serve: after the database, before every alias', () => {
    const [triggerId, trigger] = dev.ofType('Custom::Trigger')[0]!;
    const handler = trigger.Properties['HandlerArn'] as { Ref: string };
    const version = dev.get(handler.Ref).Properties['FunctionName'] as { Ref: string };
    expect(version.Ref).toBe(dev.functionId('migrate'));
    expect(trigger.DependsOn).toEqual(expect.arrayContaining([dev.ofType('AWS::RDS::DBProxy')[0]![0]]));
    expect(trigger.DependsOn).toEqual(
      expect.arrayContaining(dev.ofType('AWS::RDS::DBInstance').map(([id]) => id)),
    );
    for (const name of functionNames) {
      expect(dev.get(dev.aliasIdOf(dev.functionId(name))).DependsOn, name).toContain(triggerId);
    }
  });

  it('keeps idempotency records in an on-demand table with TTL and point-in-time recovery', () => {
    everyStage.expectIdempotencyTable(dev);
  });

  it('caches in ElastiCache Serverless Valkey, reachable from the cache users only', () => {
    dev.template.hasResourceProperties('AWS::ElastiCache::ServerlessCache', {
      Engine: 'valkey',
      ServerlessCacheName: 'switchyard-dev',
      CacheUsageLimits: Match.objectLike({ DataStorage: { Maximum: 1, Unit: 'GB' } }),
    });
    const cacheRules = dev
      .ofType('AWS::EC2::SecurityGroupIngress')
      .filter(([, r]) => r.Properties['FromPort'] === 6379 && r.Properties['ToPort'] === 6380);
    expect(cacheRules.length).toBe(functionNames.filter((n) => 'cache' in functionAccess[n]).length);
  });
});

describe('network', () => {
  it('reaches SQS, DynamoDB, Secrets Manager, CloudWatch (and Bedrock) through VPC endpoints', () => {
    const services = (view: TemplateView) =>
      view
        .ofType('AWS::EC2::VPCEndpoint')
        // com.amazonaws.<region>.<service>: the service is what follows the region.
        .map(([, e]) => /\.([a-z-]+)"\]\]\}$/.exec(JSON.stringify(e.Properties['ServiceName']))?.[1])
        .sort();
    expect(services(dev)).toEqual(['dynamodb', 'monitoring', 'secretsmanager', 'sqs']);
    expect(services(prod)).toEqual(['bedrock-runtime', 'dynamodb', 'monitoring', 'secretsmanager', 'sqs']);
    dev.template.resourceCountIs('AWS::EC2::NatGateway', 1);
    prod.template.resourceCountIs('AWS::EC2::NatGateway', 2);
    dev.template.resourceCountIs('AWS::EC2::FlowLog', 1);
  });
});

describe('IAM', () => {
  it('grants each function only the queues it uses, with only the actions it needs', () => {
    for (const name of functionNames) {
      expect(dev.accessOf(dev.functionId(name), 'sqs'), name).toEqual(expectedQueueAccess[name]);
    }
  });

  it('grants the idempotency table to the five creating routes (records) and health (describe) only', () => {
    for (const name of functionNames) {
      const expected = ['agents', 'workflows', 'executions', 'workflowExecutions', 'knowledge'].includes(name)
        ? { 'idempotency-table': everyStage.idempotencyRecordActions }
        : name === 'health'
          ? { 'idempotency-table': ['dynamodb:DescribeTable'] }
          : {};
      expect(dev.accessOf(dev.functionId(name), 'dynamodb'), name).toEqual(expected);
    }
  });

  it('lets DB users read the DB secret, admin the operator key, the high worker call Bedrock', () => {
    for (const name of functionNames) {
      const access = functionAccess[name] as { database?: boolean; adminKey?: boolean; llm?: boolean };
      const secrets = Object.keys(dev.accessOf(dev.functionId(name), 'secretsmanager')).sort();
      const expected = [
        ...(access.adminKey ? ['switchyard/dev/admin-key'] : []),
        ...(access.database ? ['database-secret'] : []),
      ].sort();
      expect(secrets, name).toEqual(expected);
      expect(Object.keys(dev.accessOf(dev.functionId(name), 'bedrock')).length > 0, name).toBe(
        Boolean(access.llm),
      );
    }
  });

  it('has no wildcard actions, and "*" resources only where AWS offers no resource-level permissions', () => {
    const allowedOnAnyResource = new Set([
      'xray:PutTraceSegments',
      'xray:PutTelemetryRecords',
      'cloudwatch:GetMetricStatistics',
    ]);
    const documents = [
      ...dev.ofType('AWS::IAM::Policy').map(([, p]) => p.Properties['PolicyDocument']),
      ...dev
        .ofType('AWS::IAM::Role')
        .flatMap(([, r]) =>
          ((r.Properties['Policies'] ?? []) as { PolicyDocument: unknown }[]).map((p) => p.PolicyDocument),
        ),
    ] as { Statement: { Action: string | string[]; Resource: unknown; Effect: string }[] }[];
    const onAnyResource: string[] = [];
    for (const statement of documents.flatMap((d) => d.Statement)) {
      const actions = [statement.Action].flat();
      for (const action of actions) expect(action).not.toMatch(/(^\*$|:\*$)/);
      if ([statement.Resource].flat().includes('*')) onAnyResource.push(...actions);
    }
    expect(onAnyResource.filter((a) => !allowedOnAnyResource.has(a))).toEqual([]);
  });
});

describe('observability', () => {
  const alarmsWith = (view: TemplateView, predicate: (p: Record<string, unknown>) => boolean) =>
    view.ofType('AWS::CloudWatch::Alarm').filter(([, a]) => predicate(a.Properties));

  it('alarms on p95 latency over 200 ms for every route that does not hold requests by design', () => {
    const metricOf = (p: Record<string, unknown>) =>
      (p['Metrics'] as { MetricStat?: { Metric: Record<string, unknown>; Stat: string } }[] | undefined)?.[0]
        ?.MetricStat;
    const latency = alarmsWith(dev, (p) => {
      const metric = metricOf(p)?.Metric;
      return metric?.['MetricName'] === 'Latency' && metric['Namespace'] === 'AWS/ApiGateway';
    });
    const alarmed = latency.map(([, a]) => {
      const stat = metricOf(a.Properties)!;
      const dimensions = stat.Metric['Dimensions'] as { Name: string; Value: unknown }[];
      const value = (name: string) => dimensions.find((d) => d.Name === name)?.Value;
      expect(stat.Stat).toBe('p95');
      expect(a.Properties['Threshold']).toBe(200);
      return `${value('Method')} ${value('Resource')}`;
    });
    const held = [
      'POST /v1/agents/{id}/executions',
      'POST /v1/workflows/{id}/executions',
      'POST /v1/admin/dlq/{queue}/redrive',
    ];
    expect(alarmed.sort()).toEqual(
      routes
        .map(routeKey)
        .filter((k) => !held.includes(k))
        .sort(),
    );
  });

  it('alarms on a 5xx rate over 0.1 %, any dead letter, an old high-priority message and throttles', () => {
    const rate = alarmsWith(dev, (p) =>
      JSON.stringify(p['Metrics'] ?? '').includes('100 * errors / requests'),
    );
    expect(rate).toHaveLength(1);
    expect(rate[0]![1].Properties['Threshold']).toBe(0.1);
    const deadLetters = alarmsWith(dev, (p) => p['MetricName'] === 'ApproximateNumberOfMessagesVisible');
    expect(
      deadLetters
        .map(([, a]) => dev.nameOf((a.Properties['Dimensions'] as { Value: unknown }[])[0]!.Value))
        .sort(),
    ).toEqual(queues.map((q) => `${q.name}-dlq`).sort());
    const age = alarmsWith(dev, (p) => p['MetricName'] === 'ApproximateAgeOfOldestMessage');
    expect(age).toHaveLength(1);
    expect(age[0]![1].Properties['Threshold']).toBe(60);
    const throttles = alarmsWith(dev, (p) => p['MetricName'] === 'Throttles');
    expect(throttles).toHaveLength(functionNames.length + 1);
  });

  it('sends every alarm to one KMS-encrypted SNS topic', () => {
    const [topicId, topic] = dev.ofType('AWS::SNS::Topic')[0]!;
    expect(topic.Properties['KmsMasterKeyId']).toBeDefined();
    for (const [id, alarm] of dev.ofType('AWS::CloudWatch::Alarm')) {
      expect(alarm.Properties['AlarmActions'], id).toEqual([{ Ref: topicId }]);
    }
  });

  it('has a dashboard of the API, Lambda, queues, cache, database and executions', () => {
    const [, dashboard] = dev.ofType('AWS::CloudWatch::Dashboard')[0]!;
    const body = JSON.stringify(dashboard.Properties['DashboardBody']);
    for (const needle of [
      'AWS/ApiGateway',
      'p50',
      'p99',
      '4xx',
      '5xx',
      'ConcurrentExecutions',
      'Throttles',
      '@initDuration',
      'ApproximateAgeOfOldestMessage',
      'CacheHitRate',
      'CacheHits',
      'DatabaseConnectionsCurrentlySessionPinned',
      'ServerlessDatabaseCapacity',
      'Executions_succeeded',
      'TokensIn',
      // Knowledge: ingestion, embeddings (and their cache), search latency by mode, retrieval.
      'DocumentsIngested',
      'ChunksIngested',
      'EmbeddingCalls',
      'EmbeddingCacheHits',
      'KnowledgeSearchLatency',
      '\\"mode\\",\\"hybrid\\"',
      'KnowledgeRetrievalDuration',
    ]) {
      expect(body, needle).toContain(needle);
    }
  });

  it('alarms when a fifth of document ingestions fail (five at least), not on each client-caused failure', () => {
    const alarm = dev
      .ofType('AWS::CloudWatch::Alarm')
      .filter(([, a]) =>
        JSON.stringify(a.Properties['Metrics'] ?? null).includes('DocumentIngestionFailures'),
      )[0]![1];
    expect(alarm.Properties['Threshold']).toBe(20);
    expect(JSON.stringify(alarm.Properties['Metrics'])).toContain('IF(failed >= 5');
    expect(alarm.Properties['AlarmActions']).toBeDefined();
  });
});

describe('stage configuration', () => {
  it('defaults to dev and rejects stage names that cannot name resources', () => {
    expect(stageConfigFrom(() => undefined).stage).toBe('dev');
    expect(() => stageConfigFrom((k) => (k === 'stage' ? 'Prod_1' : undefined))).toThrow(/stage must match/);
    expect(() => stageConfigFrom((k) => (k === 'rollout' ? 'yolo' : undefined))).toThrow(/rollout/);
  });

  it('reads overrides from context strings', () => {
    const config = stageConfigFrom(
      (k) =>
        ({ natGateways: '0', bedrockEndpoint: 'true', corsOrigins: 'https://a.example, https://b.example' })[
          k
        ],
    );
    expect(config).toMatchObject({
      natGateways: 0,
      bedrockEndpoint: true,
      corsOrigins: ['https://a.example', 'https://b.example'],
    });
  });
});
