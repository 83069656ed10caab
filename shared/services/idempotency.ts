import { createHash } from 'node:crypto';
import type { DynamoDBPersistenceLayer } from '@aws-lambda-powertools/idempotency/dynamodb';
import type { Context } from 'aws-lambda';
import { ProblemError } from '#domain/errors.ts';
import type { ApiRequest, ApiResponse } from '#http/types.ts';
import { config } from '#runtime/config.ts';
import { logger, metrics } from '#runtime/observability.ts';
import type { KeyedInsert, RowIdempotency } from './ports.ts';

const keyPattern = /^[\x21-\x7e]{1,255}$/;

/**
 * How long a DynamoDB record of a request in flight holds its key (409 to a duplicate) at
 * most: Powertools' default is the function's remaining time (up to 25 s), so after a crash
 * the client got 409s that long. Short is safe: a duplicate let through while the first
 * still runs meets its row (the INSERT waits on the uncommitted key, then answers the row).
 */
export const inProgressExpiryMs = 5_000;

/** The request body as canonical JSON (object keys sorted, at every depth). */
export const canonicalJson = (value: unknown): string =>
  JSON.stringify(value, (_key, nested: unknown) =>
    nested && typeof nested === 'object' && !Array.isArray(nested)
      ? Object.fromEntries(
          Object.keys(nested)
            .sort()
            .map((k) => [k, (nested as Record<string, unknown>)[k]]),
        )
      : nested,
  );

/** SHA-256 of the canonical body: what the row keeps to tell a replay from another request. */
export const requestHashOf = (body: unknown): string =>
  createHash('sha256')
    .update(canonicalJson(body ?? null))
    .digest('base64url');

export const idempotencyKeyReused = () =>
  new ProblemError(
    422,
    'idempotency-key-reused',
    'Idempotency-Key reused',
    'This Idempotency-Key was used with a different body.',
  );

/**
 * The outcome of a creation under a key: the new row, or the one an earlier request with
 * the same body created (a replay), or 422 when that request had another body.
 */
export const replayOrRefuse = <T>(
  result: KeyedInsert<T>,
  idempotency: RowIdempotency | undefined,
): { row: T; replayed: boolean } => {
  if (result.kind === 'created') return { row: result.row, replayed: false };
  if (!idempotency || result.requestHash !== idempotency.requestHash) throw idempotencyKeyReused();
  return { row: result.row, replayed: true };
};

/**
 * A keyed creation that failed before it could insert (the agent or workflow is gone or
 * paused now, its steps' agents deleted): if the key already created a row, that row
 * answers, as a replay must; otherwise the failure stands.
 */
export const orEarlier = async <T>(
  idempotency: RowIdempotency | undefined,
  attempt: () => Promise<{ row: T; replayed: boolean }>,
  earlier: (key: string) => Promise<KeyedInsert<T> | undefined>,
): Promise<{ row: T; replayed: boolean }> => {
  try {
    return await attempt();
  } catch (error) {
    if (!idempotency || !(error instanceof ProblemError)) throw error;
    const found = await earlier(idempotency.key);
    if (!found) throw error;
    return replayOrRefuse(found, idempotency);
  }
};

/** What an idempotent POST stores: enough to answer a replay exactly as the first time. */
interface StoredResponse {
  readonly status: number;
  readonly body: unknown;
  readonly headers: Record<string, string>;
  readonly etag?: string;
  readonly cacheControl?: string;
  readonly lastModified?: string;
}

interface IdempotentCall {
  /** Tenant and route: the same key on another route or tenant is another request. */
  readonly scope: string;
  readonly key: string;
  readonly body: unknown;
}

const toStored = (response: ApiResponse): StoredResponse => ({
  status: response.status,
  body: response.body ?? null,
  headers: { ...response.headers },
  ...(response.etag && { etag: response.etag }),
  ...(response.cacheControl && { cacheControl: response.cacheControl }),
  ...(response.lastModified && { lastModified: response.lastModified.toISOString() }),
});

const fromStored = (stored: StoredResponse): ApiResponse => ({
  status: stored.status,
  body: stored.body,
  headers: stored.headers,
  ...(stored.etag && { etag: stored.etag }),
  ...(stored.cacheControl && { cacheControl: stored.cacheControl }),
  ...(stored.lastModified && { lastModified: new Date(stored.lastModified) }),
});

const withKeyHeader = (response: ApiResponse, key: string): ApiResponse => ({
  ...response,
  headers: { ...response.headers, 'idempotency-key': key },
});

/**
 * Powertools idempotency and its DynamoDB clients, loaded on the first request that carries
 * an Idempotency-Key: they would double the function's init time for every container. Kept
 * per table and endpoint (a local runtime restarted in the same process has a new one).
 */
