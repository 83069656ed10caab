import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { App, Stack } from 'aws-cdk-lib';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { functions } from '#manifest';
import { type EmbeddedPostgres, startEmbeddedPostgres } from '../../bin/local-runtime/embedded-postgres.ts';
import { productionBundleOptions } from '../../lib/bundling.ts';
import { migrationFunction } from '../../lib/constructs/migrations.ts';
import { projectRoot, SwitchyardFunction } from '../../lib/constructs/switchyard-function.ts';
import { stageConfigFrom } from '../../lib/stage-config.ts';

const run = promisify(execFile);
const migrationsSource = join(projectRoot, 'shared/adapters/postgres/migrations');

/** The asset directory esbuild wrote for a function (`cdk.out/asset.<hash>`). */
const assetDirOf = (outdir: string, fn: SwitchyardFunction): string => {
  const { code } = fn.node.defaultChild as lambda.CfnFunction;
  const s3Key = Stack.of(fn).resolve((code as lambda.CfnFunction.CodeProperty).s3Key) as string;
  return join(outdir, `asset.${s3Key.replace(/\.zip$/, '')}`);
};

/** The .mjs files of a directory with their sizes. */
const codeFiles = async (dir: string): Promise<Record<string, number>> => {
  const names = (await readdir(dir)).filter((f) => f.endsWith('.mjs')).sort();
  return Object.fromEntries(
    await Promise.all(
      names.map(async (f): Promise<[string, number]> => [f, (await readFile(join(dir, f))).length]),
    ),
  );
};

/**
 * Real esbuild bundling as `cdk synth` does it (SwitchyardFunction's local bundling), for two
 * functions: the migrations (which must find their SQL files in Lambda) and the smallest API
 * function.
 */
