/**
 * What every stage's synthesized stack (dev, prod, local) holds for the manifest: its routes,
 * queues and their consumers, and the idempotency table. The stage tests add what differs.
 */
import { Match } from 'aws-cdk-lib/assertions';
import { expect } from 'vitest';
import {
  fallbackFunction,
  idempotencyTableName,
  maxReceiveCount,
  type QueueDef,
  queues,
  routeKey,
  routes,
} from '#manifest';
import type { CfnResource, TemplateView } from '../cdk/template.ts';

/** The actions a function that writes idempotency records gets on the table. */
export const idempotencyRecordActions = [
  'dynamodb:DeleteItem',
  'dynamodb:GetItem',
  'dynamodb:PutItem',
  'dynamodb:UpdateItem',
];

/** The name of the function a route's integration invokes (through the alias it targets). */
export const integrationTarget = (view: TemplateView, routeId: string): string => {
  const target = JSON.stringify(view.get(routeId).Properties['Target']);
  const integrationId = /"Ref":"([A-Za-z0-9]+)"/.exec(target)![1]!;
  const uri = view.get(integrationId).Properties['IntegrationUri'] as { Ref: string };
  const aliasFunction = view.get(uri.Ref).Properties['FunctionName'] as { Ref: string };
  return String(view.get(aliasFunction.Ref).Properties['FunctionName']);
};

/** Exactly the manifest routes and $default: each to its function, $default to the fallback. */
export const expectManifestRoutes = (view: TemplateView): void => {
  const keys = view.ofType('AWS::ApiGatewayV2::Route').map(([, r]) => r.Properties['RouteKey']);
  expect(keys.sort()).toEqual([...routes.map(routeKey), '$default'].sort());
  for (const route of routes) {
    const id = view.find('AWS::ApiGatewayV2::Route', 'RouteKey', routeKey(route));
    expect(integrationTarget(view, id), routeKey(route)).toBe(`switchyard-${view.stage}-${route.function}`);
  }
  const fallback = view.find('AWS::ApiGatewayV2::Route', 'RouteKey', '$default');
  expect(integrationTarget(view, fallback)).toBe(`switchyard-${view.stage}-${fallbackFunction}`);
};

/** Each manifest queue and its DLQ, and nothing else: the manifest's settings, SSE, the redrive. */
export const expectManifestQueues = (view: TemplateView): void => {
  view.template.resourceCountIs('AWS::SQS::Queue', queues.length * 2);
  for (const def of queues) {
    const dlqId = view.queueId(`${def.name}-dlq`);
    expect(view.get(view.queueId(def.name)).Properties, def.name).toMatchObject({
      MessageRetentionPeriod: def.retentionSeconds,
      VisibilityTimeout: def.visibilityTimeoutSeconds,
      SqsManagedSseEnabled: true,
      RedrivePolicy: {
        maxReceiveCount: maxReceiveCount(def),
        deadLetterTargetArn: { 'Fn::GetAtt': [dlqId, 'Arn'] },
      },
    });
    expect(view.get(dlqId).Properties).toMatchObject({ MessageRetentionPeriod: 14 * 24 * 3600 });
  }
};

/**
 * The event source mapping of each manifest queue, checked: one per queue, feeding its
 * consumer's alias with the manifest's batch size and max concurrency, partial batch responses on.
 */
export const manifestQueueMappings = (view: TemplateView): { def: QueueDef; mapping: CfnResource }[] => {
  const mappings = view.ofType('AWS::Lambda::EventSourceMapping');
  expect(mappings.length).toBe(queues.length);
  return queues.map((def) => {
    const [, mapping] = mappings.find(([, m]) =>
      JSON.stringify(m.Properties['EventSourceArn']).includes(`"${view.queueId(def.name)}"`),
    )!;
    expect(mapping.Properties, def.name).toMatchObject({
      BatchSize: def.batchSize,
      ScalingConfig: { MaximumConcurrency: def.maxConcurrency },
      FunctionResponseTypes: ['ReportBatchItemFailures'],
    });
    expect(JSON.stringify(mapping.Properties['FunctionName'])).toContain(
      view.aliasIdOf(view.functionId(def.consumer)),
    );
    return { def, mapping };
  });
};

/** The idempotency records' table: on demand, keyed by id, TTL on `expiration`, point-in-time recovery. */
export const expectIdempotencyTable = (view: TemplateView): void => {
  view.template.hasResourceProperties('AWS::DynamoDB::GlobalTable', {
    TableName: idempotencyTableName(view.stage),
    BillingMode: 'PAY_PER_REQUEST',
    KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }],
    TimeToLiveSpecification: { AttributeName: 'expiration', Enabled: true },
    Replicas: [Match.objectLike({ PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true } })],
  });
};
