import { config } from '#runtime/config.ts';

/**
 * USD per million tokens, input and output. Override or extend with
 * SWITCHYARD_MODEL_PRICES='{"my-model":{"input":1.5,"output":6}}' (read and checked by
 * config()). Unknown models cost 0 (and are logged by the caller), local ones are free.
 */
export interface ModelPrice {
  readonly input: number;
  readonly output: number;
}

const builtInPrices: Readonly<Record<string, ModelPrice>> = {
  'gpt-4o': { input: 2.5, output: 10 },
  'gpt-4o-mini': { input: 0.15, output: 0.6 },
  'gpt-4.1': { input: 2, output: 8 },
  'gpt-4.1-mini': { input: 0.4, output: 1.6 },
  'anthropic.claude-3-5-sonnet-20240620-v1:0': { input: 3, output: 15 },
  'anthropic.claude-3-haiku-20240307-v1:0': { input: 0.25, output: 1.25 },
  'amazon.nova-lite-v1:0': { input: 0.06, output: 0.24 },
  'amazon.nova-pro-v1:0': { input: 0.8, output: 3.2 },
  // Embedding models: input only.
  'text-embedding-3-small': { input: 0.02, output: 0 },
  'text-embedding-3-large': { input: 0.13, output: 0 },
  'text-embedding-ada-002': { input: 0.1, output: 0 },
  'amazon.titan-embed-text-v2:0': { input: 0.02, output: 0 },
  'cohere.embed-english-v3': { input: 0.1, output: 0 },
  'cohere.embed-multilingual-v3': { input: 0.1, output: 0 },
};

let table: Readonly<Record<string, ModelPrice>> | undefined;

const priceTable = (): Readonly<Record<string, ModelPrice>> => {
  table ??= { ...builtInPrices, ...config().modelPrices };
  return table;
};

export const priceOf = (model: string): ModelPrice | undefined => priceTable()[model];

/** Cost of one call, rounded to 1e-8 USD (the column's precision). */
export const costUsd = (model: string, inputTokens: number, outputTokens: number): number => {
  const price = priceOf(model);
  if (!price) return 0;
  const cost = (inputTokens * price.input + outputTokens * price.output) / 1_000_000;
  return Math.round(cost * 1e8) / 1e8;
};
