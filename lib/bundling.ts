import type { BuildOptions, Metafile } from 'esbuild';

/**
 * How Switchyard's functions are bundled, in one place for `npm run build`, the CDK
 * functions (lib/constructs/switchyard-function.ts) and the bench: ESM for Lambda's
 * nodejs22.x, minified, everything bundled (the AWS SDK included), dynamic imports split
 * into lazily loaded chunks, linked source maps beside the code.
 */

/** Bundled CommonJS dependencies call require() for Node built-ins; ESM has no require. */
export const requireShim =
  "import { createRequire as __createRequire } from 'node:module'; " +
  'const require = __createRequire(import.meta.url);';

export const bundleTarget = 'node22';

/** pg's optional native binding: never used, never installed. */
export const bundleExternals = ['pg-native'];

/**
 * esbuild options of a production bundle; `splitting` puts dynamic imports in lazy chunks.
 * Lambda runs exactly this output (the CDK functions bundle with these options), so the
 * bench measures what is deployed.
 */
export const productionBundleOptions: BuildOptions = {
  outExtension: { '.js': '.mjs' },
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: bundleTarget,
  // ESM builds first (the AWS SDK's dist-es): they tree-shake; ~110 KB less in lazy chunks.
  mainFields: ['module', 'main'],
  minify: true,
  // Linked, for NODE_OPTIONS=--enable-source-maps; names and lines are enough for stack traces.
  sourcemap: 'linked',
  sourcesContent: false,
  treeShaking: true,
  metafile: true,
  legalComments: 'none',
  external: bundleExternals,
  banner: { js: requireShim },
  logLevel: 'warning',
};

export interface BundleSizes {
  /** Bytes loaded at module init: the entry file and the chunks it imports statically. */
  readonly mainBytes: number;
  /** Bytes of the chunks reached only through dynamic import(). */
  readonly chunkBytes: number;
  /** Every output file (no source maps), main first, path as esbuild reports it. */
  readonly files: readonly { readonly file: string; readonly bytes: number; readonly main: boolean }[];
}

/**
 * Main and lazy bytes of one entry point's output. Shared code that esbuild hoists into a
 * chunk the entry imports statically counts as main: it loads at init all the same.
 */
export const bundleSizes = (metafile: Metafile, entryFile = 'index.mjs'): BundleSizes => {
  const outputs = Object.entries(metafile.outputs).filter(([file]) => file.endsWith('.mjs'));
  const entry = outputs.find(([file]) => file === entryFile || file.endsWith(`/${entryFile}`));
  const main = new Set<string>();
  const visit = (file: string) => {
    if (main.has(file)) return;
    main.add(file);
    for (const imported of metafile.outputs[file]?.imports ?? []) {
      if (imported.kind === 'import-statement' && !imported.external) visit(imported.path);
    }
  };
  if (entry) visit(entry[0]);
  const rank = (file: string) => (file === entry?.[0] ? 0 : main.has(file) ? 1 : 2);
  const files = outputs
    .map(([file, output]) => ({ file, bytes: output.bytes, main: main.has(file) }))
    .sort((a, b) => rank(a.file) - rank(b.file));
  const sum = (isMain: boolean) => files.filter((f) => f.main === isMain).reduce((s, f) => s + f.bytes, 0);
  return { mainBytes: sum(true), chunkBytes: sum(false), files };
};
