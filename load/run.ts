/**
 * `npx tsx load/run.ts <scenario> [--base-url URL --api-key KEY] [--duration S] [--vus N]
 *    [--p95 ms --p99 ms --max-error-rate 0.01] [--allow-remote]`
 *
 * Scenarios: agent-lifecycle, spike, stress, workflow-execution (load/scenarios/). Without
 * --base-url (or BASE_URL) it starts its own `bin/dev.ts` on loopback, on a throwaway PostgreSQL
 * when the binaries exist, else on the embedded default (PGlite); with --base-url + --api-key (or
 * API_KEY) it starts nothing. A non-loopback --base-url needs --allow-remote. Progress once a
 * second on stderr; a markdown summary on stdout; load/results/<scenario>-<timestamp>.{json,html}.
 * Exit code: 0 every threshold held, 1 any breached (overall or per request name), 2 bad usage.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Pool } from 'undici';
import { htmlReport, type StressStepRow } from './report/html.ts';
import { limitsText, overridesText, summaryTable } from './report/markdown.ts';
import { percentile, perSecond, type Sample, summarize, summarizeByName } from './report/stats.ts';
import { lastHeld } from './report/stress.ts';
import { defaultThresholds, evaluate, type Thresholds } from './report/thresholds.ts';
import { createHttp } from './scenarios/client.ts';
import { scenarios } from './scenarios/index.ts';
import type { Http } from './scenarios/types.ts';

const usage = (message: string): never => {
  console.error(`${message}\nusage: npx tsx load/run.ts <${Object.keys(scenarios).join('|')}> [options]`);
  process.exit(2);
};

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    'base-url': { type: 'string' },
    'api-key': { type: 'string' },
    duration: { type: 'string' },
    vus: { type: 'string' },
    p95: { type: 'string' },
    p99: { type: 'string' },
    'max-error-rate': { type: 'string' },
    'allow-remote': { type: 'boolean', default: false },
  },
});
const scenario = scenarios[positionals[0] ?? ''];
if (!scenario) {
  usage(`unknown scenario "${positionals[0] ?? ''}"`);
  throw new Error('unreachable');
}
const numberOption = (raw: string | undefined, fallback: number, min: number, max: number, name: string) => {
  const n = raw === undefined ? fallback : Number(raw);
  if (!(n >= min && n <= max)) usage(`--${name} must be ${min}..${max}`);
  return n;
};
// Bounded: at most 10 minutes and 256 VUs, whatever is asked.
const duration = numberOption(values.duration, scenario.defaults.duration, 1, 600, 'duration');
const maxVus = Math.round(numberOption(values.vus, scenario.defaults.vus, 1, 256, 'vus'));
const thresholds: Thresholds = {
  p95: numberOption(values.p95, defaultThresholds.p95, 0.001, 60_000, 'p95'),
  p99: numberOption(values.p99, defaultThresholds.p99, 0.001, 60_000, 'p99'),
  maxErrorRate: numberOption(
    values['max-error-rate'],
    defaultThresholds.maxErrorRate,
    0,
    1,
    'max-error-rate',
  ),
};

const baseUrl = values['base-url'] ?? process.env['BASE_URL'];
const givenKey = values['api-key'] ?? process.env['API_KEY'];
if (baseUrl && !givenKey) usage('--base-url needs --api-key (or API_KEY)');
if (baseUrl) {
  const { hostname } = new URL(baseUrl);
  const loopback = ['127.0.0.1', 'localhost', '[::1]', '::1'].includes(hostname);
  if (!loopback && !values['allow-remote']) usage(`${hostname} is not loopback: add --allow-remote`);
}

interface Target {
  readonly url: string;
  readonly apiKey: string;
  readonly label: string;
  stop(): Promise<void>;
}

const startLocal = async (): Promise<Target> => {
  // Imported here: a run against a deployed stage starts nothing and needs none of it.
  const { startLocalServer } = await import('./support/local-server.ts');
  const server = await startLocalServer();
  return { url: server.url, apiKey: server.apiKey, label: server.label, stop: server.stop };
};

const target: Target = baseUrl
  ? { url: baseUrl, apiKey: givenKey!, label: baseUrl, stop: async () => {} }
  : await startLocal();
console.error(`${scenario.name}: ${target.label}, ${duration} s, up to ${maxVus} VUs`);

const url = new URL(target.url);
const prefix = url.pathname.replace(/\/+$/, '');
const pool = new Pool(url.origin, {
  connections: maxVus + 2,
  pipelining: 1,
  connectTimeout: 5_000,
  headersTimeout: 10_000,
  bodyTimeout: 10_000,
});
const untimed = createHttp(pool, prefix, target.apiKey);
const run = scenario.create();

const samples: Sample[] = [];
const MAX_SAMPLES = 5_000_000;
let t0 = performance.now();
let errorCount = 0;
const record = (sample: Sample) => {
  if (!sample.ok) errorCount += 1;
  if (samples.length < MAX_SAMPLES) samples.push(sample);
};
const http: Http = createHttp(pool, prefix, target.apiKey, record, () => t0);
const elapsedMs = () => performance.now() - t0;
const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));

let stopping = false;
let interrupted = false;
process.once('SIGINT', () => {
  interrupted = true;
  stopping = true;
});

// --- virtual users: VU n runs while n < target; the controller moves target every 100 ms.
let targetVus = 0;
const running = new Map<number, Promise<void>>();
const MAX_ITERATIONS_PER_VU = 1_000_000;
const vuLoop = async (vu: number) => {
  for (let i = 0; !stopping && vu < targetVus && i < MAX_ITERATIONS_PER_VU; i += 1) {
    const errorsBefore = errorCount;
    await run.iteration(http, vu, i);
    // A dead target fails in microseconds; back off so errors do not become a busy loop.
    if (errorCount > errorsBefore) await sleep(50);
  }
};
const ensureVus = () => {
  for (let vu = 0; vu < targetVus; vu += 1) {
    if (running.has(vu)) continue;
    running.set(
      vu,
      vuLoop(vu).finally(() => running.delete(vu)),
    );
  }
};

interface StepRecord {
  vus: number;
  from: number;
  to: number;
}
const steps: StepRecord[] = [];
const stepRows: StressStepRow[] = [];
const vusTimeline: number[] = [];

const progress = (second: number, from: number) => {
  const fresh = samples.slice(from);
  const sorted = fresh.map((s) => s.ms).sort((a, b) => a - b);
  const p95 = sorted.length ? `${percentile(sorted, 0.95).toFixed(1)} ms` : '–';
  const errors = fresh.filter((s) => !s.ok).length;
  console.error(
    `[${String(second).padStart(3)} s] vus ${String(running.size).padStart(3)}  requests ${samples.length}` +
      `  rps ${fresh.length}  errors ${errors} (total ${errorCount})  p95 ${p95}`,
  );
};

const evaluateStep = (step: StepRecord): StressStepRow => {
  const window = samples.filter((s) => s.at >= step.from && s.at < step.to);
  const seconds = (step.to - step.from) / 1000;
  const stats = summarize(window, seconds);
  const verdict = evaluate(stats, summarizeByName(window, seconds), thresholds, scenario.overrides);
  const breaches = verdict.verdicts.flatMap((v) => v.breaches.map((b) => `${v.scope}: ${b}`));
  return { vus: step.vus, stats, held: verdict.pass, breaches };
};

const drive = async () => {
  const shape = scenario.shape;
  const stepList = shape.kind === 'steps' ? shape.steps(maxVus) : [];
  const stepMs = shape.kind === 'steps' ? (duration * 1000) / stepList.length : 0;
  let lastSecond = 0;
  let lastIndex = 0;
  const end = duration * 1000;
  while (!stopping && elapsedMs() < end) {
    const now = elapsedMs();
    if (shape.kind === 'curve') targetVus = shape.target(now / 1000, duration, maxVus);
    else {
      const index = Math.min(stepList.length - 1, Math.floor(now / stepMs));
      if (steps.length <= index) {
        // Entering a new step: judge the one that just ended on its own requests.
        const previous = steps[steps.length - 1];
        if (previous) {
          previous.to = now;
          const row = evaluateStep(previous);
          stepRows.push(row);
          console.error(`step ${row.vus} VUs ${row.held ? 'held' : `broke: ${row.breaches.join('; ')}`}`);
          if (!row.held) break;
        }
        steps.push({ vus: stepList[index]!, from: now, to: end });
      }
      targetVus = stepList[index]!;
    }
    ensureVus();
    const second = Math.floor(now / 1000);
    if (second > lastSecond) {
      vusTimeline[second - 1] = running.size;
      progress(second, lastIndex);
      lastIndex = samples.length;
      lastSecond = second;
    }
    await sleep(100);
  }
  const finalStep = steps[steps.length - 1];
  if (finalStep && stepRows.length < steps.length) {
    finalStep.to = Math.min(elapsedMs(), end);
    stepRows.push(evaluateStep(finalStep));
  }
  stopping = true;
  targetVus = 0;
  // Graceful stop: in-flight iterations finish (each request is bounded by the pool timeouts).
  await Promise.race([Promise.all(running.values()), sleep(30_000)]);
  vusTimeline[Math.floor(elapsedMs() / 1000)] = running.size;
};

const startedAt = new Date();
let loadSeconds = duration;
let failure: unknown;
try {
  await run.setup?.(untimed);
  t0 = performance.now();
  await drive();
  loadSeconds = elapsedMs() / 1000;
} catch (error) {
  failure = error;
} finally {
  stopping = true;
  await run.teardown?.(untimed).catch((error: unknown) => console.error('teardown failed:', error));
  await pool.close().catch(() => pool.destroy());
  await target.stop();
}
if (failure) {
  console.error(failure);
  process.exit(2);
}

// --- report
const overall = summarize(samples, loadSeconds);
const byName = summarizeByName(samples, loadSeconds);
const evaluation = evaluate(overall, byName, thresholds, scenario.overrides);
const buckets = perSecond(samples, Math.ceil(loadSeconds));
// Seconds the controller did not sample (the drain at the end) carry the last count forward.
let lastVus = 0;
const vus = buckets.map((_, i) => {
  lastVus = vusTimeline[i] ?? lastVus;
  return lastVus;
});
const stressResult =
  scenario.shape.kind === 'steps'
    ? { steps: stepRows, lastHeld: lastHeld(stepRows) ?? null, reachedMax: stepRows.at(-1)?.vus === maxVus }
    : undefined;
const pass = evaluation.pass && !interrupted && (stressResult?.steps.every((s) => s.held) ?? true);

const stamp = startedAt.toISOString().replace(/[:.]/g, '-');
const base = join('load', 'results', `${scenario.name}-${stamp}`);
const lines = [
  `### ${scenario.name}: ${pass ? 'PASS' : 'FAIL'}${interrupted ? ' (interrupted)' : ''}`,
  '',
  `${target.label}; ${loadSeconds.toFixed(1)} s, up to ${maxVus} VUs; thresholds ${limitsText(thresholds)}` +
    `${overridesText(evaluation, thresholds)
      .map((t) => `; ${t}`)
      .join('')}`,
  '',
  summaryTable(overall, byName, evaluation),
];
if (stressResult) {
  lines.push(
    '',
    '| step VUs | count | req/s | p95 ms | p99 ms | errors | result |',
    '| ---: | ---: | ---: | ---: | ---: | ---: | --- |',
    ...stressResult.steps.map(
      (s) =>
        `| ${s.vus} | ${s.stats.count} | ${s.stats.rps.toFixed(1)} | ${s.stats.p95.toFixed(1)} | ` +
        `${s.stats.p99.toFixed(1)} | ${(s.stats.errorRate * 100).toFixed(2)} % | ` +
        `${s.held ? 'held' : `broke: ${s.breaches.join('; ')}`} |`,
    ),
    '',
    `Last step that held: **${stressResult.lastHeld ?? 'none'}${stressResult.lastHeld ? ' VUs' : ''}**` +
      `${stressResult.reachedMax && stressResult.steps.every((s) => s.held) ? ' (the maximum asked)' : ''}`,
  );
}
lines.push('', `Reports: ${base}.json, ${base}.html`);

await mkdir(join('load', 'results'), { recursive: true });
const json = {
  scenario: scenario.name,
  description: scenario.description,
  started_at: startedAt.toISOString(),
  target: target.label,
  machine: { cores: (await import('node:os')).cpus().length, node: process.version },
  config: { duration, vus: maxVus, thresholds, overrides: scenario.overrides ?? {} },
  pass,
  interrupted,
  load_seconds: loadSeconds,
  overall,
  by_name: byName,
  verdicts: evaluation.verdicts,
  stress: stressResult,
  per_second: buckets.map((b, i) => ({ ...b, vus: vus[i] })),
};
await writeFile(`${base}.json`, `${JSON.stringify(json, null, 2)}\n`);
await writeFile(
  `${base}.html`,
  htmlReport({
    scenario: scenario.name,
    description: scenario.description,
    startedAt: startedAt.toISOString(),
    target: target.label,
    thresholds,
    overall,
    byName,
    evaluation: { ...evaluation, pass },
    seconds: buckets,
    vus,
    ...(stressResult ? { stress: stressResult } : {}),
  }),
);
console.log(lines.join('\n'));
process.exit(pass ? 0 : 1);
