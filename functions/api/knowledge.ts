import type { KnowledgeBase, KnowledgeBaseSummary, KnowledgeDocument } from '#domain/knowledge.ts';
import { toDocumentResource, toKnowledgeBaseResource } from '#domain/knowledge.ts';
import { auditRequest, listPage } from '#http/accept.ts';
import { createApiHandler } from '#http/api-handler.ts';
import { ifMatchVersions, versionEtag } from '#http/preconditions.ts';
import { knowledgeRoutes } from '#http/routes/knowledge.ts';
import type { ApiRequest, ApiResponse } from '#http/types.ts';
import { requirePrincipal } from '#http/types.ts';
import { knowledgeService } from '#services/container.ts';
import { withIdempotencyKey } from '#services/idempotency.ts';

const knowledge = knowledgeService;

/** Authenticated, may change at any time: clients revalidate with the ETag. */
const cacheControl = 'private, no-cache';

const baseResponse = (
  status: number,
  base: KnowledgeBase,
  headers?: Record<string, string>,
): ApiResponse => ({
  status,
  body: toKnowledgeBaseResource(base),
  etag: versionEtag(base.version),
  lastModified: base.updatedAt,
  cacheControl,
  ...(headers && { headers }),
});

const documentLocation = (document: KnowledgeDocument) =>
  `/v1/knowledge-bases/${document.knowledgeBaseId}/documents/${document.id}`;

/** Never with the source: a document's bytes are ingestion's input, not part of the resource. */
const documentResponse = (
  status: number,
  document: KnowledgeDocument,
  headers?: Record<string, string>,
): ApiResponse => ({
  status,
  body: toDocumentResource(document),
  etag: versionEtag(document.version),
  lastModified: document.updatedAt,
  cacheControl,
  ...(headers && { headers }),
});

const audit = (
  request: ApiRequest,
  resourceType: 'knowledge_base' | 'document',
  action: string,
  id: string,
): Promise<void> => auditRequest(request, { action: `${resourceType}.${action}`, resourceType }, id);

/** A list item with only the fields asked for (`id` always among them). */
const only = (resource: Record<string, unknown>, fields: ReadonlySet<string>): Record<string, unknown> =>
  Object.fromEntries(Object.entries(resource).filter(([key]) => fields.has(key)));

export const handler = createApiHandler(knowledgeRoutes, {
  'POST /v1/knowledge-bases': async (request, { body }) => {
    const { tenantId } = requirePrincipal(request);
    return withIdempotencyKey(request, `${tenantId}:${request.routeKey}`, async () => {
      const base = await knowledge().createBase(tenantId, body);
      await audit(request, 'knowledge_base', 'created', base.id);
      return baseResponse(201, base, { location: `/v1/knowledge-bases/${base.id}` });
    });
  },

  'GET /v1/knowledge-bases': (request, { query: { fields, ...query } }) =>
    listPage(
      request,
      query,
      (list) => knowledge().listBases(list),
      (base: KnowledgeBaseSummary) => only(toKnowledgeBaseResource(base, base.documentCount), fields),
    ),

  'GET /v1/knowledge-bases/{id}': async (request, { params }) => {
    const { tenantId } = requirePrincipal(request);
    return baseResponse(200, await knowledge().getBase(tenantId, params.id));
  },

  'PATCH /v1/knowledge-bases/{id}': async (request, { params, body }) => {
    const { tenantId } = requirePrincipal(request);
    const base = await knowledge().updateBase(
      tenantId,
      params.id,
      body,
      ifMatchVersions(request.headers['if-match']),
    );
    await audit(request, 'knowledge_base', 'updated', base.id);
    return baseResponse(200, base);
  },

  'DELETE /v1/knowledge-bases/{id}': async (request, { params }) => {
    const { tenantId } = requirePrincipal(request);
    await knowledge().deleteBase(tenantId, params.id, ifMatchVersions(request.headers['if-match']));
    await audit(request, 'knowledge_base', 'deleted', params.id);
    return { status: 204 };
  },

  'POST /v1/knowledge-bases/{id}/documents': async (request, { params, body }) => {
    const { tenantId } = requirePrincipal(request);
    return withIdempotencyKey(request, `${tenantId}:${request.routeKey}:${params.id}`, async () => {
      const { document, replaced } = await knowledge().addDocument(
        tenantId,
        params.id,
        body,
        request.headers['x-amzn-trace-id'],
      );
      await audit(request, 'document', replaced ? 'replaced' : 'created', document.id);
      return documentResponse(202, document, { location: documentLocation(document) });
    });
  },

  'POST /v1/knowledge-bases/{id}/documents/uploads': async (request, { params, body }) => {
    const { tenantId } = requirePrincipal(request);
    return withIdempotencyKey(request, `${tenantId}:${request.routeKey}:${params.id}`, async () => {
      const { document, replaced, upload } = await knowledge().addUpload(tenantId, params.id, body);
      await audit(request, 'document', replaced ? 'replaced' : 'created', document.id);
      return {
        ...documentResponse(201, document, { location: documentLocation(document) }),
        // The form's fields carry a signature: never kept by a cache on the way.
        cacheControl: 'no-store',
        body: {
          document: toDocumentResource(document),
          upload: { url: upload.url, fields: upload.fields, expires_at: upload.expiresAt.toISOString() },
        },
      };
    });
  },

  'GET /v1/knowledge-bases/{id}/documents': (request, { params, query: { fields, ...query } }) =>
    listPage(
      request,
      { ...query, knowledgeBaseId: params.id },
      (list) =>
        knowledge().listDocuments({
          tenantId: list.tenantId,
          knowledgeBaseId: list.knowledgeBaseId,
          limit: list.limit,
          ...(list.after && { after: list.after }),
          ...(list.status && { status: list.status }),
          ...(list.content_type && { contentType: list.content_type }),
          ...(list.tag && { tag: list.tag }),
          ...(list.created_after && { createdAfter: list.created_after }),
          ...(list.created_before && { createdBefore: list.created_before }),
        }),
      (document) => only(toDocumentResource(document), fields),
    ),

  'GET /v1/knowledge-bases/{id}/documents/{documentId}': async (request, { params }) => {
    const { tenantId } = requirePrincipal(request);
    return documentResponse(200, await knowledge().getDocument(tenantId, params.id, params.documentId));
  },

  'PATCH /v1/knowledge-bases/{id}/documents/{documentId}': async (request, { params, body }) => {
    const { tenantId } = requirePrincipal(request);
    const document = await knowledge().updateDocument(
      tenantId,
      params.id,
      params.documentId,
      body,
      ifMatchVersions(request.headers['if-match']),
    );
    await audit(request, 'document', 'updated', document.id);
    return documentResponse(200, document);
  },

  'DELETE /v1/knowledge-bases/{id}/documents/{documentId}': async (request, { params }) => {
    const { tenantId } = requirePrincipal(request);
    await knowledge().deleteDocument(
      tenantId,
      params.id,
      params.documentId,
      ifMatchVersions(request.headers['if-match']),
    );
    await audit(request, 'document', 'deleted', params.documentId);
    return { status: 204 };
  },

  'POST /v1/knowledge-bases/{id}/documents:bulk': async (request, { params, body }) => {
    const { tenantId } = requirePrincipal(request);
    const documentIds = await knowledge().bulkDocuments(tenantId, params.id, body);
    // One record for the change, on the base: a thousand would flood the trail.
    if (documentIds.length > 0) await audit(request, 'knowledge_base', 'documents_updated', params.id);
    return {
      status: 200,
      body: { updated: documentIds.length, document_ids: documentIds },
      cacheControl: 'private, no-store',
    };
  },
});
