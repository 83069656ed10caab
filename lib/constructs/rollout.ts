import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as codedeploy from 'aws-cdk-lib/aws-codedeploy';
import * as iam from 'aws-cdk-lib/aws-iam';
import { NagSuppressions } from 'cdk-nag';
import { Construct } from 'constructs';
import { type FunctionName, functions } from '#manifest';
import type { RolloutStrategy, StageConfig } from '../stage-config.ts';
import type { AppFunctions } from './functions.ts';

export interface RolloutProps {
  readonly config: StageConfig;
  readonly functions: AppFunctions;
}

const deploymentConfigs: Record<RolloutStrategy, codedeploy.ILambdaDeploymentConfig> = {
  'all-at-once': codedeploy.LambdaDeploymentConfig.ALL_AT_ONCE,
  canary: codedeploy.LambdaDeploymentConfig.CANARY_10PERCENT_5MINUTES,
  linear: codedeploy.LambdaDeploymentConfig.LINEAR_10PERCENT_EVERY_1MINUTE,
};

/** API functions that hold requests by design: executions (`?wait=` up to 20 s), admin (bulk redrive). */
const longRequestFunctions: ReadonlySet<FunctionName> = new Set(['executions', 'admin']);

/**
 * p95 duration above which a new version is rolled back. API requests finish well within a
 * second (the SLO is 200 ms at the gateway; this leaves room for the new version's cold
 * starts); long-holding routes and workers, which wait on models, are judged against their timeout.
 */
export const rollbackLatencyMs = (name: FunctionName): number => {
  const def = functions[name];
  if (def.kind === 'worker' || longRequestFunctions.has(name)) return def.timeoutSeconds * 1000 * 0.8;
  return 1_000;
};

/**
 * Safe rollout: every function's `live` alias is moved to a new version by CodeDeploy,
 * gradually on production stages, and moved back automatically when the new version's
 * errors or latency alarm fires during the shift.
 */
export class Rollout extends Construct {
  readonly alarms: readonly cloudwatch.Alarm[];
  readonly deploymentGroups: readonly codedeploy.LambdaDeploymentGroup[];
  /** One role for every deployment group: CodeDeploy's own limited policy for Lambda. */
  readonly deployRole: iam.Role;

  constructor(scope: Construct, id: string, props: RolloutProps) {
    super(scope, id);
    const { config } = props;
    const application = new codedeploy.LambdaApplication(this, 'Application', {
      applicationName: `switchyard-${config.stage}`,
    });
    this.deployRole = new iam.Role(this, 'DeployRole', {
      assumedBy: new iam.ServicePrincipal('codedeploy.amazonaws.com'),
      managedPolicies: [
        iam.ManagedPolicy.fromAwsManagedPolicyName('service-role/AWSCodeDeployRoleForLambdaLimited'),
      ],
    });
    NagSuppressions.addResourceSuppressions(this.deployRole, [
      {
        id: 'AwsSolutions-IAM4',
        appliesTo: [
          'Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSCodeDeployRoleForLambdaLimited',
        ],
        reason:
          "AWS's limited CodeDeploy policy for Lambda: it may only shift aliases and invoke hook functions.",
      },
    ]);
    const alarms: cloudwatch.Alarm[] = [];
    const groups: codedeploy.LambdaDeploymentGroup[] = [];
    for (const { name, alias } of props.functions.all) {
      const errors = new cloudwatch.Alarm(this, `${name}Errors`, {
        alarmDescription: `${name}: the live alias's invocations fail (crash, timeout); rolls back`,
        metric: alias.metricErrors({ period: Duration.minutes(1), statistic: 'Sum' }),
        threshold: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
      const latency = new cloudwatch.Alarm(this, `${name}Latency`, {
        alarmDescription: `${name}: live alias p95 duration over ${rollbackLatencyMs(name)} ms; rolls back`,
        metric: alias.metricDuration({ period: Duration.minutes(1), statistic: 'p95' }),
        threshold: rollbackLatencyMs(name),
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 2,
        datapointsToAlarm: 2,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
      alarms.push(errors, latency);
      groups.push(
        new codedeploy.LambdaDeploymentGroup(this, `${name}Deployment`, {
          application,
          alias,
          role: this.deployRole,
          deploymentConfig: deploymentConfigs[config.rollout],
          alarms: [errors, latency],
          autoRollback: { failedDeployment: true, stoppedDeployment: true, deploymentInAlarm: true },
        }),
      );
    }
    this.alarms = alarms;
    this.deploymentGroups = groups;
  }
}
