/**
 * VUs doubling step by step on the mixed path until a step breaks the thresholds or --vus is
 * reached; reports the last step that held. k6 twin: load/k6/stress.js.
 */
import { stressSteps } from '../report/stress.ts';
import { mixedRun } from './mixed.ts';
import type { Scenario } from './types.ts';

export const stress: Scenario = {
  name: 'stress',
  description:
    'VUs 1, 2, 4, … up to --vus, --duration split evenly over the steps, on the mixed path; stops at ' +
    'the first step whose own requests break the thresholds.',
  defaults: { duration: 24, vus: 32 },
  shape: { kind: 'steps', steps: stressSteps },
  create: mixedRun,
};
