import { resolve } from 'node:path';
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { LogLevel, NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import { bundleExternals, bundleTarget, requireShim } from '../bundling.ts';
import type { StageConfig } from '../stage-config.ts';

export const projectRoot = resolve(import.meta.dirname, '..', '..');

/** The service name and metric namespace every function logs and emits under: one set of dimensions. */
export const powertoolsServiceName = 'switchyard';
export const metricsNamespace = 'Switchyard';

// As in bin/build.ts: some bundled CommonJS dependencies call require() for Node built-ins.

export interface SwitchyardFunctionProps {
  readonly config: StageConfig;
  /** The name in the manifest (or `migrate`); the physical name is `switchyard-<stage>-<name>`. */
  readonly name: string;
  /** Entry module, relative to the project root. */
  readonly entry: string;
  readonly memoryMb: number;
  readonly timeoutSeconds: number;
  readonly description: string;
  readonly environment?: Readonly<Record<string, string>>;
  readonly vpc?: {
    readonly vpc: ec2.IVpc;
    readonly subnets: ec2.SubnetSelection;
  };
  /** Shell commands run after esbuild, e.g. to ship files beside the bundle. */
  readonly afterBundling?: (inputDir: string, outputDir: string) => string[];
}

/**
 * What every Switchyard function shares, as Powertools' example app does: nodejs22.x on
 * arm64, one minified ESM file with everything bundled (the AWS SDK too, so the version we
 * test is the version that runs), linked source maps, its own log group with a retention, active tracing, and the
 * Powertools service, namespace and stage every metric is dimensioned by.
 */
export class SwitchyardFunction extends NodejsFunction {
  /** The name in the manifest (or `migrate`), for labels and alarm names. */
  readonly shortName: string;

  constructor(scope: Construct, id: string, props: SwitchyardFunctionProps) {
    const { config } = props;
    const functionName = `switchyard-${config.stage}-${props.name}`;
    const logGroup = new logs.LogGroup(scope, `${id}Logs`, {
      logGroupName: `/aws/lambda/${functionName}`,
      retention: config.logRetention,
      removalPolicy: config.production ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY,
    });
    // Our own role instead of AWSLambdaBasicExecutionRole: log writes to this function's group only.
    const role = new iam.Role(scope, `${id}Role`, {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `Execution role of ${functionName}`,
    });
    role.addToPolicy(
      new iam.PolicyStatement({
        actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        resources: [logGroup.logGroupArn],
      }),
    );
    if (props.vpc) {
      // The network interfaces Lambda attaches in the VPC; EC2 offers no narrower resource scope.
      role.addManagedPolicy(
        iam.ManagedPolicy.fromAwsManagedPolicyName('service-role/AWSLambdaVPCAccessExecutionRole'),
      );
    }
    super(scope, id, {
      functionName,
      role,
      description: props.description,
      entry: resolve(projectRoot, props.entry),
      handler: 'handler',
      projectRoot,
      depsLockFilePath: resolve(projectRoot, 'package-lock.json'),
      runtime: lambda.Runtime.NODEJS_22_X,
      architecture: lambda.Architecture.ARM_64,
      memorySize: props.memoryMb,
      timeout: Duration.seconds(props.timeoutSeconds),
      // LocalStack's free edition has no X-Ray: the local stage traces nothing.
      tracing: config.localstack ? lambda.Tracing.DISABLED : lambda.Tracing.ACTIVE,
      logGroup,
      environment: {
        STAGE: config.stage,
        POWERTOOLS_SERVICE_NAME: powertoolsServiceName,
        POWERTOOLS_METRICS_NAMESPACE: metricsNamespace,
        POWERTOOLS_LOG_LEVEL: 'INFO',
        // Minified stack traces are unreadable; the linked map makes them point at the sources.
        NODE_OPTIONS: '--enable-source-maps',
        ...(config.localstack && { POWERTOOLS_TRACE_ENABLED: 'false' }),
        ...props.environment,
      },
      ...(props.vpc && { vpc: props.vpc.vpc, vpcSubnets: props.vpc.subnets }),
      bundling: {
        format: OutputFormat.ESM,
        target: bundleTarget,
        platform: 'node',
        mainFields: ['module', 'main'],
        minify: true,
        sourceMap: true,
        // Names and lines are enough for stack traces; sources would only grow the zip.
        sourcesContent: false,
        banner: requireShim,
        bundleAwsSDK: true,
        // pg's optional native binding; never loaded.
        externalModules: bundleExternals,
        forceDockerBundling: false,
        logLevel: LogLevel.WARNING,
        ...(props.afterBundling && {
          commandHooks: {
            beforeBundling: () => [],
            beforeInstall: () => [],
            afterBundling: props.afterBundling,
          },
        }),
      },
    });
    this.shortName = props.name;
  }
}
