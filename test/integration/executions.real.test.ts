import { realServersEnv, useTestApi } from '../support/api.ts';
import { executionsContract } from '../support/executions-contract.ts';
import { describeRealServers } from '../support/real-servers.ts';

describeRealServers('executions on PostgreSQL 15 and Redis 7', (servers) => {
  executionsContract(
    useTestApi(realServersEnv(servers, { SWITCHYARD_WEBHOOKS_ALLOW_PRIVATE: 'true' }), { workers: true }),
  );
});
