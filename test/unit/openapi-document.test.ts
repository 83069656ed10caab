import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { buildOpenApiDocument } from '#http/openapi.ts';
import { routes } from '#manifest';

const run = promisify(execFile);

type Operation = {
  security: unknown[];
  parameters?: { name?: string; $ref?: string }[];
  responses: Record<
    string,
    { headers?: Record<string, unknown>; content?: Record<string, { schema: unknown }> }
  >;
};

const document = buildOpenApiDocument();
const operation = (method: string, path: string) =>
  (document.paths[path] as Record<string, Operation>)[method.toLowerCase()]!;

describe('the OpenAPI document, generated from the route definitions', () => {
  it('has one operation per route; public routes say security: []; servers are declared', () => {
    for (const route of routes) {
      const op = operation(route.method, route.path);
      expect(op, `${route.method} ${route.path}`).toBeDefined();
      if (route.auth === 'none') expect(op.security).toEqual([]);
      else expect(op.security).not.toEqual([]);
    }
    expect(document.servers.length).toBeGreaterThan(0);
  });

  it('declares 200 and 202 for ?wait on both start routes, with Location, and Idempotency-Key as a parameter', () => {
    for (const path of ['/v1/agents/{id}/executions', '/v1/workflows/{id}/executions']) {
      const op = operation('POST', path);
      for (const status of ['200', '202', '400', '405', '409'])
        expect(op.responses[status], status).toBeDefined();
      expect(Object.keys(op.responses['202']!.headers ?? {})).toContain('Location');
      expect(op.parameters).toContainEqual({ $ref: '#/components/parameters/IdempotencyKey' });
    }
  });

  it('declares the 409s: cancel of a finished run, delete of an agent in use', () => {
    expect(operation('POST', '/v1/executions/{id}/cancel').responses['409']).toBeDefined();
    expect(operation('POST', '/v1/workflow-executions/{id}/cancel').responses['409']).toBeDefined();
    expect(operation('DELETE', '/v1/agents/{id}').responses['409']).toBeDefined();
  });

  it('describes every 2xx JSON body with properties (no bare objects)', () => {
    for (const route of routes) {
      for (const [status, answer] of Object.entries(operation(route.method, route.path).responses)) {
        const schema = answer.content?.['application/json']?.schema as { properties?: object } | undefined;
        if (status.startsWith('2') && schema)
          expect(schema.properties, `${route.path} ${status}`).toBeDefined();
      }
    }
  });

  it('passes Redocly lint with the recommended rules', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'switchyard-openapi-'));
    try {
      const file = join(dir, 'openapi.json');
      await writeFile(file, JSON.stringify(document));
      const { stdout, stderr } = await run(
        process.execPath,
        ['node_modules/@redocly/cli/bin/cli.js', 'lint', file, '--extends=recommended', '--format=summary'],
        { timeout: 60_000 },
      ).catch((error: { stdout: string; stderr: string }) => {
        throw new Error(`redocly lint failed:\n${error.stdout}\n${error.stderr}`);
      });
      expect(`${stdout}${stderr}`).toMatch(/valid/i);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 90_000);
});
