/**
 * The port every LLM provider implements, and the errors they raise. The worker speaks
 * only this; which provider serves an agent is configuration.
 */

export const providerNames = ['local', 'openai', 'bedrock'] as const;
export type ProviderName = (typeof providerNames)[number];

export const isProviderName = (value: unknown): value is ProviderName =>
  typeof value === 'string' && (providerNames as readonly string[]).includes(value);

export interface LlmRequest {
  readonly model: string;
  readonly systemPrompt: string;
  /** The execution input: text, or a JSON object sent as its JSON text. */
  readonly input: string | Readonly<Record<string, unknown>>;
  readonly temperature?: number;
  readonly maxTokens?: number;
  /** Whole-call deadline for this provider (connect + response). */
  readonly timeoutMs: number;
  /** Aborts the call (execution cancelled, worker shutting down). */
  readonly signal?: AbortSignal;
}

export interface LlmResult {
  readonly output: string;
  readonly inputTokens: number;
  readonly outputTokens: number;
  /** Which provider and model actually answered (after any fallback). */
  readonly provider: ProviderName;
  readonly model: string;
}

export interface LlmProvider {
  readonly name: ProviderName;
  complete(request: LlmRequest): Promise<LlmResult>;
}

/**
 * A provider failure. `retryable` failures (429, 5xx, timeouts, connection errors) move on
 * to the next provider in the chain and, when all fail, retry the job later; others
 * (400, 401, 404: a bad model or key) fail the execution at once.
 */
export class LlmError extends Error {
  override name = 'LlmError';
  constructor(
    message: string,
    readonly provider: ProviderName,
    readonly retryable: boolean,
    readonly options: { status?: number; retryAfterMs?: number; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
  }
}

/** One step of an agent's provider chain: the primary, then its fallbacks in order. */
export interface ProviderTarget {
  readonly provider: ProviderName;
  readonly model: string;
  readonly timeoutMs: number;
}
