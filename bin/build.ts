/**
 * `npm run build`: one esbuild bundle per function in the manifest, as Lambda runs them —
 * ESM for nodejs22.x, minified, tree-shaken, everything bundled (AWS SDK included),
 * dynamic imports split into lazily loaded chunks, linked source maps: lib/bundling.ts, the
 * options the CDK functions bundle with too.
 * Writes dist/<function>/index.mjs (+ chunks) and dist/meta.json (sizes, for the bench): main is
 * index.mjs plus the chunks it imports statically (loaded at init), lazy the rest.
 */
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { build } from 'esbuild';
import { type FunctionName, functions } from '#manifest';
import { bundleSizes, productionBundleOptions } from '../lib/bundling.ts';

const root = resolve(import.meta.dirname, '..');
const { values } = parseArgs({ options: { out: { type: 'string', default: 'dist' } } });
const outRoot = resolve(root, values.out!);

export interface BundleReport {
  readonly function: FunctionName;
  readonly mainBytes: number;
  readonly chunkBytes: number;
  readonly files: readonly { file: string; bytes: number; main: boolean }[];
}

const bundle = async (name: FunctionName): Promise<BundleReport> => {
  const outdir = join(outRoot, name);
  await rm(outdir, { recursive: true, force: true });
  await mkdir(outdir, { recursive: true });
  const result = await build({
    ...productionBundleOptions,
    entryPoints: { index: join(root, functions[name].entry) },
    outdir,
    metafile: true,
  });
  const sizes = bundleSizes(result.metafile);
  return {
    function: name,
    mainBytes: sizes.mainBytes,
    chunkBytes: sizes.chunkBytes,
    files: sizes.files.map((f) => ({ ...f, file: relative(outRoot, resolve(root, f.file)) })),
  };
};

const reports: BundleReport[] = [];
for (const name of Object.keys(functions) as FunctionName[]) reports.push(await bundle(name));
await writeFile(join(outRoot, 'meta.json'), `${JSON.stringify(reports, null, 2)}\n`);

const kb = (bytes: number) => `${(bytes / 1024).toFixed(1)} KB`;
console.log('function'.padEnd(16), 'main'.padStart(10), 'lazy chunks'.padStart(12));
for (const r of reports)
  console.log(r.function.padEnd(16), kb(r.mainBytes).padStart(10), kb(r.chunkBytes).padStart(12));
