import {
  InvokeModelCommand,
  type InvokeModelCommandOutput,
  ThrottlingException,
} from '@aws-sdk/client-bedrock-runtime';
import { describe, expect, it } from 'vitest';
import { type BedrockInvokeClient, createBedrockEmbedder } from '#adapters/embeddings/bedrock.ts';
import { LlmError } from '#domain/llm.ts';

/** A stand-in for BedrockRuntimeClient: records the request bodies and answers as scripted. */
const fakeClient = (answer: (body: Record<string, unknown>) => unknown) => {
  const bodies: Record<string, unknown>[] = [];
  const models: string[] = [];
  const client: BedrockInvokeClient = {
    async send(command) {
      expect(command).toBeInstanceOf(InvokeModelCommand);
      models.push(command.input.modelId!);
      const body = JSON.parse(new TextDecoder().decode(command.input.body as Uint8Array)) as Record<
        string,
        unknown
      >;
      bodies.push(body);
      return {
        $metadata: { httpStatusCode: 200 },
        contentType: 'application/json',
        body: new TextEncoder().encode(JSON.stringify(answer(body))),
      } as unknown as InvokeModelCommandOutput;
    },
  };
  return { client, bodies, models };
};

/** A vector naming its text: [length, 0, …]. */
const vectorOf = (text: string, dimensions: number) => [
  text.length,
  ...new Array<number>(dimensions - 1).fill(0),
];

describe('the Bedrock embedder', () => {
  it('asks Titan Text Embeddings v2 one text a request, normalised, and keeps the texts’ order', async () => {
    const fake = fakeClient((body) => ({
      embedding: vectorOf(String(body['inputText']), 256),
      inputTextTokenCount: 3,
    }));
    const embedder = createBedrockEmbedder({
      model: 'amazon.titan-embed-text-v2:0',
      dimensions: 256,
      client: fake.client,
    });
    const texts = Array.from({ length: 20 }, (_, i) => 'y'.repeat(i + 1));
    const { vectors, inputTokens } = await embedder.embed(texts);
    expect(vectors).toEqual(texts.map((text) => vectorOf(text, 256)));
    expect(inputTokens).toBe(3 * 20);
    expect(fake.bodies).toHaveLength(20);
    expect(fake.bodies[0]).toEqual({ inputText: 'y', dimensions: 256, normalize: true });
    expect(new Set(fake.models)).toEqual(new Set(['amazon.titan-embed-text-v2:0']));
  });

  it('asks Cohere Embed up to 96 texts a request, as documents or as a query', async () => {
    const fake = fakeClient((body) => ({
      embeddings: { float: (body['texts'] as string[]).map((text) => vectorOf(text, 1024)) },
    }));
    const embedder = createBedrockEmbedder({
      model: 'cohere.embed-english-v3',
      dimensions: 1024,
      client: fake.client,
    });
    const texts = Array.from({ length: 100 }, (_, i) => `chunk number ${i}`);
    const stored = await embedder.embed(texts);
    expect(stored.vectors).toEqual(texts.map((text) => vectorOf(text, 1024)));
    expect(fake.bodies.map((body) => (body['texts'] as string[]).length)).toEqual([96, 4]);
    expect(fake.bodies[0]).toMatchObject({
      input_type: 'search_document',
      truncate: 'END',
      embedding_types: ['float'],
    });
    // Three tokens each, estimated as chunks are sized: Bedrock does not count Cohere's tokens in the body.
    expect(stored.inputTokens).toBe(100 * 3);
    await embedder.embed(['how are chunks made?'], { purpose: 'query' });
    expect(fake.bodies.at(-1)).toMatchObject({ input_type: 'search_query' });
  });

  it('refuses unknown models and dimensions the model does not give, when created', () => {
    expect(() => createBedrockEmbedder({ model: 'amazon.titan-embed-image-v1', dimensions: 1024 })).toThrow(
      RangeError,
    );
    expect(() => createBedrockEmbedder({ model: 'amazon.titan-embed-text-v2:0', dimensions: 384 })).toThrow(
      '256, 512, 1024',
    );
    expect(() => createBedrockEmbedder({ model: 'cohere.embed-multilingual-v3', dimensions: 512 })).toThrow(
      RangeError,
    );
  });

  it('refuses, for good, vectors of another length; retries what is only missing or throttled', async () => {
    const wrongLength = fakeClient(() => ({ embedding: [0.1, 0.2], inputTextTokenCount: 1 }));
    const failure = await createBedrockEmbedder({
      model: 'amazon.titan-embed-text-v2:0',
      dimensions: 512,
      client: wrongLength.client,
    })
      .embed(['a'])
      .catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(LlmError);
    expect(failure).toMatchObject({ retryable: false, provider: 'bedrock' });

    const missing = fakeClient(() => ({ embeddings: { float: [] } }));
    await expect(
      createBedrockEmbedder({
        model: 'cohere.embed-english-v3',
        dimensions: 1024,
        client: missing.client,
      }).embed(['a']),
    ).rejects.toMatchObject({ retryable: true });

    const throttled: BedrockInvokeClient = {
      send: () =>
        Promise.reject(
          new ThrottlingException({ message: 'Too many requests', $metadata: { httpStatusCode: 429 } }),
        ),
    };
    const error = await createBedrockEmbedder({
      model: 'cohere.embed-english-v3',
      dimensions: 1024,
      client: throttled,
    })
      .embed(['a'])
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ retryable: true, message: 'bedrock: ThrottlingException (HTTP 429)' });
  });

  it('answers nothing for no texts, without a request', async () => {
    const fake = fakeClient(() => ({}));
    const embedder = createBedrockEmbedder({
      model: 'amazon.titan-embed-text-v2:0',
      dimensions: 1024,
      client: fake.client,
    });
    expect(await embedder.embed([])).toEqual({ vectors: [], inputTokens: 0 });
    expect(fake.bodies).toHaveLength(0);
  });
});
