import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { functions } from '#manifest';
import { projectRoot, runToEnd } from '../support/processes.ts';

/** The production bundles (npm run build) load and answer in a plain Node process, as in Lambda. */
describe('esbuild bundles per function', () => {
  let out: string;
  beforeAll(async () => {
    out = await mkdtemp(join(tmpdir(), 'switchyard-dist-'));
    const built = await runToEnd('bin/build.ts', ['--out', out], {});
    expect(built.code, built.output).toBe(0);
  }, 120_000);
  afterAll(async () => {
    await rm(out, { recursive: true, force: true });
  });

  it('builds one ESM bundle with a source map for every function in the manifest', async () => {
    const meta = JSON.parse(await readFile(join(out, 'meta.json'), 'utf8')) as {
      function: string;
      mainBytes: number;
    }[];
    expect(meta.map((m) => m.function).sort()).toEqual(Object.keys(functions).sort());
    for (const name of Object.keys(functions)) {
      const source = await readFile(join(out, name, 'index.mjs'), 'utf8');
      expect(source.length).toBeGreaterThan(1000);
      await expect(readFile(join(out, name, 'index.mjs.map'), 'utf8')).resolves.toContain('"mappings"');
    }
  });

  it('every bundle imports without touching the network and exports a handler', () => {
    for (const name of Object.keys(functions)) {
      const kind = execFileSync(
        process.execPath,
        [
          '--input-type=module',
          '-e',
          `const m = await import(${JSON.stringify(join(out, name, 'index.mjs'))}); console.log(typeof m.handler);`,
        ],
        // No DATABASE_URL, no Redis: importing must not need them (clients are created on first use).
        {
          cwd: projectRoot,
          encoding: 'utf8',
          env: { PATH: process.env['PATH'] ?? '', AWS_REGION: 'us-east-1' },
        },
      );
      expect(kind.trim(), name).toBe('function');
    }
  });

  it('the bundled fallback answers an API Gateway event with problem+json 405 and Allow', () => {
    const script = `
      const { handler } = await import(${JSON.stringify(join(out, 'fallback', 'index.mjs'))});
      const event = { version: '2.0', routeKey: '$default', rawPath: '/v1/agents', rawQueryString: '',
        headers: {}, requestContext: { requestId: 'r1', http: { method: 'PUT', path: '/v1/agents' } }, isBase64Encoded: false };
      const context = { functionName: 'fallback', awsRequestId: 'a1', getRemainingTimeInMillis: () => 3000 };
      console.log(JSON.stringify(await handler(event, context)));`;
    const result = JSON.parse(
      execFileSync(process.execPath, ['--input-type=module', '-e', script], {
        encoding: 'utf8',
        env: {
          PATH: process.env['PATH'] ?? '',
          POWERTOOLS_METRICS_DISABLED: 'true',
          POWERTOOLS_TRACE_ENABLED: 'false',
        },
      })
        .trim()
        .split('\n')
        .pop()!,
    ) as { statusCode: number; headers: Record<string, string>; body: string };
    expect(result.statusCode).toBe(405);
    expect(result.headers['allow']).toBe('GET, POST');
    expect(result.headers['content-type']).toBe('application/problem+json');
    expect(result.headers['x-request-id']).toBe('r1');
  });
});
