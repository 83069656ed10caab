/**
 * Embeddings: the vectors a knowledge base stores for its chunks and compares a query with.
 * A knowledge base fixes its provider, model and dimensions at creation; every vector it holds
 * comes from that one model, since vectors of two models are not comparable.
 */
export interface EmbeddingModel {
  readonly provider: string;
  readonly model: string;
  readonly dimensions: number;
}

export interface Embeddings {
  /** One vector per text, in the texts' order, each of the model's dimensions. */
  readonly vectors: number[][];
  /** What the provider counted (or, for the local embedder, estimated), for usage and cost. */
  readonly inputTokens: number;
}

export interface EmbedOptions {
  /**
   * What the texts are: chunks to store (the default) or a search query. Some models (Cohere
   * Embed) encode the two differently so that a question lands near its answer.
   */
  readonly purpose?: 'document' | 'query';
  readonly signal?: AbortSignal;
}

/** A provider's embedding model: turns a batch of texts into vectors. */
export interface Embedder extends EmbeddingModel {
  embed(texts: readonly string[], options?: EmbedOptions): Promise<Embeddings>;
}
