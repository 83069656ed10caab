import { describe, expect, it } from 'vitest';
import { sqsApi } from '#adapters/aws/clients.ts';
import { database } from '#adapters/postgres/db.ts';
import { encodeCursor } from '#domain/cursor.ts';
import { type JobEnvelope, jobEnvelope } from '#domain/jobs.ts';
import { maxInlineDocumentBytes } from '#domain/knowledge.ts';
import { config } from '#runtime/config.ts';
import { adminKey, globexKey, queriesOf, realServersEnv, type TestApi, useTestApi } from '../support/api.ts';
import { describeRealServers } from '../support/real-servers.ts';

const uuidV7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const rfc3339Utc = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;

interface BaseBody {
  id: string;
  name: string;
  description: string | null;
  embedding_model: { provider: string; model: string; dimensions: number };
  text_search_language: string;
  chunking: { size_tokens: number; overlap_tokens: number };
  document_count?: number;
  created_at: string;
  updated_at: string;
}

interface DocumentBody {
  id: string;
  knowledge_base_id: string;
  external_id: string | null;
  title: string;
  description: string | null;
  content_type: string;
  tags: string[];
  metadata: Record<string, unknown>;
  expires_at: string | null;
  status: string;
  failure_reason: string | null;
  chunk_count: number;
  progress: { chunks_done: number; chunks_total: number | null };
  source_bytes: number | null;
  created_at: string;
  updated_at: string;
}

interface Problem {
  type: string;
  status: number;
  errors?: { field: string; detail: string }[];
}

/** A row of the documents table as ingestion sees it (what the resource leaves out). */
interface StoredDocument {
  generation: number;
  searchable_generation: number | null;
  status: string;
  chunk_count: number;
  chunks_done: number;
  chunks_total: number | null;
  source: Buffer | null;
  source_bytes: number | null;
  source_sha256: Buffer | null;
}

const sha256 = async (bytes: Uint8Array): Promise<Buffer> =>
  (await import('node:crypto')).createHash('sha256').update(bytes).digest();

/**
 * The knowledge API's bases and documents, over HTTP through the local gateway, against the
 * runtime in this process (workers off: a posted document stays `processing`, and its
 * ingestion job waits on the default queue, where the tests read it). Ingestion's effects
 * (a searchable generation, chunks) are written with SQL where a test needs them.
 */
