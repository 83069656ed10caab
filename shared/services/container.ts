import { MemoryCache } from '../adapters/cache/memory.ts';
import { RedisCache } from '../adapters/cache/redis.ts';
import { TwoTierCache } from '../adapters/cache/two-tier.ts';
import { AgentRepository } from '../adapters/postgres/agents.ts';
import { database } from '../adapters/postgres/db.ts';
import { ExecutionRepository } from '../adapters/postgres/executions.ts';
import { TenantRepository } from '../adapters/postgres/tenants.ts';
import { config } from '../runtime/config.ts';

/**
 * The container's adapters, created on first use and kept for its lifetime:
 * nothing network-bound happens at import time.
 */
let l2: RedisCache | undefined;
let cache: TwoTierCache | undefined;

export const redisCache = (): RedisCache | undefined => {
  const { redisUrl } = config();
  if (redisUrl && !l2) l2 = new RedisCache(redisUrl);
  return l2;
};

export const sharedCache = (): TwoTierCache => {
  if (!cache) {
    const settings = config().cache;
    cache = new TwoTierCache(new MemoryCache(settings.l1TtlMs, settings.l1MaxEntries), redisCache(), {
      l2TtlSeconds: settings.l2TtlSeconds,
      negativeTtlSeconds: settings.negativeTtlSeconds,
      negativeL1TtlMs: Math.min(settings.l1TtlMs, settings.negativeTtlSeconds * 1000),
    });
  }
  return cache;
};

export const agentRepository = (): AgentRepository => new AgentRepository(database());
export const tenantRepository = (): TenantRepository => new TenantRepository(database());
export const executionRepository = (): ExecutionRepository => new ExecutionRepository(database());

/** For the local runtime and tests: forget every adapter (after closing them elsewhere). */
export const resetContainer = async (): Promise<void> => {
  await l2?.close();
  l2 = undefined;
  cache = undefined;
};
