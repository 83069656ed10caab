/** The scenarios load/run.ts knows. */
import { agentLifecycle } from './agent-lifecycle.ts';
import { spike } from './spike.ts';
import { stress } from './stress.ts';
import type { Scenario } from './types.ts';
import { workflowExecution } from './workflow-execution.ts';

export const scenarios: Readonly<Record<string, Scenario>> = {
  [agentLifecycle.name]: agentLifecycle,
  [spike.name]: spike,
  [stress.name]: stress,
  [workflowExecution.name]: workflowExecution,
};
