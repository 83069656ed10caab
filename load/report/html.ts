/** The self-contained HTML report: summary table plus inline-SVG charts, no external resources. */
import type { LatencyStats, SecondBucket } from './stats.ts';
import { formatMs } from './stats.ts';
import { escapeXml, lineChart } from './svg.ts';
import type { Evaluation, Thresholds } from './thresholds.ts';

export interface StressStepRow {
  readonly vus: number;
  readonly stats: LatencyStats;
  readonly held: boolean;
  readonly breaches: readonly string[];
}

export interface ReportInput {
  readonly scenario: string;
  readonly description: string;
  readonly startedAt: string;
  readonly target: string;
  readonly thresholds: Thresholds;
  readonly overall: LatencyStats;
  readonly byName: ReadonlyArray<{ name: string; stats: LatencyStats }>;
  readonly evaluation: Evaluation;
  readonly seconds: readonly SecondBucket[];
  /** Active virtual users at the end of each second. */
  readonly vus: readonly number[];
  readonly stress?: { readonly steps: readonly StressStepRow[]; readonly lastHeld: number | null };
}

/** The chart colours: a percentile's line and its threshold mark share one. */
const colors = {
  p50: '#2a9d8f',
  p95: '#e9a03b',
  p99: '#d1495b',
  requests: '#3066be',
  errors: '#d1495b',
  vus: '#6c4ab6',
};

const cell = (text: string) => `<td>${escapeXml(text)}</td>`;
const pct = (x: number) => `${(x * 100).toFixed(2)} %`;

const statsCells = (s: LatencyStats): string =>
  [String(s.count), `${s.errors} (${pct(s.errorRate)})`, s.rps.toFixed(1)]
    .concat([s.p50, s.p95, s.p99, s.max].map(formatMs))
    .map(cell)
    .join('');

export const htmlReport = (input: ReportInput): string => {
  const verdict = (scope: string) => input.evaluation.verdicts.find((v) => v.scope === scope);
  const rows = [{ name: 'all requests', stats: input.overall }, ...input.byName].map(({ name, stats }) => {
    const v = verdict(name);
    const result = !v ? '–' : v.pass ? 'pass' : `FAIL: ${v.breaches.join('; ')}`;
    const row = `${cell(name)}${statsCells(stats)}${cell(result)}`;
    return `<tr class="${v?.pass === false ? 'bad' : ''}">${row}</tr>`;
  });
  const t = input.thresholds;
  /** One line of a per-second chart: `field` of each second. */
  const perSecond = (label: string, color: string, field: keyof Omit<SecondBucket, 'second'>) => ({
    label,
    color,
    values: input.seconds.map((b) => b[field]),
  });
  const latency = lineChart({
    title: 'Latency per second (completed requests)',
    unit: 'ms',
    series: (['p50', 'p95', 'p99'] as const).map((p) => perSecond(p, colors[p], p)),
    marks: (['p95', 'p99'] as const).map((p) => ({
      label: `${p} < ${t[p]} ms`,
      value: t[p],
      color: colors[p],
    })),
  });
  const throughput = lineChart({
    title: 'Throughput per second',
    unit: '/s',
    series: [
      perSecond('requests/s', colors.requests, 'count'),
      perSecond('errors/s', colors.errors, 'errors'),
    ],
  });
  const vus = lineChart({
    title: 'Virtual users',
    unit: 'VUs',
    height: 200,
    series: [{ label: 'active VUs', color: colors.vus, values: input.vus }],
  });
  const stress = input.stress
    ? `<h2>Stress steps</h2>
<p>Last step that held: <b>${input.stress.lastHeld === null ? 'none' : `${input.stress.lastHeld} VUs`}</b></p>
<table><tr><th>VUs</th><th>count</th><th>errors</th><th>req/s</th><th>p50 ms</th><th>p95 ms</th>
<th>p99 ms</th><th>max ms</th><th>result</th></tr>
${input.stress.steps
  .map(
    (s) =>
      `<tr class="${s.held ? '' : 'bad'}">${cell(String(s.vus))}${statsCells(s.stats)}` +
      `${cell(s.held ? 'held' : `broke: ${s.breaches.join('; ')}`)}</tr>`,
  )
  .join('\n')}</table>`
    : '';
  const status = input.evaluation.pass ? 'PASS' : 'FAIL';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>${escapeXml(`${input.scenario} ${status} ${input.startedAt}`)}</title>
<style>
body { font: 14px/1.45 system-ui, sans-serif; margin: 24px; color: #222; max-width: 1040px; }
table { border-collapse: collapse; margin: 8px 0 20px; }
th, td { border: 1px solid #ccc; padding: 4px 8px; text-align: right; white-space: nowrap; }
td:last-child { white-space: normal; }
td:first-child, td:last-child, th:first-child, th:last-child { text-align: left; }
tr.bad td { background: #fde8e8; }
.status { display: inline-block; padding: 2px 10px; border-radius: 4px; color: #fff; font-weight: 600; }
.PASS { background: #2a9d8f; } .FAIL { background: #d1495b; }
svg { display: block; margin: 12px 0 20px; }
</style></head><body>
<h1>${escapeXml(input.scenario)} <span class="status ${status}">${status}</span></h1>
<p>${escapeXml(input.description)}</p>
<p>Started ${escapeXml(input.startedAt)} · target ${escapeXml(input.target)} ·
thresholds p95 &lt; ${t.p95} ms, p99 &lt; ${t.p99} ms, errors &lt; ${pct(t.maxErrorRate)}</p>
<table><tr><th>request</th><th>count</th><th>errors</th><th>req/s</th><th>p50 ms</th><th>p95 ms</th>
<th>p99 ms</th><th>max ms</th><th>thresholds</th></tr>
${rows.join('\n')}</table>
${stress}
${latency}
${throughput}
${vus}
</body></html>
`;
};
