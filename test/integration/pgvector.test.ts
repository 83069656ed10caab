import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useEmbeddedPostgres } from '../support/embedded-postgres.ts';
import { describeRealServers, pgvectorInstalled, realServersRequired } from '../support/real-servers.ts';

// CI builds pgvector (.ci/run) and forbids skips, so there the real-server check always runs.
// Elsewhere a PostgreSQL without it skips, and says how to install it.
const skipReal = !pgvectorInstalled() && !realServersRequired();
if (skipReal) {
  console.warn(
    'pgvector is not installed for the PostgreSQL the tests start: vector tests skipped. ' +
      'Build it from .ci/vendor/pgvector-0.8.1.tar.gz as .ci/vendor/README.md says (about 20 s).',
  );
}

/**
 * The extension the knowledge service stands on: a cosine search through an HNSW index, on the
 * database `url` names (read once its server runs). `version` is the one each side ships.
 */
const vectorChecks = (url: () => string, version: string, skip = false) => {
  let client: pg.Client;
  beforeAll(async () => {
    if (skip) return;
    client = new pg.Client({ connectionString: url() });
    await client.connect();
  });
  afterAll(async () => {
    await client?.end();
  });

  it.skipIf(skip)(`is version ${version} and answers a cosine search through an HNSW index`, async () => {
    await client.query('CREATE EXTENSION IF NOT EXISTS vector');
    const { rows: installed } = await client.query<{ extversion: string }>(
      "SELECT extversion FROM pg_extension WHERE extname = 'vector'",
    );
    expect(installed[0]?.extversion).toBe(version);

    await client.query('CREATE TABLE vector_probe (id int PRIMARY KEY, embedding vector(3) NOT NULL)');
    // 2,000 points in the positive octant, and one almost on the x axis.
    await client.query(
      `INSERT INTO vector_probe
       SELECT i, ARRAY[0.2 + (i % 7) / 10.0, 0.3 + (i % 11) / 10.0, 0.4 + (i % 13) / 10.0]::vector
         FROM generate_series(1, 2000) AS i`,
    );
    await client.query("INSERT INTO vector_probe VALUES (0, '[0.99, 0.01, 0.01]')");
    await client.query(
      'CREATE INDEX vector_probe_hnsw ON vector_probe USING hnsw (embedding vector_cosine_ops)',
    );
    await client.query('ANALYZE vector_probe');

    const nearest = "SELECT id FROM vector_probe ORDER BY embedding <=> '[1, 0, 0]' LIMIT 3";
    const { rows: plan } = await client.query<{ 'QUERY PLAN': string }>(`EXPLAIN ${nearest}`);
    expect(plan.map((row) => row['QUERY PLAN']).join('\n')).toContain('Index Scan using vector_probe_hnsw');
    const { rows } = await client.query<{ id: number }>(nearest);
    expect(rows[0]?.id).toBe(0);
    expect(rows).toHaveLength(3);
  });
};

describe('pgvector on the embedded PostgreSQL of npm start (PGlite)', () => {
  const url = useEmbeddedPostgres();
  vectorChecks(url, '0.8.7');
});

describeRealServers('pgvector on PostgreSQL 15', (servers) => {
  vectorChecks(() => servers.postgresUrl, '0.8.1', skipReal);
});
