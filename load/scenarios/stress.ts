/**
 * VUs doubling step by step on the mixed path until a step breaks the thresholds or --vus is
 * reached; reports the last step that held. k6 twin: load/k6/stress.js.
 */
import { stressSteps } from '../report/stress.ts';
import { mixedScenario } from './mixed.ts';

export const stress = mixedScenario(
  'stress',
  'VUs 1, 2, 4, … up to --vus (--duration split evenly over the steps; the run stops at the first ' +
    'step whose own requests break the thresholds)',
  24,
  { kind: 'steps', steps: stressSteps },
);
