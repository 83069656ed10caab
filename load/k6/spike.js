// k6 twin of load/scenarios/spike.ts. NOT RUN HERE: k6 is not installable on this machine; keep in
// step with the Node scenario by hand.
// k6 run -e BASE_URL=http://127.0.0.1:3000 -e API_KEY=... [-e VUS=32 -e DURATION=20] load/k6/spike.js
import exec from 'k6/execution';
import { MIXED_NAMES, mixedIteration, mixedSetup, mixedTeardown, thresholds } from './lib.js';

const peak = Number(__ENV.VUS || 32);
const duration = Number(__ENV.DURATION || 20);
// Same curve as shapes.ts `spike`: up over 10 % (≥ 1 s), hold, down over the last 20 % (≥ 1 s).
const up = Math.max(1, duration * 0.1);
const down = Math.max(1, duration * 0.2);

export const options = {
  scenarios: {
    spike: {
      executor: 'ramping-vus',
      startVUs: 0,
      stages: [
        { duration: `${up}s`, target: peak },
        { duration: `${duration - up - down}s`, target: peak },
        { duration: `${down}s`, target: 0 },
      ],
      gracefulRampDown: '5s',
    },
  },
  thresholds: thresholds(MIXED_NAMES),
};

export const setup = mixedSetup;
export const teardown = mixedTeardown;

export default function (data) {
  mixedIteration(data, exec.vu.idInTest - 1, exec.vu.iterationInScenario);
}
