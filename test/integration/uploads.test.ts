import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLocalUploadStore } from '#adapters/uploads/local.ts';
import { createS3UploadStore } from '#adapters/uploads/s3.ts';
import type { JobEnvelope } from '#domain/jobs.ts';
import { parseUploadKey, uploadKey } from '#domain/knowledge.ts';
import type { UploadTicket } from '#services/ports.ts';
import { startLocalSqs } from '../../bin/local-runtime/sqs.ts';
import { startLocalUploads } from '../../bin/local-runtime/uploads.ts';

/** What a browser or curl sends to a pre-signed POST: the fields, then the file. */
const postForm = (ticket: UploadTicket, file: Blob, fields: Record<string, string> = ticket.fields) => {
  const form = new FormData();
  for (const [name, value] of Object.entries(fields)) form.append(name, value);
  form.append('file', file);
  return fetch(ticket.url, { method: 'POST', body: form });
};

describe('the local upload stand-in (npm start)', () => {
  let dir: string;
  let uploads: Awaited<ReturnType<typeof startLocalUploads>>;
  const announced: JobEnvelope[] = [];
  const key = uploadKey(randomUUID(), randomUUID(), 1);
  const store = () => createLocalUploadStore({ dir, server: { url: uploads.url, secret: uploads.secret } });

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'switchyard-uploads-'));
    uploads = await startLocalUploads({
      dir,
      maxBytes: 1024,
      enqueue: async (job) => {
        announced.push(job);
      },
    });
  });
  afterAll(async () => {
    await uploads?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('keeps a file posted with the signed fields and announces it as an ingestion job of its key', async () => {
    const ticket = await store().presign(key, 'text/markdown', 1024, 60);
    const response = await postForm(ticket, new Blob(['# Title\n\nbody'], { type: 'text/markdown' }));
    expect(response.status).toBe(204);
    expect(new TextDecoder().decode((await store().read(key)) ?? undefined)).toBe('# Title\n\nbody');
    expect(announced).toHaveLength(1);
    expect(announced[0]).toMatchObject({
      type: 'knowledge.ingest',
      ids: { upload_key: key },
      idempotency_key: `ingest:${key}`,
    });
    expect(parseUploadKey(announced[0]!.ids['upload_key']!)).toBeDefined();
    await store().delete(key);
    expect(await store().read(key)).toBeNull();
  });

  it('refuses what S3 would refuse: a file over the limit, fields changed after signing, an expired form', async () => {
    const ticket = await store().presign(key, 'text/plain', 1024, 60);
    const before = announced.length;
    expect((await postForm(ticket, new Blob(['x'.repeat(1025)]))).status).toBe(400);
    expect((await postForm(ticket, new Blob([]))).status).toBe(400);
    const tampered = { ...ticket.fields, 'x-switchyard-max-bytes': String(50 * 1024 * 1024) };
    expect((await postForm(ticket, new Blob(['x'.repeat(2000)]), tampered)).status).toBe(403);
    const otherType = { ...ticket.fields, 'Content-Type': 'application/pdf' };
    expect((await postForm(ticket, new Blob(['x']), otherType)).status).toBe(403);
    const expired = await store().presign(key, 'text/plain', 1024, -1);
    expect((await postForm(expired, new Blob(['x']))).status).toBe(403);
    expect(announced.length).toBe(before);
    expect(await store().read(key)).toBeNull();
  });

  it('reads nothing for a key that is not an upload key (no path leaves the folder)', async () => {
    expect(await store().read('../../etc/passwd')).toBeNull();
  });
});

describe('the S3 upload store', () => {
  let sqs: Awaited<ReturnType<typeof startLocalSqs>>;
  const bucket = 'switchyard-test-uploads';

  beforeAll(async () => {
    // fauxqs speaks S3 too (objects, not form uploads): enough for reads and deletes.
    sqs = await startLocalSqs();
    process.env['AWS_ACCESS_KEY_ID'] ??= 'local';
    process.env['AWS_SECRET_ACCESS_KEY'] ??= 'local';
    const client = new S3Client({ endpoint: sqs.endpoint, region: 'us-east-1', forcePathStyle: true });
    await client.send(new CreateBucketCommand({ Bucket: bucket }));
    client.destroy();
  });
  afterAll(async () => {
    await sqs?.stop();
  });

  it('signs a POST whose policy bounds the size and fixes the content type', async () => {
    const store = createS3UploadStore({ bucket, region: 'us-east-1', endpoint: sqs.endpoint });
    const key = uploadKey(randomUUID(), randomUUID(), 3);
    const ticket = await store.presign(key, 'application/pdf', 50 * 1024 * 1024, 900);
    expect(ticket.fields['key']).toBe(key);
    expect(ticket.fields['Content-Type']).toBe('application/pdf');
    const policy = JSON.parse(Buffer.from(ticket.fields['Policy']!, 'base64').toString('utf8')) as {
      conditions: unknown[];
      expiration: string;
    };
    expect(policy.conditions).toContainEqual(['content-length-range', 1, 50 * 1024 * 1024]);
    expect(policy.conditions).toContainEqual(['eq', '$Content-Type', 'application/pdf']);
    expect(Date.parse(policy.expiration)).toBeGreaterThan(Date.now());
    expect(ticket.fields['X-Amz-Signature']).toMatch(/^[0-9a-f]{64}$/);
  });

  it('reads an uploaded object, answers null for a missing one, and deletes', async () => {
    const store = createS3UploadStore({ bucket, region: 'us-east-1', endpoint: sqs.endpoint });
    const key = uploadKey(randomUUID(), randomUUID(), 1);
    expect(await store.read(key)).toBeNull();
    const client = new S3Client({ endpoint: sqs.endpoint, region: 'us-east-1', forcePathStyle: true });
    await client.send(
      new PutObjectCommand({ Bucket: bucket, Key: key, Body: 'hello', ContentType: 'text/plain' }),
    );
    client.destroy();
    expect(new TextDecoder().decode((await store.read(key)) ?? undefined)).toBe('hello');
    await store.delete(key);
    expect(await store.read(key)).toBeNull();
  });
});
