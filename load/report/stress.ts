/** Stress ramp: which virtual-user steps to try, and which was the last that held. */

/** Doubling from 1 up to `max`, always ending on `max` itself: 1, 2, 4, 8, 16, 24 for 24. */
export const stressSteps = (max: number): number[] => {
  if (!(Number.isInteger(max) && max >= 1)) throw new Error(`max virtual users must be ≥ 1, got ${max}`);
  const steps: number[] = [];
  for (let vus = 1; vus < max; vus *= 2) steps.push(vus);
  steps.push(max);
  return steps;
};

export interface StepOutcome {
  readonly vus: number;
  readonly held: boolean;
}

/** The highest step before the first that broke; undefined when even the first broke. */
export const lastHeld = (outcomes: readonly StepOutcome[]): number | undefined => {
  let held: number | undefined;
  for (const outcome of outcomes) {
    if (!outcome.held) break;
    held = outcome.vus;
  }
  return held;
};
