import { describe, expect, it } from 'vitest';
import type { FieldError } from '#domain/errors.ts';
import { retryDelaySeconds } from '#domain/retry.ts';
import type { StepBody, StepDefinition, StepRun, WorkflowRun } from '#domain/workflow.ts';
import {
  buildDefinition,
  createWorkflowBody,
  dependentsOf,
  downstreamOf,
  missingInputs,
  parseTemplate,
  RenderedInputTooLarge,
  renderTemplate,
  stepBackoff,
  toRunResource,
  toStatsResource,
} from '#domain/workflow.ts';
import { validateBody } from '#http/validation.ts';
import { fieldsOf, validationErrors } from '../support/problems.ts';

const step = (key: string, dependsOn: string[] = [], input = '{{input}}'): StepBody => ({
  key,
  agent_id: `agent-${key}`,
  input,
  ...(dependsOn.length > 0 && { depends_on: dependsOn }),
});

/** The errors of a definition expected to be refused, failing the test when it is accepted. */
const definitionErrors = (body: StepBody[]): FieldError[] => {
  const result = buildDefinition(body);
  if (result.ok) throw new Error('buildDefinition accepted the definition');
  return result.errors;
};

/** The steps of a definition expected to be accepted. */
const definitionSteps = (body: StepBody[]): StepDefinition[] => {
  const result = buildDefinition(body);
  if (!result.ok) throw new Error(`buildDefinition refused: ${JSON.stringify(result.errors)}`);
  return result.steps;
};

