import type { LlmProvider, ProviderName } from '#domain/llm.ts';
import { LlmError } from '#domain/llm.ts';
import { openAiSettings } from '#runtime/config.ts';
import { createBedrockProvider } from './bedrock.ts';
import { createLocalProvider } from './local.ts';
import { createOpenAiProvider } from './openai.ts';
import type { OpenAiHttpOptions } from './openai-http.ts';

/**
 * One provider of each kind per container, created on first use from the environment:
 * - `local`: always available (latency from `SWITCHYARD_LOCAL_LLM_LATENCY_MS`).
 * - `openai`: `OPENAI_BASE_URL` (default `https://api.openai.com/v1`), with the key from
 *   `OPENAI_API_KEY`, or in AWS from the Secrets Manager secret `OPENAI_API_KEY_SECRET_ARN`.
 * - `bedrock`: `AWS_REGION`.
 */
const providers = new Map<ProviderName, Promise<LlmProvider>>();

const defaultOpenAiBaseUrl = 'https://api.openai.com/v1';
// Powertools caches the secret this long, so a rotated key is picked up within minutes.
const secretMaxAgeSeconds = 300;
const openAiConnectTimeoutMs = 3_000;

/** The secret holds the key itself, or JSON with an `apiKey` or `OPENAI_API_KEY` field. */
export const apiKeyFromSecret = (secret: unknown): string => {
  const text = typeof secret === 'string' ? secret.trim() : '';
  if (text.startsWith('{')) {
    const fields = JSON.parse(text) as Record<string, unknown>;
    const key = fields['apiKey'] ?? fields['OPENAI_API_KEY'];
    if (typeof key === 'string' && key) return key;
  } else if (text) {
    return text;
  }
  throw new Error('the OpenAI API key secret holds no key');
};

const secretApiKey = (secretArn: string) => async (): Promise<string> => {
  // Loaded only where a secret is configured, i.e. in AWS; local runs never pay for it.
  const { getSecret } = await import('@aws-lambda-powertools/parameters/secrets');
  return apiKeyFromSecret(await getSecret(secretArn, { maxAge: secretMaxAgeSeconds }));
};

/** Fails every call at once and for good, naming the setting: no retries that cannot help. */
const missingKeyProvider = (): LlmProvider => ({
  name: 'openai',
  complete: async () => {
    throw new LlmError(
      'openai: no API key is configured; set OPENAI_API_KEY (in AWS, OPENAI_API_KEY_SECRET_ARN), ' +
        'or OPENAI_BASE_URL for an OpenAI-compatible server',
      'openai',
      false,
    );
  },
});

/**
 * Where OpenAI-compatible calls (completions and embeddings) go and with which key, from the
 * environment; undefined when OpenAI itself is configured without a key.
 */
export const openAiConnection = (): OpenAiHttpOptions | undefined => {
  const settings = openAiSettings();
  const secretArn = settings.apiKeySecretArn;
  const apiKey = settings.apiKey || (secretArn ? secretApiKey(secretArn) : undefined);
  const baseUrl = settings.baseUrl || defaultOpenAiBaseUrl;
  // OpenAI itself needs a key; a compatible server at OPENAI_BASE_URL (vLLM, Ollama) may not.
  if (!apiKey && baseUrl === defaultOpenAiBaseUrl) return undefined;
  return { baseUrl, ...(apiKey && { apiKey }), connectTimeoutMs: openAiConnectTimeoutMs };
};

const create = (name: ProviderName): LlmProvider => {
  switch (name) {
    case 'local':
      return createLocalProvider();
    case 'openai': {
      const connection = openAiConnection();
      return connection ? createOpenAiProvider(connection) : missingKeyProvider();
    }
    case 'bedrock': {
      // The AWS SDK's own variable, as Lambda sets it.
      const region = process.env['AWS_REGION'];
      return createBedrockProvider(region ? { region } : {});
    }
  }
};

export const providerFor = (name: ProviderName): Promise<LlmProvider> => {
  let provider = providers.get(name);
  if (!provider) {
    provider = Promise.resolve().then(() => create(name));
    providers.set(name, provider);
    // A failed creation (bad configuration) is not cached: the next call tries again.
    const created = provider;
    created.catch(() => {
      if (providers.get(name) === created) providers.delete(name);
    });
  }
  return provider;
};

/** Forgets every provider, so tests can change the environment between cases. */
export const resetProviders = (): void => {
  providers.clear();
};
