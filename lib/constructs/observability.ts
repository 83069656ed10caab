import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import { Construct } from 'constructs';
import { executionStatuses } from '#domain/execution.ts';
import { searchModes } from '#domain/knowledge.ts';
import { isRunFinished, workflowRunStatuses } from '#domain/workflow.ts';
import { type Route, routeKey, routes } from '#manifest';
import type { StageConfig } from '../stage-config.ts';
import type { Api } from './api.ts';
import type { Cache } from './cache.ts';
import type { Data } from './data.ts';
import type { AppFunctions } from './functions.ts';
import type { Queues } from './queues.ts';
import { metricsNamespace, powertoolsServiceName, type SwitchyardFunction } from './switchyard-function.ts';

export interface ObservabilityProps {
  readonly config: StageConfig;
  readonly api: Api;
  readonly functions: AppFunctions;
  /** Functions outside the manifest (migrations), watched for throttles and cold starts too. */
  readonly extraFunctions: readonly SwitchyardFunction[];
  readonly queues: Queues;
  readonly data: Data;
  readonly cache: Cache;
  /** Rollback alarms, whose state changes are worth a notification too. */
  readonly rolloutAlarms: readonly cloudwatch.Alarm[];
}

/** The seed's SLOs. */
export const slo = {
  apiP95LatencyMs: 200,
  api5xxRatePercent: 0.1,
} as const;

/**
 * Routes exempt from the latency SLO because they hold the request by design: an execution
 * with `?wait=` (up to 20 s) and the operator's bulk redrive.
 */
export const latencySloExemptRoutes: ReadonlySet<string> = new Set([
  'POST /v1/agents/{id}/executions',
  'POST /v1/workflows/{id}/executions',
  'POST /v1/admin/dlq/{queue}/redrive',
]);

const fiveMinutes = Duration.minutes(5);
const oneMinute = Duration.minutes(1);

/**
 * The SLO alarms (to one SNS topic) and the dashboard: API latency and errors per route,
 * Lambda duration, cold starts, throttles and concurrency, queue depth and age, DLQs, cache
 * hit ratio, proxy and Aurora connections and capacity, executions and tokens.
 */
export class Observability extends Construct {
  readonly topic: sns.Topic;
  readonly dashboard: cloudwatch.Dashboard;
  readonly alarms: cloudwatch.Alarm[] = [];

  private readonly apiDimensions: Record<string, string>;
  private readonly stageName: string;

  constructor(scope: Construct, id: string, props: ObservabilityProps) {
    super(scope, id);
    const { config } = props;
    this.stageName = config.stage;
    this.apiDimensions = { ApiId: props.api.httpApi.apiId, Stage: props.api.stage.stageName };

    // CloudWatch can publish to an encrypted topic only with a customer managed key it may use.
    const key = new kms.Key(this, 'TopicKey', {
      description: `Switchyard ${config.stage} alarm topic`,
      enableKeyRotation: true,
    });
    key.addToResourcePolicy(
      new iam.PolicyStatement({
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        resources: ['*'],
      }),
    );
    this.topic = new sns.Topic(this, 'Alarms', {
      topicName: `switchyard-${config.stage}-alarms`,
      displayName: `Switchyard ${config.stage} alarms`,
      masterKey: key,
      enforceSSL: true,
    });
    if (config.alarmEmail) this.topic.addSubscription(new subscriptions.EmailSubscription(config.alarmEmail));

    this.createSloAlarms(props);
    const notify = new actions.SnsAction(this.topic);
    for (const alarm of [...this.alarms, ...props.rolloutAlarms]) {
      alarm.addAlarmAction(notify);
      alarm.addOkAction(notify);
    }
    this.dashboard = this.createDashboard(props);
  }

  private routeMetric(route: Route, metricName: string, statistic: string): cloudwatch.Metric {
    return new cloudwatch.Metric({
      namespace: 'AWS/ApiGateway',
      metricName,
      dimensionsMap: { ...this.apiDimensions, Method: route.method, Resource: route.path },
      statistic,
      period: fiveMinutes,
      label: `${routeKey(route)} ${statistic}`,
    });
  }

