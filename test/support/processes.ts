import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';

export const projectRoot = resolve(import.meta.dirname, '..', '..');
const tsx = join(projectRoot, 'node_modules', '.bin', 'tsx');

export const freePort = (): Promise<number> =>
  new Promise((done, fail) => {
    const server = createServer();
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => done(port));
    });
  });

export interface RunningProcess {
  readonly child: ChildProcess;
  output(): string;
  /** Resolves when `pattern` appears in stdout/stderr, rejects on exit or timeout. */
  waitFor(pattern: RegExp, timeoutMs: number): Promise<RegExpMatchArray>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Runs a project entry point (`bin/…`) under tsx, as `npm start` / `npm run keys` do. */
export const runEntry = (
  entry: string,
  args: string[],
  env: Record<string, string>,
  nodeFlags: readonly string[] = [],
): RunningProcess => {
  // Node flags (e.g. --cpu-prof) go to node itself, which loads tsx as a module hook.
  const [command, commandArgs] =
    nodeFlags.length === 0
      ? [tsx, [join(projectRoot, entry), ...args]]
      : [process.execPath, [...nodeFlags, '--import', 'tsx', join(projectRoot, entry), ...args]];
  const child = spawn(command, commandArgs, {
    cwd: projectRoot,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let text = '';
  const listeners = new Set<() => void>();
  const append = (chunk: Buffer) => {
    text += chunk.toString();
    for (const listener of listeners) listener();
  };
  child.stdout?.on('data', append);
  child.stderr?.on('data', append);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((done) => {
    child.on('exit', (code, signal) => done({ code, signal }));
  });
  return {
    child,
    output: () => text,
    exited,
    waitFor(pattern, timeoutMs) {
      return new Promise((done, fail) => {
        const check = () => {
          const match = pattern.exec(text);
          if (match) {
            cleanup();
            done(match);
          }
        };
        const timer = setTimeout(() => {
          cleanup();
          fail(new Error(`timed out waiting for ${pattern}; output:\n${text}`));
        }, timeoutMs);
        void exited.then(({ code }) => {
          if (!pattern.test(text)) {
            cleanup();
            fail(new Error(`exited (${code}) before ${pattern}; output:\n${text}`));
          }
        });
        const cleanup = () => {
          clearTimeout(timer);
          listeners.delete(check);
        };
        listeners.add(check);
        check();
      });
    },
  };
};

/** Runs an entry point to completion. */
export const runToEnd = async (
  entry: string,
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number | null; output: string }> => {
  const running = runEntry(entry, args, env);
  const { code } = await running.exited;
  return { code, output: running.output() };
};
