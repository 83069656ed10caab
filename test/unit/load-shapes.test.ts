import { describe, expect, it } from 'vitest';
import { mixedStep } from '../../load/scenarios/mixed.ts';
import { constant, spike } from '../../load/scenarios/shapes.ts';
import { idOf } from '../../load/scenarios/types.ts';

describe('load shapes', () => {
  it('holds a constant count', () => {
    expect(constant(0, 20, 8)).toBe(8);
    expect(constant(19.9, 20, 8)).toBe(8);
  });

  it('spikes 0 → N → 0: fast up, hold, slower down', () => {
    expect(spike(0, 20, 32)).toBe(1);
    expect(spike(1, 20, 32)).toBe(16);
    expect(spike(2, 20, 32)).toBe(32);
    expect(spike(10, 20, 32)).toBe(32);
    expect(spike(16, 20, 32)).toBe(32);
    expect(spike(18, 20, 32)).toBe(16);
    expect(spike(19.99, 20, 32)).toBe(1);
    expect(spike(20, 20, 32)).toBe(0);
    expect(spike(-1, 20, 32)).toBe(0);
    // Never above the peak, never below one VU while running.
    for (let t = 0; t < 20; t += 0.25) {
      expect(spike(t, 20, 32)).toBeGreaterThanOrEqual(1);
      expect(spike(t, 20, 32)).toBeLessThanOrEqual(32);
    }
  });

  it('mixes 5 reads, 3 lists and 2 writes in every 10 iterations', () => {
    const steps = Array.from({ length: 10 }, (_, i) => mixedStep(i + 7));
    expect(steps.filter((s) => s === 'get agent')).toHaveLength(5);
    expect(steps.filter((s) => s === 'list agents')).toHaveLength(3);
    expect(steps.filter((s) => s === 'execute')).toHaveLength(2);
  });

  it('reads ids from JSON bodies only', () => {
    expect(idOf({ id: 'a1' })).toBe('a1');
    expect(idOf({ id: 1 })).toBeUndefined();
    expect(idOf(null)).toBeUndefined();
    expect(idOf('x')).toBeUndefined();
  });
});