  private apiMetric(metricName: string, statistic: string): cloudwatch.Metric {
    return new cloudwatch.Metric({
      namespace: 'AWS/ApiGateway',
      metricName,
      dimensionsMap: this.apiDimensions,
      statistic,
      period: fiveMinutes,
      label: `${metricName} ${statistic}`,
    });
  }

  private appMetric(metricName: string, statistic = 'Sum', period = fiveMinutes): cloudwatch.Metric {
    return new cloudwatch.Metric({
      namespace: metricsNamespace,
      metricName,
      dimensionsMap: { service: powertoolsServiceName, stage: this.stageName },
      statistic,
      period,
    });
  }

  /** A Powertools metric of one value of one more dimension (`mode` of a knowledge search). */
  private appMetricOf(
    metricName: string,
    dimension: Readonly<Record<string, string>>,
    statistic: string,
    label: string,
  ): cloudwatch.Metric {
    return new cloudwatch.Metric({
      namespace: metricsNamespace,
      metricName,
      dimensionsMap: { ...dimension, service: powertoolsServiceName, stage: this.stageName },
      statistic,
      period: fiveMinutes,
      label,
    });
  }

  /** A Powertools metric summed over every value of one more dimension (`route`, `model`). */
  private appSearch(metricName: string, dimension: string, label: string): cloudwatch.MathExpression {
    const schema = `{${metricsNamespace},${dimension},service,stage}`;
    const query = `${schema} MetricName="${metricName}" stage="${this.stageName}"`;
    return new cloudwatch.MathExpression({
      expression: `SEARCH('${query}', 'Sum', 300)`,
      usingMetrics: {},
      label,
      period: fiveMinutes,
    });
  }

