import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as rds from 'aws-cdk-lib/aws-rds';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { NagSuppressions } from 'cdk-nag';
import { Construct } from 'constructs';
import { idempotencyTableName } from '#manifest';
import type { StageConfig } from '../stage-config.ts';
import type { Network } from './network.ts';

export interface DataProps {
  readonly config: StageConfig;
  readonly network: Network;
}

/** The database role the application and the migrations use; its password lives in `secret`. */
export const databaseUser = 'switchyard';
export const databaseName = 'switchyard';
const postgresPort = 5432;

/** Powertools' DynamoDBPersistenceLayer defaults (`keyAttr`, `expiryAttr`), as the local runtime has them. */
export const idempotencyKeyAttribute = 'id';
export const idempotencyExpiryAttribute = 'expiration';

/** The idempotency records of Powertools: on-demand, TTL on the expiry, point-in-time recovery. */
export const createIdempotencyTable = (scope: Construct, config: StageConfig): dynamodb.TableV2 =>
  new dynamodb.TableV2(scope, 'IdempotencyTable', {
    tableName: idempotencyTableName(config.stage),
    partitionKey: { name: idempotencyKeyAttribute, type: dynamodb.AttributeType.STRING },
    billing: dynamodb.Billing.onDemand(),
    timeToLiveAttribute: idempotencyExpiryAttribute,
    pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
    deletionProtection: config.production,
    removalPolicy: config.production ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY,
  });

/**
 * Aurora PostgreSQL Serverless v2 (a writer and a reader that scales with it) behind RDS
 * Proxy, which requires TLS and multiplexes Lambda's many short-lived connections onto few
 * database connections; and the DynamoDB table of idempotency records.
 */
export class Data extends Construct {
  readonly cluster: rds.DatabaseCluster;
  readonly proxy: rds.DatabaseProxy;
  /** Read-only proxy endpoint, routed to the reader. */
  readonly readerEndpoint: string;
  readonly secret: secretsmanager.ISecret;
  readonly idempotencyTable: dynamodb.TableV2;

  constructor(scope: Construct, id: string, props: DataProps) {
    super(scope, id);
    const { config, network } = props;
    const { vpc } = network;
    const removalPolicy = config.production ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY;
    const clusterIdentifier = `switchyard-${config.stage}`;

    // Aurora creates this group on first log line; owning it here gives it a retention.
    new logs.LogGroup(this, 'PostgresLogs', {
      logGroupName: `/aws/rds/cluster/${clusterIdentifier}/postgresql`,
      retention: config.logRetention,
      removalPolicy,
    });

    const clusterSecurityGroup = new ec2.SecurityGroup(this, 'ClusterSecurityGroup', {
      vpc,
      description: 'Aurora: PostgreSQL from RDS Proxy (and the rotation function) only',
      allowAllOutbound: false,
    });
    this.cluster = new rds.DatabaseCluster(this, 'Cluster', {
      clusterIdentifier,
      engine: rds.DatabaseClusterEngine.auroraPostgres({ version: rds.AuroraPostgresEngineVersion.VER_16_9 }),
      credentials: rds.Credentials.fromGeneratedSecret(databaseUser, {
        secretName: `switchyard/${config.stage}/database`,
      }),
      defaultDatabaseName: databaseName,
      writer: rds.ClusterInstance.serverlessV2('writer', { enablePerformanceInsights: true }),
      // In the writer's promotion tier, so a failover lands on an instance already sized for it.
      readers: [rds.ClusterInstance.serverlessV2('reader', { scaleWithWriter: true })],
      serverlessV2MinCapacity: config.auroraMinAcu,
      serverlessV2MaxCapacity: config.auroraMaxAcu,
      vpc,
      vpcSubnets: network.isolatedSubnets,
      securityGroups: [clusterSecurityGroup],
      storageEncrypted: true,
      // Grants nothing by itself; end-to-end IAM auth from the proxy would need it (and cdk-nag asks).
      iamAuthentication: true,
      cloudwatchLogsExports: ['postgresql'],
      backup: { retention: Duration.days(config.production ? 14 : 1) },
      deletionProtection: config.production,
      copyTagsToSnapshot: true,
      removalPolicy: config.production ? RemovalPolicy.SNAPSHOT : RemovalPolicy.DESTROY,
    });
    this.secret = this.cluster.secret!;
    if (!config.production) {
      NagSuppressions.addResourceSuppressions(this.cluster, [
        {
          id: 'AwsSolutions-RDS10',
          reason: 'Non-production stages are disposable and deleted with their stack; production has it on.',
        },
      ]);
    }
    if (config.rotateDatabaseSecret) {
      // The proxy reads the secret on each new database connection, so rotation needs no redeploy.
      this.cluster.addRotationSingleUser({ automaticallyAfter: Duration.days(30) });
    }

    const proxySecurityGroup = new ec2.SecurityGroup(this, 'ProxySecurityGroup', {
      vpc,
      description: 'RDS Proxy: PostgreSQL from the functions that query, and to Aurora',
      allowAllOutbound: false,
    });
    // The proxy fetches the database secret itself; the Secrets Manager endpoint answers on 443 in the VPC.
    proxySecurityGroup.addEgressRule(
      ec2.Peer.ipv4(vpc.vpcCidrBlock),
      ec2.Port.tcp(443),
      'Secrets Manager endpoint: the proxy reads the database secret',
    );
    this.proxy = this.cluster.addProxy('Proxy', {
      vpc,
      vpcSubnets: network.isolatedSubnets,
      securityGroups: [proxySecurityGroup],
      secrets: [this.secret],
      requireTLS: true,
      // Clients authenticate with the secret's password, read at runtime from Secrets Manager.
      iamAuth: false,
      clientPasswordAuthType: rds.ClientPasswordAuthType.POSTGRES_SCRAM_SHA_256,
      // Lambda containers idle for minutes between bursts; the proxy keeps the database side warm.
      idleClientTimeout: Duration.minutes(15),
      borrowTimeout: Duration.seconds(5),
      maxConnectionsPercent: 90,
      maxIdleConnectionsPercent: 20,
      debugLogging: false,
    });
    this.cluster.connections.allowDefaultPortFrom(this.proxy, 'RDS Proxy to Aurora');

    const reader = this.proxy.addEndpoint('ReaderEndpoint', {
      vpc,
      vpcSubnets: network.isolatedSubnets,
      securityGroups: [proxySecurityGroup],
      targetRole: rds.ProxyEndpointTargetRole.READ_ONLY,
    });
    this.readerEndpoint = reader.endpoint;

    this.idempotencyTable = createIdempotencyTable(this, config);
  }

  /** The connection string functions get: the proxy, TLS verified (the proxy's certificate is ACM's). */
  databaseUrl(): string {
    const host = `${this.proxy.endpoint}:${postgresPort}`;
    return `postgresql://${databaseUser}@${host}/${databaseName}?sslmode=verify-full`;
  }

  /** Lets a function's security group reach the proxy, and nothing else reach it. */
  allowQueriesFrom(peer: ec2.IConnectable, description: string): void {
    this.proxy.connections.allowFrom(peer, ec2.Port.tcp(postgresPort), description);
  }
}
