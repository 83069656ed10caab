import type { InvokeModelCommand, InvokeModelCommandOutput } from '@aws-sdk/client-bedrock-runtime';
import { bedrockFailure, bedrockRuntimeOnce, loadBedrockSdk } from '#adapters/llm/bedrock.ts';
import { startDeadline } from '#adapters/llm/deadline.ts';
import { estimateTokens } from '#domain/chunking.ts';
import type { Embedder, Embeddings, EmbedOptions } from '#domain/embedding.ts';
import { LlmError } from '#domain/llm.ts';

/** What this adapter needs of a Bedrock Runtime client; tests pass a stand-in. */
export interface BedrockInvokeClient {
  send(
    command: InvokeModelCommand,
    options?: { abortSignal?: AbortSignal },
  ): Promise<InvokeModelCommandOutput>;
}

export interface BedrockEmbedderOptions {
  /** `amazon.titan-embed-text-v2:0`, `cohere.embed-english-v3` or `cohere.embed-multilingual-v3`. */
  readonly model: string;
  /** Titan Text Embeddings v2: 256, 512 or 1024; Cohere Embed v3: 1024. */
  readonly dimensions: number;
  readonly region?: string;
  readonly client?: BedrockInvokeClient;
  /** Each request's deadline (default 30 s). */
  readonly timeoutMs?: number;
}

/** How one model family is asked and answers. */
interface Family {
  readonly dimensions: readonly number[];
  /** Texts per request. */
  readonly batchSize: number;
  body(texts: readonly string[], dimensions: number, purpose: 'document' | 'query'): unknown;
  read(json: unknown, texts: readonly string[]): { vectors: unknown; inputTokens: number };
}

// Bedrock does not count Cohere's tokens in the body: estimated as chunks are sized, for usage only.
const estimatedTokens = (texts: readonly string[]) =>
  texts.reduce((sum, text) => sum + estimateTokens(text), 0);

const families: Record<'titan' | 'cohere', Family> = {
  // One text a request; L2-normalised by the service, as cosine search wants.
  titan: {
    dimensions: [256, 512, 1024],
    batchSize: 1,
    body: ([text], dimensions) => ({ inputText: text, dimensions, normalize: true }),
    read: (json) => {
      const { embedding, inputTextTokenCount } = json as {
        embedding?: unknown;
        inputTextTokenCount?: unknown;
      };
      return {
        vectors: [embedding],
        inputTokens: typeof inputTextTokenCount === 'number' ? inputTextTokenCount : 0,
      };
    },
  },
  // Up to 96 texts a request; documents and queries are encoded differently.
  cohere: {
    dimensions: [1024],
    batchSize: 96,
    body: (texts, _dimensions, purpose) => ({
      texts,
      input_type: purpose === 'query' ? 'search_query' : 'search_document',
      truncate: 'END',
      embedding_types: ['float'],
    }),
    read: (json, texts) => ({
      vectors: (json as { embeddings?: { float?: unknown } }).embeddings?.float,
      inputTokens: estimatedTokens(texts),
    }),
  },
};

/** Why Bedrock cannot embed with this model and these dimensions, or undefined when it can. */
export const bedrockEmbeddingRefusal = (model: string, dimensions: number): string | undefined => {
  const family = familyOf(model);
  if (!family)
    return `no Bedrock embedding model "${model}" is supported (amazon.titan-embed-text-v2:0, cohere.embed-*-v3)`;
  return family.dimensions.includes(dimensions)
    ? undefined
    : `${model} gives ${family.dimensions.join(', ')} dimensions, not ${dimensions}`;
};

const familyOf = (model: string): Family | undefined =>
  model.startsWith('amazon.titan-embed-text-v2')
    ? families.titan
    : model.startsWith('cohere.embed-')
      ? families.cohere
      : undefined;

/** Requests in flight at once for one embed() call: Titan takes one text a request. */
const concurrency = 8;

/** Amazon Bedrock's embedding models through InvokeModel. */
export const createBedrockEmbedder = (options: BedrockEmbedderOptions): Embedder => {
  const { model, dimensions } = options;
  const refusal = bedrockEmbeddingRefusal(model, dimensions);
  const family = familyOf(model);
  if (refusal || !family) throw new RangeError(refusal);
  const timeoutMs = options.timeoutMs ?? 30_000;
  const clientOnce = bedrockRuntimeOnce<BedrockInvokeClient>(options);

  const invoke = async (texts: readonly string[], purpose: 'document' | 'query', signal?: AbortSignal) => {
    const [{ InvokeModelCommand }, client] = await Promise.all([loadBedrockSdk(), clientOnce()]);
    const command = new InvokeModelCommand({
      modelId: model,
      contentType: 'application/json',
      accept: 'application/json',
      body: new TextEncoder().encode(JSON.stringify(family.body(texts, dimensions, purpose))),
    });
    const deadline = startDeadline(timeoutMs, signal);
    let response: InvokeModelCommandOutput;
    try {
      response = await client.send(command, { abortSignal: deadline.signal });
    } catch (error) {
      throw bedrockFailure(error, deadline, { timeoutMs, signal });
    }
    let read: { vectors: unknown; inputTokens: number };
    try {
      read = family.read(JSON.parse(new TextDecoder().decode(response.body)), texts);
    } catch {
      throw new LlmError('bedrock: response is not JSON', 'bedrock', true);
    }
    const { vectors } = read;
    if (!Array.isArray(vectors) || vectors.length !== texts.length) {
      throw new LlmError('bedrock: response has no embedding for each text', 'bedrock', true);
    }
    for (const vector of vectors) {
      if (
        !Array.isArray(vector) ||
        vector.length !== dimensions ||
        vector.some((x) => typeof x !== 'number')
      ) {
        throw new LlmError(
          `bedrock: ${model} answered a vector that is not ${dimensions} numbers`,
          'bedrock',
          false,
        );
      }
    }
    return { vectors: vectors as number[][], inputTokens: read.inputTokens };
  };

  return {
    provider: 'bedrock',
    model,
    dimensions,
    async embed(texts, { purpose = 'document', signal }: EmbedOptions = {}): Promise<Embeddings> {
      const batches: string[][] = [];
      for (let start = 0; start < texts.length; start += family.batchSize) {
        batches.push(texts.slice(start, start + family.batchSize));
      }
      const answers: { vectors: number[][]; inputTokens: number }[] = new Array(batches.length);
      let next = 0;
      // A few requests at a time, each taking the next batch; answers kept in the batches' order.
      const worker = async () => {
        while (next < batches.length) {
          const index = next++;
          answers[index] = await invoke(batches[index]!, purpose, signal);
        }
      };
      await Promise.all(Array.from({ length: Math.min(concurrency, batches.length) }, worker));
      return {
        vectors: answers.flatMap((answer) => answer.vectors),
        inputTokens: answers.reduce((sum, answer) => sum + answer.inputTokens, 0),
      };
    },
  };
};
