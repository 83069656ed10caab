/**
 * The hot path's SQS calls through `@aws-sdk/client-sqs` instead of the lean client, for
 * load/sqs-client.ts only: one SDK client per container, wrapped with the Powertools tracer
 * (`traceAwsClient`, i.e. `tracer.captureAWSv3Client`), behind the lean client's interface so
 * the stack's bundles can be built with it in place of shared/adapters/aws/sqs-api.ts.
 */
import type { SQSClient, SQSClientConfig } from '@aws-sdk/client-sqs';
import type { SqsApi as LeanApi, SqsApiOptions, SqsBatchResult, SqsMessage } from '#adapters/aws/sqs-api.ts';
import { traceAwsClient } from '#runtime/tracing.ts';

/** What the variant needs of the SDK module, loaded statically or through import(). */
export type SqsSdk = Pick<
  typeof import('@aws-sdk/client-sqs'),
  | 'SQSClient'
  | 'SendMessageBatchCommand'
  | 'SendMessageCommand'
  | 'ChangeMessageVisibilityCommand'
  | 'ReceiveMessageCommand'
  | 'DeleteMessageBatchCommand'
>;

type Input<K extends keyof LeanApi> = LeanApi[K] extends (input: infer I) => unknown ? I : never;

export const sdkSqsApi = (load: () => Promise<SqsSdk> | SqsSdk) =>
  class SdkSqsApi {
    private readonly ready: Promise<{ sdk: SqsSdk; client: SQSClient }>;
    private client: SQSClient | undefined;

    constructor(options: SqsApiOptions = {}) {
      const explicitEndpoint =
        options.endpoint ?? process.env['AWS_ENDPOINT_URL_SQS'] ?? process.env['AWS_ENDPOINT_URL'];
      const config: SQSClientConfig = {
        ...(options.endpoint && { endpoint: options.endpoint }),
        ...(options.region && { region: options.region }),
        ...(options.credentials && { credentials: options.credentials }),
        ...(options.maxAttempts && { maxAttempts: options.maxAttempts }),
        // With an explicit endpoint (stand-in) the queue URL's host may not resolve: clients.ts does the same.
        ...(explicitEndpoint && { useQueueUrlAsEndpoint: false }),
      };
      this.ready = Promise.resolve(load()).then((sdk) => {
        this.client = traceAwsClient(new sdk.SQSClient(config));
        return { sdk, client: this.client };
      });
    }

    async sendMessageBatch(input: Input<'sendMessageBatch'>): Promise<SqsBatchResult> {
      const { sdk, client } = await this.ready;
      return client.send(
        new sdk.SendMessageBatchCommand(input as ConstructorParameters<SqsSdk['SendMessageBatchCommand']>[0]),
      ) as Promise<SqsBatchResult>;
    }

    async sendMessage(input: Input<'sendMessage'>): Promise<{ MessageId?: string }> {
      const { sdk, client } = await this.ready;
      return client.send(
        new sdk.SendMessageCommand(input as ConstructorParameters<SqsSdk['SendMessageCommand']>[0]),
      );
    }

    async changeMessageVisibility(input: Input<'changeMessageVisibility'>): Promise<void> {
      const { sdk, client } = await this.ready;
      await client.send(new sdk.ChangeMessageVisibilityCommand(input));
    }

    async receiveMessage(input: Input<'receiveMessage'>): Promise<{ Messages?: SqsMessage[] }> {
      const { sdk, client } = await this.ready;
      return client.send(
        new sdk.ReceiveMessageCommand(input as ConstructorParameters<SqsSdk['ReceiveMessageCommand']>[0]),
      ) as Promise<{ Messages?: SqsMessage[] }>;
    }

    async deleteMessageBatch(input: Input<'deleteMessageBatch'>): Promise<SqsBatchResult> {
      const { sdk, client } = await this.ready;
      return client.send(
        new sdk.DeleteMessageBatchCommand(
          input as ConstructorParameters<SqsSdk['DeleteMessageBatchCommand']>[0],
        ),
      ) as Promise<SqsBatchResult>;
    }

    destroy(): void {
      this.client?.destroy();
    }
  };