describe('buildDefinition', () => {
  it('builds a valid DAG, filling the defaults and positions', () => {
    const steps = definitionSteps([
      step('fetch'),
      step('summarise', ['fetch'], 'Summarise: {{steps.fetch.output}}'),
      {
        key: 'translate',
        agent_id: 'agent-t',
        input: '{{steps.summarise.output}} in {{input.language}}',
        depends_on: ['summarise'],
        retry: { max_attempts: 5, backoff_seconds: 10 },
        timeout_seconds: 45,
      },
      { key: 'notify', agent_id: 'agent-n', input: 'done', retry: { max_attempts: 1 } },
    ]);
    expect(steps).toEqual([
      {
        key: 'fetch',
        position: 0,
        agentId: 'agent-fetch',
        inputTemplate: '{{input}}',
        dependsOn: [],
        maxAttempts: 3,
        backoffSeconds: 1,
        timeoutSeconds: 30,
      },
      {
        key: 'summarise',
        position: 1,
        agentId: 'agent-summarise',
        inputTemplate: 'Summarise: {{steps.fetch.output}}',
        dependsOn: ['fetch'],
        maxAttempts: 3,
        backoffSeconds: 1,
        timeoutSeconds: 30,
      },
      {
        key: 'translate',
        position: 2,
        agentId: 'agent-t',
        inputTemplate: '{{steps.summarise.output}} in {{input.language}}',
        dependsOn: ['summarise'],
        maxAttempts: 5,
        backoffSeconds: 10,
        timeoutSeconds: 45,
      },
      {
        key: 'notify',
        position: 3,
        agentId: 'agent-n',
        inputTemplate: 'done',
        dependsOn: [],
        maxAttempts: 1,
        backoffSeconds: 1,
        timeoutSeconds: 30,
      },
    ]);
  });

  it('accepts a dependency declared on a later step (order does not matter)', () => {
    const steps = definitionSteps([step('b', ['a'], '{{steps.a.output}}'), step('a')]);
    expect(steps.map((s) => [s.key, s.position, s.dependsOn])).toEqual([
      ['b', 0, ['a']],
      ['a', 1, []],
    ]);
  });

  it('reports a duplicate key at the later index, naming the first', () => {
    expect(definitionErrors([step('a'), step('b'), step('a')])).toEqual([
      { field: 'steps.2.key', detail: 'duplicate key "a" (also steps.0)' },
    ]);
  });

  it('reports an unknown dependency by its index in depends_on', () => {
    expect(definitionErrors([step('a'), step('b', ['a', 'ghost'])])).toEqual([
      { field: 'steps.1.depends_on.1', detail: 'no step has the key "ghost"' },
    ]);
  });

  it('reports a self-dependency', () => {
    expect(definitionErrors([step('a'), step('b', ['b'])])).toEqual([
      { field: 'steps.1.depends_on.0', detail: 'a step cannot depend on itself' },
    ]);
  });

  it('reports a duplicated dependency', () => {
    expect(definitionErrors([step('a'), step('b', ['a', 'a'])])).toEqual([
      { field: 'steps.1.depends_on', detail: 'lists a dependency twice' },
    ]);
  });

  it('reports every structural error at once', () => {
    const errors = definitionErrors([step('a', ['a']), step('a', ['x'])]);
    expect(errors).toEqual([
      { field: 'steps.1.key', detail: 'duplicate key "a" (also steps.0)' },
      { field: 'steps.0.depends_on.0', detail: 'a step cannot depend on itself' },
      { field: 'steps.1.depends_on.0', detail: 'no step has the key "x"' },
    ]);
  });

  it('reports a cycle a → b → c → a as a path on `steps`', () => {
    const errors = definitionErrors([step('a', ['b']), step('b', ['c']), step('c', ['a']), step('d')]);
    expect(errors).toEqual([{ field: 'steps', detail: 'the steps form a cycle: a → b → c → a' }]);
  });

  it('reports a two-step cycle reached from an acyclic prefix, without the prefix', () => {
    const errors = definitionErrors([step('root', ['x']), step('x', ['y']), step('y', ['x'])]);
    expect(errors).toEqual([{ field: 'steps', detail: 'the steps form a cycle: x → y → x' }]);
  });

  it.each([
    ['{{ foo }}', 'Hello {{ foo }}'],
    ['{{steps.x}}', '{{steps.x}}'],
    ['{{input.}}', '{{input}} and {{input.}}'],
    ['{{ steps.a.input }}', '{{ steps.a.input }}'],
  ])('rejects the placeholder %s in a template', (bad, template) => {
    const errors = definitionErrors([step('a'), step('b', ['a'], template)]);
    expect(errors).toEqual([
      {
        field: 'steps.1.input',
        detail: `${bad} is not a reference: use {{input}}, {{input.<field>}} or {{steps.<key>.output}}`,
      },
    ]);
  });

  it('rejects a template reading a step that exists but is not upstream, suggesting depends_on', () => {
    const errors = definitionErrors([step('a'), step('b'), step('c', ['b'], '{{steps.a.output}}')]);
    expect(errors).toEqual([
      {
        field: 'steps.2.input',
        detail: 'reads steps.a.output, but "a" is not upstream of "c" (add it to depends_on)',
      },
    ]);
    expect(errors[0]?.detail).toContain('add it to depends_on');
  });

  it('rejects a template reading a downstream step', () => {
    const errors = definitionErrors([step('a', [], '{{steps.b.output}}'), step('b', ['a'])]);
    expect(errors).toEqual([
      {
        field: 'steps.0.input',
        detail: 'reads steps.b.output, but "b" is not upstream of "a" (add it to depends_on)',
      },
    ]);
  });

  it('allows a template reading a transitive ancestor', () => {
    const steps = definitionSteps([
      step('a'),
      step('b', ['a']),
      step('c', ['b'], '{{steps.a.output}} / {{steps.b.output}} / {{input.topic}}'),
    ]);
    expect(steps[2]).toMatchObject({
      key: 'c',
      dependsOn: ['b'],
      inputTemplate: '{{steps.a.output}} / {{steps.b.output}} / {{input.topic}}',
    });
  });

  it('rejects a template reading an unknown step', () => {
    const errors = definitionErrors([step('a'), step('b', ['a'], '{{steps.nope.output}}')]);
    expect(errors).toEqual([
      { field: 'steps.1.input', detail: 'reads steps.nope.output, but no step has the key "nope"' },
    ]);
  });

  it('reports template errors of several steps together', () => {
    const errors = definitionErrors([
      step('a', [], '{{ foo }}'),
      step('b', [], '{{steps.a.output}} {{steps.zz.output}}'),
    ]);
    expect(errors.map((e) => e.field)).toEqual(['steps.0.input', 'steps.1.input', 'steps.1.input']);
    expect(errors[1]?.detail).toBe(
      'reads steps.a.output, but "a" is not upstream of "b" (add it to depends_on)',
    );
    expect(errors[2]?.detail).toBe('reads steps.zz.output, but no step has the key "zz"');
  });
});

