import { describe, expect, it } from 'vitest';
import { htmlReport } from '../../load/report/html.ts';
import { limitsText, summaryTable } from '../../load/report/markdown.ts';
import { percentile, perSecond, type Sample, summarize, summarizeByName } from '../../load/report/stats.ts';
import { lastHeld, stressSteps } from '../../load/report/stress.ts';
import { escapeXml, lineChart, linePath, niceCeil } from '../../load/report/svg.ts';
import { check, defaultThresholds, evaluate } from '../../load/report/thresholds.ts';
import { nearestRankCases } from '../support/quantiles.ts';

const sample = (name: string, at: number, ms: number, ok = true): Sample => ({ name, at, ms, ok });

describe('load stats', () => {
  it('takes nearest-rank percentiles', () => {
    for (const [sorted, q, expected] of nearestRankCases) {
      expect(percentile(sorted, q), `q ${q} of ${sorted.length}`).toBe(expected);
    }
    expect(() => percentile([], 0.5)).toThrow();
    expect(() => percentile([1], 1.5)).toThrow();
  });

  it('summarizes counts, errors, rate and latency', () => {
    const samples = [sample('a', 10, 5), sample('a', 20, 1), sample('b', 30, 9, false), sample('a', 40, 3)];
    const stats = summarize(samples, 2);
    expect(stats).toEqual({ count: 4, errors: 1, errorRate: 0.25, rps: 2, p50: 3, p95: 9, p99: 9, max: 9 });
    expect(summarize([], 5)).toMatchObject({ count: 0, errorRate: 0, p95: 0 });
    const byName = summarizeByName(samples, 2);
    expect(byName.map((g) => g.name)).toEqual(['a', 'b']);
    expect(byName[0]!.stats).toMatchObject({ count: 3, errors: 0, p50: 3, max: 5 });
  });

  it('buckets per completion second, keeping empty seconds as gaps', () => {
    const buckets = perSecond([
      sample('a', 100, 10),
      sample('a', 900, 30),
      sample('a', 950, 20, false),
      sample('a', 2500, 40),
    ]);
    expect(buckets).toHaveLength(3);
    expect(buckets[0]).toEqual({ second: 0, count: 3, errors: 1, p50: 20, p95: 30, p99: 30 });
    expect(buckets[1]).toEqual({ second: 1, count: 0, errors: 0, p50: null, p95: null, p99: null });
    expect(buckets[2]).toMatchObject({ second: 2, count: 1, p99: 40 });
    expect(perSecond([], 3)).toHaveLength(3);
  });
});

describe('load thresholds', () => {
  const stats = summarize(
    Array.from({ length: 100 }, (_, i) => sample(i < 50 ? 'fast' : 'slow', i * 10, i < 50 ? 5 : 150)),
    1,
  );

  it('passes strictly below each limit and names each breach', () => {
    expect(check('x', stats, defaultThresholds)).toMatchObject({ pass: true, breaches: [] });
    const verdict = check('x', stats, { p95: 150, p99: 100, maxErrorRate: 0.01 });
    expect(verdict.pass).toBe(false);
    expect(verdict.breaches).toEqual(['p95 150.0 ms ≥ 150 ms', 'p99 150.0 ms ≥ 100 ms']);
    const errors = summarize([sample('e', 0, 1, false), ...Array(99).fill(sample('e', 0, 1))], 1);
    expect(check('e', errors, defaultThresholds).breaches).toEqual(['errors 1.00 % ≥ 1.00 %']);
    expect(check('none', summarize([], 1), defaultThresholds).breaches).toEqual(['no requests completed']);
  });

  it('fails the run when one name breaks its own override', () => {
    const samples = Array.from({ length: 100 }, (_, i) =>
      sample(i % 2 ? 'get execution' : 'create agent', i, i % 2 ? 120 : 10),
    );
    const byName = summarizeByName(samples, 1);
    const plain = evaluate(summarize(samples, 1), byName, defaultThresholds);
    expect(plain.pass).toBe(true);
    const strict = evaluate(summarize(samples, 1), byName, defaultThresholds, {
      'get execution': { p95: 100 },
    });
    expect(strict.pass).toBe(false);
    expect(strict.verdicts.map((v) => [v.scope, v.pass])).toEqual([
      ['all requests', true],
      ['create agent', true],
      ['get execution', false],
    ]);
    expect(strict.verdicts[2]!.limits).toEqual({ p95: 100, p99: 500, maxErrorRate: 0.01 });
  });
});

