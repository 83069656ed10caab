/** Pure statistics over recorded request samples: overall, per request name, per second. */

/** One finished request. Times are milliseconds; `at` is its completion, relative to the run start. */
export interface Sample {
  readonly name: string;
  readonly at: number;
  readonly ms: number;
  readonly ok: boolean;
}

export interface LatencyStats {
  readonly count: number;
  readonly errors: number;
  readonly errorRate: number;
  readonly rps: number;
  readonly p50: number;
  readonly p95: number;
  readonly p99: number;
  readonly max: number;
}

export interface SecondBucket {
  /** 0-based second of the run the requests completed in. */
  readonly second: number;
  readonly count: number;
  readonly errors: number;
  /** null when nothing completed in that second (a gap in the chart, not a zero). */
  readonly p50: number | null;
  readonly p95: number | null;
  readonly p99: number | null;
}

/** Nearest-rank quantile of ascending values: always a measured value, never interpolated. */
export const percentile = (sorted: readonly number[], q: number): number => {
  if (sorted.length === 0) throw new Error('percentile of no values');
  if (!(q >= 0 && q <= 1)) throw new Error(`quantile out of range: ${q}`);
  const rank = Math.max(1, Math.ceil(q * sorted.length));
  return sorted[rank - 1]!;
};

const ascending = (values: number[]): number[] => values.sort((a, b) => a - b);

/** Stats of `samples` over a window of `seconds` (for the rate). No samples gives zeros. */
export const summarize = (samples: readonly Sample[], seconds: number): LatencyStats => {
  const count = samples.length;
  if (count === 0) return { count: 0, errors: 0, errorRate: 0, rps: 0, p50: 0, p95: 0, p99: 0, max: 0 };
  const sorted = ascending(samples.map((s) => s.ms));
  const errors = samples.filter((s) => !s.ok).length;
  return {
    count,
    errors,
    errorRate: errors / count,
    rps: seconds > 0 ? count / seconds : 0,
    p50: percentile(sorted, 0.5),
    p95: percentile(sorted, 0.95),
    p99: percentile(sorted, 0.99),
    max: sorted[sorted.length - 1]!,
  };
};

/** Per request name, in first-seen order (the order a scenario issues them). */
export const summarizeByName = (
  samples: readonly Sample[],
  seconds: number,
): Array<{ name: string; stats: LatencyStats }> => {
  const groups = new Map<string, Sample[]>();
  for (const sample of samples) {
    const group = groups.get(sample.name);
    if (group) group.push(sample);
    else groups.set(sample.name, [sample]);
  }
  return [...groups].map(([name, group]) => ({ name, stats: summarize(group, seconds) }));
};

/** One bucket per second from 0 to the last completion (or `minSeconds`), empty seconds included. */
export const perSecond = (samples: readonly Sample[], minSeconds = 0): SecondBucket[] => {
  let last = minSeconds - 1;
  for (const sample of samples) last = Math.max(last, Math.floor(sample.at / 1000));
  const latencies: number[][] = Array.from({ length: last + 1 }, () => []);
  const errors: number[] = Array.from({ length: last + 1 }, () => 0);
  for (const sample of samples) {
    const second = Math.max(0, Math.floor(sample.at / 1000));
    latencies[second]!.push(sample.ms);
    if (!sample.ok) errors[second]! += 1;
  }
  return latencies.map((values, second) => {
    const sorted = ascending(values);
    const q = (p: number) => (sorted.length === 0 ? null : percentile(sorted, p));
    return { second, count: sorted.length, errors: errors[second]!, p50: q(0.5), p95: q(0.95), p99: q(0.99) };
  });
};

/** Milliseconds for tables: 3 significant figures below 10 ms, whole numbers above. */
export const formatMs = (ms: number): string =>
  ms < 10 ? ms.toFixed(2) : ms < 100 ? ms.toFixed(1) : String(Math.round(ms));
