/**
 * Local DynamoDB: an in-process dynalite server (in memory, or kept in a folder), and the
 * idempotency table the Powertools idempotency utility expects, provisioned against any
 * DynamoDB API endpoint.
 */

import { mkdir } from 'node:fs/promises';
import type { Server } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import {
  CreateTableCommand,
  DescribeTableCommand,
  DescribeTimeToLiveCommand,
  type DynamoDBClient,
  UpdateTimeToLiveCommand,
  waitUntilTableExists,
} from '@aws-sdk/client-dynamodb';
import type { LocalServer } from './sqs.ts';

interface DynaliteOptions {
  createTableMs?: number;
  deleteTableMs?: number;
  updateTableMs?: number;
  /** Omitted: the store lives in memory. */
  path?: string;
}

// dynalite is CommonJS without type declarations; describe the one call we make.
const require = createRequire(import.meta.url);
const dynalite = require('dynalite') as (options: DynaliteOptions) => Server;

/** The LevelDB binding dynalite keeps a `path` store in (classic-level, prebuilt for Node 20). */
interface LevelDatabase {
  open(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Whether this process can open the LevelDB store in `path`: another process holding it
 * (its LOCK) would make dynalite fail on its first request with an uncaught stream error,
 * so that is found out here, before dynalite is given the folder.
 */
const canOpenStore = async (path: string): Promise<boolean> => {
  const { Level } = createRequire(require.resolve('dynalite'))('level') as {
    Level: new (location: string, options: { valueEncoding: string }) => LevelDatabase;
  };
  const db = new Level(path, { valueEncoding: 'json' });
  try {
    await db.open();
  } catch {
    return false;
  }
  await db.close();
  return true;
};

/** Powertools' DynamoDBPersistenceLayer defaults (`keyAttr`, `expiryAttr`). */
export const idempotencyKeyAttribute = 'id';
export const idempotencyExpiryAttribute = 'expiration';

/**
 * Starts dynalite on loopback; tables switch state instantly so tests need not wait. Port 0 =
 * any free. With `path`, the tables and items are kept in that folder (LevelDB) and survive
 * a restart — idempotency records of requests in flight when the process died included —
 * unless another process holds the folder: then in memory, and `persistent` is false.
 */
export async function startLocalDynamo(
  opts: { port?: number; path?: string } = {},
): Promise<LocalServer & { readonly persistent: boolean }> {
  let path = opts.path;
  if (path) {
    await mkdir(path, { recursive: true, mode: 0o700 });
    if (!(await canOpenStore(path))) path = undefined;
  }
  const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0, ...(path && { path }) });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    persistent: path !== undefined,
    stop: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err?: Error) => (err ? reject(err) : resolve()));
        // SDK clients keep sockets alive; without this close() waits for them (up to dynalite's 30 s).
        server.closeAllConnections();
      }),
  };
}

/**
 * Creates the idempotency table if missing (PAY_PER_REQUEST, partition key `id`), waits until ACTIVE and
 * turns on TTL for `expiration` where the endpoint supports it (dynalite has no UpdateTimeToLive).
 */
export async function ensureIdempotencyTable(
  client: DynamoDBClient,
  tableName: string,
): Promise<{ ttlEnabled: boolean }> {
  const existing = await describeTable(client, tableName);
  if (existing) {
    const hashKey = existing.KeySchema?.find((key) => key.KeyType === 'HASH')?.AttributeName;
    if (hashKey !== idempotencyKeyAttribute) {
      throw new Error(`Table ${tableName} has partition key ${hashKey}, expected ${idempotencyKeyAttribute}`);
    }
  } else {
    try {
      await client.send(
        new CreateTableCommand({
          TableName: tableName,
          AttributeDefinitions: [{ AttributeName: idempotencyKeyAttribute, AttributeType: 'S' }],
          KeySchema: [{ AttributeName: idempotencyKeyAttribute, KeyType: 'HASH' }],
          BillingMode: 'PAY_PER_REQUEST',
        }),
      );
    } catch (err) {
      // Another process created it between our describe and create.
      if (!(err instanceof Error && err.name === 'ResourceInUseException')) throw err;
    }
  }
  await waitUntilTableExists(
    { client, maxWaitTime: 300, minDelay: 1, maxDelay: 5 },
    { TableName: tableName },
  );
  return { ttlEnabled: await ensureTimeToLive(client, tableName) };
}

async function describeTable(client: DynamoDBClient, tableName: string) {
  try {
    return (await client.send(new DescribeTableCommand({ TableName: tableName }))).Table;
  } catch (err) {
    if (err instanceof Error && err.name === 'ResourceNotFoundException') return undefined;
    throw err;
  }
}

async function ensureTimeToLive(client: DynamoDBClient, tableName: string): Promise<boolean> {
  const { TimeToLiveDescription: ttl } = await client.send(
    new DescribeTimeToLiveCommand({ TableName: tableName }),
  );
  const status = ttl?.TimeToLiveStatus;
  if ((status === 'ENABLED' || status === 'ENABLING') && ttl?.AttributeName === idempotencyExpiryAttribute) {
    return true;
  }
  try {
    await client.send(
      new UpdateTimeToLiveCommand({
        TableName: tableName,
        TimeToLiveSpecification: { AttributeName: idempotencyExpiryAttribute, Enabled: true },
      }),
    );
    return true;
  } catch (err) {
    // dynalite implements DescribeTimeToLive but not UpdateTimeToLive; records then never expire locally.
    if (err instanceof Error && err.name === 'UnknownOperationException') return false;
    throw err;
  }
}
