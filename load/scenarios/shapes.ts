/** Virtual-user curves over time (pure: unit-tested in test/unit/load-shapes.test.ts). */

export const constant = (_elapsed: number, _duration: number, vus: number): number => vus;

/**
 * 0 → peak → 0: ramp up over the first 10 % (fast, at least 1 s), hold, ramp down over the last
 * 20 %. Rounded up so a started ramp always has at least one VU; 0 at and after the end.
 */
export const spike = (elapsed: number, duration: number, peak: number): number => {
  if (elapsed >= duration || elapsed < 0) return 0;
  const up = Math.max(1, duration * 0.1);
  const down = Math.max(1, duration * 0.2);
  const fraction = elapsed < up ? elapsed / up : elapsed > duration - down ? (duration - elapsed) / down : 1;
  return Math.min(peak, Math.max(1, Math.ceil(peak * fraction)));
};
