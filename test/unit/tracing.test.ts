import { describe, expect, it } from 'vitest';
import { tracingEnabled } from '#runtime/tracing.ts';

describe('tracingEnabled', () => {
  it('traces in Lambda unless turned off', () => {
    expect(tracingEnabled({ AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs22.x' })).toBe(true);
    expect(
      tracingEnabled({ AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs22.x', POWERTOOLS_TRACE_ENABLED: 'true' }),
    ).toBe(true);
    expect(
      tracingEnabled({ AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs22.x', POWERTOOLS_TRACE_ENABLED: 'FALSE' }),
    ).toBe(false);
  });

  it('never traces outside Lambda (local runtime, tests), where there is no X-Ray daemon', () => {
    expect(tracingEnabled({})).toBe(false);
    expect(tracingEnabled({ POWERTOOLS_TRACE_ENABLED: 'true' })).toBe(false);
  });
});
