import pg from 'pg';
import { ConfigError, config } from '#runtime/config.ts';
import { currentScope } from '#runtime/request-scope.ts';

/** What repositories need of a database: a query, and a transaction. */
export interface Queryable {
  query<Row>(text: string, values?: readonly unknown[]): Promise<Row[]>;
}

export interface Database extends Queryable {
  /**
   * `opening`: a statement without parameters sent with BEGIN in one round trip (it can
   * take the transaction's locks before its first parameterised statement).
   */
  transaction<T>(work: (tx: Queryable) => Promise<T>, options?: { opening?: string }): Promise<T>;
  close(): Promise<void>;
}

/**
 * Every query goes through here, so the request scope can count them (a cached read
 * must run none). Statements stay unnamed: named prepared statements pin RDS Proxy
 * connections.
 */
const counted = async <Row>(
  run: (text: string, values?: readonly unknown[]) => Promise<pg.QueryResult>,
  text: string,
  values?: readonly unknown[],
): Promise<Row[]> => {
  const scope = currentScope();
  const started = performance.now();
  try {
    const result = await run(text, values);
    return result.rows as Row[];
  } finally {
    if (scope) {
      scope.queries += 1;
      scope.queryMs += performance.now() - started;
    }
  }
};

/**
 * Where the pool connects. With a Secrets Manager secret (AWS: RDS Proxy with a rotated
 * secret), the URL carries no password and the password is read per new connection,
 * cached 5 minutes, so a rotation is picked up without a deploy. The URL is taken apart
 * because pg lets an empty password in a URL override a `password` option.
 */
export const poolTarget = (connectionString: string, secretArn: string | undefined): pg.PoolConfig => {
  if (!secretArn) return { connectionString };
  const url = new URL(connectionString);
  const sslmode = url.searchParams.get('sslmode');
  return {
    host: url.hostname,
    port: Number(url.port || 5432),
    database: decodeURIComponent(url.pathname.slice(1)),
    user: decodeURIComponent(url.username),
    password: async () => {
      const { getSecret } = await import('@aws-lambda-powertools/parameters/secrets');
      const secret = await getSecret<{ password?: string }>(secretArn, { transform: 'json', maxAge: 300 });
      if (!secret?.password) throw new Error('the database secret holds no password');
      return secret.password;
    },
    ...(sslmode && sslmode !== 'disable' && { ssl: true }),
  };
};

export const createDatabase = (options: {
  connectionString: string;
  max: number;
  secretArn?: string;
}): Database => {
  const pool = new pg.Pool({
    ...poolTarget(options.connectionString, options.secretArn),
    max: options.max,
    idleTimeoutMillis: 60_000,
    connectionTimeoutMillis: 5_000,
    keepAlive: true,
    // A query stuck behind a lock must not hold a Lambda for its whole timeout.
    statement_timeout: 10_000,
    application_name: 'switchyard',
  });
  // An idle client's error (server restart, proxy idle close) must not crash the container.
  pool.on('error', () => {});
  const run = (text: string, values?: readonly unknown[]) => pool.query(text, values as unknown[]);
  return {
    query: (text, values) => counted(run, text, values),
    async transaction(work, options) {
      const client = await pool.connect();
      // A checked-out client has no pool listener: a connection dropped mid-transaction
      // (failover, proxy restart) must fail this transaction, not crash the process.
      let broken: Error | undefined;
      const onError = (error: Error) => {
        broken = error;
      };
      client.on('error', onError);
      const tx: Queryable = {
        query: (text, values) => counted((t, v) => client.query(t, v as unknown[]), text, values),
      };
      try {
        // With an opening: a simple query, several statements, one round trip (counted once: BEGIN is not).
        if (options?.opening) await counted((t) => client.query(t), `BEGIN; ${options.opening}`);
        else await client.query('BEGIN');
        const result = await work(tx);
        await client.query('COMMIT');
        return result;
      } catch (error) {
        await client.query('ROLLBACK').catch(() => {});
        throw error;
      } finally {
        client.off('error', onError);
        // A broken connection is destroyed, not handed to the next caller.
        client.release(broken);
      }
    },
    close: () => pool.end(),
  };
};

let shared: Database | undefined;

/** The container's database, created on first use. */
export const database = (): Database => {
  if (!shared) {
    const { databaseUrl, dbPoolMax } = config();
    if (!databaseUrl) throw new ConfigError('DATABASE_URL is required');
    shared = createDatabase({
      connectionString: databaseUrl,
      max: dbPoolMax,
      ...(config().databaseSecretArn && { secretArn: config().databaseSecretArn }),
    });
  }
  return shared;
};

export const closeDatabase = async (): Promise<void> => {
  const db = shared;
  shared = undefined;
  await db?.close();
};
