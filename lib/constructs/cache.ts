import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as elasticache from 'aws-cdk-lib/aws-elasticache';
import { Construct } from 'constructs';
import type { StageConfig } from '../stage-config.ts';
import type { Network } from './network.ts';

export interface CacheProps {
  readonly config: StageConfig;
  readonly network: Network;
}

/**
 * ElastiCache Serverless for Valkey: the L2 of the two-tier cache. Serverless rather than a
 * replication group because it has no node type to size, is Multi-AZ and encrypted in
 * transit and at rest by construction, scales with the API, and Valkey's minimum (100 MB
 * of storage) costs a few dollars a month where the smallest Multi-AZ node pair costs tens.
 * The cap below bounds the bill. The cache is disposable: losing it costs latency, never data.
 */
export class Cache extends Construct {
  readonly cache: elasticache.CfnServerlessCache;
  readonly securityGroup: ec2.SecurityGroup;
  /** The serverless cache's name: the `clusterId` dimension of its metrics. */
  readonly cacheName: string;

  constructor(scope: Construct, id: string, props: CacheProps) {
    super(scope, id);
    const { config, network } = props;
    this.cacheName = `switchyard-${config.stage}`;
    this.securityGroup = new ec2.SecurityGroup(this, 'SecurityGroup', {
      vpc: network.vpc,
      description: 'Valkey: from the functions that cache only',
      allowAllOutbound: false,
    });
    this.cache = new elasticache.CfnServerlessCache(this, 'Valkey', {
      serverlessCacheName: this.cacheName,
      engine: 'valkey',
      majorEngineVersion: '8',
      description: `Switchyard ${config.stage} L2 cache`,
      securityGroupIds: [this.securityGroup.securityGroupId],
      subnetIds: network.vpc.selectSubnets(network.isolatedSubnets).subnetIds,
      cacheUsageLimits: {
        dataStorage: { maximum: config.cacheMaxDataGb, unit: 'GB' },
        ecpuPerSecond: { maximum: config.cacheMaxEcpuPerSecond },
      },
      snapshotRetentionLimit: 0,
    });
  }

  /** `rediss://`: serverless caches accept TLS connections only. */
  url(): string {
    return `rediss://${this.cache.attrEndpointAddress}:${this.cache.attrEndpointPort}`;
  }

  allowFrom(peer: ec2.IConnectable, description: string): void {
    // 6379 is the primary endpoint, 6380 the reader endpoint (reads from replicas).
    this.securityGroup.connections.allowFrom(peer, ec2.Port.tcpRange(6379, 6380), description);
  }
}
