import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { NagSuppressions } from 'cdk-nag';
import { Construct } from 'constructs';
import { jobs } from '#manifest';
import type { StageConfig } from '../stage-config.ts';
import type { Queues } from './queues.ts';

export interface UploadsProps {
  readonly config: StageConfig;
  readonly queues: Queues;
}

/** Where upload keys live (shared/domain/knowledge.ts `uploadKey`). */
export const uploadPrefix = 'uploads/';

/**
 * Document files too large for a request body: clients POST them straight to this bucket
 * with a form the knowledge API pre-signs (the size range and content type in its policy),
 * and the object's creation puts a `knowledge.ingest` job on the ingestion queue through
 * EventBridge — the envelope `uploadedFileJob` describes, built by an input transformer.
 */
export class Uploads extends Construct {
  /** The ARN pattern of upload keys: what the functions are granted, and no more of the bucket. */
  get uploadKeysArn(): string {
    return this.bucket.arnForObjects(`${uploadPrefix}*`);
  }

  readonly bucket: s3.Bucket;
  readonly rule: events.Rule;

  constructor(scope: Construct, id: string, props: UploadsProps) {
    super(scope, id);
    const { config } = props;
    this.bucket = new s3.Bucket(this, 'Bucket', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      lifecycleRules: [
        // A file is read once, by its ingestion; a week covers the retries and the DLQ's redrive,
        // and an upload that was never finished or never ingested goes with it.
        { prefix: uploadPrefix, expiration: Duration.days(7) },
        { abortIncompleteMultipartUploadAfter: Duration.days(1) },
      ],
      ...(config.corsOrigins.length > 0 && {
        // Browsers post the form directly; only the API's origins may.
        cors: [
          {
            allowedMethods: [s3.HttpMethods.POST],
            allowedOrigins: [...config.corsOrigins],
            allowedHeaders: ['*'],
            maxAge: 3600,
          },
        ],
      }),
      // Kept when the stack goes (no emptying custom resource to deploy): its lifecycle empties it within a week.
      removalPolicy: RemovalPolicy.RETAIN,
    });
    // Object events to EventBridge, set on the bucket itself: `eventBridgeEnabled` would deploy a
    // notifications custom resource (a Lambda function) to do what CloudFormation does natively.
    (this.bucket.node.defaultChild as s3.CfnBucket).addPropertyOverride(
      'NotificationConfiguration.EventBridgeConfiguration.EventBridgeEnabled',
      true,
    );
    NagSuppressions.addResourceSuppressions(this.bucket, [
      {
        id: 'AwsSolutions-S1',
        reason:
          'Transient upload files, each written through a pre-signed POST by the tenant that asked for it and ' +
          'read once by ingestion; the API audit trail records who asked, and objects expire within 7 days.',
      },
    ]);

    const job = jobs.ingestDocument;
    const key = events.EventField.fromPath('$.detail.object.key');
    this.rule = new events.Rule(this, 'Uploaded', {
      description: 'An uploaded document file: ingest it',
      eventPattern: {
        source: ['aws.s3'],
        detailType: ['Object Created'],
        detail: { bucket: { name: [this.bucket.bucketName] }, object: { key: [{ prefix: uploadPrefix }] } },
      },
    });
    this.rule.addTarget(
      new targets.SqsQueue(props.queues.byName[job.queue].queue, {
        message: events.RuleTargetInput.fromObject({
          type: job.type,
          // The key names the tenant (and the document and generation): ingestion reads them from it.
          tenant_id: '',
          ids: { upload_key: key },
          idempotency_key: `ingest:${key}`,
          enqueued_at: events.EventField.time,
        }),
        // The sweeper re-sends ingestions that never started, so a lost event is not a lost document.
        maxEventAge: Duration.hours(1),
        retryAttempts: 10,
      }),
    );
  }
}
