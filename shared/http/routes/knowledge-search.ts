import * as z from 'zod/mini';
import { maxSearchLimit, rrfK, searchBody, searchModes } from '#domain/knowledge.ts';
import { defineRoutes } from '../route.ts';
import { json, problem } from './responses.ts';

/** Search in a knowledge base. */
export const knowledgeSearchRoutes = /* @__PURE__ */ defineRoutes('knowledgeSearch', () => {
  const count = z.int().check(z.gte(0));
  const rank = z.nullable(z.int().check(z.gte(1))).register(z.globalRegistry, {
    description: "1-based place in that ranking's candidates; null when the hit was not among them",
  });
  const hit = z.object({
    document_id: z.uuid(),
    title: z.string(),
    chunk_id: z.uuid(),
    text: z.string(),
    highlight: z.string().register(z.globalRegistry, {
      description:
        "The text with the query's terms marked <mark>…</mark> (not HTML-escaped: the text is the document's own); the text itself when none occurs in it",
    }),
    score: z.number().register(z.globalRegistry, {
      description: `Higher is better. keyword: ts_rank_cd; semantic: cosine similarity (1 − cosine distance); hybrid: reciprocal rank fusion, Σ 1/(${rrfK} + rank)`,
    }),
    rank_keyword: rank,
    rank_semantic: rank,
  });
  const facetCounts = (description: string) =>
    z.record(z.string(), count).register(z.globalRegistry, { description });
  const searchResult = z.object({
    hits: z.array(hit),
    facets: z
      .object({
        content_type: facetCounts('Documents by content type'),
        tags: facetCounts('Documents by tag: the 100 most frequent tags'),
      })
      .register(z.globalRegistry, {
        description:
          'Counts of the documents the filters select among those search can see (ingested, not archived, not expired): the whole filtered set, not only the hits',
      }),
    mode: z.enum(searchModes),
    cached: z.boolean().register(z.globalRegistry, { description: 'Answered from the search cache' }),
    took_ms: z.number().register(z.globalRegistry, {
      description: "The search's time in the service, in milliseconds",
    }),
  });
  return [
    {
      method: 'POST',
      path: '/v1/knowledge-bases/{id}/search',
      auth: 'tenant',
      summary: 'Search a knowledge base',
      description: [
        `Modes: keyword (PostgreSQL full text: websearch_to_tsquery in the base's language, so quotes, "or" and "-" work and no input is a syntax error; ranked by ts_rank_cd), semantic (the query embedded by the base's model, cosine similarity through an HNSW index) and hybrid (the default: reciprocal rank fusion, k = ${rrfK}, of the two rankings' top max(2 × limit, 20)).`,
        `Filters narrow the documents: tags (all of them), content_type (any), metadata (top-level equality, JSON containment), created_after / created_before (exclusive). limit: 1–${maxSearchLimit}, default 10.`,
        'Facets count the filtered documents (not only the hits) by content type and by tag.',
        "A search is one SQL statement. Results are cached per tenant for up to a minute under the base's version, so any change to the base or its documents is seen at once; a document that expires leaves the cached results then too.",
      ].join(' '),
      body: searchBody,
      responses: {
        200: json('The hits, best first, and the facets', searchResult),
        501: problem('Semantic or hybrid search on a database without pgvector'),
        502: problem('The embedding provider refused to embed the query'),
        503: problem('The embedding provider is unreachable for the moment', ['Retry-After']),
      },
    },
  ] as const;
});
