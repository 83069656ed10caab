/** 0 → N → 0 virtual users on the mixed read/write path. k6 twin: load/k6/spike.js. */
import { mixedScenario } from './mixed.ts';
import { spike as spikeShape } from './shapes.ts';

export const spike = mixedScenario(
  'spike',
  '0 → N → 0 VUs (up over 10 % of the run, hold, down over the last 20 %)',
  20,
  { kind: 'curve', target: spikeShape },
);
