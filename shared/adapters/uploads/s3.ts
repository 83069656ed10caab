import type { S3Client } from '@aws-sdk/client-s3';
import type { UploadStore, UploadTicket } from '#services/ports.ts';

/**
 * Uploads to S3 through pre-signed POSTs: unlike a pre-signed PUT, the POST's policy carries a
 * `content-length-range`, so S3 itself refuses a file over the limit. The SDK is imported on
 * first use: only the upload route and ingestion of uploaded files load it.
 */
export interface S3UploadStoreOptions {
  readonly bucket: string;
  readonly region?: string;
  /** An S3-compatible endpoint (LocalStack); path-style addressing then. */
  readonly endpoint?: string;
}

export const createS3UploadStore = (options: S3UploadStoreOptions): UploadStore => {
  let client: Promise<{ s3: S3Client; sdk: typeof import('@aws-sdk/client-s3') }> | undefined;
  const connect = () => {
    client ??= import('@aws-sdk/client-s3').then((sdk) => ({
      sdk,
      s3: new sdk.S3Client({
        ...(options.region && { region: options.region }),
        ...(options.endpoint && { endpoint: options.endpoint, forcePathStyle: true }),
      }),
    }));
    return client;
  };

  return {
    async presign(key, contentType, maxBytes, expiresInSeconds): Promise<UploadTicket> {
      const [{ s3 }, { createPresignedPost }] = await Promise.all([
        connect(),
        import('@aws-sdk/s3-presigned-post'),
      ]);
      const { url, fields } = await createPresignedPost(s3, {
        Bucket: options.bucket,
        Key: key,
        Conditions: [
          ['content-length-range', 1, maxBytes],
          ['eq', '$Content-Type', contentType],
        ],
        Fields: { 'Content-Type': contentType },
        Expires: expiresInSeconds,
      });
      return { url, fields, expiresAt: new Date(Date.now() + expiresInSeconds * 1000) };
    },

    async read(key) {
      const { s3, sdk } = await connect();
      try {
        const object = await s3.send(new sdk.GetObjectCommand({ Bucket: options.bucket, Key: key }));
        return object.Body ? await object.Body.transformToByteArray() : new Uint8Array();
      } catch (error) {
        if (error instanceof sdk.NoSuchKey) return null;
        throw error;
      }
    },

    async delete(key) {
      const { s3, sdk } = await connect();
      await s3.send(new sdk.DeleteObjectCommand({ Bucket: options.bucket, Key: key }));
    },
  };
};