const bodyErrors = (body: unknown): FieldError[] => validationErrors(createWorkflowBody, body);

const validStep = { key: 'a', agent_id: 'agent-1', input: '{{input}}' };
const bodyWith = (stepOverrides: Record<string, unknown>) => ({
  name: 'Pipeline',
  steps: [{ ...validStep, ...stepOverrides }],
});

describe('createWorkflowBody via validateBody', () => {
  it('accepts a full valid body, trimming the name', () => {
    const body = {
      name: '  Pipeline  ',
      description: null,
      on_step_failure: 'continue',
      webhook_url: 'https://example.com/hook',
      steps: [
        {
          ...validStep,
          depends_on: [],
          retry: { max_attempts: 10, backoff_seconds: 300 },
          timeout_seconds: 50,
        },
        { key: 'B_2-x', agent_id: 'agent-2', input: 'x', retry: { max_attempts: 1, backoff_seconds: 0 } },
      ],
    };
    expect(validateBody(createWorkflowBody, body)).toEqual({ ...body, name: 'Pipeline' });
  });

  it.each(['1abc', '_a', 'a b', 'a.b', '', 'a'.repeat(65)])('rejects the step key %j', (key) => {
    expect(fieldsOf(bodyErrors(bodyWith({ key })))).toEqual(['steps.0.key']);
  });

  it.each(['a', 'A9', 'a_b-c', `a${'b'.repeat(63)}`])('accepts the step key %j', (key) => {
    expect(validateBody(createWorkflowBody, bodyWith({ key })).steps[0]?.key).toBe(key);
  });

  it('applies the key pattern to depends_on entries', () => {
    expect(fieldsOf(bodyErrors(bodyWith({ depends_on: ['ok', '9bad'] })))).toEqual(['steps.0.depends_on.1']);
  });

  it.each([0, 11, 2.5])('rejects retry.max_attempts %d', (maxAttempts) => {
    expect(fieldsOf(bodyErrors(bodyWith({ retry: { max_attempts: maxAttempts } })))).toEqual([
      'steps.0.retry.max_attempts',
    ]);
  });

  it.each([1, 10])('accepts retry.max_attempts %d', (maxAttempts) => {
    const parsed = validateBody(createWorkflowBody, bodyWith({ retry: { max_attempts: maxAttempts } }));
    expect(parsed.steps[0]?.retry?.max_attempts).toBe(maxAttempts);
  });

  it.each([-1, 301])('rejects retry.backoff_seconds %d', (backoff) => {
    expect(fieldsOf(bodyErrors(bodyWith({ retry: { max_attempts: 3, backoff_seconds: backoff } })))).toEqual([
      'steps.0.retry.backoff_seconds',
    ]);
  });

  it('requires max_attempts when retry is given', () => {
    expect(fieldsOf(bodyErrors(bodyWith({ retry: { backoff_seconds: 2 } })))).toEqual([
      'steps.0.retry.max_attempts',
    ]);
  });

  it.each([0, 51])('rejects timeout_seconds %d', (timeout) => {
    expect(fieldsOf(bodyErrors(bodyWith({ timeout_seconds: timeout })))).toEqual(['steps.0.timeout_seconds']);
  });

  it.each([1, 50])('accepts timeout_seconds %d', (timeout) => {
    expect(
      validateBody(createWorkflowBody, bodyWith({ timeout_seconds: timeout })).steps[0]?.timeout_seconds,
    ).toBe(timeout);
  });

  it('rejects unknown fields at the top, in a step and in retry', () => {
    const errors = bodyErrors({
      name: 'Pipeline',
      owner: 'me',
      steps: [{ ...validStep, agent: 'x', retry: { max_attempts: 2, jitter: true } }],
    });
    expect(errors).toEqual(
      expect.arrayContaining([
        { field: 'owner', detail: 'unknown field' },
        { field: 'steps.0.agent', detail: 'unknown field' },
        { field: 'steps.0.retry.jitter', detail: 'unknown field' },
      ]),
    );
    expect(errors).toHaveLength(3);
  });

  it('rejects empty steps', () => {
    expect(fieldsOf(bodyErrors({ name: 'Pipeline', steps: [] }))).toEqual(['steps']);
  });

  it('accepts 50 steps and rejects 51', () => {
    const many = (n: number) => Array.from({ length: n }, (_, i) => ({ ...validStep, key: `s${i}` }));
    expect(validateBody(createWorkflowBody, { name: 'Pipeline', steps: many(50) }).steps).toHaveLength(50);
    expect(fieldsOf(bodyErrors({ name: 'Pipeline', steps: many(51) }))).toEqual(['steps']);
  });

  it('rejects a blank name and a missing steps array', () => {
    expect(fieldsOf(bodyErrors({ name: '   ' })).sort()).toEqual(['name', 'steps']);
  });

  it('rejects an unknown on_step_failure', () => {
    expect(fieldsOf(bodyErrors({ ...bodyWith({}), on_step_failure: 'retry' }))).toEqual(['on_step_failure']);
  });
});

