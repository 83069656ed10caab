import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { compressionThresholdBytes, finalizeResponse } from '#http/respond.ts';
import type { ApiResponse } from '#http/types.ts';

const get = (headers: Record<string, string | undefined> = {}) => ({ method: 'GET', headers });

/** A JSON body whose serialization is at least `bytes` long. */
const bodyOf = (bytes: number) => ({
  items: Array.from({ length: Math.ceil(bytes / 30) }, (_, i) => ({ id: i, name: `agent-${i}` })),
});

const decode = (body: string, encoding: string): unknown => {
  const raw = Buffer.from(body, 'base64');
  const text = encoding === 'br' ? brotliDecompressSync(raw) : gunzipSync(raw);
  return JSON.parse(text.toString('utf8'));
};

describe('finalizeResponse: serialization', () => {
  it('serializes the body as JSON with a JSON content type', () => {
    const body = { id: 'a1', name: 'Ada', nested: { n: 1, list: [true, null] } };
    const result = finalizeResponse({ status: 200, body }, get());
    expect(result.statusCode).toBe(200);
    expect(result.headers?.['content-type']).toBe('application/json');
    expect(typeof result.body).toBe('string');
    expect(JSON.parse(result.body!)).toEqual(body);
    expect(result.isBase64Encoded).toBeFalsy();
  });

  it('keeps the problem+json content type', () => {
    const body = { type: 'about:blank', title: 'Not Found', status: 404 };
    const result = finalizeResponse(
      { status: 404, body, contentType: 'application/problem+json' },
      get({ 'accept-encoding': 'br' }),
    );
    expect(result.statusCode).toBe(404);
    expect(result.headers?.['content-type']).toBe('application/problem+json');
    expect(JSON.parse(result.body!)).toEqual(body);
  });

  it('preserves headers from the handler and from the context, the handler winning', () => {
    const result = finalizeResponse(
      { status: 201, body: { id: 'x' }, headers: { location: '/v1/agents/x', 'x-shared': 'handler' } },
      { method: 'POST', headers: {}, extraHeaders: { 'x-request-id': 'req-1', 'x-shared': 'context' } },
    );
    expect(result.statusCode).toBe(201);
    expect(result.headers).toMatchObject({
      location: '/v1/agents/x',
      'x-request-id': 'req-1',
      'x-shared': 'handler',
    });
  });

  it('sets etag, last-modified and cache-control from the response', () => {
    const lastModified = new Date('2024-01-02T03:04:05.000Z');
    const result = finalizeResponse(
      { status: 200, body: { ok: true }, etag: '"v2"', lastModified, cacheControl: 'private, no-cache' },
      get(),
    );
    expect(result.headers).toMatchObject({
      etag: '"v2"',
      'last-modified': 'Tue, 02 Jan 2024 03:04:05 GMT',
      'cache-control': 'private, no-cache',
    });
  });

  it('adds Vary: Accept-Encoding to every body, appending to a Vary from the handler', () => {
    expect(finalizeResponse({ status: 200, body: { small: true } }, get()).headers?.['vary']).toBe(
      'Accept-Encoding',
    );
    const big = finalizeResponse({ status: 200, body: bodyOf(4096) }, get({ 'accept-encoding': 'gzip' }));
    expect(big.headers?.['vary']).toBe('Accept-Encoding');
    const withVary = finalizeResponse({ status: 200, body: { a: 1 }, headers: { vary: 'Origin' } }, get());
    expect(withVary.headers?.['vary']).toBe('Origin, Accept-Encoding');
  });
});

describe('finalizeResponse: bodiless responses', () => {
  it('answers 204 with no body and no content type, even if the handler gave one', () => {
    const result = finalizeResponse(
      { status: 204, body: { ignored: true } },
      { method: 'DELETE', headers: {} },
    );
    expect(result.statusCode).toBe(204);
    expect(result.body).toBeUndefined();
    expect(result.headers?.['content-type']).toBeUndefined();
  });

  it('answers with no body when the handler gave none', () => {
    const result = finalizeResponse({ status: 202 }, { method: 'POST', headers: {} });
    expect(result.statusCode).toBe(202);
    expect(result.body).toBeUndefined();
  });
});

