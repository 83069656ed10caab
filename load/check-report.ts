/**
 * `npm run load:check-report -- [report.html] [--screenshot]`
 *
 * Renders a load report (default: the newest `load/results/*.html`) in headless Chromium and
 * checks what a reader needs is there after the browser has laid it out: the summary table and
 * the three plots (latency, throughput, virtual users), each an SVG with at least one drawn
 * series. `--screenshot` also writes `<report>.png` (1280 px wide) to look at. Exit 1 when a check
 * fails, 2 when no Chromium is found (`CHROMIUM` names one).
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs, promisify } from 'node:util';

const run = promisify(execFile);
const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { screenshot: { type: 'boolean', default: false } },
});

const newestReport = async (): Promise<string | undefined> => {
  const dir = 'load/results';
  if (!existsSync(dir)) return undefined;
  const reports = (await readdir(dir)).filter((name) => name.endsWith('.html'));
  // Names end in the run's ISO timestamp: the newest report has the greatest one.
  const stamp = (name: string) => name.replace(/^.*?-(\d{4}-\d{2}-\d{2}T[\d-]+Z)\.html$/, '$1');
  const newest = reports.sort((a, b) => stamp(a).localeCompare(stamp(b))).at(-1);
  return newest && join(dir, newest);
};

const chromium = [process.env['CHROMIUM'], 'chromium', 'chromium-browser', 'google-chrome'].find(
  (candidate) =>
    candidate &&
    (candidate.includes('/')
      ? existsSync(candidate)
      : (process.env['PATH'] ?? '').split(':').some((dir) => existsSync(join(dir, candidate)))),
);
if (!chromium) {
  console.error('no Chromium found: install chromium, or set CHROMIUM to its path');
  process.exit(2);
}

const report = positionals[0] ?? (await newestReport());
if (!report || !existsSync(report)) {
  console.error(report ? `no such report: ${report}` : 'no report in load/results: run a scenario first');
  process.exit(1);
}
const url = pathToFileURL(resolve(report)).href;
const flags = ['--headless=new', '--no-sandbox', '--disable-gpu', '--hide-scrollbars'];

const { stdout: dom } = await run(chromium, [...flags, '--dump-dom', url], {
  maxBuffer: 64 * 1024 * 1024,
  timeout: 60_000,
});
const plots = ['Latency per second', 'Throughput per second', 'Virtual users'];
const svgs = dom.split('<svg').slice(1);
const checks: [string, boolean][] = [
  ['summary table', /<table[\s\S]*<th[^>]*>\s*p95/.test(dom)],
  ...plots.map((title): [string, boolean] => [`plot "${title}"`, dom.includes(title)]),
  [`${plots.length} SVG plots`, svgs.length >= plots.length],
  ['every plot draws a series', svgs.length > 0 && svgs.every((svg) => /<path d="M[^"]+L/.test(svg))],
];
for (const [name, ok] of checks) console.log(`${ok ? 'ok  ' : 'FAIL'} ${name}`);

if (values.screenshot) {
  const png = report.replace(/\.html$/, '.png');
  await run(chromium, [...flags, '--window-size=1280,1800', `--screenshot=${resolve(png)}`, url], {
    timeout: 60_000,
  });
  console.log(`screenshot: ${png}`);
}
if (checks.some(([, ok]) => !ok)) process.exit(1);
console.log(`${report} renders in ${chromium} with its table and ${svgs.length} plots`);
