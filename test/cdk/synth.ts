import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';
import { stageConfigFrom } from '../../lib/stage-config.ts';
import { SwitchyardStack } from '../../lib/switchyard-stack.ts';

const projectRoot = join(import.meta.dirname, '..', '..');

/** cdk.json's context: the tests synthesize with the feature flags the CLI uses. */
export const cdkJsonContext = (): Record<string, unknown> =>
  (JSON.parse(readFileSync(join(projectRoot, 'cdk.json'), 'utf8')) as { context: Record<string, unknown> })
    .context;

/**
 * The stack of a stage as `cdk synth` builds it, minus bundling: an empty bundling-stacks
 * list is how the CLI itself skips esbuild for stacks it does not deploy.
 */
export const synthStack = (
  context: Record<string, unknown> = {},
  options: { bundle?: boolean; outdir?: string } = {},
): { app: App; stack: SwitchyardStack } => {
  const app = new App({
    context: {
      ...cdkJsonContext(),
      ...(options.bundle ? {} : { 'aws:cdk:bundling-stacks': [] }),
      ...context,
    },
    ...(options.outdir && { outdir: options.outdir }),
  });
  const config = stageConfigFrom((key) => app.node.tryGetContext(key));
  const stack = new SwitchyardStack(app, `switchyard-${config.stage}`, { config });
  return { app, stack };
};
