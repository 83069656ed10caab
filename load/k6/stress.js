// k6 twin of load/scenarios/stress.ts. NOT RUN HERE: k6 is not installable on this machine; keep in
// step with the Node scenario by hand.
// k6 run -e BASE_URL=http://127.0.0.1:3000 -e API_KEY=... [-e VUS=32 -e DURATION=24] load/k6/stress.js
// k6 judges thresholds over the whole run, not per step as load/run.ts does: abortOnFail stops the
// ramp once they break, and the step that held is the one before the abort time (see the stages).
import exec from 'k6/execution';
import {
  MAX_ERROR_RATE,
  MIXED_NAMES,
  mixedIteration,
  mixedSetup,
  mixedTeardown,
  P95,
  P99,
  thresholds,
} from './lib.js';

const max = Number(__ENV.VUS || 32);
const duration = Number(__ENV.DURATION || 24);
// stressSteps(): 1, 2, 4, … doubling, always ending on the maximum.
const steps = [];
for (let vus = 1; vus < max; vus *= 2) steps.push(vus);
steps.push(max);
const stepSeconds = duration / steps.length;

const abort = { abortOnFail: true, delayAbortEval: `${Math.ceil(stepSeconds)}s` };
// Per-name limits as everywhere; the overall ones also abort the ramp when they break.
const limits = thresholds(
  MIXED_NAMES,
  {},
  {
    http_req_duration: [
      { threshold: `p(95)<${P95}`, ...abort },
      { threshold: `p(99)<${P99}`, ...abort },
    ],
    http_req_failed: [{ threshold: `rate<${MAX_ERROR_RATE}`, ...abort }],
  },
);

export const options = {
  scenarios: {
    stress: {
      executor: 'ramping-vus',
      startVUs: 1,
      // Jump to each step in 0 s, then hold it; load/run.ts switches steps the same way.
      stages: steps.flatMap((vus) => [
        { duration: '0s', target: vus },
        { duration: `${stepSeconds}s`, target: vus },
      ]),
      gracefulRampDown: '5s',
    },
  },
  thresholds: limits,
};

export const setup = mixedSetup;
export const teardown = mixedTeardown;

export default function (data) {
  mixedIteration(data, exec.vu.idInTest - 1, exec.vu.iterationInScenario);
}
