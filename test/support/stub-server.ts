import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { afterAll, beforeAll, beforeEach } from 'vitest';

/** A request as the stub server received it. */
export interface StubRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  /** The body as UTF-8 text. */
  readonly body: string;
  /** Exactly the bytes on the wire (what a signature is verified over). */
  readonly bytes: Buffer;
  /** The connection it came on, counting from 1. */
  readonly connection: number;
}

/** Answers a request; `n` counts the server's requests, from 1. */
export type StubAnswer = (res: ServerResponse, request: StubRequest, n: number) => void;

export interface StubServer {
  /** `http://127.0.0.1:<port>` */
  readonly origin: string;
  /** Every request, in order. */
  readonly requests: StubRequest[];
  /** How many connections it has accepted. */
  readonly connections: number;
  /** Drops its connections and stops listening (once, however often it is called). */
  close(): Promise<void>;
}

/** A loopback HTTP server that records every request and answers as the test scripts it. */
export const startStubServer = async (answer: StubAnswer): Promise<StubServer> => {
  const requests: StubRequest[] = [];
  const connectionIds = new WeakMap<Socket, number>();
  let connections = 0;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const bytes = Buffer.concat(chunks);
      const request = {
        method: req.method!,
        url: req.url!,
        headers: req.headers,
        body: bytes.toString('utf8'),
        bytes,
        connection: connectionIds.get(req.socket)!,
      };
      requests.push(request);
      answer(res, request, requests.length);
    });
  });
  server.on('connection', (socket: Socket) => connectionIds.set(socket, ++connections));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  let closed: Promise<void> | undefined;
  return {
    origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    get connections() {
      return connections;
    },
    close() {
      closed ??= (async () => {
        server.closeAllConnections();
        server.close();
        await once(server, 'close');
      })();
      return closed;
    },
  };
};

/**
 * The stub server of the enclosing describe block (or file): started before its tests, its
 * requests forgotten before each test, closed after them all.
 */
export const useStubServer = (answer: StubAnswer): StubServer => {
  let server: StubServer | undefined;
  beforeAll(async () => {
    server = await startStubServer(answer);
  });
  beforeEach(() => {
    if (server) server.requests.length = 0;
  });
  afterAll(async () => {
    await server?.close();
  });
  const started = (): StubServer => {
    if (!server) throw new Error('the stub server has not started');
    return server;
  };
  return {
    get origin() {
      return started().origin;
    },
    get requests() {
      return started().requests;
    },
    get connections() {
      return started().connections;
    },
    close: () => started().close(),
  };
};

/** Answers `status` with `body` as JSON (`headers` may replace the content type). */
export const replyJson = (
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void => {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
};
