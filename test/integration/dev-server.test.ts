import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, type RunningProcess, runEntry, runToEnd } from '../support/processes.ts';

/** Processes whose command line mentions the data folder: the server and anything it spawned. */
const processesUsing = (dataDir: string): string[] => {
  try {
    return execFileSync('pgrep', ['-af', dataDir], { encoding: 'utf8' })
      .split('\n')
      .filter((line) => line.trim() !== '' && !line.includes('pgrep'));
  } catch {
    return []; // pgrep exits 1 when nothing matches
  }
};

describe('npm start (bin/dev.ts) as a process', () => {
  let dataDir: string;
  let server: RunningProcess | undefined;
  let port: number;

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'switchyard-dev-'));
    port = await freePort();
  });
  afterAll(async () => {
    server?.child.kill('SIGKILL');
    await rm(dataDir, { recursive: true, force: true });
  });

  const start = () =>
    runEntry('bin/dev.ts', [], { PORT: String(port), SWITCHYARD_DATA_DIR: dataDir, SWITCHYARD_QUIET: '1' });

  // How fast it starts is a figure of `npm run bench`, not an assertion: a loaded CI machine
  // (the chaos suite runs beside this one) can take several times as long.
  it('starts, prints the URL, the dev key and the stand-ins, and serves /health', async () => {
    server = start();
    await server.waitFor(/API key\s+(sy_\S+)/, 60_000);
    const output = server.output();
    expect(output).toContain(`http://127.0.0.1:${port}`);
    expect(output).toMatch(/PGlite \(embedded\)/);
    expect(output).toMatch(/fauxqs/);
    expect(output).toMatch(/dynalite/);
    const health = await fetch(`http://127.0.0.1:${port}/health`);
    expect(health.status).toBe(200);
    // The key file is the owner's alone.
    expect((await stat(join(dataDir, 'dev-api-key'))).mode & 0o777).toBe(0o600);
    // Which model answers, and how to get a real one, is said up front.
    expect(output).toMatch(/LLM\s+default provider "local"; live: local \(built-in fake model, no network\)/);
    expect(output).toMatch(/a real model: OPENAI_API_KEY=… SWITCHYARD_DEFAULT_PROVIDER=openai npm start/);
  }, 90_000);

  it('keeps a dev operator key that npm run dlq finds without SWITCHYARD_ADMIN_KEY', async () => {
    const adminKey = /operator key\s+(sy_\S+)/.exec(server!.output())?.[1];
    expect(adminKey).toBeDefined();
    expect((await stat(join(dataDir, 'dev-admin-key'))).mode & 0o777).toBe(0o600);
    const listed = await runToEnd('bin/dlq.ts', ['list'], {
      SWITCHYARD_URL: `http://127.0.0.1:${port}`,
      SWITCHYARD_DATA_DIR: dataDir,
    });
    expect(listed.code, listed.output).toBe(0);
    expect(listed.output).toMatch(/^high\s/m);
  });

  it('keeps data and the dev key across a restart, and stops cleanly on SIGTERM', async () => {
    const key = /API key\s+(sy_\S+)/.exec(server!.output())![1]!;
    const created = await fetch(`http://127.0.0.1:${port}/v1/agents`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'survivor', model: 'm', system_prompt: 'p' }),
    });
    expect(created.status).toBe(201);
    const { id } = (await created.json()) as { id: string };

    server!.child.kill('SIGTERM');
    const exit = await server!.exited;
    expect(exit.code).toBe(0);
    expect(server!.output()).toContain('stopped');
    expect(processesUsing(dataDir)).toEqual([]);

    server = start();
    await server.waitFor(/API key\s+(sy_\S+)/, 60_000);
    expect(/API key\s+(sy_\S+)/.exec(server.output())![1]).toBe(key);
    const again = await fetch(`http://127.0.0.1:${port}/v1/agents/${id}`, {
      headers: { authorization: `Bearer ${key}` },
    });
    expect(again.status).toBe(200);
    expect(((await again.json()) as { name: string }).name).toBe('survivor');
  }, 90_000);

  it('keeps the keys CLI out of the data folder while the server runs', async () => {
    const refused = await runToEnd('bin/keys.ts', ['list'], { SWITCHYARD_DATA_DIR: dataDir });
    expect(refused.code).toBe(1);
    expect(refused.output).toMatch(/in use by process/);
    server!.child.kill('SIGINT');
    expect((await server!.exited).code).toBe(0);
    server = undefined;
  });
});

describe('keys CLI (npm run keys)', () => {
  let dataDir: string;
  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'switchyard-keys-'));
  });
  afterAll(async () => {
    await rm(dataDir, { recursive: true, force: true });
  });
  const keys = (...args: string[]) => runToEnd('bin/keys.ts', args, { SWITCHYARD_DATA_DIR: dataDir });

  // Each CLI run is a process of its own opening the PGlite folder: ~4 s apiece on a loaded machine.
  it('creates, lists (prefixes only) and revokes keys; the API honours revocation', async () => {
    const created = await keys('create', 'initech', '--label', 'ci');
    expect(created.code).toBe(0);
    const key = /key\s+(sy_\S+)/.exec(created.output)![1]!;
    const keyId = /key id\s+(\S+)/.exec(created.output)![1]!;

    const listed = await keys('list', 'initech');
    expect(listed.code).toBe(0);
    expect(listed.output).toContain(keyId);
    expect(listed.output).toContain(key.slice(0, 8));
    expect(listed.output).not.toContain(key);

    const bad = await keys('create', 'Not Valid');
    expect(bad.code).toBe(1);
    expect((await keys('revoke', 'not-a-uuid')).code).toBe(1);

    // The key works against a server on the same data folder…
    const port = await freePort();
    const serve = () =>
      runEntry('bin/dev.ts', [], { PORT: String(port), SWITCHYARD_DATA_DIR: dataDir, SWITCHYARD_QUIET: '1' });
    let server = serve();
    await server.waitFor(/is ready/, 60_000);
    const ok = await fetch(`http://127.0.0.1:${port}/v1/agents`, {
      headers: { authorization: `Bearer ${key}` },
    });
    expect(ok.status).toBe(200);
    server.child.kill('SIGTERM');
    await server.exited;

    // …and not once revoked.
    const revoked = await keys('revoke', keyId);
    expect(revoked.code).toBe(0);
    expect((await keys('list', 'initech')).output).toMatch(/revoked/);
    server = serve();
    await server.waitFor(/is ready/, 60_000);
    const denied = await fetch(`http://127.0.0.1:${port}/v1/agents`, {
      headers: { authorization: `Bearer ${key}` },
    });
    expect(denied.status).toBe(401);
    server.child.kill('SIGTERM');
    expect((await server.exited).code).toBe(0);
  }, 180_000);
});
