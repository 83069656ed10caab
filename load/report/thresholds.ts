/** Pass/fail of latency and error thresholds, for a whole run and for each request name. */
import type { LatencyStats } from './stats.ts';

export interface Thresholds {
  /** Milliseconds; the run passes when p95 is strictly below. */
  readonly p95: number;
  readonly p99: number;
  /** Fraction 0..1; passes when the error rate is strictly below (k6's `rate<0.01`). */
  readonly maxErrorRate: number;
}

export const defaultThresholds: Thresholds = { p95: 200, p99: 500, maxErrorRate: 0.01 };

/** Stricter (or looser) limits for one request name, e.g. `get execution` p95 < 100 ms. */
export type ThresholdOverrides = Readonly<Record<string, Partial<Thresholds>>>;

export interface Verdict {
  /** `all requests` or a request name. */
  readonly scope: string;
  readonly pass: boolean;
  readonly breaches: readonly string[];
  readonly limits: Thresholds;
}

export const ALL = 'all requests';

export const check = (scope: string, stats: LatencyStats, limits: Thresholds): Verdict => {
  const breaches: string[] = [];
  // No requests at all is a failure: a run that measured nothing proves nothing.
  if (stats.count === 0) breaches.push('no requests completed');
  else {
    if (!(stats.p95 < limits.p95)) breaches.push(`p95 ${stats.p95.toFixed(1)} ms ≥ ${limits.p95} ms`);
    if (!(stats.p99 < limits.p99)) breaches.push(`p99 ${stats.p99.toFixed(1)} ms ≥ ${limits.p99} ms`);
    if (!(stats.errorRate < limits.maxErrorRate)) {
      const pct = (x: number) => `${(x * 100).toFixed(2)} %`;
      breaches.push(`errors ${pct(stats.errorRate)} ≥ ${pct(limits.maxErrorRate)}`);
    }
  }
  return { scope, pass: breaches.length === 0, breaches, limits };
};

export interface Evaluation {
  readonly pass: boolean;
  readonly verdicts: readonly Verdict[];
}

/** The overall verdict first, then one per name; any breach fails the run. */
export const evaluate = (
  overall: LatencyStats,
  byName: ReadonlyArray<{ name: string; stats: LatencyStats }>,
  limits: Thresholds,
  overrides: ThresholdOverrides = {},
): Evaluation => {
  const verdicts = [
    check(ALL, overall, limits),
    ...byName.map(({ name, stats }) => check(name, stats, { ...limits, ...overrides[name] })),
  ];
  return { pass: verdicts.every((v) => v.pass), verdicts };
};
