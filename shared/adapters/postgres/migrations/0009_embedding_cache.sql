-- Up Migration

-- Vectors already paid for, so that re-ingesting an unchanged chunk (or the same text in
-- another document) makes no provider call: keyed by the tenant (a hit must not tell one
-- tenant what another has embedded), the embedding model and the SHA-256 of the text. The
-- vector is a plain real[]: the cache is read by key, never searched, so it needs no pgvector.
-- Rows never change once written; created_at is indexed so old ones can be dropped by age.
CREATE TABLE embedding_cache (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  provider text NOT NULL,
  model text NOT NULL,
  dimensions integer NOT NULL CHECK (dimensions BETWEEN 1 AND 16000),
  text_sha256 bytea NOT NULL CHECK (length(text_sha256) = 32),
  embedding real[] NOT NULL CHECK (cardinality(embedding) = dimensions),
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, provider, model, dimensions, text_sha256)
);

CREATE INDEX embedding_cache_created ON embedding_cache (created_at);

-- Down Migration

DROP TABLE embedding_cache;
