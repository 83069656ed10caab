import type { Embedder, EmbeddingModel } from '#domain/embedding.ts';
import { NonRetryableError } from '#domain/jobs.ts';
import { LlmError } from '#domain/llm.ts';

/**
 * One embedder per model per container, created on first use. The OpenAI and Bedrock adapters
 * (and the AWS SDK behind Bedrock) are imported only when a base uses them; the local embedder
 * needs no network, so `npm start` and the tests run offline.
 */
const embedders = new Map<string, Promise<Embedder>>();

export const embeddingProviders = ['local', 'openai', 'bedrock'] as const;

const keyOf = (model: EmbeddingModel) => `${model.provider}\u0000${model.model}\u0000${model.dimensions}`;

/** Why no embedder can serve this model, or undefined when one can: checked when a base is created. */
export const embeddingModelRefusal = async (model: EmbeddingModel): Promise<string | undefined> => {
  switch (model.provider) {
    case 'local': {
      const { localEmbeddingModel } = await import('./local.ts');
      return model.model === localEmbeddingModel
        ? undefined
        : `the local provider has one model, "${localEmbeddingModel}"`;
    }
    case 'bedrock': {
      const { bedrockEmbeddingRefusal } = await import('./bedrock.ts');
      return bedrockEmbeddingRefusal(model.model, model.dimensions);
    }
    case 'openai':
      // Any model of an OpenAI-compatible server; the dimensions are checked on every answer.
      return undefined;
    default:
      return `unknown embedding provider "${model.provider}" (one of ${embeddingProviders.join(', ')})`;
  }
};

const create = async (model: EmbeddingModel): Promise<Embedder> => {
  switch (model.provider) {
    case 'local': {
      const { LocalEmbedder } = await import('./local.ts');
      return new LocalEmbedder(model.dimensions);
    }
    case 'openai': {
      const [{ openAiConnection }, { createOpenAiEmbedder }] = await Promise.all([
        import('#adapters/llm/registry.ts'),
        import('./openai.ts'),
      ]);
      const connection = openAiConnection();
      if (!connection) {
        throw new LlmError(
          'openai: no API key is configured for embeddings; set OPENAI_API_KEY (in AWS, OPENAI_API_KEY_SECRET_ARN), ' +
            'or OPENAI_BASE_URL for an OpenAI-compatible server',
          'openai',
          false,
        );
      }
      return createOpenAiEmbedder({ ...connection, model: model.model, dimensions: model.dimensions });
    }
    case 'bedrock': {
      const { createBedrockEmbedder } = await import('./bedrock.ts');
      // The AWS SDK's own variable, as Lambda sets it.
      const region = process.env['AWS_REGION'];
      return createBedrockEmbedder({
        model: model.model,
        dimensions: model.dimensions,
        ...(region && { region }),
      });
    }
    default:
      throw new NonRetryableError(`unknown embedding provider "${model.provider}"`);
  }
};

/** The container's embedder of a model; a failed creation is not kept, so the next call tries again. */
export const embedderFor = (model: EmbeddingModel): Promise<Embedder> => {
  const key = keyOf(model);
  let embedder = embedders.get(key);
  if (!embedder) {
    embedder = create(model);
    embedders.set(key, embedder);
    const created = embedder;
    created.catch(() => {
      if (embedders.get(key) === created) embedders.delete(key);
    });
  }
  return embedder;
};

/** Forgets every embedder, so tests can change the environment between cases. */
export const resetEmbedders = (): void => {
  embedders.clear();
};
