/**
 * `npm run keys -- create <tenant> [--label <text>] | list [<tenant>] | revoke <key-id>`
 *
 * Manages tenants and API keys in DATABASE_URL, or in the local data folder
 * (SWITCHYARD_DATA_DIR, default .switchyard) while the local server is stopped.
 */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';

const usage = `usage:
  npm run keys -- create <tenant> [--label <text>]   create a key (and the tenant if new); prints the key once
  npm run keys -- list [<tenant>]                    list keys (prefixes only)
  npm run keys -- revoke <key-id>                    revoke a key (again: rewrites its cache tombstone)

exit codes: 0 done, 1 failed or no such key, 2 usage,
            3 revoked in the database but the cache (REDIS_URL) could not be updated: rerun once it is reachable`;

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: { label: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
});
const [command, argument] = positionals;
if (values.help || !command || !['create', 'list', 'revoke'].includes(command)) {
  console.log(usage);
  process.exit(values.help ? 0 : 2);
}
if ((command === 'create' || command === 'revoke') && !argument) {
  console.error(usage);
  process.exit(2);
}

let stopEmbedded: (() => Promise<void>) | undefined;
if (!process.env['DATABASE_URL']) {
  const { startEmbeddedPostgres } = await import('./local-runtime/embedded-postgres.ts');
  const embedded = await startEmbeddedPostgres(
    resolve(process.env['SWITCHYARD_DATA_DIR'] ?? '.switchyard'),
  ).catch((error: Error) => {
    console.error(error.message);
    process.exit(1);
  });
  process.env['DATABASE_URL'] = embedded.url;
  process.env['SWITCHYARD_EMBEDDED_DB'] = '1';
  stopEmbedded = () => embedded.stop();
}
process.env['POWERTOOLS_LOG_LEVEL'] ??= 'ERROR';
process.env['POWERTOOLS_METRICS_DISABLED'] ??= 'true';

const { migrate } = await import('#adapters/postgres/migrate.ts');
const { closeDatabase } = await import('#adapters/postgres/db.ts');
const { resetContainer } = await import('#services/container.ts');
const { createApiKey, listApiKeys, revokeApiKey, RevocationNotEffective } = await import(
  '#services/api-keys.ts'
);
const { revocationBoundSeconds } = await import('#services/auth.ts');

let exitCode = 0;
try {
  await migrate(process.env['DATABASE_URL']!);
  if (command === 'create') {
    const created = await createApiKey(argument!, values.label ?? null);
    console.log(`tenant  ${created.tenant}\nkey id  ${created.id}\nkey     ${created.key}\n`);
    console.log('The key is shown this once; only its hash is stored.');
  } else if (command === 'list') {
    const keys = await listApiKeys(argument);
    if (keys.length === 0) console.log('no keys');
    for (const k of keys) {
      const state = k.revokedAt ? `revoked ${k.revokedAt.toISOString()}` : 'active';
      console.log(`${k.id}  ${k.tenant.padEnd(16)}  ${k.prefix}…  ${state.padEnd(32)}  ${k.label ?? ''}`);
    }
  } else {
    const revoked = await revokeApiKey(argument!).catch((error: Error) => {
      // A malformed id is the caller's mistake, not a crash.
      if (/invalid input syntax for type uuid/.test(error.message)) return 'not-found' as const;
      throw error;
    });
    if (revoked === 'not-found') {
      console.log(`no key with id ${argument}`);
      exitCode = 1;
    } else {
      console.log(
        revoked === 'revoked'
          ? `revoked ${argument}`
          : `${argument} was already revoked; cache tombstone rewritten`,
      );
      if (!process.env['REDIS_URL'] && !stopEmbedded) {
        console.error(
          `note: REDIS_URL is not set, so no shared cache was updated: servers caching keys in Redis refuse this key within ${revocationBoundSeconds()} s`,
        );
      }
    }
  }
} catch (error) {
  console.error(error instanceof Error ? error.message : error);
  exitCode = error instanceof RevocationNotEffective ? 3 : 1;
} finally {
  await closeDatabase();
  await resetContainer();
  await stopEmbedded?.();
}
process.exit(exitCode);
