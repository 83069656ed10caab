import { RemovalPolicy } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as logs from 'aws-cdk-lib/aws-logs';
import { NagSuppressions } from 'cdk-nag';
import { Construct } from 'constructs';
import type { StageConfig } from '../stage-config.ts';

export interface NetworkProps {
  readonly config: StageConfig;
}

/**
 * The VPC: isolated subnets for the database, the proxy, the cache and the functions that
 * need no internet; private subnets behind NAT only for what calls out (webhooks, OpenAI).
 * AWS APIs are reached through VPC endpoints, so no AWS call depends on NAT.
 */
export class Network extends Construct {
  readonly vpc: ec2.Vpc;
  /** Subnets of the data stores: no route out of the VPC. */
  readonly isolatedSubnets: ec2.SubnetSelection = { subnetType: ec2.SubnetType.PRIVATE_ISOLATED };
  readonly hasInternetEgress: boolean;

  constructor(scope: Construct, id: string, props: NetworkProps) {
    super(scope, id);
    const { config } = props;
    this.hasInternetEgress = config.natGateways > 0;

    const flowLogs = new logs.LogGroup(this, 'FlowLogs', {
      retention: config.logRetention,
      removalPolicy: config.production ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY,
    });

    this.vpc = new ec2.Vpc(this, 'Vpc', {
      ipAddresses: ec2.IpAddresses.cidr('10.40.0.0/16'),
      // The stack is environment-agnostic (synth needs no account), which gives two AZs.
      maxAzs: 2,
      natGateways: config.natGateways,
      subnetConfiguration: [
        ...(this.hasInternetEgress
          ? [
              { name: 'public', subnetType: ec2.SubnetType.PUBLIC, cidrMask: 24 },
              { name: 'egress', subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS, cidrMask: 22 },
            ]
          : []),
        { name: 'isolated', subnetType: ec2.SubnetType.PRIVATE_ISOLATED, cidrMask: 22 },
      ],
      flowLogs: {
        rejected: {
          destination: ec2.FlowLogDestination.toCloudWatchLogs(flowLogs),
          trafficType: ec2.FlowLogTrafficType.REJECT,
        },
      },
    });

    // Gateway endpoints are free and need no security group.
    this.vpc.addGatewayEndpoint('DynamoDb', { service: ec2.GatewayVpcEndpointAwsService.DYNAMODB });
    const interfaceEndpoints: Record<string, ec2.InterfaceVpcEndpointAwsService> = {
      Sqs: ec2.InterfaceVpcEndpointAwsService.SQS,
      SecretsManager: ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER,
      // GetMetricStatistics (operator queue ages). Logs, EMF metrics and X-Ray segments leave
      // through the Lambda service itself, not the function's network interface.
      CloudWatch: ec2.InterfaceVpcEndpointAwsService.CLOUDWATCH_MONITORING,
      ...(config.bedrockEndpoint && { BedrockRuntime: ec2.InterfaceVpcEndpointAwsService.BEDROCK_RUNTIME }),
    };
    for (const [name, service] of Object.entries(interfaceEndpoints)) {
      // `open` (the default) admits HTTPS from the VPC's CIDR only.
      const endpoint = this.vpc.addInterfaceEndpoint(name, {
        service,
        subnets: this.isolatedSubnets,
        privateDnsEnabled: true,
      });
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
  }

  /** Where a function runs: behind NAT if it calls the internet and the stage has NAT, else isolated. */
  functionSubnets(needsInternet: boolean): ec2.SubnetSelection {
    return needsInternet && this.hasInternetEgress
      ? { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS }
      : this.isolatedSubnets;
  }
}
