import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { migrate } from '#adapters/postgres/migrate.ts';

/**
 * Deploy-time migrations, invoked by the stack's Trigger before any new function version
 * takes traffic. Connects through RDS Proxy with the secret's credentials (TLS verified);
 * the SQL files are shipped beside this bundle in `migrations/`, where migrate.ts looks.
 * Throwing fails the deployment, which CloudFormation then rolls back.
 */
export const handler = async (): Promise<{ applied: string[] }> => {
  const url = process.env['DATABASE_URL'];
  const secretArn = process.env['DATABASE_SECRET_ARN'];
  if (!url || !secretArn) throw new Error('DATABASE_URL and DATABASE_SECRET_ARN are required');
  const { SecretString } = await new SecretsManagerClient({}).send(
    new GetSecretValueCommand({ SecretId: secretArn }),
  );
  const { username, password } = JSON.parse(SecretString ?? '{}') as { username?: string; password?: string };
  if (!username || !password) throw new Error('the database secret has no username or password');
  const withCredentials = new URL(url);
  withCredentials.username = encodeURIComponent(username);
  withCredentials.password = encodeURIComponent(password);
  const applied = await migrate(withCredentials.toString());
  console.log(JSON.stringify({ level: 'INFO', message: 'migrations applied', applied }));
  return { applied };
};
