import type { DynamoDBPersistenceLayer } from '@aws-lambda-powertools/idempotency/dynamodb';
import type { Context } from 'aws-lambda';
import { ProblemError } from '../domain/errors.ts';
import type { ApiRequest, ApiResponse } from '../http/types.ts';
import { config } from '../runtime/config.ts';

const keyPattern = /^[\x21-\x7e]{1,255}$/;

/** What an idempotent POST stores: enough to answer a replay exactly as the first time. */
interface StoredResponse {
  readonly status: number;
  readonly body: unknown;
  readonly headers: Record<string, string>;
}

interface IdempotentCall {
  /** Tenant and route: the same key on another route or tenant is another request. */
  readonly scope: string;
  readonly key: string;
  readonly body: unknown;
}

/**
 * Powertools idempotency and its DynamoDB clients, loaded on the first request that carries
 * an Idempotency-Key: they would double the function's init time for every container.
 */
let loaded:
  | Promise<{
      idempotency: typeof import('@aws-lambda-powertools/idempotency');
      store: DynamoDBPersistenceLayer;
    }>
  | undefined;
const idempotencyModules = () => {
  loaded ??= (async () => {
    const tableName = config().idempotencyTable;
    if (!tableName) throw new Error('IDEMPOTENCY_TABLE is not set');
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
 * `Idempotency-Key` for creating POSTs (Powertools idempotency on DynamoDB, kept 24 h):
 * a replay with the same body (compared as canonical JSON) answers the first response;
 * while the first is in flight → 409; the same key with another body → 422.
 * Without the header the request simply runs.
 */
export const withIdempotencyKey = async (
  request: ApiRequest,
  scope: string,
  run: () => Promise<ApiResponse>,
): Promise<ApiResponse> => {
  const key = request.headers['idempotency-key'];
  if (key === undefined) return run();
  if (!keyPattern.test(key)) {
    throw new ProblemError(
      400,
      'invalid-idempotency-key',
      'Invalid Idempotency-Key',
      'Use 1–255 visible ASCII characters.',
    );
  }
  const { idempotency, store } = await idempotencyModules();
  const idempotencyConfig = new idempotency.IdempotencyConfig({
    eventKeyJmesPath: '[scope, key]',
    payloadValidationJmesPath: 'body',
    expiresAfterSeconds: 24 * 3600,
    throwOnNoIdempotencyKey: true,
  });
  idempotencyConfig.registerLambdaContext(request.lambdaContext as Context);
  const once = idempotency.makeIdempotent(
    async (_call: IdempotentCall): Promise<StoredResponse> => {
      const response = await run();
      return { status: response.status, body: response.body ?? null, headers: { ...response.headers } };
    },
    { persistenceStore: store, config: idempotencyConfig, dataIndexArgument: 0 },
  );
  try {
    const stored = await once({ scope, key, body: request.body ?? null });
    return {
      status: stored.status,
      body: stored.body,
      headers: { ...stored.headers, 'idempotency-key': key },
    };
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
    if (name === 'IdempotencyValidationError') {
      throw new ProblemError(
        422,
        'idempotency-key-reused',
        'Idempotency-Key reused',
        'This Idempotency-Key was used with a different body.',
      );
    }
    throw error;
  }
};