describe('parseTemplate', () => {
  it('lists input and step references, with whitespace inside the braces', () => {
    expect(parseTemplate('A {{input}} B {{ input.a.b }} C {{steps.fetch.output}}')).toEqual({
      ok: true,
      references: [
        { kind: 'input', path: [] },
        { kind: 'input', path: ['a', 'b'] },
        { kind: 'step', key: 'fetch' },
      ],
    });
  });

  it('accepts a template without placeholders', () => {
    expect(parseTemplate('plain text { not } a placeholder')).toEqual({ ok: true, references: [] });
  });

  it('returns the first bad placeholder as written', () => {
    expect(parseTemplate('{{input}} {{ foo }} {{ bar }}')).toEqual({ ok: false, bad: '{{ foo }}' });
    expect(parseTemplate('{{steps.x}}')).toEqual({ ok: false, bad: '{{steps.x}}' });
    expect(parseTemplate('{{}}')).toEqual({ ok: false, bad: '{{}}' });
  });
});

describe('renderTemplate', () => {
  it('inserts a string input for {{input}}', () => {
    expect(renderTemplate('Say: {{input}}!', 'hello', {})).toBe('Say: hello!');
  });

  it('reads a nested path with whitespace in the braces', () => {
    expect(renderTemplate('[{{ input.a.b }}]', { a: { b: 'deep' } }, {})).toBe('[deep]');
  });

  it('inserts values that are not text as JSON', () => {
    const input = { a: { b: 1, c: [true, null] }, n: 42, flag: false, nothing: null };
    expect(renderTemplate('{{input.a}}|{{input.n}}|{{input.flag}}|{{input.nothing}}', input, {})).toBe(
      '{"b":1,"c":[true,null]}|42|false|null',
    );
    expect(renderTemplate('{{input}}', { x: 'y' }, {})).toBe('{"x":"y"}');
  });

  it('stops at the byte cap: a reference repeated a thousand times is never built whole', () => {
    const big = 'x'.repeat(200_000);
    const template = '{{input}}'.repeat(1_000);
    expect(() => renderTemplate(template, big, {})).toThrow(RenderedInputTooLarge);
    expect(() => renderTemplate(template, big, {})).toThrow(/exceeds 262144 bytes/);
    // Exactly at the cap renders; one byte more does not. Bytes, not characters: é is two.
    expect(renderTemplate('{{input}}{{input}}', 'ab', {}, 4)).toBe('abab');
    expect(() => renderTemplate('{{input}}{{input}}!', 'ab', {}, 4)).toThrow(RenderedInputTooLarge);
    expect(() => renderTemplate('{{input}}', 'ééé', {}, 5)).toThrow(RenderedInputTooLarge);
    expect(renderTemplate('{{steps.a.output}} {{input}}', 'in', { a: 'out' }, 6)).toBe('out in');
  });

  it('reads array elements by index', () => {
    expect(renderTemplate('{{input.items.1}}', { items: ['zero', 'one'] }, {})).toBe('one');
  });

  it('renders a missing path as an empty string', () => {
    expect(renderTemplate('<{{input.missing}}>', { a: 1 }, {})).toBe('<>');
    expect(renderTemplate('<{{input.a.b}}>', { a: 'text' }, {})).toBe('<>');
    expect(renderTemplate('<{{input.x}}>', 'a string', {})).toBe('<>');
    expect(renderTemplate('<{{input.toString}}>', {}, {})).toBe('<>');
  });

  it('inserts step outputs, and an empty string for a null or absent output', () => {
    const outputs = { fetch: 'FETCHED', empty: null };
    expect(
      renderTemplate('{{steps.fetch.output}}|{{ steps.empty.output }}|{{steps.other.output}}', null, outputs),
    ).toBe('FETCHED||');
  });

  it('leaves text outside placeholders untouched, including braces and $ patterns', () => {
    const template = 'Keep { braces }, $& and $1 — then {{input}} — {single} and }} trailing';
    expect(renderTemplate(template, 'X', {})).toBe(
      'Keep { braces }, $& and $1 — then X — {single} and }} trailing',
    );
  });

  it('does not interpret $ patterns in inserted values', () => {
    expect(renderTemplate('<{{input}}>', '$& $1 $$', { a: '$`' })).toBe('<$& $1 $$>');
    expect(renderTemplate('<{{steps.a.output}}>', null, { a: "$` $'" })).toBe("<$` $'>");
  });

  it('renders the same template twice identically (no regex state carried over)', () => {
    const template = '{{input.a}}-{{input.a}}';
    expect(renderTemplate(template, { a: 'x' }, {})).toBe('x-x');
    expect(renderTemplate(template, { a: 'y' }, {})).toBe('y-y');
  });
});

