import { describe, expect, it } from 'vitest';
import { maxUploadBytes } from '#domain/knowledge.ts';
import { type TestApi, useTestApi } from '../support/api.ts';
import { until } from '../support/polling.ts';

interface UploadAnswer {
  document: { id: string; status: string; knowledge_base_id: string };
  upload: { url: string; fields: Record<string, string>; expires_at: string };
}

/** What a browser sends to the pre-signed form: its fields, then the file. */
const postFile = (upload: UploadAnswer['upload'], file: Blob) => {
  const form = new FormData();
  for (const [name, value] of Object.entries(upload.fields)) form.append(name, value);
  form.append('file', file);
  return fetch(upload.url, { method: 'POST', body: form });
};

/**
 * Documents through pre-signed uploads, end to end on `npm start`'s runtime: the API answers
 * the document and a form, the file goes to the upload store (the local stand-in of the S3
 * bucket), its arrival starts ingestion, and the document becomes searchable.
 */
describe('document uploads (embedded runtime, workers on)', () => {
  const api = useTestApi(() => ({}), { workers: true });

  const createBase = async (a: TestApi) => {
    const response = await a.call('/v1/knowledge-bases', { method: 'POST', json: { name: 'uploads' } });
    expect(response.status).toBe(201);
    return ((await response.json()) as { id: string }).id;
  };

  const documentOf = async (a: TestApi, baseId: string, id: string) =>
    (await (await a.call(`/v1/knowledge-bases/${baseId}/documents/${id}`)).json()) as {
      status: string;
      chunk_count: number;
      failure_reason: string | null;
    };

  it('takes the file through the form, ingests it when it lands, and finds it in search', async () => {
    const a = api();
    const baseId = await createBase(a);
    const response = await a.call(`/v1/knowledge-bases/${baseId}/documents/uploads`, {
      method: 'POST',
      json: { title: 'Lighthouse log', content_type: 'text/markdown', external_id: 'log', size_bytes: 120 },
    });
    expect(response.status).toBe(201);
    expect(response.headers.get('cache-control')).toBe('no-store');
    const answer = (await response.json()) as UploadAnswer;
    expect(response.headers.get('location')).toBe(
      `/v1/knowledge-bases/${baseId}/documents/${answer.document.id}`,
    );
    expect(answer.document.status).toBe('processing');
    expect(Date.parse(answer.upload.expires_at)).toBeGreaterThan(Date.now());

    const file = '# Lighthouse\n\nThe keeper lit the lamp of the Phare du Créac’h at dusk every evening.';
    expect((await postFile(answer.upload, new Blob([file], { type: 'text/markdown' }))).status).toBe(204);
    const ready = await until(
      () => documentOf(a, baseId, answer.document.id),
      (d) => d.status !== 'processing',
      'the upload to be ingested',
    );
    expect(ready.status, ready.failure_reason ?? '').toBe('ready');
    expect(ready.chunk_count).toBeGreaterThan(0);

    const search = await a.call(`/v1/knowledge-bases/${baseId}/search`, {
      method: 'POST',
      json: { query: 'keeper lamp', mode: 'keyword' },
    });
    const hits = ((await search.json()) as { hits: { document_id: string }[] }).hits;
    expect(hits.map((h) => h.document_id)).toContain(answer.document.id);

    // The same external id again: the same document, a form for its next generation's file.
    const again = (await (
      await a.call(`/v1/knowledge-bases/${baseId}/documents/uploads`, {
        method: 'POST',
        json: { title: 'Lighthouse log', content_type: 'text/markdown', external_id: 'log' },
      })
    ).json()) as UploadAnswer;
    expect(again.document.id).toBe(answer.document.id);
    expect(again.upload.fields['key']).not.toBe(answer.upload.fields['key']);
    expect(again.upload.fields['key']).toMatch(/\/2$/);
    // Until the new file lands, search keeps showing the first one.
    const meanwhile = await a.call(`/v1/knowledge-bases/${baseId}/search`, {
      method: 'POST',
      json: { query: 'keeper lamp', mode: 'keyword' },
    });
    expect(((await meanwhile.json()) as { hits: unknown[] }).hits.length).toBeGreaterThan(0);
  });

  it('refuses what it cannot take before any upload: a content type (415), a declared size (413)', async () => {
    const a = api();
    const baseId = await createBase(a);
    const path = `/v1/knowledge-bases/${baseId}/documents/uploads`;
    const unsupported = await a.call(path, {
      method: 'POST',
      json: { title: 't', content_type: 'image/png' },
    });
    expect(unsupported.status).toBe(415);
    const tooLarge = await a.call(path, {
      method: 'POST',
      json: { title: 't', content_type: 'application/pdf', size_bytes: maxUploadBytes + 1 },
    });
    expect(tooLarge.status).toBe(413);
    expect(tooLarge.headers.get('content-type')).toContain('application/problem+json');
  });

  it('fails a document whose uploaded PDF has no text layer it can read, with a reason', async () => {
    const a = api();
    const baseId = await createBase(a);
    const answer = (await (
      await a.call(`/v1/knowledge-bases/${baseId}/documents/uploads`, {
        method: 'POST',
        json: { title: 'Broken', content_type: 'application/pdf' },
      })
    ).json()) as UploadAnswer;
    const garbage = new Blob(['%PDF-1.7\nnot really a pdf at all'], { type: 'application/pdf' });
    expect((await postFile(answer.upload, garbage)).status).toBe(204);
    const failed = await until(
      () => documentOf(a, baseId, answer.document.id),
      (d) => d.status !== 'processing',
      'the broken upload to be judged',
    );
    expect(failed.status).toBe('failed');
    expect(failed.failure_reason).toBeTruthy();
    expect(failed.chunk_count).toBe(0);
  });
});
