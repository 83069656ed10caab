/**
 * The reference the bench compares against: `GET /v1/agents/{id}` as a typical team writes it
 * on this stack. middy + Powertools logger, metrics and tracer, an SQS client, a pg Pool, an
 * ioredis client and full zod, all imported and constructed up front; auth by key hash and the
 * agent select on every request, no cache. Bundled like ours (ESM, minified, node22).
 */

import { createHash } from 'node:crypto';
import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { Tracer } from '@aws-lambda-powertools/tracer';
import { captureLambdaHandler } from '@aws-lambda-powertools/tracer/middleware';
import { SQSClient } from '@aws-sdk/client-sqs';
import middy from '@middy/core';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { Redis } from 'ioredis';
import pg from 'pg';
import { z } from 'zod';

const logger = new Logger({ serviceName: 'agents' });
const metrics = new Metrics({ namespace: 'Agents', serviceName: 'agents' });
const tracer = new Tracer({ serviceName: 'agents' });
// Constructed at init as teams do; the GET never sends (executions would).
export const sqs = tracer.captureAWSv3Client(new SQSClient({}));
// lazyConnect: kept for "caching later"; it must not dial anything at init or in the bench.
export const redis = new Redis(process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379', { lazyConnect: true });
export const pool = new pg.Pool({ connectionString: process.env['DATABASE_URL'], max: 5 });

const params = z.object({ id: z.string().uuid() });
const agentRow = z.object({
  id: z.string().uuid(),
  name: z.string(),
  model: z.string(),
  system_prompt: z.string(),
  configuration: z.record(z.string(), z.unknown()),
  status: z.enum(['active', 'paused']),
  webhook_url: z.string().nullable(),
  created_at: z.date(),
  updated_at: z.date(),
});

const json = (statusCode: number, body: unknown): APIGatewayProxyStructuredResultV2 => ({
  statusCode,
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify(body),
});

const getAgent = async (event: APIGatewayProxyEventV2): Promise<APIGatewayProxyStructuredResultV2> => {
  const key = event.headers['authorization']?.replace(/^Bearer /, '');
  if (!key) return json(401, { message: 'unauthorized' });
  const hash = createHash('sha256').update(key).digest('hex');
  const auth = await pool.query<{ tenant_id: string }>(
    'SELECT tenant_id FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL',
    [hash],
  );
  const tenantId = auth.rows[0]?.tenant_id;
  if (!tenantId) return json(401, { message: 'unauthorized' });
  const parsed = params.safeParse(event.pathParameters ?? {});
  if (!parsed.success) return json(404, { message: 'not found' });
  const result = await pool.query(
    `SELECT id, name, model, system_prompt, configuration, status, webhook_url, created_at, updated_at
       FROM agents WHERE tenant_id = $1 AND id = $2 AND deleted_at IS NULL`,
    [tenantId, parsed.data.id],
  );
  if (!result.rows[0]) return json(404, { message: 'not found' });
  const agent = agentRow.parse(result.rows[0]);
  metrics.addMetric('AgentRead', MetricUnit.Count, 1);
  return json(200, {
    ...agent,
    created_at: agent.created_at.toISOString(),
    updated_at: agent.updated_at.toISOString(),
  });
};

export const handler = middy(getAgent)
  .use(captureLambdaHandler(tracer))
  .use(injectLambdaContext(logger))
  .use(logMetrics(metrics));
