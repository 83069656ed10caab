import * as z from 'zod/mini';
import { cursorTimeBounds } from '#domain/cursor.ts';
import {
  bulkDocumentsBody,
  createDocumentBody,
  createKnowledgeBaseBody,
  createUploadBody,
  documentPageLimit,
  documentStatuses,
  embeddingDimensions,
  knowledgeBasePageLimit,
  knowledgeContentTypes,
  maxBulkDocuments,
  maxInlineDocumentBytes,
  maxUploadBytes,
  textSearchLanguages,
  updateDocumentBody,
  updateKnowledgeBaseBody,
} from '#domain/knowledge.ts';
import { fieldsParam, oneOfParam, pageQuery, textParam } from '../query.ts';
import { defineRoutes } from '../route.ts';
import { created, json, problem, versionedAndDated } from './responses.ts';

/** Fields a knowledge base list item may have (`?fields=`); `id` always. */
export const knowledgeBaseListFields = [
  'id',
  'name',
  'description',
  'embedding_model',
  'text_search_language',
  'chunking',
  'document_count',
  'created_at',
  'updated_at',
] as const;

/** Fields a document list item may have (`?fields=`); `id` always. */
export const documentListFields = [
  'id',
  'knowledge_base_id',
  'external_id',
  'title',
  'description',
  'content_type',
  'tags',
  'metadata',
  'expires_at',
  'status',
  'failure_reason',
  'chunk_count',
  'progress',
  'source_bytes',
  'created_at',
  'updated_at',
] as const;

