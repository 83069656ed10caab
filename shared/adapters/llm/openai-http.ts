import type { Dispatcher } from 'undici';
import * as z from 'zod/mini';
import { LlmError } from '#domain/llm.ts';
import { abortReason, type Deadline, startDeadline } from './deadline.ts';
import { parseRetryAfter } from './retry-after.ts';

/**
 * POSTs JSON to an OpenAI-compatible server (OpenAI, vLLM, Ollama, LiteLLM): its chat
 * completions and its embeddings both go through here. Uses Node's fetch, which keeps
 * connections alive, so a warm container reuses its TLS session. Request and response bodies
 * and the key never reach an error message: they may hold tenant data.
 */
export interface OpenAiHttpOptions {
  /** The API root, e.g. `https://api.openai.com/v1`, `http://vllm:8000/v1`, `http://localhost:11434/v1`. */
  readonly baseUrl: string;
  /** A fixed key, or a getter asked on every call (a rotated secret, cached by where it comes from). */
  readonly apiKey?: string | (() => string | Promise<string>);
  readonly fetch?: typeof fetch;
  /**
   * Bound on TCP + TLS connect, so an unreachable host fails over well before `timeoutMs`.
   * undici checks it on a coarse timer: expect it to fire up to about a second late.
   */
  readonly connectTimeoutMs?: number;
}

export interface OpenAiCall {
  readonly timeoutMs: number;
  readonly signal?: AbortSignal;
}

// Only identifiers from an error body (e.g. `invalid_request_error/model_not_found`), never its prose.
const errorBody = z.object({
  error: z.object({ type: z.optional(z.unknown()), code: z.optional(z.unknown()) }),
});
const identifier = /^[\w.-]{1,64}$/;

const errorCodes = (text: string): string => {
  try {
    const parsed = errorBody.safeParse(JSON.parse(text));
    if (!parsed.success) return '';
    const { type, code } = parsed.data.error;
    const ids = [type, code].filter((v): v is string => typeof v === 'string' && identifier.test(v));
    return ids.length > 0 ? ` (${ids.join('/')})` : '';
  } catch {
    return '';
  }
};

/** The code of a connection failure (`ECONNREFUSED`, `UND_ERR_CONNECT_TIMEOUT`), not its message. */
const failureCode = (error: unknown): string => {
  const cause = error instanceof Error && error.cause instanceof Error ? error.cause : error;
  const code = (cause as { code?: unknown } | undefined)?.code;
  if (typeof code === 'string') return code;
  return cause instanceof Error ? cause.name : 'unknown error';
};

const transportFailure = (error: unknown, deadline: Deadline, call: OpenAiCall): unknown => {
  if (call.signal?.aborted) return abortReason(call.signal);
  if (deadline.expired()) {
    return new LlmError(`openai: timed out after ${call.timeoutMs} ms`, 'openai', true, { cause: error });
  }
  return new LlmError(`openai: request failed (${failureCode(error)})`, 'openai', true, { cause: error });
};

const statusFailure = (status: number, headers: Headers, text: string): LlmError => {
  const retryable = status === 429 || status === 408 || status >= 500;
  const retryAfterMs = retryable ? parseRetryAfter((name) => headers.get(name)) : undefined;
  return new LlmError(`openai: HTTP ${status}${errorCodes(text)}`, 'openai', retryable, {
    status,
    ...(retryAfterMs !== undefined && { retryAfterMs }),
  });
};

/** A POST of a JSON body that answers the parsed JSON, or throws an `LlmError` (or the caller's abort). */
export type OpenAiPost = (
  path: string,
  body: unknown,
  call: OpenAiCall,
) => Promise<{ json: unknown; status: number }>;

export const openAiPost = (options: OpenAiHttpOptions): OpenAiPost => {
  const root = options.baseUrl.replace(/\/+$/, '');
  const doFetch = options.fetch ?? fetch;
  const { apiKey, connectTimeoutMs } = options;
  // Node's fetch has no connect timeout of its own; undici's Agent (the library behind it) does.
  // Loaded only when asked for, and created once, so it keeps its connections alive.
  let dispatcher: Promise<Dispatcher> | undefined;
  const connectBounded = (): Promise<Dispatcher> | undefined => {
    if (connectTimeoutMs === undefined) return undefined;
    dispatcher ??= import('undici').then(
      ({ Agent }) => new Agent({ connect: { timeout: connectTimeoutMs } }),
    );
    return dispatcher;
  };

  const authorization = async (): Promise<Record<string, string>> => {
    let key: string | undefined;
    try {
      key = typeof apiKey === 'function' ? await apiKey() : apiKey;
    } catch (error) {
      throw new LlmError('openai: API key unavailable', 'openai', true, { cause: error });
    }
    return key ? { authorization: `Bearer ${key}` } : {};
  };

  return async (path, body, call) => {
    if (call.signal?.aborted) throw abortReason(call.signal);
    const headers = {
      'content-type': 'application/json',
      accept: 'application/json',
      ...(await authorization()),
    };
    const deadline = startDeadline(call.timeoutMs, call.signal);
    let response: Response;
    let text: string;
    try {
      const init: RequestInit & { dispatcher?: Dispatcher } = {
        method: 'POST',
        headers,
        body: JSON.stringify(body),
        signal: deadline.signal,
        // A redirect is a misconfigured base URL: report it rather than re-send the key elsewhere.
        redirect: 'manual',
      };
      const bounded = connectBounded();
      if (bounded) init.dispatcher = await bounded;
      response = await doFetch(`${root}${path}`, init as RequestInit);
      // Reading the whole body, even of an error, returns the connection to the pool.
      text = await response.text();
    } catch (error) {
      throw transportFailure(error, deadline, call);
    }
    if (!response.ok) throw statusFailure(response.status, response.headers, text);
    try {
      return { json: JSON.parse(text) as unknown, status: response.status };
    } catch {
      throw new LlmError('openai: response is not JSON', 'openai', true, { status: response.status });
    }
  };
};
