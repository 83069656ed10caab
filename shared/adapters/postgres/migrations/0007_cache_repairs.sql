-- Up Migration

-- A note that a cache write could not reach L2 (Redis was unreachable) after the database
-- write it belonged to had committed. The container that failed keeps the write and puts it
-- again when Redis answers, but it may be frozen or gone by then: these notes outlive it.
-- Every container compares the newest note with the one L2 says it has applied, and moves
-- the cache generation on when there is a newer one (shared/adapters/cache/two-tier.ts).
-- Rows are rare (one per container per outage) and tiny; the retention job drops old ones.
CREATE TABLE cache_repairs (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  at timestamptz NOT NULL DEFAULT now()
);

-- Down Migration

DROP TABLE cache_repairs;
