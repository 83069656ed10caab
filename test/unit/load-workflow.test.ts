import type { Pool } from 'undici';
import { describe, expect, it } from 'vitest';
import { fileOf, mainThreadProfile, packageOf, summarizeProfile } from '../../load/profile-summary.ts';
import type { Sample } from '../../load/report/stats.ts';
import { createHttp } from '../../load/scenarios/client.ts';
import { scenarios } from '../../load/scenarios/index.ts';
import type { Http } from '../../load/scenarios/types.ts';
import { workflowExecution, workflowWaitSeconds } from '../../load/scenarios/workflow-execution.ts';
import {
  dagRunBody,
  dagRunSucceeded,
  dagStepKeys,
  dagWorkflowBody,
  isFinishedRunStatus,
} from '../../load/support/workflow-dag.ts';

const step = (key: string, status = 'succeeded', attempts = 1) => ({ key, status, attempts });

describe('the load DAG', () => {
  it('is two roots and a join reading both', () => {
    const body = dagWorkflowBody('w', ['a1', 'a2', 'a3']);
    expect(body.steps.map((s) => s.key)).toEqual([...dagStepKeys]);
    expect(body.steps.filter((s) => !('depends_on' in s)).map((s) => s.agent_id)).toEqual(['a1', 'a2']);
    const join = body.steps[2]!;
    expect(join).toMatchObject({ agent_id: 'a3', depends_on: ['research', 'critique'] });
    expect(join.input).toContain('{{steps.research.output}}');
    expect(join.input).toContain('{{steps.critique.output}}');
    expect(() => dagWorkflowBody('w', ['a1'])).toThrow();
    expect(dagRunBody(7)).toEqual({ input: { topic: 'topic 7' } });
  });

  it('counts a run as succeeded only when every step succeeded on its first attempt', () => {
    const steps = dagStepKeys.map((key) => step(key));
    expect(dagRunSucceeded({ status: 'succeeded', steps })).toBe(true);
    expect(dagRunSucceeded({ status: 'succeeded' })).toBe(true); // a body without steps
    expect(dagRunSucceeded({ status: 'failed', steps })).toBe(false);
    expect(dagRunSucceeded({ status: 'succeeded', steps: steps.slice(0, 2) })).toBe(false);
    expect(
      dagRunSucceeded({
        status: 'succeeded',
        steps: [...steps.slice(0, 2), step('summary', 'succeeded', 2)],
      }),
    ).toBe(false);
    expect(
      dagRunSucceeded({ status: 'succeeded', steps: [...steps.slice(0, 2), step('summary', 'skipped')] }),
    ).toBe(false);
    expect(dagRunSucceeded(undefined)).toBe(false);
    expect(dagRunSucceeded('succeeded')).toBe(false);
    expect(['succeeded', 'failed', 'cancelled'].every(isFinishedRunStatus)).toBe(true);
    expect(['queued', 'running', undefined].some(isFinishedRunStatus)).toBe(false);
  });

  it('is registered as a scenario', () => {
    expect(scenarios['workflow-execution']?.name).toBe('workflow-execution');
  });
});

describe('the workflow-execution scenario', () => {
  /** An Http answering from a script of responses, recording each call and its verdict. */
  const scripted = (answers: Array<{ status: number; json?: unknown }>) => {
    const calls: Array<{ name: string; method: string; path: string; ok: boolean }> = [];
    const http: Http = {
      async call(name, method, path, options) {
        const answer = answers.shift() ?? { status: 0 };
        const expected = ([] as number[]).concat(options.expect).includes(answer.status);
        const ok = expected && (options.check?.(answer.json, answer.status) ?? true);
        calls.push({ name, method, path, ok });
        return { ok, status: answer.status, json: answer.json };
      },
    };
    return { http, calls };
  };
  const finished = { id: 'r1', status: 'succeeded', steps: dagStepKeys.map((key) => step(key)) };

  it('sets up three agents and the workflow, and tears down the workflow before the agents', async () => {
    const run = workflowExecution.create();
    const setup = scripted([
      { status: 201, json: { id: 'a1' } },
      { status: 201, json: { id: 'a2' } },
      { status: 201, json: { id: 'a3' } },
      { status: 201, json: { id: 'w1' } },
    ]);
    await run.setup!(setup.http);
    expect(setup.calls.map((c) => c.path)).toEqual([
      '/v1/agents',
      '/v1/agents',
      '/v1/agents',
      '/v1/workflows',
    ]);
    const teardown = scripted([{ status: 204 }, { status: 204 }, { status: 204 }, { status: 204 }]);
    await run.teardown!(teardown.http);
    expect(teardown.calls.map((c) => `${c.method} ${c.path}`)).toEqual([
      'DELETE /v1/workflows/w1',
      'DELETE /v1/agents/a1',
      'DELETE /v1/agents/a2',
      'DELETE /v1/agents/a3',
    ]);
    await expect(run.teardown!(scripted([{ status: 409 }]).http)).rejects.toThrow(/409/);
  });

  it('takes a 200 that finished, and polls a 202 until the run has finished', async () => {
    const run = workflowExecution.create();
    await run.setup!(
      scripted([
        { status: 201, json: { id: 'a1' } },
        { status: 201, json: { id: 'a2' } },
        { status: 201, json: { id: 'a3' } },
        { status: 201, json: { id: 'w1' } },
      ]).http,
    );

    const fast = scripted([
      { status: 200, json: finished },
      { status: 200, json: finished },
    ]);
    await run.iteration(fast.http, 0, 0);
    expect(fast.calls).toEqual([
      {
        name: 'start execution',
        method: 'POST',
        path: `/v1/workflows/w1/executions?wait=${workflowWaitSeconds}`,
        ok: true,
      },
      { name: 'get execution', method: 'GET', path: '/v1/workflow-executions/r1', ok: true },
    ]);

    /** Each call's name and verdict in one iteration answered by `answers`. */
    const verdicts = async (answers: Array<{ status: number; json?: unknown }>, iteration: number) => {
      const script = scripted(answers);
      await run.iteration(script.http, 0, iteration);
      return script.calls.map((c) => `${c.name}: ${c.ok ? 'ok' : 'error'}`);
    };
    const queued = { id: 'r1', status: 'queued' };
    const running = { id: 'r1', status: 'running' };
    expect(
      await verdicts(
        [202, 200, 200, 200].map((status, i) => ({ status, json: [queued, running, finished, finished][i] })),
        1,
      ),
    ).toEqual(['start execution: ok', 'poll execution: ok', 'poll execution: ok', 'get execution: ok']);

    // A 200 whose run failed is an error, and so is a read-back whose steps did not all succeed once.
    const failed = { ...finished, status: 'failed' };
    expect(
      await verdicts(
        [
          { status: 200, json: failed },
          { status: 200, json: failed },
        ],
        2,
      ),
    ).toEqual(['start execution: error', 'get execution: error']);
  });
});

