import { describe, expect, it } from 'vitest';
import {
  markdownTable,
  median,
  quantile,
  queriesFromServerTiming,
  queryCount,
  ratio,
  summarize,
} from '../../load/bench/stats.ts';
import { nearestRankCases } from '../support/quantiles.ts';

describe('bench stats', () => {
  it('takes nearest-rank quantiles, always a measured value', () => {
    for (const [sorted, q, expected] of nearestRankCases) {
      expect(quantile(sorted, q), `q ${q} of ${sorted.length}`).toBe(expected);
    }
    expect(() => quantile([], 0.5)).toThrow();
  });

  it('summarizes unsorted samples without changing them', () => {
    const samples = [5, 1, 3, 2, 4];
    expect(summarize(samples)).toEqual({ n: 5, min: 1, p50: 3, p99: 5, max: 5 });
    expect(samples).toEqual([5, 1, 3, 2, 4]);
    expect(median([10, 30, 20])).toBe(20);
  });

  it('prints ratios, and a dash when a side is missing', () => {
    expect(ratio(1, 4)).toBe('0.25×');
    expect(ratio(undefined, 4)).toBe('–');
    expect(ratio(1, 0)).toBe('–');
  });

  it('reads query counts from Server-Timing', () => {
    expect(queriesFromServerTiming('db;desc="queries=2";dur=0.5, cache;desc="hits=1 misses=0"')).toBe(2);
    expect(queriesFromServerTiming(undefined)).toBeUndefined();
    expect(queryCount([1, 1, 1])).toBe('1');
    expect(queryCount([0, 2, 1])).toBe('0–2');
    expect(queryCount([])).toBe('–');
  });

  it('renders a markdown table, escaping pipes', () => {
    expect(markdownTable(['a', 'b'], [['1', 'x|y']])).toBe('| a | b |\n| --- | --- |\n| 1 | x\\|y |');
  });
});
