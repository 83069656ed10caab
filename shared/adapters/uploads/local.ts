import { createHmac, timingSafeEqual } from 'node:crypto';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { parseUploadKey } from '#domain/knowledge.ts';
import type { UploadStore, UploadTicket } from '#services/ports.ts';

/**
 * `npm start`'s stand-in for the S3 upload bucket: files in a folder of the data directory,
 * received by the local runtime's upload server (bin/local-runtime/uploads.ts) through the same
 * kind of pre-signed POST S3 answers — form fields, then the file — signed with a secret of the
 * runtime's instead of AWS credentials.
 */
export interface LocalUploadSettings {
  readonly dir: string;
  /** The upload server's URL (the form's action) and signing secret; absent in a workers-only process. */
  readonly server: { readonly url: string; readonly secret: string } | undefined;
}

/** The fields a form carries besides the file, as S3's are: what the server checks and signs. */
export interface LocalUploadPolicy {
  readonly key: string;
  readonly contentType: string;
  readonly maxBytes: number;
  /** Epoch seconds after which the server refuses the form. */
  readonly expires: number;
}

const canonical = (policy: LocalUploadPolicy) =>
  [policy.key, policy.contentType, policy.maxBytes, policy.expires].join('\n');

export const signLocalUpload = (secret: string, policy: LocalUploadPolicy): string =>
  createHmac('sha256', secret).update(canonical(policy)).digest('base64url');

/** Whether a form's fields are a policy this secret signed: its key, type, limit and expiry untouched. */
export const verifyLocalUpload = (secret: string, policy: LocalUploadPolicy, signature: string): boolean => {
  const expected = Buffer.from(signLocalUpload(secret, policy));
  const given = Buffer.from(signature);
  return expected.length === given.length && timingSafeEqual(expected, given);
};

/** Where a key's file lives; undefined for a key that is not an upload key (no path escapes the folder). */
export const localUploadPath = (dir: string, key: string): string | undefined =>
  parseUploadKey(key) ? join(dir, key) : undefined;

export const createLocalUploadStore = (settings: LocalUploadSettings): UploadStore => ({
  async presign(key, contentType, maxBytes, expiresInSeconds): Promise<UploadTicket> {
    const { server } = settings;
    if (!server) throw new Error('the local upload server is not running in this process');
    const expiresAt = new Date(Date.now() + expiresInSeconds * 1000);
    const policy = { key, contentType, maxBytes, expires: Math.floor(expiresAt.getTime() / 1000) };
    return {
      url: server.url,
      fields: {
        key,
        'Content-Type': contentType,
        'x-switchyard-max-bytes': String(maxBytes),
        'x-switchyard-expires': String(policy.expires),
        'x-switchyard-signature': signLocalUpload(server.secret, policy),
      },
      expiresAt,
    };
  },

  async read(key) {
    const path = localUploadPath(settings.dir, key);
    if (!path) return null;
    try {
      return new Uint8Array(await readFile(path));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw error;
    }
  },

  async delete(key) {
    const path = localUploadPath(settings.dir, key);
    if (path) await rm(path, { force: true });
  },
});

/** Makes the folder a key's file goes into. */
export const ensureUploadFolder = (path: string): Promise<string | undefined> =>
  mkdir(dirname(path), { recursive: true, mode: 0o700 });