const definition = (
  entries: ReadonlyArray<[key: string, dependsOn: string[], template?: string]>,
): StepDefinition[] =>
  entries.map(([key, dependsOn, template], position) => ({
    key,
    position,
    agentId: `agent-${key}`,
    inputTemplate: template ?? '{{input}}',
    dependsOn,
    maxAttempts: 3,
    backoffSeconds: 1,
    timeoutSeconds: 30,
  }));

describe('missingInputs', () => {
  const steps = definition([
    ['research', [], 'Research {{input.topic}}'],
    ['write', ['research'], '{{steps.research.output}} for {{ input.audience.name }}'],
  ]);

  it('reports input.topic missing, naming the step that reads it', () => {
    expect(missingInputs(steps, { audience: { name: 'devs' } })).toEqual([
      { field: 'input.topic', detail: 'step "research" reads input.topic, which the input does not have' },
    ]);
  });

  it('reports each missing path of each step', () => {
    expect(missingInputs(steps, { audience: {} })).toEqual([
      { field: 'input.topic', detail: 'step "research" reads input.topic, which the input does not have' },
      {
        field: 'input.audience.name',
        detail: 'step "write" reads input.audience.name, which the input does not have',
      },
    ]);
  });

  it('reports nothing when every path is present, even when its value is null', () => {
    expect(missingInputs(steps, { topic: 'AI', audience: { name: null } })).toEqual([]);
  });

  it('reports {{input.x}} as missing when the input is a string; {{input}} is never missing', () => {
    const stringSteps = definition([
      ['a', [], '{{input}}'],
      ['b', [], '{{input.x}}'],
    ]);
    expect(missingInputs(stringSteps, 'just text')).toEqual([
      { field: 'input.x', detail: 'step "b" reads input.x, which the input does not have' },
    ]);
  });

  it('ignores step references', () => {
    expect(missingInputs(definition([['a', [], '{{steps.z.output}}']]), {})).toEqual([]);
  });
});

