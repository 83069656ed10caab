import { ProblemError } from '#domain/errors.ts';
import { NonRetryableError } from '#domain/jobs.ts';
import type { KnowledgeUse, Retrieval, RetrievedPassage, SearchBody } from '#domain/knowledge.ts';
import { costUsd } from '#domain/pricing.ts';
import type { HitsAnswer } from './knowledge-search.ts';
import type { Retriever } from './ports.ts';

/** A base's hits-only search (`KnowledgeSearchService.searchHits`). */
export type BaseSearch = (
  tenantId: string,
  baseId: string,
  body: SearchBody,
) => Promise<Pick<HitsAnswer, 'hits' | 'embeddingTokens' | 'embeddingModel'>>;

/**
 * Retrieval for agents with `configuration.knowledge`: each named base searched as the search
 * route would (its cache, its one statement), in parallel, the hits merged by score and the
 * best `top_k` kept. A base that no longer exists fails the attempt for good: the agent's
 * configuration names it, and answering without it would hide that.
 */
export class KnowledgeRetriever implements Retriever {
  constructor(private readonly search: BaseSearch) {}

  async retrieve(tenantId: string, use: KnowledgeUse, query: string): Promise<Retrieval> {
    const started = performance.now();
    const text = query.trim();
    if (!text) return { passages: [], durationMs: 0, embeddingTokens: 0, embeddingCostUsd: 0 };
    const answers = await Promise.all(
      use.baseIds.map(async (baseId) => {
        try {
          return {
            baseId,
            answer: await this.search(tenantId, baseId, { query: text, mode: use.mode, limit: use.topK }),
          };
        } catch (error) {
          // The search's 404: a base that is not the tenant's (deleted, or never was).
          if (error instanceof ProblemError && error.status === 404) {
            throw new NonRetryableError(`knowledge base ${baseId} (configuration.knowledge) does not exist`);
          }
          throw error;
        }
      }),
    );
    const passages: RetrievedPassage[] = answers
      .flatMap(({ baseId, answer }) =>
        answer.hits.map((hit) => ({
          knowledgeBaseId: baseId,
          documentId: hit.documentId,
          chunkId: hit.chunkId,
          title: hit.title,
          text: hit.text,
          score: hit.score,
        })),
      )
      .sort((a, b) => b.score - a.score)
      .slice(0, use.topK);
    let embeddingTokens = 0;
    let embeddingCostUsd = 0;
    for (const { answer } of answers) {
      embeddingTokens += answer.embeddingTokens;
      if (answer.embeddingTokens > 0)
        embeddingCostUsd += costUsd(answer.embeddingModel, answer.embeddingTokens, 0);
    }
    return { passages, durationMs: performance.now() - started, embeddingTokens, embeddingCostUsd };
  }
}

/**
 * The retriever over the container's knowledge search, which is imported only when an agent
 * with knowledge first runs: workers of agents without it never load the search code.
 */
export const lazyKnowledgeRetriever = (): KnowledgeRetriever =>
  new KnowledgeRetriever(async (tenantId, baseId, body) => {
    const { knowledgeSearchService } = await import('./knowledge-search.ts');
    // Hits alone: an agent's prompt has no use for facets, so none are counted.
    return knowledgeSearchService().searchHits(tenantId, baseId, body);
  });
