import { execFileSync } from 'node:child_process';
import { resolve } from 'node:path';
import { AssetHashType, DockerImage, Duration, RemovalPolicy } from 'aws-cdk-lib';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import { NagSuppressions } from 'cdk-nag';
import type { Construct } from 'constructs';
import { buildSync } from 'esbuild';
import type { FunctionName } from '#manifest';
import { functionAccess } from '../access.ts';
import { productionBundleOptions } from '../bundling.ts';
import type { StageConfig } from '../stage-config.ts';

export const projectRoot = resolve(import.meta.dirname, '..', '..');

/** The service name and metric namespace every function logs and emits under: one set of dimensions. */
export const powertoolsServiceName = 'switchyard';
export const metricsNamespace = 'Switchyard';

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
 * A function's code as `npm run build` and the bench bundle it (lib/bundling.ts): index.mjs,
 * the chunks esbuild splits off at dynamic imports, linked source maps. NodejsFunction cannot
 * do this (it bundles to one --outfile, inlining every dynamic import), so esbuild runs here,
 * locally, at synth; the asset is hashed by its output, as NodejsFunction's is.
 */
export const bundledCode = (
  entry: string,
  afterBundling?: SwitchyardFunctionProps['afterBundling'],
): lambda.Code =>
  lambda.Code.fromAsset(projectRoot, {
    assetHashType: AssetHashType.OUTPUT,
    bundling: {
      // Required by the type, never pulled: local bundling always succeeds or throws.
      image: DockerImage.fromRegistry('dummy'),
      // Never run either. CDK reuses a staged asset within an app by a key of these options in
      // which tryBundle does not count: naming the entry and the extra steps here keys it, or
      // every function would get the first one's code.
      command: ['esbuild', entry, ...(afterBundling?.('<in>', '<out>') ?? [])],
      local: {
        tryBundle(outputDir) {
          buildSync({
            ...productionBundleOptions,
            entryPoints: { index: resolve(projectRoot, entry) },
            outdir: outputDir,
            absWorkingDir: projectRoot,
            metafile: false,
          });
          const commands = afterBundling?.(projectRoot, outputDir) ?? [];
          if (commands.length > 0) execFileSync('bash', ['-ec', commands.join('\n')], { stdio: 'inherit' });
          return true;
        },
      },
    },
  });

/**
 * What every Switchyard function shares, as Powertools' example app does: nodejs22.x on
 * arm64, minified ESM with everything bundled (the AWS SDK too, so the version we test is the
 * version that runs) and split into a main chunk and lazily imported ones, exactly as
 * `npm run build` and the bench build it; linked source maps, its own log group with a
 * retention, active tracing, and the Powertools service, namespace and stage every metric is
 * dimensioned by.
 */
export class SwitchyardFunction extends lambda.Function {
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
      code: bundledCode(props.entry, props.afterBundling),
      handler: 'index.handler',
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
    });
    this.shortName = props.name;
    suppressFunctionFindings(this, role, props.name, props.vpc !== undefined);
  }
}

const lambdaVpcPolicy =
  'Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole';
const xrayReason =
  'Active tracing: xray:PutTraceSegments and xray:PutTelemetryRecords have no resource-level permissions.';

/** The cdk-nag findings every function accepts, each with the reason it does not apply. */
const suppressFunctionFindings = (
  fn: lambda.Function,
  role: iam.Role,
  name: string,
  inVpc: boolean,
): void => {
  NagSuppressions.addResourceSuppressions(fn, [
    {
      id: 'AwsSolutions-L1',
      reason:
        'nodejs22.x is pinned on purpose: bin/build.ts, the bundles and the tests target Node 22; ' +
        'moving to a newer runtime is a tested change of its own.',
    },
  ]);
  const readsMetrics = name in functionAccess && 'readsMetrics' in functionAccess[name as FunctionName];
  NagSuppressions.addResourceSuppressions(
    role,
    [
      {
        id: 'AwsSolutions-IAM5',
        appliesTo: ['Resource::*'],
        reason: readsMetrics
          ? `${xrayReason} cloudwatch:GetMetricStatistics (queue ages of the operator API) has none either.`
          : xrayReason,
      },
      ...(inVpc
        ? [
            {
              id: 'AwsSolutions-IAM4',
              appliesTo: [lambdaVpcPolicy],
              reason:
                "AWS's policy for the network interfaces Lambda manages in the VPC " +
                '(ec2:*NetworkInterface*), which have no narrower resource scope; logs are granted ' +
                "separately, on the function's own log group only.",
            },
          ]
        : []),
    ],
    true,
  );
};
