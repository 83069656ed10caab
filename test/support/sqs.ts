import { GetQueueAttributesCommand, type SQSClient } from '@aws-sdk/client-sqs';

/** Visible + in flight: zero means everything was deleted (or dead-lettered). */
export const queueDepth = async (sqs: SQSClient, queueUrl: string): Promise<number> => {
  const { Attributes = {} } = await sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: queueUrl,
      AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
    }),
  );
  return (
    Number(Attributes.ApproximateNumberOfMessages) + Number(Attributes.ApproximateNumberOfMessagesNotVisible)
  );
};