const isoInstant =
  /^\d{4}-\d{2}-\d{2}T(?:[01]\d|2[0-3]):[0-5]\d(?::[0-5]\d(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:[0-5]\d)$/i;

/**
 * An instant (RFC 3339 with an offset), undefined when absent or empty. Only instants a row
 * can have (1970 to 9999) pass, so a forged one never reaches a query.
 */
const instantParam = () =>
  z.pipe(
    z.optional(z.string()),
    z.transform((raw: string | undefined, ctx): Date | undefined => {
      if (raw === undefined || raw === '') return undefined;
      const at = new Date(raw);
      const time = at.getTime();
      // Date rolls a day that does not exist (02-30) over into the next month: refused instead.
      const [year, month, day] = raw.slice(0, 10).split('-').map(Number) as [number, number, number];
      const exists = new Date(Date.UTC(year, month - 1, day)).getUTCDate() === day;
      if (isoInstant.test(raw) && exists && time >= cursorTimeBounds.min && time <= cursorTimeBounds.max) {
        return at;
      }
      ctx.issues.push({
        code: 'custom',
        message: 'must be an RFC 3339 date-time with an offset, e.g. 2026-01-31T09:00:00Z',
        input: raw,
      });
      return z.NEVER;
    }),
  );

const chunkingDefaults =
  'Chunking defaults to 400 estimated tokens with 50 of overlap: 400 stays under the 512-token input ' +
  'limit of the smallest embedding model offered (Cohere Embed v3) even when the estimate (words and ' +
  'punctuation; no tokenizer) is a quarter low, and 50 tokens (~12 %) keep a sentence cut at a boundary ' +
  'readable in both chunks.';

/** Knowledge bases and their documents. */
export const knowledgeRoutes = /* @__PURE__ */ defineRoutes('knowledge', ({ pageOf }) => {
  const timestamp = z.iso.datetime();
  const count = () => z.int().check(z.gte(0));

  const knowledgeBaseFields = {
    id: z.uuid(),
    name: z.string(),
    description: z.nullable(z.string()),
    embedding_model: z.object({
      provider: z.string(),
      model: z.string(),
      dimensions: z.union(embeddingDimensions.map((d) => z.literal(d)) as [z.ZodMiniLiteral<256>]),
    }),
    text_search_language: z.enum(textSearchLanguages),
    chunking: z.object({ size_tokens: z.int(), overlap_tokens: z.int() }),
    created_at: timestamp,
    updated_at: timestamp,
  };
  const documentCount = count().register(z.globalRegistry, {
    description: 'Documents in the base, whatever their status',
  });
  const knowledgeBaseSchema = z.object(knowledgeBaseFields);
  const knowledgeBaseListItem = z.object({
    ...Object.fromEntries(
      Object.entries(knowledgeBaseFields).map(([key, schema]) => [key, z.optional(schema)]),
    ),
    id: z.uuid(),
    document_count: z.optional(documentCount),
  });

  const documentFields = {
    id: z.uuid(),
    knowledge_base_id: z.uuid(),
    external_id: z.nullable(z.string()),
    title: z.string(),
    description: z.nullable(z.string()),
    content_type: z.enum(knowledgeContentTypes),
    tags: z.array(z.string()),
    metadata: z.record(z.string(), z.unknown()),
    expires_at: z.nullable(timestamp),
    status: z.enum(documentStatuses).register(z.globalRegistry, {
      description:
        'processing → ready | failed for the latest posting; archived hides it from search. While a ' +
        'replacement (same external_id) is processing, search keeps showing the previous one.',
    }),
    failure_reason: z.nullable(z.string()),
    chunk_count: count().register(z.globalRegistry, { description: 'Chunks search shows for it' }),
    progress: z.object({ chunks_done: count(), chunks_total: z.nullable(count()) }),
    source_bytes: z.nullable(count()),
    created_at: timestamp,
    updated_at: timestamp,
  };
  const documentSchema = z.object(documentFields);
  const documentListItem = z.object({
    ...Object.fromEntries(Object.entries(documentFields).map(([key, schema]) => [key, z.optional(schema)])),
    id: z.uuid(),
  });
  const documentHeaders = ['Location', ...versionedAndDated, 'Idempotency-Key'] as const;

  return [
    {
      method: 'POST',
      path: '/v1/knowledge-bases',
      auth: 'tenant',
      summary: 'Create a knowledge base',
      description:
        'Only `name` is required. The embedding model defaults to the stage’s (the local embedder under ' +
        '`npm start`) and is fixed for the base’s life, as is `text_search_language` (default `english`; ' +
        `\`simple\` does no stemming). ${chunkingDefaults}`,
      body: createKnowledgeBaseBody,
      idempotent: true,
      responses: {
        201: created('The knowledge base', knowledgeBaseSchema),
        422: problem('No embedder can serve the embedding model'),
      },
    },
    {
      method: 'GET',
      path: '/v1/knowledge-bases',
      auth: 'tenant',
      summary: 'List knowledge bases',
      description: 'Newest first, each with its document count (from the same query).',
      query: pageQuery(knowledgeBasePageLimit, {
        fields: fieldsParam(
          knowledgeBaseListFields,
          'id',
          `Comma-separated subset of: ${knowledgeBaseListFields.join(', ')} (id is always included)`,
        ),
      }),
      responses: { 200: json('A page of knowledge bases', pageOf(knowledgeBaseListItem)) },
    },
    {
      method: 'GET',
      path: '/v1/knowledge-bases/{id}',
      auth: 'tenant',
      summary: 'Get a knowledge base',
      conditional: 'read',
      responses: { 200: json('The knowledge base', knowledgeBaseSchema, versionedAndDated) },
    },
    {
      method: 'PATCH',
      path: '/v1/knowledge-bases/{id}',
      auth: 'tenant',
      summary: 'Update a knowledge base',
      description:
        'The embedding model and language are fixed; new chunking applies to documents posted after it. ' +
        'The ETag moves with every change of what search sees in the base, documents included.',
      body: updateKnowledgeBaseBody,
      conditional: 'write',
      responses: { 200: json('The knowledge base as updated', knowledgeBaseSchema, versionedAndDated) },
    },
    {
      method: 'DELETE',
      path: '/v1/knowledge-bases/{id}',
      auth: 'tenant',
      summary: 'Delete a knowledge base',
      description:
        'Answers at once: search and ingestion stop seeing it; its documents are removed with it later.',
      conditional: 'write',
      responses: { 204: { description: 'Deleted' } },
    },
    {
      method: 'POST',
      path: '/v1/knowledge-bases/{id}/documents',
      auth: 'tenant',
      summary: 'Add or replace a document',
      description:
        'Exactly one of `content` (base64 for application/pdf) or `chunks` (cut by the client, ' +
        'with or without vectors of the base’s dimensions). Ingestion runs in the background: the ' +
        'document is `processing` until it is `ready` or `failed`. The same `external_id` again replaces ' +
        'the document atomically: search shows the previous version until the new one is ready.',
      body: createDocumentBody,
      maxBodyBytes: maxInlineDocumentBytes,
      idempotent: true,
      responses: {
        202: json('Accepted: ingestion is queued', documentSchema, documentHeaders),
        415: problem(`content_type is not one of ${knowledgeContentTypes.join(', ')}`),
        422: problem(
          'Both or neither of content and chunks; a vector of other dimensions than the base’s; a PDF not in base64',
        ),
      },
    },
    {
      method: 'POST',
      path: '/v1/knowledge-bases/{id}/documents/uploads',
      auth: 'tenant',
      summary: 'Add or replace a document by uploading its file',
      description:
        `For files up to ${maxUploadBytes / 1024 / 1024} MB. Answers the document (\`processing\`) and a pre-signed ` +
        'form: POST `upload.url` as multipart/form-data with every field of `upload.fields`, then the file as the ' +
        '`file` field, before `upload.expires_at`. The store refuses a file over the limit or of another content ' +
        'type. Ingestion starts when the file lands. The same `external_id` again replaces the document, as a post does.',
      body: createUploadBody,
      idempotent: true,
      responses: {
        201: json(
          'The document, waiting for its file, and the form to upload it with',
          z.object({
            document: documentSchema,
            upload: z.object({
              url: z.string(),
              fields: z.record(z.string(), z.string()),
              expires_at: timestamp,
            }),
          }),
          documentHeaders,
        ),
        413: problem(`size_bytes over ${maxUploadBytes / 1024 / 1024} MB`),
        415: problem(`content_type is not one of ${knowledgeContentTypes.join(', ')}`),
        503: problem('Uploads are not configured on this stage'),
      },
    },
    {
      method: 'GET',
      path: '/v1/knowledge-bases/{id}/documents',
      auth: 'tenant',
      summary: 'List documents',
      query: pageQuery(documentPageLimit, {
        fields: fieldsParam(
          documentListFields,
          'id',
          `Comma-separated subset of: ${documentListFields.join(', ')} (id is always included)`,
        ),
        status: oneOfParam(documentStatuses, 'Filter by status'),
        content_type: oneOfParam(knowledgeContentTypes, 'Filter by content type'),
        tag: textParam({ maxLength: 100 }, 'Documents carrying this tag'),
        created_after: instantParam(),
        created_before: instantParam(),
      }),
      responses: { 200: json('A page of documents, newest first', pageOf(documentListItem)) },
    },
    {
      method: 'GET',
      path: '/v1/knowledge-bases/{id}/documents/{documentId}',
      auth: 'tenant',
      summary: 'Get a document',
      conditional: 'read',
      responses: { 200: json('The document', documentSchema, versionedAndDated) },
    },
    {
      method: 'PATCH',
      path: '/v1/knowledge-bases/{id}/documents/{documentId}',
      auth: 'tenant',
      summary: 'Update a document',
      description:
        'Title, description, tags, metadata and expiry; search sees them at once, with no re-ingestion.',
      body: updateDocumentBody,
      conditional: 'write',
      responses: { 200: json('The document as updated', documentSchema, versionedAndDated) },
    },
    {
      method: 'DELETE',
      path: '/v1/knowledge-bases/{id}/documents/{documentId}',
      auth: 'tenant',
      summary: 'Delete a document',
      description: 'With its chunks, at once; an ingestion in flight stops.',
      conditional: 'write',
      responses: { 204: { description: 'Deleted' } },
    },
    {
      method: 'POST',
      path: '/v1/knowledge-bases/{id}/documents:bulk',
      auth: 'tenant',
      summary: 'Change the status or tags of many documents',
      description:
        `Up to ${maxBulkDocuments.toLocaleString('en')} documents in one statement. \`archived\` hides ` +
        'ready or failed documents from search; `ready` shows archived ones again if they were ' +
        'ingested. Answers the ids it changed: ids not in the base, and documents already as asked, are left out.',
      body: bulkDocumentsBody,
      responses: {
        200: json('What changed', z.object({ updated: count(), document_ids: z.array(z.uuid()) }), [
          'Cache-Control',
        ]),
      },
    },
  ] as const;
});