describe('the graph', () => {
  // Diamond a → (b, c) → d, then d → e; a side branch x → y that shares nothing with it.
  const graph = definition([
    ['a', []],
    ['b', ['a']],
    ['c', ['a']],
    ['d', ['b', 'c']],
    ['e', ['d']],
    ['x', []],
    ['y', ['x']],
  ]);

  it('dependentsOf lists the direct dependents of every step, in definition order', () => {
    expect(Object.fromEntries(dependentsOf(graph))).toEqual({
      a: ['b', 'c'],
      b: ['d'],
      c: ['d'],
      d: ['e'],
      e: [],
      x: ['y'],
      y: [],
    });
  });

  it('downstreamOf collects every transitive dependent once', () => {
    expect([...downstreamOf(graph, 'a')].sort()).toEqual(['b', 'c', 'd', 'e']);
    expect([...downstreamOf(graph, 'b')].sort()).toEqual(['d', 'e']);
    expect([...downstreamOf(graph, 'x')]).toEqual(['y']);
  });

  it('downstreamOf is empty for a leaf and for an unknown key', () => {
    expect(downstreamOf(graph, 'e').size).toBe(0);
    expect(downstreamOf(graph, 'y').size).toBe(0);
    expect(downstreamOf(graph, 'nope').size).toBe(0);
  });
});

describe("a step's backoff (retryDelaySeconds with stepBackoff)", () => {
  const stepDelay = (backoff: number, attempt: number, random: () => number) =>
    retryDelaySeconds(stepBackoff(backoff), attempt, { random });
  const low = () => 0;
  const high = () => 1;

  it.each([
    // backoff, attempt, ceiling
    [10, 1, 10],
    [10, 2, 20],
    [10, 3, 40],
    [4, 5, 64],
    [300, 2, 600],
  ])('backoff %d, attempt %d: between half of %d and all of it', (backoff, attempt, ceiling) => {
    expect(stepDelay(backoff, attempt, low)).toBe(ceiling / 2);
    expect(stepDelay(backoff, attempt, high)).toBe(ceiling);
  });

  it('applies equal jitter: half the ceiling plus a random share of the other half', () => {
    expect(stepDelay(10, 3, () => 0.5)).toBe(30);
    expect(stepDelay(10, 3, () => 0.25)).toBe(25);
  });

  it('caps the ceiling at 900 seconds', () => {
    expect(stepDelay(300, 3, low)).toBe(450);
    expect(stepDelay(300, 3, high)).toBe(900);
    expect(stepDelay(1, 20, high)).toBe(900);
    expect(stepDelay(1, 20, low)).toBe(450);
  });

  it('rounds to whole seconds and treats attempt 0 as the first', () => {
    expect(stepDelay(1, 1, low)).toBe(1); // 0.5 rounds up
    expect(stepDelay(3, 1, low)).toBe(2); // 1.5 rounds up
    expect(stepDelay(10, 0, low)).toBe(5);
    expect(stepDelay(0, 4, high)).toBe(0);
  });
});

describe('toStatsResource', () => {
  const stats = {
    workflowId: 'wf-1',
    name: 'Pipeline',
    executionCount: 3,
    avgDurationSeconds: 1.23456,
    successCount: 2,
    failureCount: 1,
    hasActiveExecutions: true,
  };

  it('shows the success rate as a percentage with 2 decimals', () => {
    expect(toStatsResource(stats)).toEqual({
      workflow_id: 'wf-1',
      name: 'Pipeline',
      window_days: 30,
      execution_count: 3,
      avg_duration_seconds: 1.235,
      success_count: 2,
      failure_count: 1,
      success_rate: 66.67,
      has_active_executions: true,
    });
    expect(toStatsResource({ ...stats, successCount: 1 }).success_rate).toBe(33.33);
    expect(toStatsResource({ ...stats, executionCount: 8, successCount: 1 }).success_rate).toBe(12.5);
    expect(toStatsResource({ ...stats, executionCount: 4, successCount: 4 }).success_rate).toBe(100);
  });

  it('shows a success rate of 0 when there are no executions', () => {
    const empty = { ...stats, executionCount: 0, successCount: 0, failureCount: 0, avgDurationSeconds: 0 };
    expect(toStatsResource(empty)).toMatchObject({
      execution_count: 0,
      success_rate: 0,
      avg_duration_seconds: 0,
    });
  });
});