  private createSloAlarms(props: ObservabilityProps): void {
    const { config } = props;
    for (const route of routes) {
      if (latencySloExemptRoutes.has(routeKey(route))) continue;
      this.alarms.push(
        new cloudwatch.Alarm(this, `Latency ${routeKey(route)}`.replaceAll('/', '_'), {
          alarmDescription: `SLO: p95 latency of ${routeKey(route)} over ${slo.apiP95LatencyMs} ms`,
          metric: this.routeMetric(route, 'Latency', 'p95'),
          threshold: slo.apiP95LatencyMs,
          comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
          evaluationPeriods: 3,
          datapointsToAlarm: 2,
          treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        }),
      );
    }

    this.alarms.push(
      new cloudwatch.Alarm(this, 'Api5xxRate', {
        alarmDescription: `SLO: over ${slo.api5xxRatePercent} % of API requests answered 5xx`,
        metric: new cloudwatch.MathExpression({
          expression: 'IF(requests > 0, 100 * errors / requests, 0)',
          usingMetrics: {
            errors: this.apiMetric('5xx', 'Sum'),
            requests: this.apiMetric('Count', 'Sum'),
          },
          label: '5xx rate (%)',
          period: fiveMinutes,
        }),
        threshold: slo.api5xxRatePercent,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 3,
        datapointsToAlarm: 2,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
    );

    for (const { name, queue, dlq } of props.queues.all) {
      this.alarms.push(
        new cloudwatch.Alarm(this, `${name}DeadLetters`, {
          alarmDescription: `A message reached the ${name} DLQ (inspect and redrive: /v1/admin/dlq/${name})`,
          metric: dlq.metricApproximateNumberOfMessagesVisible({ period: oneMinute, statistic: 'Maximum' }),
          threshold: 0,
          comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
          evaluationPeriods: 1,
          treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        }),
      );
      if (name === 'high') {
        this.alarms.push(
          new cloudwatch.Alarm(this, 'HighQueueAge', {
            alarmDescription: `SLO: oldest high message over ${config.oldestHighMessageAgeSeconds} s`,
            metric: queue.metricApproximateAgeOfOldestMessage({ period: oneMinute, statistic: 'Maximum' }),
            threshold: config.oldestHighMessageAgeSeconds,
            comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluationPeriods: 2,
            datapointsToAlarm: 2,
            treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
          }),
        );
      }
    }

    const allFunctions = [...props.functions.all.map((f) => f.fn), ...props.extraFunctions];
    for (const fn of allFunctions) {
      this.alarms.push(
        new cloudwatch.Alarm(this, `${fn.shortName}Throttles`, {
          alarmDescription: `${fn.shortName}: invocations throttled (concurrency limit reached)`,
          metric: fn.metricThrottles({ period: fiveMinutes, statistic: 'Sum' }),
          threshold: 0,
          comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
          evaluationPeriods: 1,
          treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        }),
      );
    }

    this.alarms.push(
      new cloudwatch.Alarm(this, 'SlowExecutions', {
        alarmDescription: 'Executions slower than their agent allows (the execution.slow_alert job)',
        metric: this.appMetric('SlowExecutions'),
        threshold: 0,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
      new cloudwatch.Alarm(this, 'DocumentIngestionFailures', {
        // A client's unreadable PDF fails its document, and says why: only a share of failures
        // (with at least five of them) points at the platform or a provider.
        alarmDescription: 'Over 20 % of document ingestions failed in 5 minutes (at least 5 failures)',
        metric: new cloudwatch.MathExpression({
          expression: 'IF(failed >= 5, 100 * failed / (failed + ingested), 0)',
          usingMetrics: {
            failed: this.appMetric('DocumentIngestionFailures'),
            ingested: this.appMetric('DocumentsIngested'),
          },
          period: fiveMinutes,
          label: 'failed ingestions (%)',
        }),
        threshold: 20,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
      new cloudwatch.Alarm(this, 'SlowWorkflowExecutions', {
        alarmDescription: 'Workflow runs slower than 120 s (the execution.slow_alert job of a workflow run)',
        metric: this.appMetric('SlowWorkflowExecutions'),
        threshold: 0,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
    );
  }

  private createDashboard(props: ObservabilityProps): cloudwatch.Dashboard {
    const { config, queues, data, cache } = props;
    const allFunctions = [...props.functions.all.map((f) => f.fn), ...props.extraFunctions];
    const perFunction = (metric: (fn: SwitchyardFunction) => cloudwatch.IMetric) => allFunctions.map(metric);
    const graph = (
      title: string,
      left: cloudwatch.IMetric[],
      extra: Partial<cloudwatch.GraphWidgetProps> = {},
    ) => new cloudwatch.GraphWidget({ title, left, width: 8, height: 6, ...extra });
    const proxyMetric = (metricName: string, statistic = 'Maximum') =>
      new cloudwatch.Metric({
        namespace: 'AWS/RDS',
        metricName,
        dimensionsMap: { ProxyName: data.proxy.dbProxyName },
        statistic,
        period: oneMinute,
        label: `proxy ${metricName}`,
      });
    const clusterMetric = (metricName: string, statistic = 'Maximum') =>
      data.cluster.metric(metricName, { statistic, period: oneMinute, label: `aurora ${metricName}` });
    const cacheMetric = (metricName: string, statistic = 'Average') =>
      new cloudwatch.Metric({
        namespace: 'AWS/ElastiCache',
        metricName,
        dimensionsMap: { clusterId: cache.cacheName },
        statistic,
        period: fiveMinutes,
        label: `valkey ${metricName}`,
      });
    const sloLine = (value: number, label: string): cloudwatch.HorizontalAnnotation => ({ value, label });
    /** One line per route: too many for a legend. */
    const perRoute = (
      title: string,
      metricName: string,
      statistic: string,
      extra: Partial<cloudwatch.GraphWidgetProps> = {},
    ) =>
      graph(
        title,
        routes.map((r) => this.routeMetric(r, metricName, statistic)),
        { legendPosition: cloudwatch.LegendPosition.HIDDEN, ...extra },
      );

    const dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      dashboardName: `switchyard-${config.stage}`,
      defaultInterval: Duration.hours(3),
    });
    dashboard.addWidgets(
      new cloudwatch.TextWidget({
        markdown:
          `# Switchyard ${config.stage}\nSLOs: API p95 ≤ ${slo.apiP95LatencyMs} ms, ` +
          `5xx ≤ ${slo.api5xxRatePercent} %, no dead letters, ` +
          `high queue age ≤ ${config.oldestHighMessageAgeSeconds} s.`,
        width: 24,
        height: 2,
      }),
    );
    dashboard.addWidgets(
      graph(
        'API latency, all routes',
        ['p50', 'p95', 'p99'].map((s) => this.apiMetric('Latency', s)),
        { leftAnnotations: [sloLine(slo.apiP95LatencyMs, 'p95 SLO')] },
      ),
      perRoute('API p95 latency per route', 'Latency', 'p95', {
        leftAnnotations: [sloLine(slo.apiP95LatencyMs, 'p95 SLO')],
      }),
      perRoute('API p99 latency per route', 'Latency', 'p99'),
    );
    dashboard.addWidgets(
      perRoute('API p50 latency per route', 'Latency', 'p50'),
      perRoute('4xx per route', '4xx', 'Sum'),
      perRoute('5xx per route', '5xx', 'Sum'),
    );
    dashboard.addWidgets(
      graph(
        'Lambda p95 duration',
        perFunction((fn) => fn.metricDuration({ statistic: 'p95', label: fn.shortName })),
      ),
      graph(
        'Lambda throttles and errors',
        perFunction((fn) => fn.metricThrottles({ statistic: 'Sum', label: `${fn.shortName} throttles` })),
        {
          right: perFunction((fn) => fn.metricErrors({ statistic: 'Sum', label: `${fn.shortName} errors` })),
        },
      ),
      graph(
        'Lambda concurrency',
        perFunction((fn) =>
          fn.metric('ConcurrentExecutions', { statistic: 'Maximum', label: fn.shortName, period: oneMinute }),
        ),
      ),
    );
    dashboard.addWidgets(
      new cloudwatch.LogQueryWidget({
        title: 'Cold starts (init duration, from the REPORT lines)',
        logGroupNames: allFunctions.map((fn) => fn.logGroup.logGroupName),
        queryLines: [
          'filter @type = "REPORT" and ispresent(@initDuration)',
          'stats count() as coldStarts, avg(@initDuration) as avgInitMs,',
          '  pct(@initDuration, 95) as p95InitMs by @log',
          'sort coldStarts desc',
        ],
        view: cloudwatch.LogQueryVisualizationType.TABLE,
        width: 24,
        height: 6,
      }),
    );
    dashboard.addWidgets(
      graph(
        'Queue depth (visible)',
        queues.all.map(({ name, queue }) =>
          queue.metricApproximateNumberOfMessagesVisible({
            statistic: 'Maximum',
            period: oneMinute,
            label: name,
          }),
        ),
      ),
      graph(
        'Age of oldest message (s)',
        queues.all.map(({ name, queue }) =>
          queue.metricApproximateAgeOfOldestMessage({ statistic: 'Maximum', period: oneMinute, label: name }),
        ),
        { leftAnnotations: [sloLine(config.oldestHighMessageAgeSeconds, 'high SLO')] },
      ),
      graph(
        'DLQ depth',
        queues.all.map(({ name, dlq }) =>
          dlq.metricApproximateNumberOfMessagesVisible({
            statistic: 'Maximum',
            period: oneMinute,
            label: `${name} DLQ`,
          }),
        ),
      ),
    );
    const hits = this.appSearch('CacheHits', 'route', 'hits');
    const misses = this.appSearch('CacheMisses', 'route', 'misses');
    dashboard.addWidgets(
      graph('Cache hit ratio (%)', [
        new cloudwatch.MathExpression({
          // Both tiers, as requests saw them (Powertools CacheHits / CacheMisses per route).
          expression: '100 * SUM(hits) / (SUM(hits) + SUM(misses))',
          usingMetrics: { hits, misses },
          label: 'app (L1 + L2)',
          period: fiveMinutes,
        }),
        cacheMetric('CacheHitRate'),
      ]),
      graph('Valkey', [cacheMetric('ElastiCacheProcessingUnits', 'Sum')], {
        right: [cacheMetric('BytesUsedForCache', 'Maximum'), cacheMetric('CurrConnections', 'Maximum')],
      }),
      graph('RDS Proxy and Aurora connections', [
        proxyMetric('ClientConnections'),
        proxyMetric('DatabaseConnections'),
        proxyMetric('DatabaseConnectionsCurrentlySessionPinned'),
        clusterMetric('DatabaseConnections'),
      ]),
    );
    // Ids are per graph: one per status.
    const executionsPerSecond = executionStatuses.map(
      (status) =>
        new cloudwatch.MathExpression({
          expression: `${status} / PERIOD(${status})`,
          usingMetrics: { [status]: this.appMetric(`Executions_${status}`, 'Sum', oneMinute) },
          label: status,
          period: oneMinute,
        }),
    );
    // Announced when a run finishes: the finished statuses only.
    const workflowRunsPerSecond = workflowRunStatuses.filter(isRunFinished).map(
      (status) =>
        new cloudwatch.MathExpression({
          expression: `w_${status} / PERIOD(w_${status})`,
          usingMetrics: { [`w_${status}`]: this.appMetric(`WorkflowExecutions_${status}`, 'Sum', oneMinute) },
          label: status,
          period: oneMinute,
        }),
    );
    dashboard.addWidgets(
      graph('Aurora capacity (ACU)', [clusterMetric('ServerlessDatabaseCapacity')], {
        right: [clusterMetric('ACUUtilization')],
      }),
      graph('Executions per second', executionsPerSecond),
      graph('Workflow runs per second', workflowRunsPerSecond, {
        right: [
          this.appMetric('WorkflowStepsSucceeded', 'Sum', oneMinute),
          this.appMetric('WorkflowStepsFailed', 'Sum', oneMinute),
          this.appMetric('WorkflowStepRetries', 'Sum', oneMinute),
        ],
      }),
      graph('Tokens', [this.appMetric('TokensIn'), this.appMetric('TokensOut')], {
        // Per model once the runtime emits a `model` dimension (see docs/deploy.md).
        right: [
          this.appSearch('TokensIn', 'model', 'in by model'),
          this.appSearch('TokensOut', 'model', 'out by model'),
        ],
      }),
    );
    this.addKnowledgeWidgets(dashboard, graph);
    return dashboard;
  }

  /** Ingestion, embeddings and search of the knowledge bases, and retrieval for agents. */
  private addKnowledgeWidgets(
    dashboard: cloudwatch.Dashboard,
    graph: (
      title: string,
      left: cloudwatch.IMetric[],
      extra?: Partial<cloudwatch.GraphWidgetProps>,
    ) => cloudwatch.GraphWidget,
  ): void {
    const perSecond = (id: string, metricName: string, label: string) =>
      new cloudwatch.MathExpression({
        expression: `${id} / PERIOD(${id})`,
        usingMetrics: { [id]: this.appMetric(metricName, 'Sum', oneMinute) },
        label,
        period: oneMinute,
      });
    const searchLatency = searchModes.flatMap((mode) =>
      ['p50', 'p95'].map((statistic) =>
        this.appMetricOf('KnowledgeSearchLatency', { mode }, statistic, `${mode} ${statistic}`),
      ),
    );
    dashboard.addWidgets(
      graph(
        'Documents ingested',
        [this.appMetric('DocumentsIngested'), this.appMetric('DocumentIngestionFailures')],
        {
          right: [perSecond('chunks', 'ChunksIngested', 'chunks/s')],
        },
      ),
      graph(
        'Embedding calls and cache hit ratio (%)',
        [this.appMetric('EmbeddingCalls'), this.appMetric('EmbeddingTokens')],
        {
          right: [
            new cloudwatch.MathExpression({
              expression: '100 * hits / (hits + misses)',
              usingMetrics: {
                hits: this.appMetric('EmbeddingCacheHits'),
                misses: this.appMetric('EmbeddingCacheMisses'),
              },
              label: 'embedding cache hits (%)',
              period: fiveMinutes,
            }),
          ],
        },
      ),
      graph('Knowledge search latency (ms) by mode', searchLatency, {
        right: [this.appMetric('KnowledgeRetrievalDuration', 'p95')],
      }),
    );
  }
}
