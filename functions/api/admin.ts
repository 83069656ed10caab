import { createApiHandler } from '../../shared/http/api-handler.ts';
import { tenantRepository } from '../../shared/services/container.ts';

/** Operator endpoints (`SWITCHYARD_ADMIN_KEY`); never cached, never tenant-scoped. */
export const handler = createApiHandler({
  'GET /v1/admin/tenants': async () => {
    const tenants = await tenantRepository().overview();
    return {
      status: 200,
      body: {
        data: tenants.map((t) => ({
          id: t.id,
          name: t.name,
          created_at: t.createdAt.toISOString(),
          active_keys: t.activeKeys,
          agents: t.agents,
        })),
      },
      cacheControl: 'no-store',
    };
  },
});
