/** The SDK variant with `@aws-sdk/client-sqs` loaded through import() on first use: see sqs-sdk-api.ts. */
import { sdkSqsApi } from './sqs-sdk-api.ts';

export { SqsError } from '#adapters/aws/sqs-api.ts';

export const SqsApi = sdkSqsApi(() => import('@aws-sdk/client-sqs'));
