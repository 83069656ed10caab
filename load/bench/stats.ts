/** Pure helpers of the bench: order statistics, ratios and markdown, kept apart so they can be tested. */

export interface Summary {
  readonly n: number;
  readonly min: number;
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
}

/** Nearest-rank quantile of ascending samples: always a value that was measured. */
export const quantile = (sorted: readonly number[], q: number): number => {
  if (sorted.length === 0) throw new Error('no samples');
  const rank = Math.ceil(q * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
};

export const summarize = (samples: readonly number[]): Summary => {
  const sorted = [...samples].sort((a, b) => a - b);
  return {
    n: sorted.length,
    min: sorted[0] ?? Number.NaN,
    p50: quantile(sorted, 0.5),
    p99: quantile(sorted, 0.99),
    max: sorted.at(-1) ?? Number.NaN,
  };
};

export const median = (samples: readonly number[]): number => summarize(samples).p50;

/** `ours / reference` as `0.42×`; a dash when either side is missing. */
export const ratio = (ours: number | undefined, reference: number | undefined): string =>
  ours === undefined || reference === undefined || !(reference > 0) || !Number.isFinite(ours)
    ? '–'
    : `${(ours / reference).toFixed(2)}×`;

/** One figure when every request ran the same number of queries, else the range. */
export const queryCount = (counts: readonly number[]): string => {
  if (counts.length === 0) return '–';
  const low = Math.min(...counts);
  const high = Math.max(...counts);
  return low === high ? String(low) : `${low}–${high}`;
};

/** `queries=N` from a Server-Timing header, as test/support/api.ts reads it. */
export const queriesFromServerTiming = (header: string | undefined): number | undefined => {
  const match = /queries=(\d+)/.exec(header ?? '');
  return match ? Number(match[1]) : undefined;
};

/** `hits=N misses=M` from a Server-Timing header, as `N/M`. */
export const cacheFromServerTiming = (header: string | undefined): string | undefined => {
  const match = /hits=(\d+) misses=(\d+)/.exec(header ?? '');
  return match ? `${match[1]}/${match[2]}` : undefined;
};

/** The distinct values seen, in order of first appearance: `2/0`, or `1/1, 2/0`. */
export const distinct = (values: readonly string[]): string =>
  values.length === 0 ? '–' : [...new Set(values)].join(', ');

export const kib = (bytes: number): string => `${(bytes / 1024).toFixed(1)} KiB`;
export const ms = (value: number): string => value.toFixed(1);
export const mb = (bytes: number): string => (bytes / 1_048_576).toFixed(1);
export const us = (millis: number): string => (millis * 1000).toFixed(0);

export const markdownTable = (headers: readonly string[], rows: readonly (readonly string[])[]): string => {
  const line = (cells: readonly string[]) => `| ${cells.map((c) => c.replaceAll('|', '\\|')).join(' | ')} |`;
  return [line(headers), line(headers.map(() => '---')), ...rows.map(line)].join('\n');
};
