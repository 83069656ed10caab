/** The scenarios load/run.ts knows. `workflow-execution` waits for workflows to exist. */
import { agentLifecycle } from './agent-lifecycle.ts';
import { spike } from './spike.ts';
import { stress } from './stress.ts';
import type { Scenario } from './types.ts';

export const scenarios: Readonly<Record<string, Scenario>> = {
  [agentLifecycle.name]: agentLifecycle,
  [spike.name]: spike,
  [stress.name]: stress,
};
