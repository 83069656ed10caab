// Delivers to real local HTTP servers on 127.0.0.1; DNS is injected, so nothing leaves the machine.
import type { LookupAddress } from 'node:dns';
import { type AddressInfo, createServer as createTcpServer, type Server } from 'node:net';
import { afterEach, describe, expect, it, onTestFinished, vi } from 'vitest';
import {
  type DeliverWebhookOptions,
  deliverWebhook,
  type ResolveAll,
  WebhookDeliveryError,
} from '#adapters/webhooks/deliver.ts';
import { generateWebhookSecret, verifyWebhookSignature } from '#domain/webhooks.ts';
import { type StubAnswer, startStubServer } from '../support/stub-server.ts';

const servers: Server[] = [];

afterEach(async () => {
  await Promise.all(
    servers.splice(0).map(
      (server) =>
        new Promise<void>((resolve) => {
          (server as Server & { closeAllConnections?: () => void }).closeAllConnections?.();
          server.close(() => resolve());
        }),
    ),
  );
});

const listen = async (server: Server): Promise<number> => {
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
};

/** A receiver that records each request once its body is in, then lets `handler` answer; closed after the test. */
const receiver = async (handler: StubAnswer = (res) => res.end('ok')) => {
  const server = await startStubServer(handler);
  onTestFinished(() => server.close());
  return {
    port: Number(new URL(server.origin).port),
    received: server.requests,
    url: server.origin,
    close: () => server.close(),
  };
};

const answer =
  (status: number, headers: Record<string, string> = {}, text = ''): StubAnswer =>
  (res) => {
    res.writeHead(status, headers);
    res.end(text);
  };

const secret = generateWebhookSecret();
const body = JSON.stringify({
  type: 'execution.completed',
  data: { execution_id: '0190a5f4-7b2c-7d3e-8f40-123456789abc', status: 'succeeded', output: 'héllo ✓' },
});

const deliver = (overrides: Partial<DeliverWebhookOptions> & { url: string }) =>
  deliverWebhook({
    secret,
    body,
    eventId: 'evt_0190a5f4',
    allowPrivate: true,
    timeoutMs: 2_000,
    ...overrides,
  });

/** The delivery's rejection, which must be a WebhookDeliveryError. */
const failure = async (delivery: Promise<unknown>): Promise<WebhookDeliveryError> => {
  const error = await delivery.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(WebhookDeliveryError);
  return error as WebhookDeliveryError;
};

/** Fake DNS: every name resolves to `addresses`; calls are recorded. */
const fakeDns = (...addresses: string[]) =>
  vi.fn<ResolveAll>(async () =>
    addresses.map((address): LookupAddress => ({ address, family: address.includes(':') ? 6 : 4 })),
  );

