import { jobQueue } from '#adapters/aws/job-queue.ts';
import { MemoryCache } from '#adapters/cache/memory.ts';
import { RedisCache } from '#adapters/cache/redis.ts';
import { TwoTierCache } from '#adapters/cache/two-tier.ts';
import { embeddingModelRefusal } from '#adapters/embeddings/registry.ts';
import { AgentRepository } from '#adapters/postgres/agents.ts';
import { CacheRepairRepository } from '#adapters/postgres/cache-repairs.ts';
import { database } from '#adapters/postgres/db.ts';
import { ExecutionRepository } from '#adapters/postgres/executions.ts';
import { KnowledgeBaseRepository } from '#adapters/postgres/knowledge-bases.ts';
import { KnowledgeDocumentRepository } from '#adapters/postgres/knowledge-documents.ts';
import { TenantRepository } from '#adapters/postgres/tenants.ts';
import { WorkflowRunRepository } from '#adapters/postgres/workflow-runs/index.ts';
import { WorkflowRepository } from '#adapters/postgres/workflows.ts';
import { config } from '#runtime/config.ts';
import { AgentService } from './agents.ts';
import { ExecutionService } from './executions.ts';
import { KnowledgeService } from './knowledge.ts';
import { WorkflowService } from './workflows.ts';

/**
 * The container's adapters, created on first use and kept for its lifetime:
 * nothing network-bound happens at import time.
 */
let l2: RedisCache | undefined;
let cache: TwoTierCache | undefined;
let agents: AgentService | undefined;
let executions: ExecutionService | undefined;
let workflows: WorkflowService | undefined;
let knowledge: KnowledgeService | undefined;

export const redisCache = (): RedisCache | undefined => {
  const { redisUrl } = config();
  if (redisUrl && !l2) l2 = new RedisCache(redisUrl);
  return l2;
};

export const sharedCache = (): TwoTierCache => {
  if (!cache) {
    const settings = config().cache;
    const repairs = () => new CacheRepairRepository(database());
    cache = new TwoTierCache(new MemoryCache(settings.l1TtlMs, settings.l1MaxEntries), redisCache(), {
      l2TtlSeconds: settings.l2TtlSeconds,
      negativeTtlSeconds: settings.negativeTtlSeconds,
      negativeL1TtlMs: Math.min(settings.l1TtlMs, settings.negativeTtlSeconds * 1000),
      // The database is reached only when a put fails, and for a check every repairCheckSeconds.
      ...(config().databaseUrl && {
        repairLog: { record: () => repairs().record(), latest: () => repairs().latest() },
      }),
      repairCheckMs: settings.repairCheckSeconds * 1000,
    });
  }
  return cache;
};

export const agentRepository = (): AgentRepository => new AgentRepository(database());
export const tenantRepository = (): TenantRepository => new TenantRepository(database());
export const executionRepository = (): ExecutionRepository => new ExecutionRepository(database());
export const workflowRepository = (): WorkflowRepository => new WorkflowRepository(database());
export const workflowRunRepository = (): WorkflowRunRepository => new WorkflowRunRepository(database());
export const knowledgeBaseRepository = (): KnowledgeBaseRepository => new KnowledgeBaseRepository(database());
export const knowledgeDocumentRepository = (): KnowledgeDocumentRepository =>
  new KnowledgeDocumentRepository(database());

export const agentService = (): AgentService => {
  agents ??= new AgentService(agentRepository(), sharedCache());
  return agents;
};

export const executionService = (): ExecutionService => {
  executions ??= new ExecutionService(executionRepository(), jobQueue(), (tenantId, id) =>
    agentService().get(tenantId, id),
  );
  return executions;
};

export const workflowService = (): WorkflowService => {
  workflows ??= new WorkflowService(workflowRepository(), workflowRunRepository(), jobQueue(), sharedCache());
  return workflows;
};

/** Knowledge bases and documents; `getBase` is how the search function reads a base (the same cache). */
export const knowledgeService = (): KnowledgeService => {
  knowledge ??= new KnowledgeService(
    knowledgeBaseRepository(),
    knowledgeDocumentRepository(),
    jobQueue(),
    sharedCache(),
    embeddingModelRefusal,
    async () => (await import('#adapters/uploads/store.ts')).uploadStore(),
  );
  return knowledge;
};

/** For the local runtime and tests: forget every adapter and service (after closing them elsewhere). */
export const resetContainer = async (): Promise<void> => {
  await l2?.close();
  l2 = undefined;
  cache = undefined;
  agents = undefined;
  executions = undefined;
  workflows = undefined;
  knowledge = undefined;
  for (const reset of resetHooks) reset();
};

const resetHooks: (() => void)[] = [];

/** Lets modules that keep their own container-wide objects forget them with the rest. */
export const onContainerReset = (reset: () => void): void => {
  resetHooks.push(reset);
};