describe('finalizeResponse: conditional GET', () => {
  const response: ApiResponse = { status: 200, body: { id: 'a1', version: 3 }, etag: '"v3"' };

  it('answers 304 with the ETag and no body when If-None-Match matches on GET', () => {
    const result = finalizeResponse(response, get({ 'if-none-match': '"v3"' }));
    expect(result.statusCode).toBe(304);
    expect(result.headers?.['etag']).toBe('"v3"');
    expect(result.body).toBeUndefined();
    expect(result.isBase64Encoded).toBeFalsy();
  });

  it('answers 304 for *, a list containing the tag, and the weak form', () => {
    for (const header of ['*', '"v1", "v3"', 'W/"v3"']) {
      expect(finalizeResponse(response, get({ 'if-none-match': header })).statusCode, header).toBe(304);
    }
  });

  it('answers 304 on HEAD too', () => {
    const result = finalizeResponse(response, { method: 'HEAD', headers: { 'if-none-match': '"v3"' } });
    expect(result.statusCode).toBe(304);
  });

  it('keeps the headers a 200 would carry on the 304 (RFC 9110 §15.4.5: ETag, Cache-Control, Vary)', () => {
    const result = finalizeResponse(
      { ...response, cacheControl: 'private, no-cache' },
      get({ 'if-none-match': '"v3"', 'accept-encoding': 'br' }),
    );
    expect(result.statusCode).toBe(304);
    expect(result.headers?.['etag']).toBe('"v3"');
    expect(result.headers?.['cache-control']).toBe('private, no-cache');
    expect(result.headers?.['vary']).toBe('Accept-Encoding');
  });

  it('answers 200 with the body when the tag does not match', () => {
    const result = finalizeResponse(response, get({ 'if-none-match': '"v2"' }));
    expect(result.statusCode).toBe(200);
    expect(JSON.parse(result.body!)).toEqual(response.body);
    expect(result.headers?.['etag']).toBe('"v3"');
  });

  it('never answers 304 to PATCH or POST, even when the tag matches', () => {
    for (const method of ['PATCH', 'POST', 'PUT', 'DELETE']) {
      const result = finalizeResponse(response, { method, headers: { 'if-none-match': '"v3"' } });
      expect(result.statusCode, method).toBe(200);
      expect(JSON.parse(result.body!)).toEqual(response.body);
    }
  });

  it('never turns a non-200 status into a 304', () => {
    const created = finalizeResponse({ ...response, status: 201 }, get({ 'if-none-match': '"v3"' }));
    expect(created.statusCode).toBe(201);
  });
});

