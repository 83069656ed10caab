/** The end-of-run summary as a markdown table: one row for all requests, one per request name. */
import { formatMs, type LatencyStats } from './stats.ts';
import { ALL, type Evaluation, type Thresholds } from './thresholds.ts';

const percent = (x: number): string => `${(x * 100).toFixed(2)} %`;

export const limitsText = (limits: Thresholds): string =>
  `p95 < ${limits.p95} ms, p99 < ${limits.p99} ms, errors < ${percent(limits.maxErrorRate)}`;

export const summaryTable = (
  overall: LatencyStats,
  byName: ReadonlyArray<{ name: string; stats: LatencyStats }>,
  evaluation: Evaluation,
): string => {
  const verdictOf = (scope: string) => evaluation.verdicts.find((v) => v.scope === scope);
  const row = (scope: string, s: LatencyStats) => {
    const verdict = verdictOf(scope);
    const result = !verdict ? '–' : verdict.pass ? 'pass' : `**FAIL**: ${verdict.breaches.join('; ')}`;
    const label = scope === ALL ? `**${ALL}**` : `\`${scope}\``;
    return (
      `| ${label} | ${s.count} | ${s.errors} (${percent(s.errorRate)}) | ${s.rps.toFixed(1)} | ` +
      `${formatMs(s.p50)} | ${formatMs(s.p95)} | ${formatMs(s.p99)} | ${formatMs(s.max)} | ${result} |`
    );
  };
  return [
    '| request | count | errors | req/s | p50 ms | p95 ms | p99 ms | max ms | thresholds |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |',
    row(ALL, overall),
    ...byName.map(({ name, stats }) => row(name, stats)),
  ].join('\n');
};

/** Limits that differ from the defaults, so the reader knows which row was held to what. */
export const overridesText = (evaluation: Evaluation, defaults: Thresholds): string[] =>
  evaluation.verdicts
    .filter((v) => limitsText(v.limits) !== limitsText(defaults))
    .map((v) => `\`${v.scope}\`: ${limitsText(v.limits)}`);
