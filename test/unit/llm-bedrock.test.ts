import { once } from 'node:events';
import { createServer, type Http2Server, type Http2ServerResponse } from 'node:http2';
import type { AddressInfo } from 'node:net';
import {
  AccessDeniedException,
  BedrockRuntimeClient,
  ConverseCommand,
  type ConverseCommandOutput,
  InternalServerException,
  ModelNotReadyException,
  ModelTimeoutException,
  ResourceNotFoundException,
  ServiceUnavailableException,
  ThrottlingException,
  ValidationException,
} from '@aws-sdk/client-bedrock-runtime';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BedrockConverseClient, createBedrockProvider } from '#adapters/llm/bedrock.ts';
import { LlmError } from '#domain/llm.ts';
import { expectCallerAbort, expectTimeout, failureOf, llmRequest } from '../support/llm.ts';

/** A stand-in for BedrockRuntimeClient: records what it was sent and answers as scripted. */
const fakeClient = (
  answer: (command: ConverseCommand, abortSignal?: AbortSignal) => Promise<ConverseCommandOutput>,
) => {
  const sent: { command: ConverseCommand; abortSignal?: AbortSignal }[] = [];
  const client: BedrockConverseClient = {
    send(command, options) {
      sent.push({ command, ...(options?.abortSignal && { abortSignal: options.abortSignal }) });
      return answer(command, options?.abortSignal);
    },
  };
  return { client, sent };
};

const converseOutput = (
  texts: string[],
  usage?: { inputTokens: number; outputTokens: number },
): ConverseCommandOutput => ({
  $metadata: { httpStatusCode: 200 },
  output: { message: { role: 'assistant', content: texts.map((text) => ({ text })) } },
  stopReason: 'end_turn',
  usage: usage && { ...usage, totalTokens: usage.inputTokens + usage.outputTokens },
  metrics: { latencyMs: 12 },
});

const request = llmRequest('anthropic.claude-3-haiku-20240307-v1:0', 'hello there');

/** Waits until aborted, then rejects as the SDK's HTTP handler does. */
const hangUntilAborted = (_: ConverseCommand, abortSignal?: AbortSignal) =>
  new Promise<ConverseCommandOutput>((_resolve, reject) => {
    abortSignal?.addEventListener('abort', () => {
      const error = new Error('Request aborted');
      error.name = 'AbortError';
      reject(error);
    });
  });

describe('bedrock provider: request and response', () => {
  it('sends one Converse command with system prompt, user text and inference settings', async () => {
    const { client, sent } = fakeClient(async () => converseOutput(['hi']));
    await createBedrockProvider({ client }).complete(request({ temperature: 0.2, maxTokens: 300 }));
    expect(sent).toHaveLength(1);
    const { command, abortSignal } = sent[0]!;
    expect(command).toBeInstanceOf(ConverseCommand);
    expect(command.input).toEqual({
      modelId: 'anthropic.claude-3-haiku-20240307-v1:0',
      system: [{ text: 'You are terse.' }],
      messages: [{ role: 'user', content: [{ text: 'hello there' }] }],
      inferenceConfig: { temperature: 0.2, maxTokens: 300 },
    });
    expect(abortSignal).toBeInstanceOf(AbortSignal);
  });

  it('sends object input as JSON text; leaves out a blank system prompt and unset settings', async () => {
    const { client, sent } = fakeClient(async () => converseOutput(['ok']));
    await createBedrockProvider({ client }).complete(request({ systemPrompt: '', input: { a: 1 } }));
    expect(sent[0]!.command.input).toEqual({
      modelId: 'anthropic.claude-3-haiku-20240307-v1:0',
      messages: [{ role: 'user', content: [{ text: '{"a":1}' }] }],
    });
  });

  it('joins the text blocks and takes tokens from usage', async () => {
    const { client } = fakeClient(async () =>
      converseOutput(['Hello', ', world'], { inputTokens: 17, outputTokens: 4 }),
    );
    const result = await createBedrockProvider({ client }).complete(request());
    expect(result).toEqual({
      output: 'Hello, world',
      inputTokens: 17,
      outputTokens: 4,
      provider: 'bedrock',
      model: 'anthropic.claude-3-haiku-20240307-v1:0',
    });
  });

  it('estimates tokens when usage is missing', async () => {
    const { client } = fakeClient(async () => converseOutput(['x'.repeat(40)]));
    const result = await createBedrockProvider({ client }).complete(request());
    expect(result.outputTokens).toBe(10);
    expect(result.inputTokens).toBeGreaterThan(0);
  });

  it('treats a response without an output message as a retryable failure', async () => {
    const { client } = fakeClient(async () => ({ ...converseOutput([]), output: undefined }));
    const error = await failureOf(createBedrockProvider({ client }).complete(request()));
    expect(error).toBeInstanceOf(LlmError);
    expect(error).toMatchObject({ retryable: true, provider: 'bedrock' });
  });

  it('uses the injected client for every call', async () => {
    const { client, sent } = fakeClient(async () => converseOutput(['ok']));
    const bedrock = createBedrockProvider({ client });
    await bedrock.complete(request());
    await bedrock.complete(request());
    expect(sent).toHaveLength(2);
  });
});

