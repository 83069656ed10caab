import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import { Construct } from 'constructs';
import type { LocalServices, StageConfig } from '../stage-config.ts';
import { createIdempotencyTable } from './data.ts';
import type { CacheTarget, DatabaseTarget } from './functions.ts';

export interface LocalDataProps {
  readonly config: StageConfig;
  readonly services: LocalServices;
}

/**
 * The `local` stage's stand-in for Data and Cache (LocalStack's free edition has no RDS, RDS
 * Proxy or ElastiCache): the same DynamoDB idempotency table, and the PostgreSQL and Redis of
 * docs/localstack/compose.yml, passed to the functions as plain URLs. No VPC, so no security
 * groups to open; no secret, so the password is in the URL (local credentials only).
 */
export class LocalData extends Construct implements DatabaseTarget, CacheTarget {
  readonly idempotencyTable: dynamodb.TableV2;
  readonly secret = undefined;
  private readonly services: LocalServices;

  constructor(scope: Construct, id: string, props: LocalDataProps) {
    super(scope, id);
    this.services = props.services;
    this.idempotencyTable = createIdempotencyTable(this, props.config);
  }

  databaseUrl(): string {
    return this.services.databaseUrl;
  }

  url(): string {
    return this.services.redisUrl;
  }

  allowQueriesFrom(): void {}

  allowFrom(): void {}
}
