import { describe, expect, it } from 'vitest';
import { createOpenAiEmbedder } from '#adapters/embeddings/openai.ts';
import { LlmError } from '#domain/llm.ts';
import { replyJson, useStubServer } from '../support/stub-server.ts';

interface EmbeddingsRequest {
  readonly model: string;
  readonly input: string[];
  readonly dimensions?: number;
  readonly encoding_format?: string;
}

/** A vector that says which text it is for: [length of the text, 1, 0, …]. */
const vectorOf = (text: string, dimensions: number) => [
  text.length,
  1,
  ...new Array<number>(dimensions - 2).fill(0),
];

/**
 * A real HTTP server speaking the embeddings protocol; the model name picks the behaviour.
 * It answers the data in reverse order, as the protocol allows (each item carries its index).
 */
const stub = useStubServer((res, request) => {
  const body = JSON.parse(request.body) as EmbeddingsRequest;
  const dimensions = body.dimensions ?? 4;
  const data = body.input.map((text, index) => ({
    object: 'embedding',
    index,
    embedding: vectorOf(text, dimensions),
  }));
  switch (body.model) {
    case 'embed-ok':
      return replyJson(res, 200, {
        object: 'list',
        data: data.reverse(),
        usage: { prompt_tokens: 7 * body.input.length, total_tokens: 0 },
      });
    case 'embed-fixed-8':
      return replyJson(res, 200, {
        data: body.input.map((text, index) => ({ index, embedding: vectorOf(text, 8) })),
      });
    case 'embed-short':
      return replyJson(res, 200, { data: data.slice(1) });
    case 'embed-429':
      return replyJson(
        res,
        429,
        { error: { type: 'requests', code: 'rate_limit_exceeded' } },
        { 'retry-after': '3' },
      );
    default:
      return replyJson(res, 404, { error: { type: 'invalid_request_error', code: 'model_not_found' } });
  }
});

const embedder = (model: string, extra: { batchSize?: number; requestDimensions?: boolean } = {}) =>
  createOpenAiEmbedder({ baseUrl: `${stub.origin}/v1/`, apiKey: 'sk-embed', model, dimensions: 4, ...extra });

describe('the OpenAI-compatible embedder', () => {
  it('posts batches of texts with the model and dimensions, and answers vectors in the texts’ order', async () => {
    const texts = Array.from({ length: 5 }, (_, i) => 'x'.repeat(i + 1));
    const result = await embedder('embed-ok', { batchSize: 2 }).embed(texts);
    expect(result.vectors).toEqual(texts.map((text) => vectorOf(text, 4)));
    expect(result.inputTokens).toBe(7 * 5);
    // 5 texts at 2 a request: 3 requests, one after another.
    expect(stub.requests.map((r) => (JSON.parse(r.body) as EmbeddingsRequest).input.length)).toEqual([
      2, 2, 1,
    ]);
    const first = stub.requests[0]!;
    expect(first.url).toBe('/v1/embeddings');
    expect(first.headers.authorization).toBe('Bearer sk-embed');
    expect(JSON.parse(first.body)).toEqual({
      model: 'embed-ok',
      input: ['x', 'xx'],
      encoding_format: 'float',
      dimensions: 4,
    });
  });

  it('sends 64 texts a request by default, and no request for no texts', async () => {
    const texts = Array.from({ length: 130 }, (_, i) => `text ${i}`);
    expect((await embedder('embed-ok').embed(texts)).vectors).toHaveLength(130);
    expect(stub.requests.map((r) => (JSON.parse(r.body) as EmbeddingsRequest).input.length)).toEqual([
      64, 64, 2,
    ]);
    stub.requests.length = 0;
    expect(await embedder('embed-ok').embed([])).toEqual({ vectors: [], inputTokens: 0 });
    expect(stub.requests).toHaveLength(0);
  });

  it('refuses, for good, vectors of another length than the knowledge base’s model', async () => {
    const failure = await embedder('embed-fixed-8', { requestDimensions: false })
      .embed(['a'])
      .catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(LlmError);
    expect(failure).toMatchObject({ retryable: false });
    expect((failure as Error).message).toContain('answered 8 dimensions');
    expect(JSON.parse(stub.requests[0]!.body)).not.toHaveProperty('dimensions');
  });

  it('treats a short answer as a retryable failure, and passes on the rate limit’s Retry-After', async () => {
    await expect(embedder('embed-short').embed(['a', 'b'])).rejects.toMatchObject({ retryable: true });
    const throttled = await embedder('embed-429')
      .embed(['a'])
      .catch((e: unknown) => e);
    expect(throttled).toMatchObject({ retryable: true, options: { status: 429, retryAfterMs: 3_000 } });
    expect((throttled as Error).message).toBe('openai: HTTP 429 (requests/rate_limit_exceeded)');
  });

  it('refuses a batch size outside 1..2048', () => {
    expect(() => embedder('embed-ok', { batchSize: 0 })).toThrow(RangeError);
    expect(() => embedder('embed-ok', { batchSize: 5000 })).toThrow(RangeError);
  });
});
