import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { ensureUploadFolder, localUploadPath, verifyLocalUpload } from '#adapters/uploads/local.ts';
import type { JobEnvelope } from '#domain/jobs.ts';
import { uploadedFileJob } from '#domain/knowledge.ts';

/**
 * The upload bucket's stand-in for `npm start`: takes the pre-signed POSTs the local upload
 * store hands out (form fields, then the file, as S3's form upload), checks the signature,
 * expiry, content type and size as S3 checks its policy, keeps the file in the data folder,
 * and announces it with the envelope S3's event brings in AWS.
 */
export interface LocalUploads {
  readonly url: string;
  readonly dir: string;
  readonly secret: string;
  stop(): Promise<void>;
}

/** S3 answers form uploads with XML errors; a short text is enough for a developer's client. */
const answer = (res: ServerResponse, status: number, message: string) => {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8' });
  res.end(`${message}\n`);
};

const readBody = async (req: IncomingMessage, limit: number): Promise<Buffer | undefined> => {
  const parts: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) return undefined;
    parts.push(chunk);
  }
  return Buffer.concat(parts);
};

/** The form's fields and overhead besides the file: S3 allows 20 KB of them. */
const formOverheadBytes = 20 * 1024;

export const startLocalUploads = async (options: {
  readonly dir: string;
  readonly maxBytes: number;
  readonly enqueue: (job: JobEnvelope) => Promise<void>;
  readonly host?: string;
}): Promise<LocalUploads> => {
  const secret = randomBytes(32).toString('base64url');
  const { dir } = options;

  const receive = async (req: IncomingMessage, res: ServerResponse) => {
    if (req.method !== 'POST') return answer(res, 405, 'POST a form (multipart/form-data)');
    const declared = Number(req.headers['content-length'] ?? Number.NaN);
    const limit = options.maxBytes + formOverheadBytes;
    if (declared > limit) return answer(res, 400, 'EntityTooLarge');
    const body = await readBody(req, limit);
    if (!body) return answer(res, 400, 'EntityTooLarge');
    let form: FormData;
    try {
      form = await new Request('http://uploads/', {
        method: 'POST',
        headers: { 'content-type': String(req.headers['content-type'] ?? '') },
        body,
      }).formData();
    } catch {
      return answer(res, 400, 'MalformedPOSTRequest: a multipart/form-data body with a file field');
    }
    const field = (name: string) => {
      const value = form.get(name);
      return typeof value === 'string' ? value : '';
    };
    const policy = {
      key: field('key'),
      contentType: field('Content-Type'),
      maxBytes: Number(field('x-switchyard-max-bytes')),
      expires: Number(field('x-switchyard-expires')),
    };
    if (!verifyLocalUpload(secret, policy, field('x-switchyard-signature'))) {
      return answer(res, 403, 'AccessDenied: the form fields are not the ones the upload was signed for');
    }
    if (policy.expires * 1000 < Date.now()) return answer(res, 403, 'AccessDenied: the upload has expired');
    const file = form.get('file');
    if (!(file instanceof Blob)) return answer(res, 400, 'MalformedPOSTRequest: no file field');
    if (file.size < 1 || file.size > policy.maxBytes) {
      return answer(res, 400, `EntityTooLarge: the file must be 1 to ${policy.maxBytes} bytes`);
    }
    const path = localUploadPath(dir, policy.key);
    if (!path) return answer(res, 400, 'InvalidArgument: not an upload key');
    await ensureUploadFolder(path);
    await writeFile(path, new Uint8Array(await file.arrayBuffer()), { mode: 0o600 });
    await options.enqueue(uploadedFileJob(policy.key, new Date().toISOString()));
    res.writeHead(204);
    res.end();
  };

  const server = createServer((req, res) => {
    receive(req, res).catch((error: unknown) => {
      console.error('local uploads:', error);
      if (!res.headersSent) answer(res, 500, 'InternalError');
      else res.destroy();
    });
  });
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((done) => server.listen(0, host, done));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  // A wildcard address is where it listens, not where a client can send to.
  const urlHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${urlHost}:${port}/`,
    dir,
    secret,
    stop: () => new Promise<void>((done) => server.close(() => done())),
  };
};
