import { idempotencyContract } from '../support/idempotency-contract.ts';
import { describeRealServers } from '../support/real-servers.ts';

describeRealServers('Idempotency-Key on PostgreSQL 15 and Redis 7', (servers) => {
  idempotencyContract(() => ({ DATABASE_URL: servers.postgresUrl, REDIS_URL: servers.redisUrl }));
});
