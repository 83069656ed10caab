import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { SQSClient } from '@aws-sdk/client-sqs';
import { sqsCallTracer } from '#runtime/tracing.ts';
import { SqsApi } from './sqs-api.ts';

/**
 * AWS SDK clients, one per container, imported only by the functions that use them and
 * only on first use. Endpoints come from the SDK's own settings (`AWS_ENDPOINT_URL_SQS`,
 * `AWS_ENDPOINT_URL_DYNAMODB`), which is how local stand-ins and LocalStack are reached.
 */
let sqs: Promise<SQSClient> | undefined;
let dynamo: Promise<DynamoDBClient> | undefined;
let sqsModule: Promise<typeof import('@aws-sdk/client-sqs')> | undefined;

/** The SQS module (commands), loaded once: an `import()` per call is not free. */
export const sqsCommands = (): Promise<typeof import('@aws-sdk/client-sqs')> => {
  sqsModule ??= import('@aws-sdk/client-sqs');
  return sqsModule;
};

export const sqsClient = (): Promise<SQSClient> => {
  // With an explicit endpoint (stand-in, LocalStack) the queue URL's host may not resolve.
  const explicitEndpoint = Boolean(process.env['AWS_ENDPOINT_URL_SQS'] || process.env['AWS_ENDPOINT_URL']);
  sqs ??= sqsCommands().then(
    ({ SQSClient }) => new SQSClient(explicitEndpoint ? { useQueueUrlAsEndpoint: false } : {}),
  );
  return sqs;
};

let sqsLean: SqsApi | undefined;

/**
 * The lean SQS client of the hot path (sends, visibility changes): see sqs-api.ts. Traced
 * where tracing is on: a subsegment per call, as `captureAWSv3Client` gives an SDK client.
 */
export const sqsApi = (): SqsApi => {
  if (!sqsLean) {
    const tracer = sqsCallTracer();
    sqsLean = new SqsApi(tracer ? { tracer } : {});
  }
  return sqsLean;
};

export const dynamoClient = (): Promise<DynamoDBClient> => {
  dynamo ??= import('@aws-sdk/client-dynamodb').then(({ DynamoDBClient }) => new DynamoDBClient({}));
  return dynamo;
};

export const resetAwsClients = (): void => {
  sqs = undefined;
  sqsLean?.destroy();
  sqsLean = undefined;
  dynamo = undefined;
};