describe('function bundles from the stack', () => {
  let outdir: string;
  let migrateDir: string;
  let fallbackDir: string;

  beforeAll(async () => {
    outdir = await mkdtemp(join(tmpdir(), 'switchyard-cdk-'));
    const app = new App({ outdir });
    const stack = new Stack(app, 'Bundles');
    const config = stageConfigFrom(() => undefined);
    const migrate = new SwitchyardFunction(stack, 'Migrate', { config, ...migrationFunction });
    const fallback = new SwitchyardFunction(stack, 'Fallback', {
      config,
      name: 'fallback',
      ...functions.fallback,
      description: 'fallback',
    });
    app.synth();
    migrateDir = assetDirOf(outdir, migrate);
    fallbackDir = assetDirOf(outdir, fallback);
  }, 60_000);

  afterAll(async () => {
    await rm(outdir, { recursive: true, force: true });
  });

  it('is ESM chunks with the createRequire banner and linked source maps, nothing left unbundled', async () => {
    for (const dir of [migrateDir, fallbackDir]) {
      const files = Object.keys(await codeFiles(dir));
      expect(files).toContain('index.mjs');
      for (const file of files) {
        const source = await readFile(join(dir, file), 'utf8');
        expect(source.startsWith("import { createRequire as __createRequire } from 'node:module';")).toBe(
          true,
        );
        expect(source.trimEnd().endsWith(`//# sourceMappingURL=${file}.map`)).toBe(true);
        expect(existsSync(join(dir, `${file}.map`))).toBe(true);
        // Everything bundled: no bare import of a package is left for Lambda to resolve.
        expect(source).not.toMatch(/from\s*["'](@aws-sdk|@aws-lambda-powertools|pg|zod|ioredis)[/"']/);
      }
    }
  });

  it('is the split output npm run build and the bench measure: the same files and sizes', async () => {
    const out = await mkdtemp(join(tmpdir(), 'switchyard-split-'));
    try {
      await build({
        ...productionBundleOptions,
        entryPoints: { index: join(projectRoot, functions.fallback.entry) },
        outdir: out,
      });
      // Chunk names carry a hash that also covers where the output went: compare names without it.
      const shape = (files: Record<string, number>) =>
        Object.entries(files)
          .map(([file, bytes]) => `${file.replace(/-[A-Z0-9]{8}\.mjs$/, '.mjs')} ${bytes}`)
          .sort();
      const built = shape(await codeFiles(out));
      // Lazy chunks (the AWS SDK, the tracer, ioredis…) beside the entry, as esbuild split them.
      expect(built.length).toBeGreaterThan(1);
      expect(shape(await codeFiles(fallbackDir))).toEqual(built);
    } finally {
      await rm(out, { recursive: true, force: true });
    }
  }, 60_000);

  it('ships every SQL migration beside the migrations bundle', async () => {
    const shipped = (await readdir(join(migrateDir, 'migrations'))).sort();
    const source = (await readdir(migrationsSource)).filter((f) => f.endsWith('.sql')).sort();
    expect(source.length).toBeGreaterThan(0);
    expect(shipped).toEqual(source);
  });

  describe('the bundled migration handler', () => {
    let pg: EmbeddedPostgres;
    let dataDir: string;
    let secrets: Server;
    let secretsEndpoint: string;
    const requests: string[] = [];

    beforeAll(async () => {
      dataDir = await mkdtemp(join(tmpdir(), 'switchyard-migrate-'));
      pg = await startEmbeddedPostgres(dataDir);
      // A stand-in for Secrets Manager's GetSecretValue; the password needs URL encoding.
      secrets = createServer((request, response) => {
        let body = '';
        request.on('data', (chunk: Buffer) => {
          body += chunk.toString();
        });
        request.on('end', () => {
          requests.push(`${request.headers['x-amz-target']} ${body}`);
          response.setHeader('content-type', 'application/x-amz-json-1.1');
          response.end(
            JSON.stringify({
              ARN: 'arn:aws:secretsmanager:us-east-1:000000000000:secret:db',
              Name: 'db',
              SecretString: JSON.stringify({ username: 'postgres', password: 'p@ss%w:rd/?' }),
            }),
          );
        });
      });
      await new Promise<void>((resolve) => secrets.listen(0, '127.0.0.1', resolve));
      secretsEndpoint = `http://127.0.0.1:${(secrets.address() as AddressInfo).port}`;
    }, 60_000);

    afterAll(async () => {
      await new Promise((resolve) => secrets?.close(resolve));
      await pg?.stop();
      await rm(dataDir, { recursive: true, force: true });
    });

    const invoke = async (): Promise<{ applied: string[] }> => {
      const script = `const { handler } = await import(${JSON.stringify(join(migrateDir, 'index.mjs'))});
        console.log(JSON.stringify(await handler()));`;
      const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], {
        env: {
          PATH: process.env['PATH'] ?? '',
          AWS_REGION: 'us-east-1',
          AWS_ACCESS_KEY_ID: 'test',
          AWS_SECRET_ACCESS_KEY: 'test',
          AWS_ENDPOINT_URL_SECRETS_MANAGER: secretsEndpoint,
          // As the stack sets it, minus TLS: the embedded server speaks plain TCP.
          DATABASE_URL: pg.url.replace('postgres://postgres@', 'postgresql://switchyard@'),
          DATABASE_SECRET_ARN: 'arn:aws:secretsmanager:us-east-1:000000000000:secret:db',
        },
        timeout: 30_000,
      });
      const lines = stdout.trim().split('\n');
      return JSON.parse(lines[lines.length - 1]!) as { applied: string[] };
    };

    it('reads the credentials, applies every migration once, then nothing', async () => {
      const sqlFiles = (await readdir(migrationsSource)).filter((f) => f.endsWith('.sql'));
      const first = await invoke();
      expect(first.applied).toEqual(sqlFiles.map((f) => f.replace(/\.sql$/, '')).sort());
      expect(requests[0]).toContain('secretsmanager.GetSecretValue');
      const second = await invoke();
      expect(second.applied).toEqual([]);
    }, 60_000);
  });
});
