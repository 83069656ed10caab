/** 0 → N → 0 virtual users on the mixed read/write path. k6 twin: load/k6/spike.js. */
import { mixedRun } from './mixed.ts';
import { spike as spikeShape } from './shapes.ts';
import type { Scenario } from './types.ts';

export const spike: Scenario = {
  name: 'spike',
  description:
    '0 → N → 0 VUs (up over 10 % of the run, hold, down over the last 20 %) on GET agent (50 %), ' +
    'list agents (30 %) and create execution (20 %).',
  defaults: { duration: 20, vus: 32 },
  shape: { kind: 'curve', target: spikeShape },
  create: mixedRun,
};