describe('bedrock provider: error mapping', () => {
  const metadata = (httpStatusCode: number) => ({ $metadata: { httpStatusCode } });
  /** An SDK exception class, as Bedrock throws them: a message and the response's status. */
  type SdkException = new (options: { message: string; $metadata: { httpStatusCode: number } }) => Error;
  const cases: [name: string, type: SdkException, status: number, retryable: boolean][] = [
    ['ThrottlingException', ThrottlingException, 429, true],
    ['ServiceUnavailableException', ServiceUnavailableException, 503, true],
    ['InternalServerException', InternalServerException, 500, true],
    ['ModelTimeoutException', ModelTimeoutException, 408, true],
    ['ModelNotReadyException', ModelNotReadyException, 429, true],
    ['ValidationException', ValidationException, 400, false],
    ['AccessDeniedException', AccessDeniedException, 403, false],
    ['ResourceNotFoundException', ResourceNotFoundException, 404, false],
  ];

  it.each(cases)('%s → HTTP %i, retryable: %s', async (name, type, status, retryable) => {
    const thrown = new type({ message: `${name} from Bedrock`, ...metadata(status) });
    const { client } = fakeClient(async () => {
      throw thrown;
    });
    const error = await failureOf(createBedrockProvider({ client }).complete(request()));
    expect(error).toBeInstanceOf(LlmError);
    expect(error).toMatchObject({
      provider: 'bedrock',
      retryable,
      message: `bedrock: ${name} (HTTP ${status})`,
      options: { status, cause: thrown },
    });
  });

  it('maps errors by name alone, as a plain Error with that name', async () => {
    for (const [name, retryable] of [
      ['ThrottlingException', true],
      ['ValidationException', false],
    ] as const) {
      const thrown = Object.assign(new Error('x'), { name });
      const { client } = fakeClient(async () => {
        throw thrown;
      });
      const error = await failureOf(createBedrockProvider({ client }).complete(request()));
      expect(error).toMatchObject({ retryable, message: `bedrock: ${name}` });
    }
  });

  it('reads Retry-After from the raw response of a throttled call', async () => {
    const thrown = Object.assign(new ThrottlingException({ message: 'slow', ...metadata(429) }), {
      $response: { statusCode: 429, headers: { 'retry-after': '7' } },
    });
    const { client } = fakeClient(async () => {
      throw thrown;
    });
    const error = await failureOf(createBedrockProvider({ client }).complete(request()));
    expect(error).toMatchObject({ retryable: true, options: { retryAfterMs: 7_000 } });
  });

  it('treats connection errors as retryable and unknown client errors by their status', async () => {
    const reset = Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
    const unknown4xx = Object.assign(new Error('nope'), {
      name: 'SomeNewClientException',
      $fault: 'client',
      ...metadata(422),
    });
    const unknown5xx = Object.assign(new Error('nope'), { name: 'SomeNewServerException', ...metadata(502) });
    const outcomes = [];
    for (const thrown of [reset, unknown4xx, unknown5xx]) {
      const { client } = fakeClient(async () => {
        throw thrown;
      });
      outcomes.push(await failureOf(createBedrockProvider({ client }).complete(request())));
    }
    expect(outcomes.map((e) => (e as LlmError).retryable)).toEqual([true, false, true]);
  });
});

