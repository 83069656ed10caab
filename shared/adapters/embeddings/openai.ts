import * as z from 'zod/mini';
import { type OpenAiHttpOptions, openAiPost } from '#adapters/llm/openai-http.ts';
import type { Embedder, Embeddings } from '#domain/embedding.ts';
import { LlmError } from '#domain/llm.ts';

/** `POST /embeddings` of an OpenAI-compatible server (OpenAI, vLLM, Ollama, LiteLLM). */
export interface OpenAiEmbedderOptions extends OpenAiHttpOptions {
  /** e.g. `text-embedding-3-small`. */
  readonly model: string;
  /** The vectors' length; every answer is checked against it. */
  readonly dimensions: number;
  /**
   * Ask the server for `dimensions` (the text-embedding-3 models shorten their vectors on
   * request). Off for servers whose models have one fixed length and refuse the field.
   */
  readonly requestDimensions?: boolean;
  /** Texts per request (default 64): fewer round trips, within the servers' input limits. */
  readonly batchSize?: number;
  /** Each request's deadline (default 30 s). */
  readonly timeoutMs?: number;
}

const embeddingsResponse = z.object({
  data: z.array(z.object({ index: z.int().check(z.nonnegative()), embedding: z.array(z.number()) })),
  usage: z.optional(z.object({ prompt_tokens: z.int().check(z.nonnegative()) })),
});

export const defaultEmbeddingBatchSize = 64;

export const createOpenAiEmbedder = (options: OpenAiEmbedderOptions): Embedder => {
  const post = openAiPost(options);
  const { model, dimensions } = options;
  const batchSize = options.batchSize ?? defaultEmbeddingBatchSize;
  if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 2048) {
    throw new RangeError(
      `batchSize must be an integer from 1 to 2048 (the API's input limit), got ${batchSize}`,
    );
  }
  const timeoutMs = options.timeoutMs ?? 30_000;

  /** One request's vectors, in the texts' order (the server may answer in any order, by index). */
  const embedBatch = async (texts: readonly string[], signal?: AbortSignal): Promise<Embeddings> => {
    const { json, status } = await post(
      '/embeddings',
      {
        model,
        input: texts,
        encoding_format: 'float',
        ...(options.requestDimensions !== false && { dimensions }),
      },
      { timeoutMs, ...(signal && { signal }) },
    );
    const parsed = embeddingsResponse.safeParse(json);
    if (!parsed.success)
      throw new LlmError('openai: response has no data[].embedding', 'openai', true, { status });
    const vectors: number[][] = new Array(texts.length);
    for (const { index, embedding } of parsed.data.data) {
      if (index >= texts.length || vectors[index]) {
        throw new LlmError('openai: embeddings answer indexes that were not asked', 'openai', true, {
          status,
        });
      }
      // A model of another length is a configuration error, not something a retry mends.
      if (embedding.length !== dimensions) {
        throw new LlmError(
          `openai: ${model} answered ${embedding.length} dimensions, the knowledge base's model has ${dimensions}`,
          'openai',
          false,
          { status },
        );
      }
      vectors[index] = embedding;
    }
    if (vectors.filter(Boolean).length !== texts.length) {
      throw new LlmError('openai: fewer embeddings than texts', 'openai', true, { status });
    }
    return { vectors, inputTokens: parsed.data.usage?.prompt_tokens ?? 0 };
  };

  return {
    provider: 'openai',
    model,
    dimensions,
    async embed(texts, { signal } = {}) {
      const vectors: number[][] = [];
      let inputTokens = 0;
      // One request at a time: a bulk ingestion must not burst past the provider's rate limit.
      for (let start = 0; start < texts.length; start += batchSize) {
        const batch = await embedBatch(texts.slice(start, start + batchSize), signal);
        vectors.push(...batch.vectors);
        inputTokens += batch.inputTokens;
      }
      return { vectors, inputTokens };
    },
  };
};
