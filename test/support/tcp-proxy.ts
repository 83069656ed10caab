import { createConnection, createServer, type Server, type Socket } from 'node:net';

/**
 * A TCP proxy in front of a server (Redis, PostgreSQL, PGlite's socket), to model an outage of
 * that server while it keeps its data: `cut()` resets every connection and refuses new ones (what clients see when the
 * cache node or the network to it goes away); `stall()` keeps connections open but passes
 * nothing on, holding it (a hung node, as SIGSTOP: commands time out, and run when it
 * resumes); `restore()` serves again on the same port.
 */
export interface TcpProxy {
  /** `<protocol of the target>//127.0.0.1:<proxy port>`. */
  readonly url: string;
  /** Any URL of the target (credentials, database, query kept) pointed at the proxy instead. */
  urlFor(targetUrl: string): string;
  cut(): Promise<void>;
  stall(): void;
  restore(): Promise<void>;
  close(): Promise<void>;
}

export const startTcpProxy = async (target: string): Promise<TcpProxy> => {
  const { hostname, port: targetPort, protocol } = new URL(target);
  const pairs = new Set<[Socket, Socket]>();
  let stalled = false;
  let server: Server | undefined;

  const listen = (port: number) =>
    new Promise<number>((resolve, reject) => {
      const next = createServer((client) => {
        const upstream = createConnection({ host: hostname, port: Number(targetPort) });
        const pair: [Socket, Socket] = [client, upstream];
        pairs.add(pair);
        const drop = () => {
          pairs.delete(pair);
          client.destroy();
          upstream.destroy();
        };
        client.pipe(upstream);
        upstream.pipe(client);
        if (stalled) for (const socket of pair) socket.pause();
        for (const socket of pair) {
          socket.on('error', drop);
          socket.on('close', drop);
        }
      });
      next.once('error', reject);
      next.listen(port, '127.0.0.1', () => {
        server = next;
        const address = next.address();
        resolve(typeof address === 'object' && address ? address.port : 0);
      });
    });

  const stopListening = () =>
    new Promise<void>((resolve) => {
      const current = server;
      server = undefined;
      for (const [client, upstream] of pairs) {
        client.destroy();
        upstream.destroy();
      }
      pairs.clear();
      if (current) current.close(() => resolve());
      else resolve();
    });

  const port = await listen(0);
  return {
    url: `${protocol}//127.0.0.1:${port}`,
    urlFor(targetUrl) {
      const url = new URL(targetUrl);
      url.hostname = '127.0.0.1';
      url.port = String(port);
      return url.toString();
    },
    cut: stopListening,
    stall() {
      stalled = true;
      for (const pair of pairs) for (const socket of pair) socket.pause();
    },
    async restore() {
      stalled = false;
      for (const pair of pairs) for (const socket of pair) socket.resume();
      if (!server) await listen(port);
    },
    close: stopListening,
  };
};
