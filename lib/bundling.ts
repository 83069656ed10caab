import type { BuildOptions } from 'esbuild';

/**
 * How Switchyard's functions are bundled, in one place for `npm run build`, the CDK
 * functions and the bench: ESM for Lambda's nodejs22.x, minified, everything bundled (the
 * AWS SDK included), source maps beside the code.
 */

/** Bundled CommonJS dependencies call require() for Node built-ins; ESM has no require. */
export const requireShim =
  "import { createRequire as __createRequire } from 'node:module'; " +
  'const require = __createRequire(import.meta.url);';

export const bundleTarget = 'node22';

/** pg's optional native binding: never used, never installed. */
export const bundleExternals = ['pg-native'];

/** esbuild options of a production bundle; `splitting` puts dynamic imports in lazy chunks. */
export const productionBundleOptions: BuildOptions = {
  outExtension: { '.js': '.mjs' },
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: bundleTarget,
  minify: true,
  sourcemap: 'external',
  treeShaking: true,
  metafile: true,
  legalComments: 'none',
  external: bundleExternals,
  banner: { js: requireShim },
  logLevel: 'warning',
};