describe('toRunResource', () => {
  const run: WorkflowRun = {
    id: 'run-1',
    tenantId: 't-1',
    workflowId: 'wf-1',
    workflowVersion: 2,
    status: 'running',
    input: { topic: 'AI' },
    metadata: null,
    error: null,
    stepCount: 3,
    inputTokens: 999,
    outputTokens: 888,
    costUsd: 7.5,
    version: 4,
    createdAt: new Date('2025-01-01T00:00:00.000Z'),
    startedAt: new Date('2025-01-01T00:00:01.000Z'),
    completedAt: null,
  };

  const stepRun = (overrides: Partial<StepRun> & Pick<StepRun, 'key' | 'position' | 'status'>): StepRun => ({
    agentId: 'agent-1',
    attempts: 1,
    input: null,
    output: null,
    error: null,
    model: 'gpt-4o',
    provider: null,
    modelUsed: null,
    inputTokens: null,
    outputTokens: null,
    costUsd: null,
    cached: false,
    queuedAt: null,
    startedAt: null,
    completedAt: null,
    ...overrides,
  });

  const stepRuns: StepRun[] = [
    stepRun({ key: 'c', position: 2, status: 'waiting' }),
    stepRun({
      key: 'a',
      position: 0,
      status: 'succeeded',
      inputTokens: 10,
      outputTokens: 20,
      costUsd: 0.1,
      modelUsed: 'gpt-4o-2024',
      startedAt: new Date('2025-01-01T00:00:01.000Z'),
      completedAt: new Date('2025-01-01T00:00:03.500Z'),
    }),
    stepRun({ key: 'b', position: 1, status: 'running', inputTokens: 5, outputTokens: null, costUsd: 0.2 }),
  ];

  it('sums the totals from the steps while the run is running', () => {
    const resource = toRunResource(run, stepRuns);
    expect(resource.usage).toEqual({ input_tokens: 15, output_tokens: 20, cost_usd: 0.3 });
    expect(resource.steps_finished).toBe(1);
    expect(resource.steps?.map((s) => s.key)).toEqual(['a', 'b', 'c']);
    expect(resource.steps?.[0]).toMatchObject({
      model_used: 'gpt-4o-2024',
      duration_ms: 2500,
      usage: { input_tokens: 10, output_tokens: 20, cost_usd: 0.1, cached: false },
    });
    expect(resource.steps?.[2]).toMatchObject({
      model_used: 'gpt-4o',
      duration_ms: null,
      usage: { input_tokens: 0, output_tokens: 0, cost_usd: 0, cached: false },
    });
  });

  it('sums the steps of a queued run too', () => {
    expect(toRunResource({ ...run, status: 'queued' }, stepRuns).usage.input_tokens).toBe(15);
  });

  it('uses the stored totals once the run is finished', () => {
    const finished = {
      ...run,
      status: 'succeeded' as const,
      completedAt: new Date('2025-01-01T00:00:11.000Z'),
    };
    const resource = toRunResource(finished, stepRuns);
    expect(resource.usage).toEqual({ input_tokens: 999, output_tokens: 888, cost_usd: 7.5 });
    expect(resource.duration_ms).toBe(10_000);
    expect(resource.completed_at).toBe('2025-01-01T00:00:11.000Z');
  });

  it('uses the stored totals and omits the steps without step runs', () => {
    const resource = toRunResource(run);
    expect(resource).toEqual({
      id: 'run-1',
      workflow_id: 'wf-1',
      workflow_version: 2,
      status: 'running',
      input: { topic: 'AI' },
      metadata: null,
      error: null,
      step_count: 3,
      usage: { input_tokens: 999, output_tokens: 888, cost_usd: 7.5 },
      created_at: '2025-01-01T00:00:00.000Z',
      started_at: '2025-01-01T00:00:01.000Z',
      completed_at: null,
      duration_ms: null,
    });
    expect('steps' in resource).toBe(false);
    expect('steps_finished' in resource).toBe(false);
  });

  it('counts skipped, failed and cancelled steps as finished', () => {
    const all = (
      ['waiting', 'queued', 'running', 'succeeded', 'failed', 'cancelled', 'skipped'] as const
    ).map((status, position) => stepRun({ key: `s${position}`, position, status }));
    expect(toRunResource(run, all).steps_finished).toBe(4);
  });
});