let loaded:
  | Promise<{
      idempotency: typeof import('@aws-lambda-powertools/idempotency');
      store: DynamoDBPersistenceLayer;
    }>
  | undefined;
let loadedFor: string | undefined;
const idempotencyModules = (tableName: string) => {
  const target = `${tableName}@${process.env['AWS_ENDPOINT_URL_DYNAMODB'] ?? ''}`;
  if (loadedFor !== target) loaded = undefined;
  loadedFor = target;
  loaded ??= (async () => {
    const [idempotency, { DynamoDBPersistenceLayer }] = await Promise.all([
      import('@aws-lambda-powertools/idempotency'),
      import('@aws-lambda-powertools/idempotency/dynamodb'),
    ]);
    return { idempotency, store: new DynamoDBPersistenceLayer({ tableName }) };
  })();
  loaded.catch(() => {
    loaded = undefined;
  });
  return loaded;
};

/**
 * `Idempotency-Key` for creating POSTs, in two tiers. `run` gets the key and the hash of the
 * body and stores them with the row it creates (unique per tenant and scope, migration
 * 0006); under a key already used it answers the existing row (a replay) or 422 (another
 * body). That row is the durable tier: it holds whatever crashed between the commit and the
 * response. In front of it, Powertools idempotency on DynamoDB (kept 24 h): a completed
 * request's response replayed exactly, 409 while the first is in flight (for at most
 * `inProgressExpiryMs`), 422 for another body. When the record is missing, expired or stuck
 * in progress after a crash, `run` runs again and the row answers; when DynamoDB is not
 * configured (a function without the table) or fails, the row answers alone.
 * Without the header the request simply runs.
 */
export const withIdempotencyKey = async (
  request: ApiRequest,
  scope: string,
  run: (idempotency: RowIdempotency | undefined) => Promise<ApiResponse>,
): Promise<ApiResponse> => {
  const key = request.headers['idempotency-key'];
  if (key === undefined) return run(undefined);
  if (!keyPattern.test(key)) {
    throw new ProblemError(
      400,
      'invalid-idempotency-key',
      'Invalid Idempotency-Key',
      'Use 1–255 visible ASCII characters.',
    );
  }
  const rowKey: RowIdempotency = { key, requestHash: requestHashOf(request.body) };
  const tableName = config().idempotencyTable;
  if (!tableName) return withKeyHeader(await run(rowKey), key);

  const { idempotency, store } = await idempotencyModules(tableName);
  const idempotencyConfig = new idempotency.IdempotencyConfig({
    eventKeyJmesPath: '[scope, key]',
    payloadValidationJmesPath: 'body',
    expiresAfterSeconds: 24 * 3600,
    throwOnNoIdempotencyKey: true,
  });
  const context = request.lambdaContext as Context | undefined;
  idempotencyConfig.registerLambdaContext({
    ...context,
    // At least 1 ms: Powertools writes no in-progress expiry at all for 0 (the record would hold 24 h).
    getRemainingTimeInMillis: () =>
      Math.max(1, Math.min(context?.getRemainingTimeInMillis?.() ?? inProgressExpiryMs, inProgressExpiryMs)),
  } as Context);
  // What `run` did, when DynamoDB fails around it: its answer stands without the record.
  let outcome: { response: ApiResponse } | { error: unknown } | undefined;
  const once = idempotency.makeIdempotent(
    async (_call: IdempotentCall): Promise<StoredResponse> => {
      try {
        const response = await run(rowKey);
        outcome = { response };
        return toStored(response);
      } catch (error) {
        outcome = { error };
        throw error;
      }
    },
    { persistenceStore: store, config: idempotencyConfig, dataIndexArgument: 0 },
  );
  try {
    return withKeyHeader(fromStored(await once({ scope, key, body: request.body ?? null })), key);
  } catch (error) {
    const name = (error as Error).name;
    if (name === 'IdempotencyAlreadyInProgressError') {
      throw new ProblemError(
        409,
        'idempotency-in-flight',
        'Request in progress',
        'A request with this Idempotency-Key is still being processed; retry shortly.',
        { headers: { 'retry-after': '1' } },
      );
    }
    if (name === 'IdempotencyValidationError') throw idempotencyKeyReused();
    if (name === 'IdempotencyPersistenceLayerError') {
      // DynamoDB failed (before, or after `run`): the row tier is enough for correctness.
      metrics.addMetric('IdempotencyStoreErrors', 'Count', 1);
      logger.warn('idempotency record not written; the row answers for the key', {
        error: (error as Error).message,
        cause: ((error as Error).cause as Error | undefined)?.message,
      });
      if (outcome && 'response' in outcome) return withKeyHeader(outcome.response, key);
      if (outcome) throw outcome.error;
      return withKeyHeader(await run(rowKey), key);
    }
    throw error;
  }
};
