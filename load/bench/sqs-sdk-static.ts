/** The SDK variant with `@aws-sdk/client-sqs` imported statically (loaded at init): see sqs-sdk-api.ts. */
import {
  ChangeMessageVisibilityCommand,
  DeleteMessageBatchCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { sdkSqsApi } from './sqs-sdk-api.ts';

export { SqsError } from '#adapters/aws/sqs-api.ts';

export const SqsApi = sdkSqsApi(() => ({
  SQSClient,
  SendMessageBatchCommand,
  SendMessageCommand,
  ChangeMessageVisibilityCommand,
  ReceiveMessageCommand,
  DeleteMessageBatchCommand,
}));
