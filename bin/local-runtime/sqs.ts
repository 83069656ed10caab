/**
 * Local SQS: an in-process fauxqs server, and queue provisioning from the manifest that works against
 * any SQS API endpoint (fauxqs, LocalStack or AWS).
 */
import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  type QueueAttributeName,
  SetQueueAttributesCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { buildApp } from 'fauxqs';
import { maxReceiveCount, type QueueDef, queueResourceName, queues } from '#manifest';

export interface LocalServer {
  /** Base URL to pass as the SDK client's `endpoint`. */
  readonly endpoint: string;
  stop(): Promise<void>;
}

export interface ProvisionedQueue {
  readonly url: string;
  readonly arn: string;
  readonly dlqUrl: string;
  readonly dlqArn: string;
}

/** AWS's maximum, so a dead letter outlives any main-queue retention. */
const dlqRetentionSeconds = 14 * 24 * 3600;

/**
 * Starts fauxqs in-process, quiet. Uses fauxqs's `buildApp` rather than `startFauxqs` because the latter
 * always listens on 0.0.0.0; a dev emulator has no business on the network. Port 0 picks a free port.
 */
export async function startLocalSqs(opts: { port?: number; host?: string } = {}): Promise<LocalServer> {
  const host = opts.host ?? '127.0.0.1';
  const app = buildApp({ logger: false });
  await app.listen({ port: opts.port ?? 0, host });
  const address = app.server.address();
  if (address === null || typeof address === 'string') {
    await app.close();
    throw new Error(`fauxqs did not bind a TCP port on ${host}`);
  }
  const urlHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    endpoint: `http://${urlHost}:${address.port}`,
    // fauxqs sets forceCloseConnections, so close() does not wait for idle keep-alive sockets.
    stop: () => app.close(),
  };
}

/**
 * Creates each queue's DLQ, then the queue with its redrive policy. Safe to re-run: an existing queue
 * whose attributes differ (changed manifest) is updated in place rather than failing.
 */
export async function ensureQueues<const Defs extends readonly QueueDef[] = typeof queues>(
  client: SQSClient,
  stage: string,
  defs: Defs = queues as unknown as Defs,
): Promise<Record<Defs[number]['name'], ProvisionedQueue>> {
  const provisioned = {} as Record<Defs[number]['name'], ProvisionedQueue>;
  for (const def of defs) {
    const dlq = await ensureQueue(client, queueResourceName(stage, def.name, true), {
      MessageRetentionPeriod: String(dlqRetentionSeconds),
    });
    const main = await ensureQueue(client, queueResourceName(stage, def.name), {
      VisibilityTimeout: String(def.visibilityTimeoutSeconds),
      MessageRetentionPeriod: String(def.retentionSeconds),
      RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlq.arn, maxReceiveCount: maxReceiveCount(def) }),
    });
    provisioned[def.name as Defs[number]['name']] = {
      url: main.url,
      arn: main.arn,
      dlqUrl: dlq.url,
      dlqArn: dlq.arn,
    };
  }
  return provisioned;
}

async function ensureQueue(
  client: SQSClient,
  name: string,
  attributes: Partial<Record<QueueAttributeName, string>>,
): Promise<{ url: string; arn: string }> {
  let url: string | undefined;
  try {
    ({ QueueUrl: url } = await client.send(
      new CreateQueueCommand({ QueueName: name, Attributes: attributes }),
    ));
  } catch (err) {
    if (!isQueueExistsError(err)) throw err;
    ({ QueueUrl: url } = await client.send(new GetQueueUrlCommand({ QueueName: name })));
    await client.send(new SetQueueAttributesCommand({ QueueUrl: url, Attributes: attributes }));
  }
  if (!url) throw new Error(`CreateQueue returned no URL for ${name}`);
  const { Attributes } = await client.send(
    new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['QueueArn'] }),
  );
  const arn = Attributes?.QueueArn;
  if (!arn) throw new Error(`GetQueueAttributes returned no QueueArn for ${name}`);
  return { url, arn };
}

/**
 * The JSON protocol says QueueNameExists, AWS's legacy query code (which the SDK prefers as the error name)
 * is QueueAlreadyExists, and fauxqs sends `AWS.SimpleQueueService.QueueNameExists`: accept all of them.
 */
function isQueueExistsError(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const { Code, __type } = err as { Code?: unknown; __type?: unknown };
  return [err.name, Code, __type].some(
    (code) => typeof code === 'string' && /(QueueNameExists|QueueAlreadyExists)$/.test(code),
  );
}
