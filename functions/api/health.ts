import { dynamoClient, sqsClient, sqsCommands } from '#adapters/aws/clients.ts';
import { database } from '#adapters/postgres/db.ts';
import { createApiHandler } from '#http/api-handler.ts';
import { healthRoutes } from '#http/routes/public.ts';
import { config } from '#runtime/config.ts';
import { redisCache } from '#services/container.ts';

type CheckStatus = 'ok' | 'down' | 'not_configured';
interface CheckResult {
  status: CheckStatus;
  ms?: number;
  error?: string;
}

const checkTimeoutMs = 2_000;

/** Runs one dependency check with a deadline; a hung dependency must not hang the health check. */
const check = async (probe: (() => Promise<unknown>) | undefined): Promise<CheckResult> => {
  if (!probe) return { status: 'not_configured' };
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      probe(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer in ${checkTimeoutMs} ms`)), checkTimeoutMs);
      }),
    ]);
    return { status: 'ok', ms: Math.round((performance.now() - started) * 100) / 100 };
  } catch (error) {
    return { status: 'down', error: error instanceof Error ? error.message : String(error) };
  } finally {
    clearTimeout(timer);
  }
};

export const handler = createApiHandler(healthRoutes, {
  'GET /health': async () => {
    const { queueUrls, idempotencyTable } = config();
    const redis = redisCache();
    const [db, cache, queues, idempotency] = await Promise.all([
      check(() => database().query('SELECT 1')),
      check(redis && (() => redis.ping())),
      check(
        queueUrls.high
          ? async () => {
              const { GetQueueAttributesCommand } = await sqsCommands();
              const client = await sqsClient();
              await client.send(
                new GetQueueAttributesCommand({ QueueUrl: queueUrls.high, AttributeNames: ['QueueArn'] }),
              );
            }
          : undefined,
      ),
      check(
        idempotencyTable
          ? async () => {
              const { DescribeTableCommand } = await import('@aws-sdk/client-dynamodb');
              const client = await dynamoClient();
              await client.send(new DescribeTableCommand({ TableName: idempotencyTable }));
            }
          : undefined,
      ),
    ]);
    const checks = { database: db, cache, queues, idempotency };
    // The database is the one dependency we cannot answer without; the rest degrade.
    const degraded = [cache, queues, idempotency].some((c) => c.status === 'down');
    const status = db.status !== 'ok' ? 'down' : degraded ? 'degraded' : 'ok';
    return {
      status: status === 'down' ? 503 : 200,
      body: { status, checks },
      cacheControl: 'no-store',
    };
  },
});
