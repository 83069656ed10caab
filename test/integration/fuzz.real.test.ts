import { realServersEnv, useTestApi } from '../support/api.ts';
import { fuzzEveryRoute } from '../support/fuzz.ts';
import { describeRealServers } from '../support/real-servers.ts';

describeRealServers('fuzz of every route on PostgreSQL 15 and Redis 7', (servers) => {
  fuzzEveryRoute(useTestApi(realServersEnv(servers)), { seed: 20_260_302, concurrency: 6 });
});
