import { fileURLToPath } from 'node:url';
import { runner } from 'node-pg-migrate';

/** SQL migrations live beside this file; node-pg-migrate runs them on PGlite and PostgreSQL alike. */
export const migrationsDir = fileURLToPath(new URL('./migrations', import.meta.url));

export const migrate = async (databaseUrl: string, dir = migrationsDir): Promise<string[]> => {
  const applied = await runner({
    databaseUrl,
    dir,
    direction: 'up',
    count: Number.POSITIVE_INFINITY,
    migrationsTable: 'schema_migrations',
    singleTransaction: true,
    log: () => {},
  });
  return applied.map((m) => m.name);
};
