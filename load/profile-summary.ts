/**
 * `npx tsx load/profile-summary.ts <file.cpuprofile> [--top N]`
 *
 * Self time of a V8 CPU profile (node --cpu-prof, as `load:executions -- --cpu-prof` writes one)
 * by function, by file and by package, as a share of the busy time (all samples but `(idle)`).
 * Self time is the sum of the sampling intervals spent in a function's own code, not its callees.
 */
import { readFile } from 'node:fs/promises';
import { relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

interface ProfileNode {
  readonly id: number;
  readonly children?: readonly number[];
  readonly callFrame: {
    readonly functionName: string;
    readonly url: string;
    readonly lineNumber: number;
    readonly columnNumber?: number;
  };
}

export interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly samples?: readonly number[];
  readonly timeDeltas?: readonly number[];
}

export interface SelfTime {
  readonly name: string;
  readonly ms: number;
  /** Share of the busy time, 0..100. */
  readonly percent: number;
}

export interface ProfileSummary {
  readonly totalMs: number;
  readonly idleMs: number;
  readonly busyMs: number;
  readonly functions: SelfTime[];
  readonly files: SelfTime[];
  readonly packages: SelfTime[];
  /**
   * Self time by package, with V8's native functions and node's built-in modules charged to
   * the nearest package or project frame that called them (`writev` to the client that wrote).
   */
  readonly callers: SelfTime[];
}

const projectRoot = resolve(import.meta.dirname, '..');

/** A script's file, relative to the project when it is one of ours; V8's own entries have none. */
export const fileOf = (url: string, root = projectRoot): string => {
  if (url === '') return '(native)';
  if (!url.startsWith('file://')) return url;
  const path = fileURLToPath(url);
  const inside = relative(root, path);
  return inside.startsWith('..') ? path : inside;
};

/** node_modules/<package> (scoped included), node's internals, V8, or the project folder. */
export const packageOf = (file: string): string => {
  const modules = file.lastIndexOf('node_modules/');
  if (modules >= 0) {
    const [first, second] = file.slice(modules + 'node_modules/'.length).split('/');
    return first?.startsWith('@') ? `${first}/${second}` : (first ?? file);
  }
  if (file.startsWith('node:')) return 'node (built-in modules)';
  if (file === '(native)') return 'V8 / native';
  const [top, next] = file.split('/');
  return next === undefined ? top! : `${top}/${next.includes('.') ? '' : next}`.replace(/\/$/, '');
};

const ranked = (totals: Map<string, number>, busyMs: number): SelfTime[] =>
  [...totals]
    .map(([name, ms]) => ({ name, ms, percent: busyMs > 0 ? (ms / busyMs) * 100 : 0 }))
    .sort((a, b) => b.ms - a.ms);

const add = (totals: Map<string, number>, key: string, ms: number) =>
  totals.set(key, (totals.get(key) ?? 0) + ms);

/** Self time per function, file and package. Pure: unit-tested in test/unit/load-report.test.ts. */
export const summarizeProfile = (profile: CpuProfile): ProfileSummary => {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parentOf = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parentOf.set(child, node.id);
  /** The package of the nearest frame at or above `id` that is neither native nor node's own. */
  const chargedTo = (id: number, own: string): string => {
    for (let at: number | undefined = id; at !== undefined; at = parentOf.get(at)) {
      const url = byId.get(at)?.callFrame.url ?? '';
      if (url.startsWith('file://')) return packageOf(fileOf(url));
    }
    return own;
  };
  const selfUs = new Map<number, number>();
  const samples = profile.samples ?? [];
  samples.forEach((id, i) => {
    selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas?.[i] ?? 0));
  });
  const functions = new Map<string, number>();
  const files = new Map<string, number>();
  const packages = new Map<string, number>();
  const callers = new Map<string, number>();
  let totalMs = 0;
  let idleMs = 0;
  for (const [id, us] of selfUs) {
    const ms = Math.max(0, us) / 1000;
    const frame = byId.get(id)?.callFrame;
    if (!frame) continue;
    totalMs += ms;
    if (frame.functionName === '(idle)') {
      idleMs += ms;
      continue;
    }
    const file = fileOf(frame.url);
    const name = frame.functionName || '(anonymous)';
    // Line and column of the code V8 ran: tsx emits a TypeScript file on one line, so its
    // functions differ by column (the anonymous ones only by column).
    const where = `${file}:${frame.lineNumber + 1}:${(frame.columnNumber ?? 0) + 1}`;
    add(functions, frame.url === '' ? name : `${name} ${where}`, ms);
    add(files, frame.url === '' ? name : file, ms);
    add(packages, packageOf(file), ms);
    add(callers, chargedTo(id, packageOf(file)), ms);
  }
  const busyMs = totalMs - idleMs;
  return {
    totalMs,
    idleMs,
    busyMs,
    functions: ranked(functions, busyMs),
    files: ranked(files, busyMs),
    packages: ranked(packages, busyMs),
    callers: ranked(callers, busyMs),
  };
};

const table = (title: string, rows: readonly SelfTime[], top: number): string =>
  [
    `| ${title} | self ms | % of busy |`,
    '| --- | ---: | ---: |',
    ...rows.slice(0, top).map((row) => `| ${row.name} | ${row.ms.toFixed(0)} | ${row.percent.toFixed(1)} |`),
  ].join('\n');

/**
 * The main thread's profile among those `--cpu-prof` wrote into a folder: node names them
 * CPU.<date>.<time>.<pid>.<thread>.<seq>.cpuprofile, and with `--import tsx` the module
 * loader's worker thread writes one too. The latest main-thread one.
 */
export const mainThreadProfile = (names: readonly string[]): string | undefined =>
  names
    .filter((name) => /^CPU\.\d+\.\d+\.\d+\.0\.\d+\.cpuprofile$/.test(name))
    .sort()
    .at(-1);

export const printProfileSummary = async (path: string, top = 25): Promise<ProfileSummary> => {
  const summary = summarizeProfile(JSON.parse(await readFile(path, 'utf8')) as CpuProfile);
  console.log(
    [
      `CPU profile ${path}: ${(summary.totalMs / 1000).toFixed(1)} s sampled, ` +
        `${(summary.busyMs / 1000).toFixed(1)} s busy (${((summary.idleMs / summary.totalMs) * 100).toFixed(0)} % idle)`,
      '',
      table('function (self time)', summary.functions, top),
      '',
      table('file', summary.files, top),
      '',
      table('package', summary.packages, top),
      '',
      table('package, with native and node built-in time charged to its caller', summary.callers, top),
    ].join('\n'),
  );
  return summary;
};

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { top: { type: 'string', default: '25' } },
  });
  if (!positionals[0]) {
    console.error('usage: npx tsx load/profile-summary.ts <file.cpuprofile> [--top N]');
    process.exit(2);
  }
  await printProfileSummary(positionals[0], Number(values.top));
}
