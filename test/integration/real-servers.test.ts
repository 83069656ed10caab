// Proves the real-server harness: genuine PostgreSQL 15 and Redis 7 processes, not in-process fakes.
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeRealServers } from '../support/real-servers.ts';

describeRealServers('harness', (servers) => {
  describe('postgres', () => {
    let client: pg.Client;

    beforeAll(async () => {
      client = new pg.Client({ connectionString: servers.postgresUrl });
      await client.connect();
    });

    afterAll(async () => {
      await client?.end();
    });

    it('is PostgreSQL 15 serving the switchyard database over loopback TCP', async () => {
      expect(servers.postgresUrl).toMatch(/^postgres:\/\/postgres@127\.0\.0\.1:\d+\/switchyard$/);
      const version = await client.query<{ server_version: string }>('SHOW server_version');
      expect(version.rows[0]?.server_version).toMatch(/^15\.\d+/);
      const db = await client.query<{ db: string; addr: string | null }>(
        'SELECT current_database() AS db, host(inet_server_addr()) AS addr',
      );
      expect(db.rows[0]).toEqual({ db: 'switchyard', addr: '127.0.0.1' });
    });

    it('creates a table, inserts and selects rows', async () => {
      await client.query('CREATE TABLE harness_items (id serial PRIMARY KEY, name text NOT NULL, doc jsonb)');
      await client.query('INSERT INTO harness_items (name, doc) VALUES ($1, $2), ($3, $4)', [
        'alpha',
        { n: 1 },
        'beta',
        { n: 2 },
      ]);
      const rows = await client.query<{ id: number; name: string; doc: { n: number } }>(
        'SELECT id, name, doc FROM harness_items ORDER BY id',
      );
      expect(rows.rows).toEqual([
        { id: 1, name: 'alpha', doc: { n: 1 } },
        { id: 2, name: 'beta', doc: { n: 2 } },
      ]);
    });
  });

  describe('redis', () => {
    let redis: Redis;

    beforeAll(async () => {
      redis = new Redis(servers.redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
      await redis.connect();
    });

    afterAll(async () => {
      await redis?.quit();
    });

    it('answers PING', async () => {
      expect(servers.redisUrl).toMatch(/^redis:\/\/127\.0\.0\.1:\d+$/);
      expect(await redis.ping()).toBe('PONG');
    });

    it('stores and reads back values with SET/GET', async () => {
      expect(await redis.set('harness:key', 'value-1', 'EX', 60)).toBe('OK');
      expect(await redis.get('harness:key')).toBe('value-1');
      expect(await redis.get('harness:missing')).toBeNull();
    });

    it('is Redis 7', async () => {
      const info = await redis.info('server');
      expect(info).toMatch(/^redis_version:7\.\d+\.\d+\r?$/m);
    });
  });
});
