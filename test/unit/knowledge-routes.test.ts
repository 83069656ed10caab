import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { ProblemError } from '#domain/errors.ts';
import { maxInlineDocumentBytes } from '#domain/knowledge.ts';
import { buildOpenApiDocument } from '#http/openapi.ts';
import { parseQuery } from '#http/query.ts';
import { bodyLimitOf, maxBodyBytes, parseJsonBody } from '#http/request.ts';
import type { RouteSpec } from '#http/route.ts';
import { knowledgeRoutes } from '#http/routes/knowledge.ts';

const documentsRoute = 'POST /v1/knowledge-bases/{id}/documents';

const event = (routeKey: string, body: string): APIGatewayProxyEventV2 =>
  ({
    routeKey,
    body,
    isBase64Encoded: false,
    headers: { 'content-type': 'application/json' },
  }) as unknown as APIGatewayProxyEventV2;

/** A JSON string body of exactly `bytes` bytes. */
const bodyOf = (bytes: number): string => `"${'x'.repeat(bytes - 2)}"`;

const statusOf = (call: () => unknown): number | undefined => {
  try {
    call();
    return undefined;
  } catch (error) {
    expect(error).toBeInstanceOf(ProblemError);
    return (error as ProblemError).status;
  }
};

describe('a route’s own body limit', () => {
  it('is declared by the route and read by route key: 1 MB for documents, 256 KB elsewhere', () => {
    const routes: readonly RouteSpec[] = knowledgeRoutes;
    expect(routes.find((r) => `${r.method} ${r.path}` === documentsRoute)?.maxBodyBytes).toBe(
      maxInlineDocumentBytes,
    );
    expect(bodyLimitOf(documentsRoute)).toBe(maxInlineDocumentBytes);
    expect(bodyLimitOf('POST /v1/knowledge-bases')).toBe(maxBodyBytes);
    expect(bodyLimitOf('POST /v1/agents')).toBe(maxBodyBytes);
  });

  it('lets the request parser take up to the limit and answer 413 one byte over', () => {
    expect(parseJsonBody(event(documentsRoute, bodyOf(maxInlineDocumentBytes)))).toHaveLength(
      maxInlineDocumentBytes - 2,
    );
    expect(statusOf(() => parseJsonBody(event(documentsRoute, bodyOf(maxInlineDocumentBytes + 1))))).toBe(
      413,
    );
    expect(statusOf(() => parseJsonBody(event('POST /v1/knowledge-bases', bodyOf(maxBodyBytes + 1))))).toBe(
      413,
    );
    expect(
      statusOf(() => parseJsonBody(event('POST /v1/knowledge-bases', bodyOf(maxBodyBytes)))),
    ).toBeUndefined();
  });
});

describe('the knowledge routes in the OpenAPI document', () => {
  const document = buildOpenApiDocument() as unknown as {
    paths: Record<
      string,
      Record<
        string,
        { description?: string; responses: Record<string, { description: string; headers?: object }> }
      >
    >;
  };

  it('documents the 1 MB limit, the 415 for content types, and the 202 with Location', () => {
    const post = document.paths['/v1/knowledge-bases/{id}/documents']!['post']!;
    expect(post.responses['413']?.description).toBe('Body over 1 MB');
    expect(post.responses['415']?.description).toMatch(
      /^content_type is not one of text\/plain.*; or Body is not application\/json$/,
    );
    expect(post.responses['422']?.description).toMatch(/dimensions/);
    expect(Object.keys(post.responses['202']?.headers ?? {})).toEqual(
      expect.arrayContaining(['Location', 'ETag', 'Idempotency-Key']),
    );
    // Every other body keeps the shared limit.
    expect(document.paths['/v1/knowledge-bases']!['post']!.responses['413']?.description).toBe(
      'Body over 256 KB',
    );
    expect(document.paths['/v1/agents']!['post']!.responses['413']?.description).toBe('Body over 256 KB');
  });

  it('says why chunks default to 400 tokens with 50 of overlap', () => {
    const description = document.paths['/v1/knowledge-bases']!['post']!.description ?? '';
    expect(description).toMatch(/400 estimated tokens with 50 of overlap/);
    expect(description).toMatch(/512-token/);
  });

  it('has the bulk action on its own path', () => {
    expect(
      document.paths['/v1/knowledge-bases/{id}/documents:bulk']!['post']!.responses['200'],
    ).toBeDefined();
  });
});

describe('the document list’s creation range', () => {
  const query = knowledgeRoutes.find(
    (r) => r.method === 'GET' && r.path === '/v1/knowledge-bases/{id}/documents',
  )!.query!;

  it('takes RFC 3339 instants with an offset', () => {
    const parsed = parseQuery(query, {
      created_after: '2026-02-28T23:30:00-01:00',
      created_before: '2026-03-01T00:00:00.5Z',
    }) as { created_after: Date; created_before: Date };
    expect(parsed.created_after.toISOString()).toBe('2026-03-01T00:30:00.000Z');
    expect(parsed.created_before.toISOString()).toBe('2026-03-01T00:00:00.500Z');
    expect(parseQuery(query, { created_after: '' })).toMatchObject({ created_after: undefined });
  });

  it('refuses days that do not exist, instants without an offset, and years no row can have', () => {
    for (const raw of [
      '2026-02-30T00:00:00Z',
      '2026-02-29T00:00:00Z',
      '2026-01-01T24:00:00Z',
      '2026-01-01',
      '2026-01-01T00:00:00',
      '1969-12-31T23:59:59Z',
      '+275760-09-13T00:00:00Z',
      'yesterday',
    ]) {
      expect(
        statusOf(() => parseQuery(query, { created_after: raw })),
        raw,
      ).toBe(400);
    }
  });
});
