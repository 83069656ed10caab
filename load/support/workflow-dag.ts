/**
 * The workflow the load tools run: two roots in parallel and a join reading both outputs,
 * each step on its own agent. The agents use the built-in `local` provider with the response
 * cache off, so every step is a model call and nothing is answered from a cache.
 * The definition is workflow-dag.json, which load/k6/workflow-execution.js reads too; this
 * module is shared by load/scenarios/workflow-execution.ts and `load:executions -- --workflows`.
 */
import dag from './workflow-dag.json' with { type: 'json' };

export const dagStepKeys: readonly string[] = dag.steps.map((step) => step.key);

/** Body of `POST /v1/agents` for one of the DAG's agents. */
export const dagAgentBody = (name: string) => ({ name, ...dag.agent });

/** Body of `POST /v1/workflows`: `research` and `critique` at once, then `summary` reading both; step i on agent i. */
export const dagWorkflowBody = (name: string, agentIds: readonly string[]) => {
  if (agentIds.length !== dag.steps.length) throw new Error(`the DAG needs ${dag.steps.length} agents`);
  return { name, steps: dag.steps.map((step, i) => ({ ...step, agent_id: agentIds[i]! })) };
};

/** Body of `POST /v1/workflows/{id}/executions` for run `n`. */
export const dagRunBody = (n: number) => ({ input: { topic: `topic ${n}` } });

interface RunBody {
  readonly status?: unknown;
  readonly steps?: ReadonlyArray<{
    readonly key?: unknown;
    readonly status?: unknown;
    readonly attempts?: unknown;
  }>;
}

/**
 * Whether a workflow execution body shows the DAG finished as it should: the run succeeded
 * and each of its steps succeeded on its first attempt. A body without `steps` (the 202 of a
 * start) is judged on its status alone.
 */
export const dagRunSucceeded = (json: unknown): boolean => {
  if (typeof json !== 'object' || json === null) return false;
  const run = json as RunBody;
  if (run.status !== 'succeeded') return false;
  if (run.steps === undefined) return true;
  return (
    run.steps.length === dagStepKeys.length &&
    dagStepKeys.every((key) =>
      run.steps!.some((step) => step.key === key && step.status === 'succeeded' && step.attempts === 1),
    )
  );
};

/** A workflow execution status that will not change again. */
export const isFinishedRunStatus = (status: unknown): boolean =>
  status === 'succeeded' || status === 'failed' || status === 'cancelled';
