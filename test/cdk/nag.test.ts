import { Aspects, CfnResource, type Stack } from 'aws-cdk-lib';
import { Annotations, Match } from 'aws-cdk-lib/assertions';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { AwsSolutionsChecks } from 'cdk-nag';
import { describe, expect, it } from 'vitest';
import { synthStack } from './synth.ts';

interface Suppression {
  readonly id: string;
  readonly reason: string;
}

/** Every unsuppressed AwsSolutions finding of a stack, as `id path`. */
const findingsOf = (stack: Stack): string[] => {
  const annotations = Annotations.fromStack(stack);
  return [
    ...annotations.findError('*', Match.stringLikeRegexp('AwsSolutions-|CdkNagValidationFailure')),
    ...annotations.findWarning('*', Match.stringLikeRegexp('AwsSolutions-|CdkNagValidationFailure')),
  ].map((m) => `${String(m.entry.data).split(':')[0]} ${m.id}`);
};

const nagged = (context: Record<string, unknown>) => {
  const { app, stack } = synthStack(context);
  Aspects.of(app).add(new AwsSolutionsChecks({ reports: false }));
  return { app, stack };
};

describe('cdk-nag AwsSolutions', () => {
  for (const stage of ['dev', 'prod']) {
    it(`finds nothing unsuppressed in ${stage}, and every suppression gives its reason`, () => {
      const { app, stack } = nagged({ stage });
      // With annotationsInValidationReport (cdk.json), an error annotation fails synthesis itself.
      expect(() => app.synth()).not.toThrow();
      expect(findingsOf(stack)).toEqual([]);

      const suppressions = stack.node
        .findAll()
        .filter((c): c is CfnResource => c instanceof CfnResource)
        .flatMap(
          (r) =>
            (r.getMetadata('cdk_nag') as { rules_to_suppress?: Suppression[] } | undefined)
              ?.rules_to_suppress ?? [],
        );
      expect(suppressions.length).toBeGreaterThan(0);
      for (const { id, reason } of suppressions) {
        expect(reason.length, id).toBeGreaterThan(40);
      }
    }, 60_000);
  }

  it('does catch a finding: an extra queue without a DLQ or TLS policy fails', () => {
    const { app, stack } = nagged({});
    new sqs.Queue(stack, 'Unchecked');
    expect(() => app.synth()).toThrow(/AwsSolutions-SQS3|AwsSolutions-SQS4/);
  }, 60_000);
});
