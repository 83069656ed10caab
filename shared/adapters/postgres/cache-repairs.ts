import type { CacheRepairLog } from '../cache/two-tier.ts';
import type { Queryable } from './db.ts';

/** Notes of cache writes that could not reach L2, kept in PostgreSQL (migration 0007). */
export class CacheRepairRepository implements CacheRepairLog {
  constructor(private readonly db: Queryable) {}

  async record(): Promise<void> {
    await this.db.query('INSERT INTO cache_repairs DEFAULT VALUES');
  }

  /** The newest note's id, 0 when there is none: a read of the primary key's last entry. */
  async latest(): Promise<number> {
    const rows = await this.db.query<{ latest: string }>(
      'SELECT COALESCE(max(id), 0)::text AS latest FROM cache_repairs',
    );
    return Number(rows[0]?.latest ?? 0);
  }
}
