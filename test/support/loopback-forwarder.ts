import { createConnection, createServer, type Server, type Socket } from 'node:net';

/**
 * A loopback TCP forwarder in front of a database server (PostgreSQL, PGlite's socket), to take
 * it away and bring it back: `cut()` stops listening (new connections are refused) and drops
 * every open one (clients see their connection end mid-flight); `restore()` listens again on the
 * same port.
 */
export interface LoopbackForwarder {
  readonly port: number;
  /** The target's URL with its host and port replaced by the forwarder's. */
  urlFor(targetUrl: string): string;
  cut(): Promise<void>;
  restore(): Promise<void>;
  stop(): Promise<void>;
}

export const startLoopbackForwarder = async (target: {
  host: string;
  port: number;
}): Promise<LoopbackForwarder> => {
  const sockets = new Set<Socket>();
  const track = (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  };
  const newServer = (): Server =>
    createServer((client) => {
      const upstream = createConnection(target);
      track(client);
      track(upstream);
      client.on('error', () => upstream.destroy());
      upstream.on('error', () => client.destroy());
      client.pipe(upstream);
      upstream.pipe(client);
      client.once('close', () => upstream.destroy());
      upstream.once('close', () => client.destroy());
    });
  const listen = (server: Server, port: number) =>
    new Promise<number>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        const address = server.address();
        resolve(typeof address === 'object' && address ? address.port : 0);
      });
    });

  let server: Server | undefined = newServer();
  const port = await listen(server, 0);
  const close = async () => {
    const current = server;
    server = undefined;
    for (const socket of sockets) socket.destroy();
    if (current) await new Promise<void>((resolve) => current.close(() => resolve()));
  };
  return {
    port,
    urlFor(targetUrl) {
      const url = new URL(targetUrl);
      url.hostname = '127.0.0.1';
      url.port = String(port);
      return url.toString();
    },
    cut: close,
    async restore() {
      if (server) return;
      server = newServer();
      await listen(server, port);
    },
    stop: close,
  };
};
