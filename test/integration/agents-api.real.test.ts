import { agentsApiContract } from '../support/agents-contract.ts';
import { realServersEnv, useTestApi } from '../support/api.ts';
import { describeRealServers } from '../support/real-servers.ts';

describeRealServers('agents API on PostgreSQL 15 and Redis 7', (servers) => {
  agentsApiContract(useTestApi(realServersEnv(servers)));
});
