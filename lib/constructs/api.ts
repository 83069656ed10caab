import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import * as apigw from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import * as logs from 'aws-cdk-lib/aws-logs';
import { NagSuppressions } from 'cdk-nag';
import { Construct } from 'constructs';
import { type FunctionName, fallbackFunction, functions, type HttpMethod, routeKey, routes } from '#manifest';
import type { StageConfig } from '../stage-config.ts';
import type { AppFunctions } from './functions.ts';

export interface ApiProps {
  readonly config: StageConfig;
  readonly functions: AppFunctions;
}

/** API Gateway ends an HTTP API integration after 30 s whatever the function's timeout. */
export const maxIntegrationSeconds = 30;

/** Request headers browsers may send cross-origin, and response headers their scripts may read. */
const corsAllowHeaders = ['authorization', 'content-type', 'if-match', 'if-none-match', 'idempotency-key'];
const corsExposeHeaders = ['etag', 'last-modified', 'location', 'x-request-id', 'server-timing', 'allow'];

/** One line of JSON per request: what the gateway saw, including what never reached a function. */
const accessLogFormat = AccessLogFormat.custom(
  JSON.stringify({
    requestId: '$context.requestId',
    time: '$context.requestTime',
    ip: '$context.identity.sourceIp',
    method: '$context.httpMethod',
    path: '$context.path',
    routeKey: '$context.routeKey',
    status: '$context.status',
    responseLength: '$context.responseLength',
    latencyMs: '$context.responseLatency',
    integrationLatencyMs: '$context.integrationLatency',
    integrationStatus: '$context.integrationStatus',
    integrationError: '$context.integrationErrorMessage',
    error: '$context.error.message',
    errorType: '$context.error.responseType',
    userAgent: '$context.identity.userAgent',
  }),
);

/**
 * The HTTP API: every route of the manifest to its function's live alias, and `$default` to
 * the fallback, which answers unknown paths with 404 and wrong methods with 405 + Allow.
 */
export class Api extends Construct {
  readonly httpApi: apigw.HttpApi;
  readonly stage: apigw.HttpStage;
  readonly accessLogs: logs.LogGroup;

  constructor(scope: Construct, id: string, props: ApiProps) {
    super(scope, id);
    const { config } = props;

    const integrations = new Map<FunctionName, HttpLambdaIntegration>();
    const integrationOf = (name: FunctionName): HttpLambdaIntegration => {
      let integration = integrations.get(name);
      if (!integration) {
        if (functions[name].timeoutSeconds >= maxIntegrationSeconds) {
          throw new Error(
            `function ${name} outlives API Gateway's ${maxIntegrationSeconds} s integration limit`,
          );
        }
        integration = new HttpLambdaIntegration(`${name}Integration`, props.functions.byName[name].alias);
        integrations.set(name, integration);
      }
      return integration;
    };

    const methods = [...new Set(routes.map((r) => r.method))];
    this.httpApi = new apigw.HttpApi(this, 'HttpApi', {
      apiName: `switchyard-${config.stage}`,
      description: `Switchyard API (${config.stage})`,
      createDefaultStage: false,
      defaultIntegration: integrationOf(fallbackFunction),
      ...(config.corsOrigins.length > 0 && {
        corsPreflight: {
          allowOrigins: [...config.corsOrigins],
          allowMethods: methods.map((m) => apigw.CorsHttpMethod[m]),
          allowHeaders: corsAllowHeaders,
          exposeHeaders: corsExposeHeaders,
          maxAge: Duration.hours(1),
        },
      }),
    });

    for (const route of routes) {
      new apigw.HttpRoute(this, routeKey(route).replaceAll('/', '_'), {
        httpApi: this.httpApi,
        routeKey: apigw.HttpRouteKey.with(route.path, apigw.HttpMethod[route.method satisfies HttpMethod]),
        integration: integrationOf(route.function),
      });
    }

    this.accessLogs = new logs.LogGroup(this, 'AccessLogs', {
      retention: config.logRetention,
      removalPolicy: config.production ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY,
    });
    this.stage = new apigw.HttpStage(this, 'DefaultStage', {
      httpApi: this.httpApi,
      stageName: '$default',
      autoDeploy: true,
      throttle: config.apiThrottle,
      // Per-route metrics (Resource + Method dimensions), which the dashboard and alarms read.
      detailedMetricsEnabled: true,
      accessLogSettings: {
        destination: new apigw.LogGroupLogDestination(this.accessLogs),
        format: accessLogFormat,
      },
    });
    // After the routes: the suppression reaches only the children that exist when it is added.
    NagSuppressions.addResourceSuppressions(
      this,
      [
        {
          id: 'AwsSolutions-APIG4',
          reason:
            "Authentication is the functions' own, per route of the manifest: tenant API keys " +
            '(hashed, cached) and the operator key in constant time; /health, /openapi.json and the ' +
            '$default fallback (404/405) are public by design. A gateway authorizer would add a hop ' +
            'and a second source of truth.',
        },
      ],
      true,
    );
  }

  /** The base URL, e.g. `https://abc123.execute-api.eu-west-1.amazonaws.com/`. */
  get url(): string {
    return this.stage.url;
  }
}
