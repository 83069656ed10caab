import { activityRoutes } from './activity.ts';
import { adminRoutes } from './admin.ts';
import { agentRoutes } from './agents.ts';
import { executionRoutes } from './executions.ts';
import { knowledgeRoutes } from './knowledge.ts';
import { knowledgeSearchRoutes } from './knowledge-search.ts';
import { healthRoutes, openApiRoutes } from './public.ts';
import { workflowExecutionRoutes } from './workflow-executions.ts';
import { workflowRoutes } from './workflows.ts';

/**
 * Every route of the API, each declared once in the file of its function: the manifest's route
 * list, what the CDK, the local gateway and the fallback's 405s read, and the OpenAPI document's paths.
 */
export const routes = /* @__PURE__ */ (() =>
  [
    ...healthRoutes,
    ...openApiRoutes,
    ...agentRoutes,
    ...executionRoutes,
    ...workflowRoutes,
    ...workflowExecutionRoutes,
    ...knowledgeRoutes,
    ...knowledgeSearchRoutes,
    ...activityRoutes,
    ...adminRoutes,
  ] as const)();
