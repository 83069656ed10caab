import { createRequire } from 'node:module';
import type * as Zlib from 'node:zlib';
import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import type { ApiResponse } from './types.ts';

/** node:zlib, loaded on the first compressed response rather than at every cold start (~1 ms). */
const loadBuiltin = createRequire(import.meta.url);
let zlibModule: typeof Zlib | undefined;
const zlib = (): typeof Zlib => {
  zlibModule ??= loadBuiltin('node:zlib') as typeof Zlib;
  return zlibModule;
};

/** Smaller bodies are not worth the CPU, nor the header bytes. */
export const compressionThresholdBytes = 1024;

type Encoding = 'br' | 'gzip';

/** Picks br over gzip when both are acceptable, honouring `q=0` refusals. */
export const preferredEncoding = (acceptEncoding: string | undefined): Encoding | undefined => {
  if (!acceptEncoding) return undefined;
  const accepted = new Map<string, number>();
  for (const part of acceptEncoding.split(',')) {
    const [rawName, ...params] = part.toLowerCase().split(';');
    const name = rawName?.trim();
    if (!name) continue;
    const q = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
    const weight = q ? Number(q.slice(2)) : 1;
    accepted.set(name, Number.isNaN(weight) ? 0 : weight);
  }
  const weightOf = (encoding: Encoding) => accepted.get(encoding) ?? (accepted.get('*') || 0);
  const br = weightOf('br');
  const gzip = weightOf('gzip');
  if (br > 0 && br >= gzip) return 'br';
  if (gzip > 0) return 'gzip';
  return undefined;
};

const compress = (body: string, encoding: Encoding): Buffer => {
  const { brotliCompressSync, gzipSync, constants } = zlib();
  return encoding === 'br'
    ? // Quality 4 is the speed/size knee for small JSON; 11 costs milliseconds.
      brotliCompressSync(body, {
        params: { [constants.BROTLI_PARAM_QUALITY]: 4, [constants.BROTLI_PARAM_SIZE_HINT]: body.length },
      })
    : gzipSync(body, { level: 6 });
};

/** `If-None-Match` matches by the strong comparison of RFC 9110, `*` matching any current representation. */
export const etagMatches = (header: string | undefined, etag: string): boolean => {
  if (!header) return false;
  if (header.trim() === '*') return true;
  return header.split(',').some((candidate) => {
    const tag = candidate.trim();
    return tag === etag || tag === `W/${etag}`;
  });
};

export interface FinalizeContext {
  readonly method: string;
  readonly headers: Readonly<Record<string, string | undefined>>;
  readonly extraHeaders?: Readonly<Record<string, string>>;
}

/** Serializes a handler's answer: conditional GET, content negotiation, compression. */
export const finalizeResponse = (
  response: ApiResponse,
  context: FinalizeContext,
): APIGatewayProxyStructuredResultV2 => {
  const headers: Record<string, string> = { ...context.extraHeaders, ...response.headers };
  if (response.etag) headers['etag'] = response.etag;
  if (response.lastModified) headers['last-modified'] = response.lastModified.toUTCString();
  if (response.cacheControl) headers['cache-control'] = response.cacheControl;

  // The representation varies by encoding; a 304 carries the Vary its 200 would (RFC 9110 §15.4.5).
  if (response.body !== undefined && response.status !== 204) {
    headers['vary'] = headers['vary'] ? `${headers['vary']}, Accept-Encoding` : 'Accept-Encoding';
  }

  const conditional = context.method === 'GET' || context.method === 'HEAD';
  if (conditional && response.status === 200 && response.etag) {
    if (etagMatches(context.headers['if-none-match'], response.etag)) {
      return { statusCode: 304, headers };
    }
  }
  if (response.body === undefined || response.status === 204 || response.status === 304) {
    return { statusCode: response.status, headers };
  }

  const text = JSON.stringify(response.body);
  headers['content-type'] = response.contentType ?? 'application/json';
  const encoding =
    Buffer.byteLength(text, 'utf8') >= compressionThresholdBytes
      ? preferredEncoding(context.headers['accept-encoding'])
      : undefined;
  if (!encoding) return { statusCode: response.status, headers, body: text };
  headers['content-encoding'] = encoding;
  return {
    statusCode: response.status,
    headers,
    body: compress(text, encoding).toString('base64'),
    isBase64Encoded: true,
  };
};