describe('load stress steps', () => {
  it('doubles up to the maximum, ending on it', () => {
    expect(stressSteps(1)).toEqual([1]);
    expect(stressSteps(32)).toEqual([1, 2, 4, 8, 16, 32]);
    expect(stressSteps(24)).toEqual([1, 2, 4, 8, 16, 24]);
    expect(() => stressSteps(0)).toThrow();
  });

  it('reports the last step before the first break', () => {
    expect(lastHeld([])).toBeUndefined();
    expect(lastHeld([{ vus: 1, held: false }])).toBeUndefined();
    expect(
      lastHeld([
        { vus: 1, held: true },
        { vus: 2, held: true },
        { vus: 4, held: false },
        { vus: 8, held: true },
      ]),
    ).toBe(2);
  });
});

describe('load svg', () => {
  const x = (i: number) => i * 10;
  const y = (v: number) => 100 - v;

  it('draws a path, restarting after gaps', () => {
    expect(linePath([1, 2, 3], x, y)).toBe('M0,99 L10,98 L20,97');
    expect(linePath([1, null, 3, 4], x, y)).toBe('M0,99 h0.1 M20,97 L30,96');
    expect(linePath([null, null], x, y)).toBe('');
    expect(linePath([0.25], x, (v) => v)).toBe('M0,0.3 h0.1');
  });

  it('rounds axes to 1, 2 or 5 × 10^k', () => {
    expect(niceCeil(0)).toBe(1);
    expect(niceCeil(3)).toBe(5);
    expect(niceCeil(12)).toBe(20);
    expect(niceCeil(200)).toBe(200);
    expect(niceCeil(501)).toBe(1000);
    expect(niceCeil(0.03)).toBeCloseTo(0.05);
  });

  it('renders an escaped, self-contained chart', () => {
    const svg = lineChart({
      title: 'p95 <ms> & "more"',
      unit: 'ms',
      series: [{ label: 'p95', color: '#f00', values: [10, 20, null, 30] }],
      marks: [
        { label: 'limit', value: 25, color: '#00f' },
        { label: 'far', value: 900, color: '#0f0' },
      ],
    });
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg).toContain(escapeXml('p95 <ms> & "more"'));
    expect(svg).not.toContain('<ms>');
    expect(svg.match(/<path /g)).toHaveLength(1);
    expect(svg).toContain('far ↑');
    expect(svg).toContain('stroke-dasharray="6 4"');
  });
});

describe('load summaries', () => {
  const samples = [sample('create agent', 10, 12), sample('create agent', 20, 300, false)];
  const overall = summarize(samples, 1);
  const byName = summarizeByName(samples, 1);
  const evaluation = evaluate(overall, byName, defaultThresholds);

  it('prints a markdown table with a verdict per row', () => {
    const table = summaryTable(overall, byName, evaluation).split('\n');
    expect(table).toHaveLength(4);
    expect(table[0]).toMatch(/^\| request \| count \| errors/);
    expect(table[2]).toMatch(
      /^\| \*\*all requests\*\* \| 2 \| 1 \(50\.00 %\) \| 2\.0 \| 12\.0 \| 300 \| 300 \|/,
    );
    expect(table[3]).toContain('**FAIL**: p95 300.0 ms ≥ 200 ms; errors 50.00 % ≥ 1.00 %');
    expect(limitsText(defaultThresholds)).toBe('p95 < 200 ms, p99 < 500 ms, errors < 1.00 %');
  });

  it('builds an HTML page with no external resources', () => {
    const html = htmlReport({
      scenario: 'spike',
      description: 'd',
      startedAt: '2026-01-01T00:00:00.000Z',
      target: 'http://127.0.0.1:1',
      thresholds: defaultThresholds,
      overall,
      byName,
      evaluation,
      seconds: perSecond(samples, 2),
      vus: [1, 0],
      stress: { steps: [{ vus: 1, stats: overall, held: false, breaches: ['p95'] }], lastHeld: null },
    });
    expect(html).toMatch(/^<!doctype html>/);
    expect(html.match(/<svg /g)).toHaveLength(3);
    expect(html).toContain('FAIL');
    expect(html).toContain('Last step that held: <b>none</b>');
    expect(html).not.toMatch(/<script|https?:\/\/(?!www\.w3\.org)[a-z]/);
  });
});