describe('bedrock provider: deadline and abort', () => {
  it('aborts the call at timeoutMs and reports a retryable timeout', async () => {
    const { client } = fakeClient(hangUntilAborted);
    await expectTimeout(
      'bedrock',
      100,
      (timeoutMs) => createBedrockProvider({ client }).complete(request({ timeoutMs })),
      { earliestMs: 90, latestMs: 2_000 },
    );
  });

  it('surfaces the caller’s abort as an abort, not a timeout', async () => {
    const { client } = fakeClient(hangUntilAborted);
    await expectCallerAbort(
      30,
      (signal) => createBedrockProvider({ client }).complete(request({ signal, timeoutMs: 5_000 })),
      2_000,
    );
  });

  it('does not call Bedrock when the signal is already aborted', async () => {
    const { client, sent } = fakeClient(async () => converseOutput(['never']));
    const error = await failureOf(
      createBedrockProvider({ client }).complete(request({ signal: AbortSignal.abort() })),
    );
    expect(error).toMatchObject({ name: 'AbortError' });
    expect(sent).toHaveLength(0);
  });
});

describe('bedrock provider: the real SDK client against a local HTTP/2 stand-in', () => {
  // What the stand-in does with the next request: the wire format of the Converse API.
  let next: (res: Http2ServerResponse) => void = () => {};
  const paths: string[] = [];
  let server: Http2Server;
  let client: BedrockRuntimeClient;

  beforeAll(async () => {
    server = createServer((req, res) => {
      paths.push(req.url);
      req.resume();
      req.on('end', () => next(res));
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    client = new BedrockRuntimeClient({
      region: 'us-east-1',
      endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'example' },
      maxAttempts: 1,
    });
  });

  afterAll(async () => {
    client.destroy();
    server.close();
  });

  it('parses a Converse answer', async () => {
    next = (res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          output: { message: { role: 'assistant', content: [{ text: 'from the wire' }] } },
          stopReason: 'end_turn',
          usage: { inputTokens: 11, outputTokens: 3, totalTokens: 14 },
          metrics: { latencyMs: 5 },
        }),
      );
    };
    const result = await createBedrockProvider({ client }).complete(request({ model: 'my-model' }));
    expect(result).toMatchObject({ output: 'from the wire', inputTokens: 11, outputTokens: 3 });
    expect(paths.at(-1)).toBe('/model/my-model/converse');
  });

  it('maps a throttled answer, with its Retry-After', async () => {
    next = (res) => {
      res.writeHead(429, {
        'content-type': 'application/json',
        'x-amzn-errortype': 'ThrottlingException:http://internal.amazon.com/coral/com.amazon.bedrock/',
        'retry-after': '3',
      });
      res.end(JSON.stringify({ message: 'Too many requests, please wait before trying again.' }));
    };
    const error = await failureOf(createBedrockProvider({ client }).complete(request()));
    expect(error).toMatchObject({
      message: 'bedrock: ThrottlingException (HTTP 429)',
      retryable: true,
      options: { status: 429, retryAfterMs: 3_000 },
    });
  });

  it('maps a validation error as not retryable', async () => {
    next = (res) => {
      res.writeHead(400, { 'content-type': 'application/json', 'x-amzn-errortype': 'ValidationException' });
      res.end(JSON.stringify({ message: 'The provided model identifier is invalid.' }));
    };
    const error = await failureOf(createBedrockProvider({ client }).complete(request()));
    expect(error).toMatchObject({ message: 'bedrock: ValidationException (HTTP 400)', retryable: false });
  });

  it('cuts a call that never answers at timeoutMs', async () => {
    next = () => {};
    await expectTimeout(
      'bedrock',
      150,
      (timeoutMs) => createBedrockProvider({ client }).complete(request({ timeoutMs })),
      { earliestMs: 140, latestMs: 2_000 },
    );
  });
});