describe('finalizeResponse: compression', () => {
  const big = bodyOf(4096);

  it.each(['br', 'gzip'])('compresses a large body with %s, which decodes to the same JSON', (encoding) => {
    const result = finalizeResponse({ status: 200, body: big }, get({ 'accept-encoding': encoding }));
    expect(result.statusCode).toBe(200);
    expect(result.isBase64Encoded).toBe(true);
    expect(result.headers?.['content-encoding']).toBe(encoding);
    expect(result.headers?.['content-type']).toBe('application/json');
    expect(result.headers?.['vary']).toBe('Accept-Encoding');
    expect(decode(result.body!, encoding)).toEqual(big);
    expect(Buffer.from(result.body!, 'base64').length).toBeLessThan(JSON.stringify(big).length);
  });

  it('picks br over gzip when both are accepted, and gzip when br has a lower q', () => {
    const both = finalizeResponse(
      { status: 200, body: big },
      get({ 'accept-encoding': 'gzip, deflate, br' }),
    );
    expect(both.headers?.['content-encoding']).toBe('br');
    expect(decode(both.body!, 'br')).toEqual(big);
    const gzip = finalizeResponse({ status: 200, body: big }, get({ 'accept-encoding': 'br;q=0.1, gzip' }));
    expect(gzip.headers?.['content-encoding']).toBe('gzip');
    expect(decode(gzip.body!, 'gzip')).toEqual(big);
  });

  it('does not compress without an acceptable encoding', () => {
    for (const header of [undefined, 'identity', 'br;q=0, gzip;q=0', 'deflate']) {
      const result = finalizeResponse({ status: 200, body: big }, get({ 'accept-encoding': header }));
      expect(result.headers?.['content-encoding'], String(header)).toBeUndefined();
      expect(result.isBase64Encoded).toBeFalsy();
      expect(JSON.parse(result.body!)).toEqual(big);
      expect(result.headers?.['vary']).toBe('Accept-Encoding');
    }
  });

  it('compresses at exactly the threshold and not one byte below it', () => {
    const padTo = (length: number) => {
      const body = { p: '' };
      body.p = 'x'.repeat(length - JSON.stringify(body).length);
      expect(JSON.stringify(body).length).toBe(length);
      return body;
    };
    const at = finalizeResponse(
      { status: 200, body: padTo(compressionThresholdBytes) },
      get({ 'accept-encoding': 'br' }),
    );
    expect(at.headers?.['content-encoding']).toBe('br');
    const below = finalizeResponse(
      { status: 200, body: padTo(compressionThresholdBytes - 1) },
      get({ 'accept-encoding': 'br' }),
    );
    expect(below.headers?.['content-encoding']).toBeUndefined();
    expect(below.isBase64Encoded).toBeFalsy();
  });

  it('never compresses small bodies', () => {
    for (const encoding of ['br', 'gzip', 'gzip, br', '*']) {
      const result = finalizeResponse(
        { status: 200, body: { id: 'a1' } },
        get({ 'accept-encoding': encoding }),
      );
      expect(result.headers?.['content-encoding']).toBeUndefined();
      expect(result.isBase64Encoded).toBeFalsy();
      expect(result.body).toBe('{"id":"a1"}');
    }
  });

  it('measures the threshold in bytes, not UTF-16 code units', () => {
    // 600 two-byte characters: 1,210 bytes of UTF-8 in 610 characters.
    const body = { name: 'é'.repeat(600) };
    expect(Buffer.byteLength(JSON.stringify(body))).toBeGreaterThanOrEqual(compressionThresholdBytes);
    const result = finalizeResponse({ status: 200, body }, get({ 'accept-encoding': 'gzip' }));
    expect(result.headers?.['content-encoding']).toBe('gzip');
    expect(decode(result.body!, 'gzip')).toEqual(body);
  });

  it('keeps the same ETag whether compressed or not', () => {
    const response: ApiResponse = { status: 200, body: big, etag: '"v7"' };
    const plain = finalizeResponse(response, get());
    const br = finalizeResponse(response, get({ 'accept-encoding': 'br' }));
    const gzip = finalizeResponse(response, get({ 'accept-encoding': 'gzip' }));
    expect(plain.headers?.['etag']).toBe('"v7"');
    expect(br.headers?.['etag']).toBe('"v7"');
    expect(gzip.headers?.['etag']).toBe('"v7"');
    expect(br.headers?.['content-encoding']).toBe('br');
  });

  it('answers 304 to a matching If-None-Match whatever the encoding', () => {
    const response: ApiResponse = { status: 200, body: big, etag: '"v7"' };
    const result = finalizeResponse(response, get({ 'if-none-match': '"v7"', 'accept-encoding': 'br' }));
    expect(result.statusCode).toBe(304);
    expect(result.body).toBeUndefined();
    expect(result.headers?.['content-encoding']).toBeUndefined();
  });

  it('preserves handler headers on compressed responses', () => {
    const result = finalizeResponse(
      { status: 200, body: big, headers: { link: '</v1/agents?cursor=x>; rel="next"' } },
      get({ 'accept-encoding': 'gzip' }),
    );
    expect(result.headers?.['link']).toBe('</v1/agents?cursor=x>; rel="next"');
    expect(result.headers?.['content-encoding']).toBe('gzip');
  });

  it('compresses large problem+json bodies and keeps their content type', () => {
    const body = { type: 'x', title: 'Validation failed', status: 422, errors: bodyOf(2048).items };
    const result = finalizeResponse(
      { status: 422, body, contentType: 'application/problem+json' },
      get({ 'accept-encoding': 'gzip' }),
    );
    expect(result.statusCode).toBe(422);
    expect(result.headers?.['content-type']).toBe('application/problem+json');
    expect(decode(result.body!, 'gzip')).toEqual(body);
  });
});
