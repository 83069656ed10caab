import { createServer } from 'node:http';

export interface ReceivedWebhook {
  readonly body: string;
  readonly signature: string;
  readonly eventId: string;
}

/** A loopback HTTP server that records the webhooks posted to it (answering 204). */
export const startWebhookReceiver = async (): Promise<{
  url: string;
  received: ReceivedWebhook[];
  waitFor(count: number, timeoutMs?: number): Promise<void>;
  close(): void;
}> => {
  const received: ReceivedWebhook[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => {
      body += chunk.toString();
    });
    req.on('end', () => {
      received.push({
        body,
        signature: String(req.headers['switchyard-signature']),
        eventId: String(req.headers['switchyard-event-id']),
      });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}/hook`,
    received,
    async waitFor(count, timeoutMs = 15_000) {
      const deadline = Date.now() + timeoutMs;
      while (received.length < count && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    },
    close: () => server.close(),
  };
};
