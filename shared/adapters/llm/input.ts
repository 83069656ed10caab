import type { LlmRequest } from '#domain/llm.ts';

/** The execution input as the text sent to a model: a string as is, an object as its JSON text. */
export const inputText = (input: LlmRequest['input']): string =>
  typeof input === 'string' ? input : JSON.stringify(input);

/** A rough count (about 4 characters a token) for servers that report no usage. */
export const estimateTokens = (text: string): number => Math.max(1, Math.ceil(text.length / 4));
