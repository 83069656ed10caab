/**
 * The floor: what answering with the same JSON costs with nothing of ours in the way. A bare
 * handler (no middy, no Powertools, no auth, no cache) in-process, and raw `node:http` over
 * loopback for the HTTP figures.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';

/** Serializes per call, as a real handler does. */
export const bareHandler =
  (body: unknown) =>
  async (_event: unknown): Promise<APIGatewayProxyStructuredResultV2> => ({
    statusCode: 200,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });

export const startRawHttp = async (body: unknown): Promise<{ url: string; server: Server }> => {
  const server = createServer((_request, response) => {
    const text = JSON.stringify(body);
    response.writeHead(200, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(text),
    });
    response.end(text);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
};
