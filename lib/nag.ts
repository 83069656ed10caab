import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { NagSuppressions } from 'cdk-nag';
import { functionAccess } from './access.ts';
import { SwitchyardFunction } from './constructs/switchyard-function.ts';
import type { SwitchyardStack } from './switchyard-stack.ts';

const lambdaVpcPolicy =
  'Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole';
const codeDeployPolicy =
  'Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSCodeDeployRoleForLambdaLimited';

const xrayReason =
  'Active tracing: xray:PutTraceSegments and xray:PutTelemetryRecords have no resource-level permissions.';

/**
 * cdk-nag AwsSolutions findings we accept, each on the resources it concerns and with the
 * reason it does not apply. Everything else is an error that fails `cdk synth`.
 */
export const suppressNagFindings = (stack: SwitchyardStack): void => {
  for (const fn of stack.node
    .findAll()
    .filter((c): c is SwitchyardFunction => c instanceof SwitchyardFunction)) {
    NagSuppressions.addResourceSuppressions(fn, [
      {
        id: 'AwsSolutions-L1',
        reason:
          'nodejs22.x is pinned on purpose: bin/build.ts, the bundles and the tests target Node 22; ' +
          'moving to a newer runtime is a tested change of its own.',
      },
    ]);
    const name = fn.shortName as keyof typeof functionAccess;
    const readsMetrics = name in functionAccess && 'readsMetrics' in functionAccess[name];
    NagSuppressions.addResourceSuppressions(
      fn.role!,
      [
        {
          id: 'AwsSolutions-IAM5',
          appliesTo: ['Resource::*'],
          reason: readsMetrics
            ? `${xrayReason} cloudwatch:GetMetricStatistics (queue ages of the operator API) has none either.`
            : xrayReason,
        },
        ...(fn.isBoundToVpc
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
  }

  const workerHigh = stack.functions.byName.workerHigh.fn;
  NagSuppressions.addResourceSuppressions(
    workerHigh.role!,
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

  if (stack.rollout) {
    NagSuppressions.addResourceSuppressions(stack.rollout.deployRole, [
      {
        id: 'AwsSolutions-IAM4',
        appliesTo: [codeDeployPolicy],
        reason:
          "AWS's limited CodeDeploy policy for Lambda: it may only shift aliases and invoke hook functions.",
      },
    ]);
  }

  NagSuppressions.addResourceSuppressions(
    stack.api,
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

  NagSuppressions.addResourceSuppressions(stack.adminKey, [
    {
      id: 'AwsSolutions-SMG4',
      reason:
        'An opaque operator key, not a database credential: there is no service to rotate it in; operators ' +
        'rotate it by putting a new secret version (docs/deploy.md).',
    },
  ]);

  if (!stack.config.production && stack.data) {
    NagSuppressions.addResourceSuppressions(stack.data.cluster, [
      {
        id: 'AwsSolutions-RDS10',
        reason: 'Non-production stages are disposable and deleted with their stack; production has it on.',
      },
    ]);
  }

  for (const endpoint of (stack.network?.vpc.node.findAll() ?? []).filter(
    (c) => c instanceof ec2.InterfaceVpcEndpoint,
  )) {
    NagSuppressions.addResourceSuppressions(
      endpoint,
      [
        {
          id: 'CdkNagValidationFailure',
          reason:
            "EC23 cannot read the endpoint group's ingress, a token: HTTPS from the VPC's own CIDR only.",
        },
      ],
      true,
    );
  }
};