const knowledgeApiContract = (api: () => TestApi): void => {
  let counter = 0;
  const unique = () => `${Date.now()}-${++counter}`;
  const db = () => database();

  const createBase = async (overrides: Record<string, unknown> = {}, key?: string): Promise<BaseBody> => {
    const response = await api().call('/v1/knowledge-bases', {
      method: 'POST',
      json: { name: `base ${unique()}`, ...overrides },
      ...(key && { key }),
    });
    expect(response.status, await response.clone().text()).toBe(201);
    return (await response.json()) as BaseBody;
  };
  const postDocument = (baseId: string, body: Record<string, unknown>, key?: string) =>
    api().call(`/v1/knowledge-bases/${baseId}/documents`, {
      method: 'POST',
      json: {
        title: `doc ${unique()}`,
        content_type: 'text/markdown',
        content: '# Owls\n\nThey hoot.',
        ...body,
      },
      ...(key && { key }),
    });
  const addDocument = async (baseId: string, body: Record<string, unknown> = {}): Promise<DocumentBody> => {
    const response = await postDocument(baseId, body);
    expect(response.status, await response.clone().text()).toBe(202);
    return (await response.json()) as DocumentBody;
  };
  const stored = async (id: string): Promise<StoredDocument> =>
    (
      await db().query<StoredDocument>(
        `SELECT generation, searchable_generation, status, chunk_count, chunks_done, chunks_total, source,
                source_bytes, source_sha256
           FROM knowledge_documents WHERE id = $1`,
        [id],
      )
    )[0]!;
  const baseVersion = async (id: string): Promise<number> =>
    (await db().query<{ version: number }>('SELECT version FROM knowledge_bases WHERE id = $1', [id]))[0]!
      .version;
  /** What ingestion's finish leaves: the generation searchable, its chunks counted, ready. */
  const markIngested = async (id: string, chunks = 3) => {
    await db().query(
      `UPDATE knowledge_documents SET status = 'ready', searchable_generation = generation, chunk_count = $2,
              chunks_done = $2, chunks_total = $2 WHERE id = $1`,
      [id, chunks],
    );
  };
  const problemOf = async (response: Response, status: number): Promise<Problem> => {
    expect(response.status, await response.clone().text()).toBe(status);
    expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    return (await response.json()) as Problem;
  };
  const fieldsOf = (problem: Problem) => (problem.errors ?? []).map((e) => e.field);

  /** Ingestion jobs read off the default queue so far, and a wait for one more. */
  const received: JobEnvelope[] = [];
  const ingestJobFor = async (documentId: string, generation: number): Promise<JobEnvelope> => {
    const queueUrl = config().queueUrls.default!;
    for (let attempt = 0; attempt < 20; attempt += 1) {
      const found = received.find(
        (job) => job.ids['document_id'] === documentId && job.ids['generation'] === String(generation),
      );
      if (found) return found;
      const { Messages = [] } = await sqsApi().receiveMessage({
        QueueUrl: queueUrl,
        MaxNumberOfMessages: 10,
        WaitTimeSeconds: 1,
      });
      for (const message of Messages) received.push(jobEnvelope.parse(JSON.parse(message.Body!)));
    }
    throw new Error(`no ingestion job for ${documentId} generation ${generation}`);
  };
  const tenantIdOf = async (name: string): Promise<string> => {
    const response = await api().call('/v1/admin/tenants', { key: adminKey });
    const { data } = (await response.json()) as { data: { id: string; name: string }[] };
    return data.find((tenant) => tenant.name === name)!.id;
  };

  // ---- bases ---------------------------------------------------------------------------------

  it('creates a base from a name alone: the stage’s embedding model, english, 400/50-token chunks', async () => {
    const response = await api().call('/v1/knowledge-bases', { method: 'POST', json: { name: 'Research' } });
    expect(response.status).toBe(201);
    const body = (await response.json()) as BaseBody;
    expect(response.headers.get('location')).toBe(`/v1/knowledge-bases/${body.id}`);
    expect(response.headers.get('etag')).toBe('"v1"');
    expect(body).toEqual({
      id: expect.stringMatching(uuidV7),
      name: 'Research',
      description: null,
      embedding_model: { provider: 'local', model: 'switchyard-hashing-v1', dimensions: 384 },
      text_search_language: 'english',
      chunking: { size_tokens: 400, overlap_tokens: 50 },
      created_at: expect.stringMatching(rfc3339Utc),
      updated_at: expect.stringMatching(rfc3339Utc),
    });
    const read = await api().call(`/v1/knowledge-bases/${body.id}`);
    expect(read.status).toBe(200);
    expect(await read.json()).toEqual(body);
    expect(read.headers.get('cache-control')).toMatch(/^private/);
    const revalidated = await api().call(`/v1/knowledge-bases/${body.id}`, {
      headers: { 'if-none-match': read.headers.get('etag')! },
    });
    expect(revalidated.status).toBe(304);
  });

  it('creates a base with its own model, language and chunking', async () => {
    const base = await createBase({
      description: 'Papers',
      embedding_model: { provider: 'local', model: 'switchyard-hashing-v1', dimensions: 256 },
      text_search_language: 'simple',
      chunking: { size_tokens: 200, overlap_tokens: 20 },
    });
    expect(base).toMatchObject({
      description: 'Papers',
      embedding_model: { provider: 'local', model: 'switchyard-hashing-v1', dimensions: 256 },
      text_search_language: 'simple',
      chunking: { size_tokens: 200, overlap_tokens: 20 },
    });
  });

  it('refuses with 422 a model no embedder serves, other dimensions, bad chunking or language', async () => {
    const cases: [Record<string, unknown>, string][] = [
      [
        { embedding_model: { provider: 'local', model: 'no-such-model', dimensions: 384 } },
        'embedding_model',
      ],
      [
        { embedding_model: { provider: 'bedrock', model: 'amazon.titan-embed-text-v2:0', dimensions: 3072 } },
        'embedding_model',
      ],
      [{ embedding_model: { provider: 'acme', model: 'x', dimensions: 384 } }, 'embedding_model.provider'],
      [
        { embedding_model: { provider: 'local', model: 'switchyard-hashing-v1', dimensions: 100 } },
        'embedding_model.dimensions',
      ],
      [{ chunking: { size_tokens: 100, overlap_tokens: 100 } }, 'chunking.overlap_tokens'],
      [{ chunking: { size_tokens: 10, overlap_tokens: 0 } }, 'chunking.size_tokens'],
      [{ chunking: { size_tokens: 5000, overlap_tokens: 0 } }, 'chunking.size_tokens'],
      [{ text_search_language: 'klingon' }, 'text_search_language'],
      [{ name: '   ' }, 'name'],
    ];
    const before = (await db().query<{ n: number }>('SELECT count(*)::int AS n FROM knowledge_bases'))[0]!.n;
    for (const [overrides, field] of cases) {
      const response = await api().call('/v1/knowledge-bases', {
        method: 'POST',
        json: { name: 'refused', ...overrides },
      });
      expect(fieldsOf(await problemOf(response, 422)), JSON.stringify(overrides)).toContain(field);
    }
    const after = (await db().query<{ n: number }>('SELECT count(*)::int AS n FROM knowledge_bases'))[0]!.n;
    expect(after).toBe(before);
  });

  it('answers the same base to a retry under the same Idempotency-Key, 422 for another body', async () => {
    const key = `kb-${unique()}`;
    const first = await api().call('/v1/knowledge-bases', {
      method: 'POST',
      json: { name: 'keyed' },
      headers: { 'idempotency-key': key },
    });
    expect(first.status).toBe(201);
    const again = await api().call('/v1/knowledge-bases', {
      method: 'POST',
      json: { name: 'keyed' },
      headers: { 'idempotency-key': key },
    });
    expect(again.status).toBe(201);
    expect(((await again.json()) as BaseBody).id).toBe(((await first.json()) as BaseBody).id);
    expect(again.headers.get('idempotency-key')).toBe(key);
    const other = await api().call('/v1/knowledge-bases', {
      method: 'POST',
      json: { name: 'keyed, otherwise' },
      headers: { 'idempotency-key': key },
    });
    expect((await problemOf(other, 422)).type).toMatch(/idempotency-key-reused$/);
  });

  it('patches name, description and chunking under If-Match (412 when stale); the model is fixed', async () => {
    const base = await createBase();
    const patched = await api().call(`/v1/knowledge-bases/${base.id}`, {
      method: 'PATCH',
      json: {
        name: 'Renamed',
        description: 'Now described',
        chunking: { size_tokens: 300, overlap_tokens: 30 },
      },
      headers: { 'if-match': '"v1"' },
    });
    expect(patched.status).toBe(200);
    expect(patched.headers.get('etag')).toBe('"v2"');
    expect(await patched.json()).toMatchObject({
      name: 'Renamed',
      description: 'Now described',
      chunking: { size_tokens: 300, overlap_tokens: 30 },
      embedding_model: base.embedding_model,
    });
    const stale = await api().call(`/v1/knowledge-bases/${base.id}`, {
      method: 'PATCH',
      json: { name: 'Lost update' },
      headers: { 'if-match': '"v1"' },
    });
    await problemOf(stale, 412);
    const fixed = await api().call(`/v1/knowledge-bases/${base.id}`, {
      method: 'PATCH',
      json: { embedding_model: { provider: 'local', model: 'switchyard-hashing-v1', dimensions: 256 } },
    });
    expect(fieldsOf(await problemOf(fixed, 422))).toEqual(['embedding_model']);
    // Nothing to change: no new version, and If-Match still holds or fails.
    const empty = await api().call(`/v1/knowledge-bases/${base.id}`, {
      method: 'PATCH',
      json: {},
      headers: { 'if-match': '"v2"' },
    });
    expect(empty.headers.get('etag')).toBe('"v2"');
    await problemOf(
      await api().call(`/v1/knowledge-bases/${base.id}`, {
        method: 'PATCH',
        json: {},
        headers: { 'if-match': '"v1"' },
      }),
      412,
    );
    // The cached base is the new one.
    expect(((await (await api().call(`/v1/knowledge-bases/${base.id}`)).json()) as BaseBody).name).toBe(
      'Renamed',
    );
  });

  it('soft-deletes a base at once: 204, then 404 for it and its documents, gone from the list', async () => {
    const base = await createBase();
    const document = await addDocument(base.id);
    await problemOf(
      await api().call(`/v1/knowledge-bases/${base.id}`, {
        method: 'DELETE',
        headers: { 'if-match': '"v1"' },
      }),
      412,
    );
    const deleted = await api().call(`/v1/knowledge-bases/${base.id}`, { method: 'DELETE' });
    expect(deleted.status).toBe(204);
    await problemOf(await api().call(`/v1/knowledge-bases/${base.id}`), 404);
    await problemOf(await api().call(`/v1/knowledge-bases/${base.id}`, { method: 'DELETE' }), 404);
    await problemOf(await api().call(`/v1/knowledge-bases/${base.id}/documents/${document.id}`), 404);
    await problemOf(await api().call(`/v1/knowledge-bases/${base.id}/documents`), 404);
    await problemOf(await postDocument(base.id, {}), 404);
    const rows = await db().query<{ deleted: boolean }>(
      'SELECT deleted_at IS NOT NULL AS deleted FROM knowledge_bases WHERE id = $1',
      [base.id],
    );
    expect(rows[0]?.deleted).toBe(true);
    const ids: string[] = [];
    let cursor: string | null = null;
    do {
      const page = (await (
        await api().call(`/v1/knowledge-bases?limit=100&fields=id${cursor ? `&cursor=${cursor}` : ''}`)
      ).json()) as { data: { id: string }[]; next_cursor: string | null };
      ids.push(...page.data.map((b) => b.id));
      cursor = page.next_cursor;
    } while (cursor);
    expect(ids).not.toContain(base.id);
  });

  it('lists bases newest first with document counts, in one statement, paged by cursor, with fields', async () => {
    const bases = [await createBase(), await createBase(), await createBase()];
    for (let i = 0; i < 3; i += 1) await addDocument(bases[0]!.id);
    await addDocument(bases[1]!.id);
    await api().call('/v1/knowledge-bases?limit=1'); // warms the key lookup
    const first = await api().call('/v1/knowledge-bases?limit=2');
    expect(first.status).toBe(200);
    expect(queriesOf(first)).toBe(1);
    const page1 = (await first.json()) as { data: BaseBody[]; next_cursor: string };
    expect(page1.data.map((b) => b.id)).toEqual([bases[2]!.id, bases[1]!.id]);
    expect(page1.data.map((b) => b.document_count)).toEqual([0, 1]);
    expect(page1.data[1]).toMatchObject({ ...bases[1], document_count: 1, updated_at: expect.any(String) });
    const second = await api().call(`/v1/knowledge-bases?limit=1&cursor=${page1.next_cursor}`);
    expect(queriesOf(second)).toBe(1);
    const page2 = (await second.json()) as { data: BaseBody[] };
    expect(page2.data).toHaveLength(1);
    expect(page2.data[0]).toMatchObject({ id: bases[0]!.id, document_count: 3 });
    const narrow = (await (
      await api().call('/v1/knowledge-bases?limit=1&fields=name,document_count')
    ).json()) as { data: Record<string, unknown>[] };
    expect(Object.keys(narrow.data[0]!).sort()).toEqual(['document_count', 'id', 'name']);
    await problemOf(await api().call('/v1/knowledge-bases?fields=name,secret'), 400);
  });

  it('scopes bases and documents by tenant: another tenant’s ids answer 404 on every route', async () => {
    const base = await createBase();
    const document = await addDocument(base.id);
    const baseUrl = `/v1/knowledge-bases/${base.id}`;
    const documentUrl = `${baseUrl}/documents/${document.id}`;
    const asGlobex: [string, RequestInit & { json?: unknown }][] = [
      [baseUrl, {}],
      [baseUrl, { method: 'PATCH', json: { name: 'mine now' } }],
      [baseUrl, { method: 'DELETE' }],
      [`${baseUrl}/documents`, {}],
      [
        `${baseUrl}/documents`,
        { method: 'POST', json: { title: 't', content_type: 'text/plain', content: 'x' } },
      ],
      [documentUrl, {}],
      [documentUrl, { method: 'PATCH', json: { title: 'mine now' } }],
      [documentUrl, { method: 'DELETE' }],
      [
        `${baseUrl}/documents:bulk`,
        { method: 'POST', json: { document_ids: [document.id], set_status: 'archived' } },
      ],
    ];
    for (const [path, init] of asGlobex) {
      await problemOf(await api().call(path, { ...init, key: globexKey }), 404);
    }
    // Globex's own base cannot reach acme's document either.
    const theirs = await createBase({}, globexKey);
    await problemOf(
      await api().call(`/v1/knowledge-bases/${theirs.id}/documents/${document.id}`, { key: globexKey }),
      404,
    );
    const bulk = await api().call(`/v1/knowledge-bases/${theirs.id}/documents:bulk`, {
      method: 'POST',
      key: globexKey,
      json: { document_ids: [document.id], set_status: 'archived' },
    });
    expect(await bulk.json()).toEqual({ updated: 0, document_ids: [] });
    expect(
      await api()
        .call(documentUrl)
        .then((r) => r.json()),
    ).toEqual(document);
    expect(((await (await api().call(baseUrl)).json()) as BaseBody).name).toBe(base.name);
  });

  // ---- documents -----------------------------------------------------------------------------

  it('accepts a document: 202, Location, processing, its source stored, its ingestion job queued', async () => {
    const base = await createBase();
    const content = '# Owls\n\nOwls hoot at night. — déjà vu';
    const response = await postDocument(base.id, {
      title: 'Owls',
      description: 'Birds',
      content_type: 'Text/Markdown; charset=utf-8',
      content,
      tags: ['birds', 'night', 'birds'],
      metadata: { source: 'field notes', year: 2024 },
      expires_at: '2099-01-01T00:00:00+02:00',
    });
    expect(response.status).toBe(202);
    const document = (await response.json()) as DocumentBody;
    expect(response.headers.get('location')).toBe(`/v1/knowledge-bases/${base.id}/documents/${document.id}`);
    expect(response.headers.get('etag')).toBe('"v1"');
    const bytes = Buffer.from(content, 'utf8');
    expect(document).toEqual({
      id: expect.stringMatching(uuidV7),
      knowledge_base_id: base.id,
      external_id: null,
      title: 'Owls',
      description: 'Birds',
      content_type: 'text/markdown',
      tags: ['birds', 'night'],
      metadata: { source: 'field notes', year: 2024 },
      expires_at: '2098-12-31T22:00:00.000Z',
      status: 'processing',
      failure_reason: null,
      chunk_count: 0,
      progress: { chunks_done: 0, chunks_total: null },
      source_bytes: bytes.byteLength,
      created_at: expect.stringMatching(rfc3339Utc),
      updated_at: expect.stringMatching(rfc3339Utc),
    });
    const row = await stored(document.id);
    expect(row).toMatchObject({ generation: 1, searchable_generation: null, source_bytes: bytes.byteLength });
    expect(Buffer.from(row.source!)).toEqual(bytes);
    expect(Buffer.from(row.source_sha256!)).toEqual(await sha256(bytes));

    const job = await ingestJobFor(document.id, 1);
    expect(job).toEqual({
      type: 'knowledge.ingest',
      tenant_id: await tenantIdOf('acme'),
      ids: { document_id: document.id, generation: '1' },
      idempotency_key: `ingest:${document.id}:1`,
      trace: expect.any(String),
      enqueued_at: expect.stringMatching(rfc3339Utc),
    });
    // Read back as accepted, never with its source.
    const read = await api().call(`/v1/knowledge-bases/${base.id}/documents/${document.id}`);
    expect(await read.json()).toEqual(document);
    const revalidated = await api().call(`/v1/knowledge-bases/${base.id}/documents/${document.id}`, {
      headers: { 'if-none-match': read.headers.get('etag')! },
    });
    expect(revalidated.status).toBe(304);
  });

  it('refuses a content type ingestion cannot read with 415, and neither or both of content and chunks with 422', async () => {
    const base = await createBase();
    for (const contentType of ['image/png', 'application/msword', 'text/csv', 'markdown']) {
      const refused = await postDocument(base.id, { content_type: contentType });
      expect((await problemOf(refused, 415)).type).toMatch(/unsupported-content-type$/);
    }
    const neither = await postDocument(base.id, { content: undefined });
    expect(fieldsOf(await problemOf(neither, 422))).toEqual(['content']);
    const both = await postDocument(base.id, { chunks: [{ text: 'a chunk' }] });
    expect(fieldsOf(await problemOf(both, 422))).toEqual(['content']);
    const empty = await postDocument(base.id, { content: '' });
    expect(fieldsOf(await problemOf(empty, 422))).toEqual(['content']);
    const count = await db().query<{ n: number }>(
      'SELECT count(*)::int AS n FROM knowledge_documents WHERE knowledge_base_id = $1',
      [base.id],
    );
    expect(count[0]!.n).toBe(0);
  });

  it('takes bodies up to 1 MB on the document route only: 202 at the limit, 413 one byte over', async () => {
    const base = await createBase();
    // A body of exactly `bytes` bytes: the shell around the content, and the content.
    const shell = JSON.stringify({ title: 'big', content_type: 'text/plain', content: '' }).length;
    const bodyOf = (bytes: number) =>
      JSON.stringify({ title: 'big', content_type: 'text/plain', content: 'x'.repeat(bytes - shell) });
    const send = (path: string, body: string) =>
      api().call(path, { method: 'POST', body, headers: { 'content-type': 'application/json' } });
    const documents = `/v1/knowledge-bases/${base.id}/documents`;
    const atLimit = await send(documents, bodyOf(maxInlineDocumentBytes));
    expect(atLimit.status).toBe(202);
    const accepted = (await atLimit.json()) as DocumentBody;
    expect(accepted.source_bytes).toBe(maxInlineDocumentBytes - shell);
    const over = await send(documents, bodyOf(maxInlineDocumentBytes + 1));
    expect((await problemOf(over, 413)).type).toMatch(/payload-too-large$/);
    // Every other route keeps its 256 KB.
    const name = 'n'.repeat(300 * 1024);
    await problemOf(await send('/v1/knowledge-bases', JSON.stringify({ name })), 413);
  });

  it('stores client-cut chunks as JSON, and refuses a vector of other dimensions naming its index', async () => {
    const base = await createBase({
      embedding_model: { provider: 'local', model: 'switchyard-hashing-v1', dimensions: 256 },
    });
    const vector = (n: number) => Array.from({ length: n }, (_, i) => (i % 7) / 7);
    const wrong = await postDocument(base.id, {
      content: undefined,
      chunks: [
        { text: 'right', embedding: vector(256) },
        { text: 'wrong', embedding: vector(384) },
        { text: 'none' },
      ],
    });
    const problem = await problemOf(wrong, 422);
    expect(problem.errors).toEqual([
      { field: 'chunks.1.embedding', detail: expect.stringMatching(/384 dimensions.*has 256/) },
    ]);
    const chunks = [{ text: 'Owls hoot.', heading: 'Owls', embedding: vector(256) }, { text: 'Bats click.' }];
    const document = await addDocument(base.id, { content: undefined, content_type: 'text/plain', chunks });
    const row = await stored(document.id);
    expect(JSON.parse(Buffer.from(row.source!).toString('utf8'))).toEqual(chunks);
    expect(document.source_bytes).toBe(row.source!.length);
    await ingestJobFor(document.id, 1);
  });

  it('takes a PDF as base64 and stores its bytes; refuses content that is not base64 with 422', async () => {
    const base = await createBase();
    const pdf = Buffer.from('%PDF-1.4\n% not a real one: ingestion will say so\n%%EOF\n', 'latin1');
    const document = await addDocument(base.id, {
      content_type: 'application/pdf',
      content: pdf.toString('base64').replace(/(.{16})/g, '$1\n'),
    });
    expect(document.source_bytes).toBe(pdf.length);
    expect(Buffer.from((await stored(document.id)).source!)).toEqual(pdf);
    for (const content of ['not base64!', '%PDF-1.4', 'QUJD=A', '====']) {
      const refused = await postDocument(base.id, { content_type: 'application/pdf', content });
      expect(fieldsOf(await problemOf(refused, 422)), content).toEqual(['content']);
    }
  });

  it('replaces a document posted again with its external_id: generation 2, the old one still searchable', async () => {
    const base = await createBase();
    const externalId = `handbook-${unique()}`;
    const first = await addDocument(base.id, {
      external_id: externalId,
      title: 'Handbook v1',
      tags: ['old'],
    });
    await markIngested(first.id, 4);
    const versionBefore = await baseVersion(base.id);
    const response = await postDocument(base.id, {
      external_id: externalId,
      title: 'Handbook v2',
      content_type: 'text/plain',
      content: 'Second edition.',
      tags: ['new'],
    });
    expect(response.status).toBe(202);
    const second = (await response.json()) as DocumentBody;
    expect(second.id).toBe(first.id);
    expect(response.headers.get('location')).toBe(`/v1/knowledge-bases/${base.id}/documents/${first.id}`);
    expect(response.headers.get('etag')).toBe('"v2"');
    expect(second).toMatchObject({
      external_id: externalId,
      title: 'Handbook v2',
      content_type: 'text/plain',
      tags: ['new'],
      status: 'processing',
      chunk_count: 4,
      progress: { chunks_done: 0, chunks_total: null },
      source_bytes: 15,
      created_at: first.created_at,
    });
    expect(await stored(first.id)).toMatchObject({
      generation: 2,
      searchable_generation: 1,
      chunks_done: 0,
      chunks_total: null,
    });
    expect(await baseVersion(base.id)).toBe(versionBefore + 1);
    const job = await ingestJobFor(first.id, 2);
    expect(job.idempotency_key).toBe(`ingest:${first.id}:2`);
    // The same external id in another base is another document.
    const other = await createBase();
    expect((await addDocument(other.id, { external_id: externalId })).id).not.toBe(first.id);
  });

  it('lists documents newest first with status, content type, tag and creation filters, by cursor', async () => {
    const base = await createBase();
    const markdown = await addDocument(base.id, { tags: ['a'] });
    const plain = await addDocument(base.id, { content_type: 'text/plain', tags: ['a', 'b'] });
    const html = await addDocument(base.id, {
      content_type: 'text/html',
      content: '<h1>Hi</h1>',
      tags: ['b'],
    });
    await markIngested(plain.id);
    const list = async (query: string) => {
      const response = await api().call(`/v1/knowledge-bases/${base.id}/documents?${query}`);
      expect(response.status, query).toBe(200);
      return (await response.json()) as { data: DocumentBody[]; next_cursor: string | null };
    };
    const ids = async (query: string) => (await list(query)).data.map((d) => d.id);
    expect(await ids('')).toEqual([html.id, plain.id, markdown.id]);
    expect(await ids('status=ready')).toEqual([plain.id]);
    expect(await ids('status=processing')).toEqual([html.id, markdown.id]);
    expect(await ids('content_type=text/html')).toEqual([html.id]);
    expect(await ids('tag=a')).toEqual([plain.id, markdown.id]);
    expect(await ids('tag=b&status=processing')).toEqual([html.id]);
    expect(await ids(`created_after=${encodeURIComponent(plain.created_at)}`)).toEqual([html.id, plain.id]);
    expect(await ids(`created_before=${encodeURIComponent(plain.created_at)}`)).toEqual([markdown.id]);
    expect(await ids('created_after=2999-01-01T00:00:00Z')).toEqual([]);

    const page1 = await list('limit=2');
    expect(page1.data.map((d) => d.id)).toEqual([html.id, plain.id]);
    expect(page1.data[1]).toEqual({
      ...plain,
      status: 'ready',
      chunk_count: 3,
      progress: { chunks_done: 3, chunks_total: 3 },
    });
    const page2 = await list(`limit=2&cursor=${page1.next_cursor}`);
    expect(page2.data.map((d) => d.id)).toEqual([markdown.id]);
    expect(page2.next_cursor).toBeNull();
    const narrow = await list('fields=title,status');
    expect(Object.keys(narrow.data[0]!).sort()).toEqual(['id', 'status', 'title']);

    for (const query of [
      'status=done',
      'content_type=image/png',
      'created_after=yesterday',
      'created_before=2024-01-01',
      'created_before=2024-02-30T00:00:00Z',
      'created_after=1969-12-31T23:59:59Z',
      'fields=source',
      'limit=101',
      `cursor=${encodeCursor({ createdAt: new Date(), id: markdown.id })}x!`,
    ]) {
      await problemOf(await api().call(`/v1/knowledge-bases/${base.id}/documents?${query}`), 400);
    }
  });

  it('patches a document’s fields without re-ingestion, under If-Match, and bumps its base’s version', async () => {
    const base = await createBase();
    const document = await addDocument(base.id, { tags: ['draft'] });
    const version = await baseVersion(base.id);
    const response = await api().call(`/v1/knowledge-bases/${base.id}/documents/${document.id}`, {
      method: 'PATCH',
      json: {
        title: 'Final',
        description: 'Reviewed',
        tags: ['final', 'final', 'reviewed'],
        metadata: { reviewer: 'ann' },
        expires_at: '2030-06-01T00:00:00Z',
      },
      headers: { 'if-match': '"v1"' },
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('etag')).toBe('"v2"');
    expect(await response.json()).toMatchObject({
      title: 'Final',
      description: 'Reviewed',
      tags: ['final', 'reviewed'],
      metadata: { reviewer: 'ann' },
      expires_at: '2030-06-01T00:00:00.000Z',
      status: 'processing',
    });
    expect(await stored(document.id)).toMatchObject({ generation: 1 });
    expect(await baseVersion(base.id)).toBe(version + 1);
    const cleared = await api().call(`/v1/knowledge-bases/${base.id}/documents/${document.id}`, {
      method: 'PATCH',
      json: { description: null, expires_at: null },
    });
    expect(await cleared.json()).toMatchObject({ title: 'Final', description: null, expires_at: null });
    await problemOf(
      await api().call(`/v1/knowledge-bases/${base.id}/documents/${document.id}`, {
        method: 'PATCH',
        json: { title: 'Lost' },
        headers: { 'if-match': '"v1"' },
      }),
      412,
    );
    await problemOf(
      await api().call(`/v1/knowledge-bases/${base.id}/documents/${document.id}`, {
        method: 'PATCH',
        json: { content: 'new text' },
      }),
      422,
    );
  });

  it('deletes a document with its chunks; its base’s version moves', async () => {
    const base = await createBase();
    const document = await addDocument(base.id);
    await db().query(
      `INSERT INTO knowledge_chunks (id, tenant_id, knowledge_base_id, document_id, generation, ordinal, text,
                                     token_count, search_vector, dimensions, embedding)
       SELECT gen_random_uuid(), d.tenant_id, d.knowledge_base_id, d.id, 1, 0, 'Owls hoot.', 3,
              to_tsvector('english', 'Owls hoot.'), 3, '{0.1,0.2,0.3}'
         FROM knowledge_documents d WHERE d.id = $1`,
      [document.id],
    );
    await markIngested(document.id, 1);
    const version = await baseVersion(base.id);
    const url = `/v1/knowledge-bases/${base.id}/documents/${document.id}`;
    await problemOf(await api().call(url, { method: 'DELETE', headers: { 'if-match': '"v9"' } }), 412);
    expect((await api().call(url, { method: 'DELETE', headers: { 'if-match': '"v1"' } })).status).toBe(204);
    await problemOf(await api().call(url), 404);
    await problemOf(await api().call(url, { method: 'DELETE' }), 404);
    const chunks = await db().query<{ n: number }>(
      'SELECT count(*)::int AS n FROM knowledge_chunks WHERE document_id = $1',
      [document.id],
    );
    expect(chunks[0]!.n).toBe(0);
    expect(await baseVersion(base.id)).toBe(version + 1);
    // The cached base carries the new version (the search cache is keyed by it).
    expect((await api().call(`/v1/knowledge-bases/${base.id}`)).headers.get('etag')).toBe(
      `"v${version + 1}"`,
    );
  });

  it('changes status and tags of 1,000 documents in one statement; ready only for ingested ones', async () => {
    const base = await createBase();
    const ids = (
      await db().query<{ id: string }>(
        `INSERT INTO knowledge_documents (id, tenant_id, knowledge_base_id, title, content_type, tags, status,
                                          searchable_generation, chunk_count, created_at, updated_at)
         SELECT gen_random_uuid(), b.tenant_id, b.id, 'bulk ' || g, 'text/plain', ARRAY['t' || (g % 2)],
                'ready', 1, 1, now(), now()
           FROM knowledge_bases b, generate_series(1, 1000) AS g WHERE b.id = $1
         RETURNING id`,
        [base.id],
      )
    ).map((row) => row.id);
    const bulk = (body: Record<string, unknown>, key?: string) =>
      api().call(`/v1/knowledge-bases/${base.id}/documents:bulk`, {
        method: 'POST',
        json: body,
        ...(key && { key }),
      });
    await api().call(`/v1/knowledge-bases/${base.id}`); // the base and the key in the cache
    const version = await baseVersion(base.id);
    const archived = await bulk({ document_ids: ids, set_status: 'archived', add_tags: ['old'] });
    expect(archived.status).toBe(200);
    expect(queriesOf(archived)).toBe(1);
    const answer = (await archived.json()) as { updated: number; document_ids: string[] };
    expect(answer.updated).toBe(1000);
    expect(answer.document_ids.sort()).toEqual([...ids].sort());
    expect(await baseVersion(base.id)).toBe(version + 1);
    const rows = await db().query<{ status: string; tags: string[]; n: number }>(
      `SELECT status, tags, count(*)::int AS n FROM knowledge_documents WHERE knowledge_base_id = $1
        GROUP BY status, tags ORDER BY tags`,
      [base.id],
    );
    expect(rows).toEqual([
      { status: 'archived', tags: ['t0', 'old'], n: 500 },
      { status: 'archived', tags: ['t1', 'old'], n: 500 },
    ]);
    // Already as asked: nothing changes, and the version stays.
    const again = (await (await bulk({ document_ids: ids.slice(0, 10), set_status: 'archived' })).json()) as {
      updated: number;
    };
    expect(again.updated).toBe(0);
    expect(await baseVersion(base.id)).toBe(version + 1);

    // Back to ready only where a generation is searchable; unknown ids are left out.
    const neverIngested = await addDocument(base.id);
    await db().query("UPDATE knowledge_documents SET status = 'archived' WHERE id = $1", [neverIngested.id]);
    const restored = await bulk({
      document_ids: [ids[0], ids[1], neverIngested.id, '0190a5f4-7b2c-7d3e-8f40-123456789abc'],
      set_status: 'ready',
      remove_tags: ['old', 't0'],
    });
    const restoredBody = (await restored.json()) as { updated: number; document_ids: string[] };
    // The never-ingested one stays archived, and has no tag to remove: unchanged, so left out.
    expect(restoredBody.document_ids.sort()).toEqual([ids[0]!, ids[1]!].sort());
    const after = await db().query<{ id: string; status: string; tags: string[] }>(
      'SELECT id, status, tags FROM knowledge_documents WHERE id = ANY ($1::uuid[])',
      [[ids[0], ids[1], neverIngested.id]],
    );
    const byId = new Map(after.map((row) => [row.id, row]));
    expect(byId.get(ids[0]!)?.status).toBe('ready');
    expect(byId.get(ids[1]!)?.status).toBe('ready');
    expect(byId.get(neverIngested.id)?.status).toBe('archived');
    expect([byId.get(ids[0]!)?.tags, byId.get(ids[1]!)?.tags].flat().sort()).toEqual(['t1']);
    // Archived, posted (a new document moves the version too), restored.
    expect(await baseVersion(base.id)).toBe(version + 3);

    const tooMany = await bulk({ document_ids: [...ids, neverIngested.id], set_status: 'archived' });
    expect(fieldsOf(await problemOf(tooMany, 422))).toEqual(['document_ids']);
    await problemOf(await bulk({ document_ids: [ids[0]] }), 422);
    await problemOf(await bulk({ document_ids: [ids[0]], add_tags: ['x'], remove_tags: ['x'] }), 422);
    await problemOf(await bulk({ document_ids: ['not-a-uuid'], set_status: 'archived' }), 422);
    await problemOf(await bulk({ document_ids: [ids[0]], set_status: 'processing' }), 422);
  });

  it('moves the base’s version, and its cached ETag, with every change search would see', async () => {
    const base = await createBase();
    const etag = async () => (await api().call(`/v1/knowledge-bases/${base.id}`)).headers.get('etag');
    const steps: [string, () => Promise<unknown>][] = [
      ['post a document', () => addDocument(base.id, { external_id: 'v' })],
      ['replace it', () => addDocument(base.id, { external_id: 'v', title: 'again' })],
      [
        'patch it',
        async () => {
          const [doc] = (
            (await (await api().call(`/v1/knowledge-bases/${base.id}/documents`)).json()) as {
              data: DocumentBody[];
            }
          ).data;
          await api().call(`/v1/knowledge-bases/${base.id}/documents/${doc!.id}`, {
            method: 'PATCH',
            json: { tags: ['x'] },
          });
        },
      ],
      [
        'bulk-tag it',
        async () => {
          const [doc] = (
            (await (await api().call(`/v1/knowledge-bases/${base.id}/documents`)).json()) as {
              data: DocumentBody[];
            }
          ).data;
          await api().call(`/v1/knowledge-bases/${base.id}/documents:bulk`, {
            method: 'POST',
            json: { document_ids: [doc!.id], add_tags: ['y'] },
          });
        },
      ],
      [
        'patch the base',
        () => api().call(`/v1/knowledge-bases/${base.id}`, { method: 'PATCH', json: { name: 'moved' } }),
      ],
    ];
    let version = await baseVersion(base.id);
    expect(await etag()).toBe(`"v${version}"`);
    for (const [what, step] of steps) {
      await step();
      const now = await baseVersion(base.id);
      expect(now, what).toBe(version + 1);
      expect(await etag(), what).toBe(`"v${now}"`);
      version = now;
    }
  });

  it('answers hostile input with 4xx, never 5xx', async () => {
    const base = await createBase();
    const document = await addDocument(base.id);
    const documents = `/v1/knowledge-bases/${base.id}/documents`;
    const requests: [string, RequestInit & { json?: unknown }][] = [
      ['/v1/knowledge-bases/not-a-uuid', {}],
      ['/v1/knowledge-bases/not-a-uuid/documents', {}],
      [`${documents}/not-a-uuid`, {}],
      [`${documents}/not-a-uuid`, { method: 'PATCH', json: { title: 'x' } }],
      [`${documents}/not-a-uuid`, { method: 'DELETE' }],
      [
        '/v1/knowledge-bases/00000000-0000-0000-0000-000000000000/documents:bulk',
        { method: 'POST', json: { document_ids: [document.id], set_status: 'ready' } },
      ],
      [
        '/v1/knowledge-bases',
        { method: 'POST', json: { name: 'x', chunking: { size_tokens: -1, overlap_tokens: -1 } } },
      ],
      [
        '/v1/knowledge-bases',
        {
          method: 'POST',
          json: { name: 'x', embedding_model: { provider: 'local', model: '', dimensions: 384 } },
        },
      ],
      ['/v1/knowledge-bases', { method: 'POST', json: { name: 'x'.repeat(10_000) } }],
      ['/v1/knowledge-bases', { method: 'POST', json: [] }],
      [
        '/v1/knowledge-bases',
        { method: 'POST', body: 'null', headers: { 'content-type': 'application/json' } },
      ],
      [documents, { method: 'POST', json: { title: 'x', content_type: 'text/plain', content: 'a\u0000b' } }],
      [documents, { method: 'POST', json: { title: 'x', content_type: 'x'.repeat(201), content: 'a' } }],
      [
        documents,
        {
          method: 'POST',
          json: { title: 'x', content_type: 'text/plain', content: 'a', external_id: 'e'.repeat(301) },
        },
      ],
      [
        documents,
        {
          method: 'POST',
          json: { title: 'x', content_type: 'text/plain', content: 'a', expires_at: '2024-13-45T00:00:00Z' },
        },
      ],
      [
        documents,
        {
          method: 'POST',
          json: { title: 'x', content_type: 'text/plain', content: 'a', expires_at: '0000-01-01T00:00:00Z' },
        },
      ],
      [
        documents,
        {
          method: 'POST',
          json: {
            title: 'x',
            content_type: 'text/plain',
            content: 'a',
            metadata: { k: { deep: [1, { '': null }] } },
          },
        },
      ],
      [
        documents,
        {
          method: 'POST',
          json: { title: 'x', content_type: 'text/plain', content: 'a', tags: ['x'.repeat(101)] },
        },
      ],
      [
        documents,
        {
          method: 'POST',
          json: { title: 'x', content_type: 'text/plain', chunks: [{ text: 'a', embedding: ['1'] }] },
        },
      ],
      [documents, { method: 'POST', json: { title: 'x', content_type: 'text/plain', chunks: [] } }],
      [
        documents,
        { method: 'POST', json: { title: 'x', content_type: 'application/pdf', content: '\u00ff\u00fe' } },
      ],
      [`${documents}/${document.id}`, { method: 'PATCH', json: { tags: 'not-a-list' } }],
      [`${documents}/${document.id}`, { method: 'PATCH', json: { metadata: null } }],
      [`${documents}/${document.id}`, { method: 'PATCH', json: { expires_at: '9999-12-31T23:59:59Z' } }],
      [`${documents}?tag=${'t'.repeat(500)}`, {}],
      [`${documents}?created_after=${encodeURIComponent('+275760-09-13T00:00:00Z')}`, {}],
      [`${documents}:bulk`, { method: 'POST', json: { document_ids: [document.id], add_tags: [''] } }],
      [`${documents}:bulk`, { method: 'POST', json: {} }],
      [
        `/v1/knowledge-bases/${base.id}/documents%3Abulk`,
        { method: 'POST', json: { document_ids: [document.id] } },
      ],
    ];
    for (const [path, init] of requests) {
      const response = await api().call(path, init);
      expect(
        response.status,
        `${init.method ?? 'GET'} ${path}: ${await response.clone().text()}`,
      ).toBeLessThan(500);
    }
  });
};

describe('knowledge API on the embedded stand-ins (PGlite, fauxqs, dynalite, L1 cache)', () => {
  knowledgeApiContract(useTestApi());
});

describeRealServers('knowledge API on PostgreSQL 15 and Redis 7', (servers) => {
  knowledgeApiContract(useTestApi(realServersEnv(servers)));
});
