import { config } from '#runtime/config.ts';
import type { UploadStore } from '#services/ports.ts';

let store: Promise<UploadStore | undefined> | undefined;

/**
 * The container's upload store: S3 where `UPLOAD_BUCKET` is set (AWS), the local runtime's
 * folder where its upload server is configured (`npm start`), else none (uploads answer 503).
 * The chosen adapter is imported on first use.
 */
export const uploadStore = (): Promise<UploadStore | undefined> => {
  store ??= (async () => {
    const { bucket, localUrl, localDir, localSecret } = config().uploads;
    if (bucket) {
      const { createS3UploadStore } = await import('./s3.ts');
      const region = process.env['AWS_REGION'];
      const endpoint = process.env['AWS_ENDPOINT_URL_S3'];
      return createS3UploadStore({ bucket, ...(region && { region }), ...(endpoint && { endpoint }) });
    }
    if (localDir) {
      // A workers-only process reads the folder; only the API's runtime, with the server, signs.
      const { createLocalUploadStore } = await import('./local.ts');
      return createLocalUploadStore({
        dir: localDir,
        server: localUrl && localSecret ? { url: localUrl, secret: localSecret } : undefined,
      });
    }
    return undefined;
  })();
  return store;
};

/** Forgets the store, so tests and the local runtime can change the environment. */
export const resetUploadStore = (): void => {
  store = undefined;
};