describe('deliverWebhook', () => {
  it('POSTs the body with a signature the receiver verifies over the raw bytes it received', async () => {
    const hook = await receiver(answer(200, { 'content-type': 'text/plain' }, 'thanks'));
    const result = await deliver({ url: `${hook.url}/hooks/in?agent=7` });

    expect(result.status).toBe(200);
    expect(result.ms).toBeGreaterThanOrEqual(0);
    expect(result.ms).toBeLessThan(2_000);
    expect(hook.received).toHaveLength(1);
    const [request] = hook.received;
    expect(request).toMatchObject({ method: 'POST', url: '/hooks/in?agent=7' });
    expect(request!.headers).toMatchObject({
      'content-type': 'application/json',
      'user-agent': 'Switchyard-Webhooks/1',
      'switchyard-event-id': 'evt_0190a5f4',
      'content-length': String(Buffer.byteLength(body)),
    });
    expect(request!.bytes.equals(Buffer.from(body, 'utf8'))).toBe(true);

    const signature = request!.headers['switchyard-signature'];
    expect(signature).toMatch(/^t=\d+,v1=[0-9a-f]{64}$/);
    expect(verifyWebhookSignature(secret, request!.bytes, signature as string)).toBe(true);
    expect(verifyWebhookSignature(generateWebhookSecret(), request!.bytes, signature as string)).toBe(false);
    expect(
      verifyWebhookSignature(secret, Buffer.concat([request!.bytes, Buffer.from(' ')]), signature as string),
    ).toBe(false);
  });

  it('signs with the given timestamp, and with every secret during a rotation', async () => {
    const hook = await receiver();
    await deliver({ url: hook.url, secret: ['whsec_old', 'whsec_new'], nowSeconds: 1_700_000_000 });
    const signature = hook.received[0]!.headers['switchyard-signature'] as string;
    expect(signature).toMatch(/^t=1700000000,v1=[0-9a-f]{64},v1=[0-9a-f]{64}$/);
    const at = { nowSeconds: 1_700_000_000 };
    expect(verifyWebhookSignature('whsec_old', hook.received[0]!.bytes, signature, at)).toBe(true);
    expect(verifyWebhookSignature('whsec_new', hook.received[0]!.bytes, signature, at)).toBe(true);
  });

  it.each([200, 201, 202, 204])('treats %i as delivered', async (status) => {
    const hook = await receiver(answer(status));
    await expect(deliver({ url: hook.url })).resolves.toMatchObject({ status });
  });

  it('reads at most 64 KB of a large response and still succeeds', async () => {
    const hook = await receiver((res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      res.end(Buffer.alloc(8 * 1024 * 1024, 1));
    });
    const result = await deliver({ url: hook.url });
    expect(result.status).toBe(200);
  });

  it('lets the status decide when the body stalls after it', async () => {
    const hook = await receiver((res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('partial');
    });
    const result = await deliver({ url: hook.url, timeoutMs: 300 });
    expect(result.status).toBe(200);
    expect(result.ms).toBeLessThan(2_000);
  });

  describe('failures', () => {
    it('500 is retryable', async () => {
      const hook = await receiver(answer(500, {}, 'boom'));
      const error = await failure(deliver({ url: hook.url }));
      expect(error).toMatchObject({ kind: 'http', retryable: true, status: 500, retryAfterMs: undefined });
      expect(hook.received).toHaveLength(1);
    });

    it.each([408, 425, 502, 503, 504])('%i is retryable', async (status) => {
      const hook = await receiver(answer(status));
      expect(await failure(deliver({ url: hook.url }))).toMatchObject({
        kind: 'http',
        retryable: true,
        status,
      });
    });

    it('429 with Retry-After in seconds gives retryAfterMs', async () => {
      const hook = await receiver(answer(429, { 'retry-after': '120' }));
      const error = await failure(deliver({ url: hook.url }));
      expect(error).toMatchObject({ kind: 'http', retryable: true, status: 429, retryAfterMs: 120_000 });
    });

    it('503 with Retry-After as an HTTP date gives the time until then', async () => {
      // HTTP dates have whole seconds: the expected delay is bounded by the clock either side.
      const before = Date.now();
      const at = new Date(Math.ceil(before / 1000) * 1000 + 30_000);
      const hook = await receiver(answer(503, { 'retry-after': at.toUTCString() }));
      const error = await failure(deliver({ url: hook.url }));
      expect(error.retryable).toBe(true);
      expect(error.retryAfterMs).toBeGreaterThanOrEqual(at.getTime() - Date.now());
      expect(error.retryAfterMs).toBeLessThanOrEqual(at.getTime() - before);
    });

    it('an unreadable Retry-After is ignored', async () => {
      const hook = await receiver(answer(429, { 'retry-after': 'soon' }));
      expect(await failure(deliver({ url: hook.url }))).toMatchObject({
        retryable: true,
        retryAfterMs: undefined,
      });
    });

    it('410 is not retryable: the receiver says the endpoint is gone', async () => {
      const hook = await receiver(answer(410, { 'retry-after': '60' }));
      const error = await failure(deliver({ url: hook.url }));
      expect(error).toMatchObject({ kind: 'http', retryable: false, status: 410, retryAfterMs: undefined });
      expect(error.message).toContain('gone');
    });

    it.each([400, 401, 403, 404, 405, 413, 422])('%i is not retryable', async (status) => {
      const hook = await receiver(answer(status));
      expect(await failure(deliver({ url: hook.url }))).toMatchObject({
        kind: 'http',
        retryable: false,
        status,
      });
    });

    it.each([301, 302, 307, 308])('%i fails and the redirect is not followed', async (status) => {
      const target = await receiver();
      const hook = await receiver(answer(status, { location: `${target.url}/elsewhere` }));
      const error = await failure(deliver({ url: hook.url }));
      expect(error).toMatchObject({ kind: 'http', retryable: false, status });
      expect(hook.received).toHaveLength(1);
      expect(target.received).toHaveLength(0);
    });

    it('a receiver that never answers times out, retryably, near the timeout', async () => {
      const hook = await receiver(() => {});
      const started = performance.now();
      const error = await failure(deliver({ url: hook.url, timeoutMs: 300 }));
      const took = performance.now() - started;
      expect(error).toMatchObject({ kind: 'timeout', retryable: true, status: undefined });
      expect(took).toBeGreaterThanOrEqual(250);
      expect(took).toBeLessThan(2_000);
      expect(hook.received).toHaveLength(1);
    });

    it('a refused connection is retryable', async () => {
      const closed = await receiver();
      const url = closed.url;
      await closed.close();
      const error = await failure(deliver({ url }));
      expect(error).toMatchObject({ kind: 'network', retryable: true, status: undefined });
      expect(error.message).toContain('ECONNREFUSED');
    });

    it('a connection dropped before any response is retryable', async () => {
      const hook = await receiver((res) => res.socket?.destroy());
      expect(await failure(deliver({ url: hook.url }))).toMatchObject({ kind: 'network', retryable: true });
    });

    it('a name that does not resolve is retryable', async () => {
      const lookup = vi.fn<ResolveAll>(async () => {
        throw Object.assign(new Error('getaddrinfo ENOTFOUND hooks.example.test'), { code: 'ENOTFOUND' });
      });
      const error = await failure(deliver({ url: 'https://hooks.example.test/', lookup }));
      expect(error).toMatchObject({ kind: 'network', retryable: true });
      expect(error.message).toContain('ENOTFOUND');
    });

    it('a lookup that hangs times out', async () => {
      const lookup = vi.fn<ResolveAll>(() => new Promise(() => {}));
      const started = performance.now();
      const error = await failure(deliver({ url: 'https://hooks.example.test/', lookup, timeoutMs: 200 }));
      expect(error).toMatchObject({ kind: 'timeout', retryable: true });
      expect(performance.now() - started).toBeLessThan(2_000);
    });
  });

  describe('SSRF guard', () => {
    it('refuses a loopback URL unless private addresses are allowed, sending nothing', async () => {
      const hook = await receiver();
      for (const url of [hook.url, `https://127.0.0.1:${hook.port}/`, `http://localhost:${hook.port}/`]) {
        const error = await failure(deliver({ url, allowPrivate: false }));
        expect(error, url).toMatchObject({ kind: 'refused', retryable: false, status: undefined });
      }
      expect(hook.received).toHaveLength(0);
      // The same URL is delivered in local mode, so the refusal above was the guard, not the server.
      await expect(deliver({ url: hook.url, allowPrivate: true })).resolves.toMatchObject({ status: 200 });
    });

    it('refuses a URL that is invalid at delivery time without resolving it', async () => {
      const lookup = fakeDns('127.0.0.1');
      for (const url of ['ftp://hooks.example.test/', 'https://u:p@hooks.example.test/', 'nope']) {
        expect(await failure(deliver({ url, lookup }))).toMatchObject({ kind: 'refused', retryable: false });
      }
      expect(lookup).not.toHaveBeenCalled();
    });

    it('refuses a host name that resolves to a private address (DNS rebinding)', async () => {
      const hook = await receiver();
      for (const addresses of [
        ['127.0.0.1'],
        ['10.0.0.5'],
        ['169.254.169.254'],
        ['::1'],
        ['::ffff:127.0.0.1'],
      ]) {
        const lookup = fakeDns(...addresses);
        const url = `https://hooks.example.test:${hook.port}/in`;
        const error = await failure(deliver({ url, allowPrivate: false, lookup }));
        expect(error, addresses[0]).toMatchObject({ kind: 'refused', retryable: false });
        expect(error.message).toContain(addresses[0]);
        expect(lookup).toHaveBeenCalledWith('hooks.example.test', { all: true });
      }
      expect(hook.received).toHaveLength(0);
    });

    it('refuses when any one of the resolved addresses is private', async () => {
      const lookup = fakeDns('93.184.215.14', '2606:2800:21f:cb07:6820:80da:af6b:8b2c', '10.0.0.5');
      const error = await failure(
        deliver({ url: 'https://hooks.example.test/', allowPrivate: false, lookup }),
      );
      expect(error).toMatchObject({ kind: 'refused', retryable: false });
      expect(error.message).toContain('10.0.0.5');
    });

    it('refuses a resolver answer that is not an address', async () => {
      const lookup = vi.fn<ResolveAll>(async () => [{ address: 'evil.example', family: 4 }]);
      const error = await failure(deliver({ url: 'https://hooks.example.test/', lookup }));
      expect(error).toMatchObject({ kind: 'refused', retryable: false });
    });

    it('connects to the checked address, resolving once, with the host name in Host', async () => {
      const hook = await receiver();
      const lookup = fakeDns('127.0.0.1');
      const result = await deliver({ url: `http://hooks.example.test:${hook.port}/in`, lookup });
      expect(result.status).toBe(200);
      // .test never resolves in real DNS: the request can only have gone where the fake pointed.
      expect(lookup).toHaveBeenCalledTimes(1);
      expect(hook.received).toHaveLength(1);
      expect(hook.received[0]!.headers.host).toBe(`hooks.example.test:${hook.port}`);
      expect(hook.received[0]!.url).toBe('/in');
      const signature = hook.received[0]!.headers['switchyard-signature'] as string;
      expect(verifyWebhookSignature(secret, hook.received[0]!.bytes, signature)).toBe(true);
    });

    it('over https, names the host in TLS SNI while connecting to the checked address', async () => {
      let hello: Buffer | undefined;
      const tcp = createTcpServer((socket) => {
        socket.once('data', (chunk: Buffer) => {
          hello = chunk;
          socket.destroy();
        });
      });
      const port = await listen(tcp);
      const lookup = fakeDns('127.0.0.1');
      const error = await failure(deliver({ url: `https://hooks.example.test:${port}/in`, lookup }));
      // No TLS server here: the handshake is cut, which is a retryable network failure.
      expect(error).toMatchObject({ kind: 'network', retryable: true });
      expect(hello?.[0]).toBe(0x16); // a TLS handshake record: the ClientHello
      expect(hello?.includes(Buffer.from('hooks.example.test'))).toBe(true);
      expect(lookup).toHaveBeenCalledTimes(1);
    });
  });
});