describe('the load client', () => {
  const fakePool = (statusCode: number, body: unknown) =>
    ({
      request: async () => ({
        statusCode,
        body: { json: async () => body, dump: async () => {} },
      }),
    }) as unknown as Pool;

  it('takes any of several expected statuses, and a body check on top', async () => {
    const samples: Sample[] = [];
    const call = (status: number, body: unknown) =>
      createHttp(fakePool(status, body), '', 'key', (s) => samples.push(s)).call('start', 'POST', '/x', {
        expect: [200, 202],
        check: (json, code) => code === 202 || (json as { status?: string }).status === 'succeeded',
      });
    expect((await call(202, { status: 'queued' })).ok).toBe(true);
    expect((await call(200, { status: 'succeeded' })).ok).toBe(true);
    expect((await call(200, { status: 'failed' })).ok).toBe(false);
    expect((await call(500, { status: 'succeeded' })).ok).toBe(false);
    expect(samples.map((s) => s.ok)).toEqual([true, true, false, false]);
    // The body is parsed for the check without `json: true`.
    expect((await call(200, { status: 'succeeded' })).json).toEqual({ status: 'succeeded' });
  });
});

describe('CPU profile summary', () => {
  it('sums self time per function, file and package, idle apart, native time also charged to its caller', () => {
    const frame = (functionName: string, url: string, lineNumber = 0) => ({ functionName, url, lineNumber });
    const root = '/srv/project';
    const pgParser = `file://${process.cwd()}/node_modules/pg-protocol/dist/parser.js`;
    const summary = summarizeProfile({
      nodes: [
        { id: 1, callFrame: frame('(idle)', '') },
        { id: 2, callFrame: frame('complete', `file://${process.cwd()}/shared/adapters/postgres/x.ts`, 9) },
        { id: 3, callFrame: frame('parse', pgParser), children: [5] },
        { id: 4, callFrame: frame('(garbage collector)', '') },
        { id: 5, callFrame: frame('writev', '') },
      ],
      samples: [1, 2, 2, 3, 4, 1, 5],
      timeDeltas: [1000, 2000, 2000, 3000, 1000, 1000, 2000],
    });
    expect(summary).toMatchObject({ totalMs: 12, idleMs: 2, busyMs: 10 });
    expect(summary.functions[0]).toMatchObject({
      name: 'complete shared/adapters/postgres/x.ts:10:1',
      ms: 4,
      percent: 40,
    });
    const pairs = (rows: readonly { name: string; ms: number }[]) => rows.map((row) => [row.name, row.ms]);
    expect(pairs(summary.packages)).toEqual([
      ['shared/adapters', 4],
      ['pg-protocol', 3],
      ['V8 / native', 3],
    ]);
    // writev is charged to pg-protocol, which called it; the garbage collector has no caller.
    expect(pairs(summary.callers)).toEqual([
      ['pg-protocol', 5],
      ['shared/adapters', 4],
      ['V8 / native', 1],
    ]);
    expect(fileOf('node:internal/streams/readable')).toBe('node:internal/streams/readable');
    expect(fileOf(`file://${root}/load/run.ts`, root)).toBe('load/run.ts');
    expect(packageOf('node_modules/@aws-sdk/client-sqs/dist/index.js')).toBe('@aws-sdk/client-sqs');
    expect(packageOf('node:internal/timers')).toBe('node (built-in modules)');
    expect(packageOf('bin/dev.ts')).toBe('bin');
  });

  it('picks the main thread profile of a folder', () => {
    const names = [
      'CPU.20261121.082218.2849.1.002.cpuprofile', // tsx's module loader thread
      'CPU.20261121.082218.2849.0.001.cpuprofile',
      'CPU.20261121.071000.1111.0.001.cpuprofile',
      'notes.json',
    ];
    expect(mainThreadProfile(names)).toBe('CPU.20261121.082218.2849.0.001.cpuprofile');
    expect(mainThreadProfile(['notes.json'])).toBeUndefined();
  });
});
