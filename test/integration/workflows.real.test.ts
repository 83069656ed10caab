import { realServersEnv, useTestApi } from '../support/api.ts';
import { describeRealServers } from '../support/real-servers.ts';
import { workflowsContract } from '../support/workflows-contract.ts';

describeRealServers('workflows on PostgreSQL 15 and Redis 7', (servers) => {
  workflowsContract(
    useTestApi(realServersEnv(servers, { SWITCHYARD_WEBHOOKS_ALLOW_PRIVATE: 'true' }), { workers: true }),
  );
});
