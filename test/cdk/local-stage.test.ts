/**
 * The `local` stage (LocalStack, `npm run deploy:local`): synthesized only, like the other stages.
 * Nothing here needs Docker or LocalStack; what the stage leaves out and why is in
 * docs/localstack/README.md.
 */
import { Aspects } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { beforeAll, describe, expect, it } from 'vitest';
import { type FunctionName, functions, idempotencyTableName, scheduledJobs } from '#manifest';
import { functionAccess } from '../../lib/access.ts';
import { localServiceDefaults, stageConfigFrom } from '../../lib/stage-config.ts';
import * as everyStage from '../support/stack-expectations.ts';
import { synthStack } from './synth.ts';
import { TemplateView } from './template.ts';

const functionNames = Object.keys(functions) as FunctionName[];

const given = {
  databaseUrl: 'postgresql://app:secret@db.internal:6543/switchyard',
  redisUrl: 'redis://cache.internal:6380',
};

let local: TemplateView;
let overridden: TemplateView;

beforeAll(() => {
  local = new TemplateView(Template.fromStack(synthStack({ stage: 'local' }).stack), 'local');
  overridden = new TemplateView(Template.fromStack(synthStack({ stage: 'local', ...given }).stack), 'local');
}, 60_000);

describe('local stage: what LocalStack has no free emulation of is left out', () => {
  it.each([
    ['RDS, Aurora and RDS Proxy', /^AWS::RDS::/],
    ['ElastiCache', /^AWS::ElastiCache::/],
    ['the VPC, its endpoints, NAT and security groups', /^AWS::EC2::/],
    ['CodeDeploy', /^AWS::CodeDeploy::/],
    ['the migration Trigger', /^Custom::Trigger$|^AWS::CloudFormation::CustomResource$/],
    ['the secret rotation (hosted rotation transform)', /^AWS::SecretsManager::RotationSchedule$/],
    ['alarms, dashboard, alarm topic and its key', /^AWS::(CloudWatch|SNS|KMS)::/],
  ])('no %s', (_what, type) => {
    const found = Object.values(local.resources).filter((r) => type.test(r.Type));
    expect(found.map((r) => r.Type)).toEqual([]);
  });

  it('has no transform, database secret or database outputs', () => {
    const template = local.template.toJSON() as { Transform?: unknown; Outputs: Record<string, unknown> };
    expect(template.Transform).toBeUndefined();
    const secrets = local.ofType('AWS::SecretsManager::Secret').map(([, s]) => s.Properties['Name']);
    expect(secrets).toEqual(['switchyard/local/admin-key']);
    expect(Object.keys(template.Outputs).sort()).toEqual(['AdminKeySecretArn', 'ApiUrl']);
  });

  it("gives LocalStack's URL of the HTTP API as ApiUrl", () => {
    local.template.hasOutput('ApiUrl', {
      Value: {
        'Fn::Join': [
          '',
          ['http://', { Ref: Match.anyValue() }, '.execute-api.localhost.localstack.cloud:4566/'],
        ],
      },
    });
  });
});

describe('local stage: functions', () => {
  it('one per manifest entry (no migrate), outside any VPC, untraced, with their memory and timeout', () => {
    const names = local.ofType('AWS::Lambda::Function').map(([, f]) => f.Properties['FunctionName']);
    expect(names.sort()).toEqual(functionNames.map((n) => `switchyard-local-${n}`).sort());
    for (const name of functionNames) {
      const fn = local.get(local.functionId(name)).Properties;
      expect(fn, name).toMatchObject({
        Runtime: 'nodejs22.x',
        Architectures: ['arm64'],
        MemorySize: functions[name].memoryMb,
        Timeout: functions[name].timeoutSeconds,
      });
      expect(fn['VpcConfig'], name).toBeUndefined();
      expect(fn['TracingConfig'], name).toBeUndefined();
      expect(local.environmentOf(local.functionId(name)), name).toMatchObject({
        STAGE: 'local',
        POWERTOOLS_TRACE_ENABLED: 'false',
      });
    }
  });

  it("get DATABASE_URL and REDIS_URL of compose.yml's services by default, without a secret", () => {
    expect(localServiceDefaults).toEqual({
      databaseUrl: 'postgresql://switchyard:switchyard@postgres:5432/switchyard',
      redisUrl: 'redis://redis:6379',
    });
    for (const name of functionNames) {
      const env = local.environmentOf(local.functionId(name));
      const access = functionAccess[name] as { database?: boolean; cache?: boolean };
      expect(env['DATABASE_URL'], name).toBe(access.database ? localServiceDefaults.databaseUrl : undefined);
      expect(env['REDIS_URL'], name).toBe(access.cache ? localServiceDefaults.redisUrl : undefined);
      expect('DATABASE_SECRET_ARN' in env, name).toBe(false);
    }
  });

  it('get the databaseUrl and redisUrl given as context', () => {
    for (const name of functionNames) {
      const env = overridden.environmentOf(overridden.functionId(name));
      const access = functionAccess[name] as { database?: boolean; cache?: boolean };
      expect(env['DATABASE_URL'], name).toBe(access.database ? given.databaseUrl : undefined);
      expect(env['REDIS_URL'], name).toBe(access.cache ? given.redisUrl : undefined);
    }
  });

  it('are invoked through their live alias, which CloudFormation moves at once', () => {
    for (const name of functionNames) {
      const alias = local.get(local.aliasIdOf(local.functionId(name)));
      expect(alias.Properties['Name']).toBe('live');
      expect(alias.UpdatePolicy, name).toBeUndefined();
    }
  });

  it('keep the queue and table grants of the AWS stages', () => {
    expect(local.accessOf(local.functionId('executions'), 'dynamodb')).toEqual({
      'idempotency-table': everyStage.idempotencyRecordActions,
    });
    expect(Object.keys(local.accessOf(local.functionId('agents'), 'sqs'))).toEqual(['low']);
  });
});

