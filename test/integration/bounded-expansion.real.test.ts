import { realServersEnv, useTestApi } from '../support/api.ts';
import { boundedExpansionContract } from '../support/bounded-expansion-contract.ts';
import { describeRealServers } from '../support/real-servers.ts';

describeRealServers('bounded template expansion on PostgreSQL 15 and Redis 7', (servers) => {
  boundedExpansionContract(useTestApi(realServersEnv(servers), { workers: true }));
});
