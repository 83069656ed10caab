/**
 * The CDK app (`npx cdk synth|diff|deploy -c stage=<stage>`): one Switchyard stack for the
 * stage named in the context (`dev` by default, see cdk.json), checked by cdk-nag's
 * AwsSolutions rules. Environment-agnostic, so synth needs no credentials and no network.
 * `-c stage=local` is the LocalStack profile (`npm run deploy:local`, docs/localstack/README.md).
 */
import { App, Aspects } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { stageConfigFrom } from '../lib/stage-config.ts';
import { SwitchyardStack } from '../lib/switchyard-stack.ts';

const app = new App();
const config = stageConfigFrom((key) => app.node.tryGetContext(key));

new SwitchyardStack(app, `switchyard-${config.stage}`, {
  config,
  description: config.localstack
    ? `Switchyard (${config.stage}, LocalStack): API, workers, queues; PostgreSQL and Redis from docs/localstack/compose.yml`
    : `Switchyard (${config.stage}): API, workers, queues, Aurora, Valkey, observability`,
});
Aspects.of(app).add(new AwsSolutionsChecks({ verbose: true }));
