import { Duration } from 'aws-cdk-lib';
import * as triggers from 'aws-cdk-lib/triggers';
import { Construct } from 'constructs';
import type { StageConfig } from '../stage-config.ts';
import type { Data } from './data.ts';
import type { Network } from './network.ts';
import { SwitchyardFunction } from './switchyard-function.ts';

export interface MigrationsProps {
  readonly config: StageConfig;
  readonly network: Network;
  readonly data: Data;
}

/** Where migrate.ts finds its SQL files: `./migrations` beside the module, i.e. beside the bundle. */
const migrationsSource = 'shared/adapters/postgres/migrations';
const migrationTimeoutSeconds = 300;

/** The migration function, whatever its network: its bundle ships the SQL files beside it. */
export const migrationFunction = {
  name: 'migrate',
  entry: 'lib/functions/migrate.ts',
  memoryMb: 512,
  timeoutSeconds: migrationTimeoutSeconds,
  description: 'Switchyard: database migrations, run by CloudFormation on deploy',
  afterBundling: (inputDir: string, outputDir: string): string[] => [
    `mkdir -p "${outputDir}/migrations"`,
    `cp "${inputDir}/${migrationsSource}"/*.sql "${outputDir}/migrations/"`,
  ],
} as const;

/**
 * Runs the SQL migrations on every deployment that changes them (the bundle's hash includes
 * the SQL files), after the database and its proxy exist and before any alias moves to a new
 * function version; a failed migration fails the deployment, which CloudFormation rolls back.
 * Old versions keep serving during a canary: migrations must be backwards compatible.
 */
export class Migrations extends Construct {
  readonly fn: SwitchyardFunction;
  readonly trigger: triggers.Trigger;

  constructor(scope: Construct, id: string, props: MigrationsProps) {
    super(scope, id);
    const { config, network, data } = props;
    this.fn = new SwitchyardFunction(this, 'Function', {
      config,
      ...migrationFunction,
      environment: { DATABASE_URL: data.databaseUrl(), DATABASE_SECRET_ARN: data.secret.secretArn },
      vpc: { vpc: network.vpc, subnets: network.isolatedSubnets },
    });
    data.secret.grantRead(this.fn);
    data.allowQueriesFrom(this.fn, 'migrations');

    this.trigger = new triggers.Trigger(this, 'Run', {
      handler: this.fn,
      // All of them: the VPC endpoint to Secrets Manager and the proxy's ingress rule included.
      executeAfter: [network, data],
      executeOnHandlerChange: true,
      timeout: Duration.seconds(migrationTimeoutSeconds + 30),
    });
  }
}