describe('local stage: API', () => {
  it("has every manifest route to its function's alias, and $default to the fallback", () => {
    everyStage.expectManifestRoutes(local);
    local.template.hasResourceProperties('AWS::ApiGatewayV2::Api', { ProtocolType: 'HTTP' });
    local.template.hasResourceProperties('AWS::ApiGatewayV2::Stage', { StageName: '$default' });
  });
});

describe('local stage: queues, table, schedules', () => {
  it("has each manifest queue and its DLQ with the manifest's settings", () => {
    everyStage.expectManifestQueues(local);
  });

  it("feeds each consumer's alias with the manifest's batch size, window and max concurrency", () => {
    everyStage.manifestQueueMappings(local);
  });

  it('keeps idempotency records in an on-demand table with TTL and point-in-time recovery', () => {
    local.template.resourceCountIs('AWS::DynamoDB::GlobalTable', 1);
    everyStage.expectIdempotencyTable(local);
    const table = local.find('AWS::DynamoDB::GlobalTable', 'TableName', idempotencyTableName('local'));
    expect(local.environmentOf(local.functionId('executions'))['IDEMPOTENCY_TABLE']).toEqual({ Ref: table });
  });

  it('puts each job the manifest schedules on its declared queue, one rule each', () => {
    const targets = local
      .ofType('AWS::Events::Rule')
      .filter(([, rule]) => rule.Properties['ScheduleExpression'] !== undefined)
      .map(
        ([, rule]) =>
          (rule.Properties['Targets'] as { Arn: unknown; InputTransformer: { InputTemplate: string } }[])[0]!,
      );
    expect(targets.length).toBe(scheduledJobs().length);
    for (const job of scheduledJobs()) {
      const target = targets.find((t) => t.InputTransformer.InputTemplate.includes(`"type":"${job.type}"`));
      expect(target?.Arn, job.type).toEqual({ 'Fn::GetAtt': [local.queueId(job.queue), 'Arn'] });
    }
  });
});

describe('local stage: configuration', () => {
  const context = (values: Record<string, unknown>) => (key: string) => values[key];

  it('takes the local profile: no NAT, no Bedrock endpoint, the offline LLM provider', () => {
    const config = stageConfigFrom(context({ stage: 'local' }));
    expect(config).toMatchObject({
      production: false,
      natGateways: 0,
      bedrockEndpoint: false,
      llmProvider: 'local',
      localstack: localServiceDefaults,
    });
  });

  it('refuses databaseUrl and redisUrl on other stages, and URLs of the wrong scheme', () => {
    expect(stageConfigFrom(context({ stage: 'dev' })).localstack).toBeUndefined();
    expect(() => stageConfigFrom(context({ stage: 'dev', databaseUrl: given.databaseUrl }))).toThrow(
      /local stage only/,
    );
    expect(() => stageConfigFrom(context({ stage: 'prod', redisUrl: given.redisUrl }))).toThrow(
      /local stage only/,
    );
    expect(() => stageConfigFrom(context({ stage: 'local', databaseUrl: 'mysql://x@y/z' }))).toThrow(
      /databaseUrl must be a postgres or postgresql URL/,
    );
    expect(() => stageConfigFrom(context({ stage: 'local', redisUrl: 'not a url' }))).toThrow(
      /redisUrl must be a URL/,
    );
  });

  it('passes cdk-nag AwsSolutions with nothing unsuppressed', () => {
    const { app, stack } = synthStack({ stage: 'local' });
    Aspects.of(app).add(new AwsSolutionsChecks({ reports: false }));
    expect(() => app.synth()).not.toThrow();
    const annotations = Annotations.fromStack(stack);
    const pattern = Match.stringLikeRegexp('AwsSolutions-|CdkNagValidationFailure');
    expect([...annotations.findError('*', pattern), ...annotations.findWarning('*', pattern)]).toEqual([]);
  }, 60_000);
});
