-- Up Migration

-- Knowledge bases, their documents and the documents' chunks (issue: knowledge).
--
-- Vectors are stored as real[] and searched through pgvector expression indexes, one partial
-- HNSW index per supported dimension, made only where the server has pgvector (Aurora and
-- PGlite do; a developer's PostgreSQL may not). Without it the tables, keyword search and
-- everything else still work; semantic search says the extension is missing.

CREATE TABLE knowledge_bases (
  id                    uuid PRIMARY KEY,
  tenant_id             uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  name                  text NOT NULL,
  description           text,
  -- Fixed at creation: every chunk of the base is embedded by this model.
  embedding_provider    text NOT NULL,
  embedding_model       text NOT NULL,
  embedding_dimensions  integer NOT NULL
    CHECK (embedding_dimensions IN (256, 384, 512, 768, 1024, 1536, 3072)),
  -- A text search configuration name (pg_ts_config), cast to regconfig where it is used.
  text_search_language  text NOT NULL DEFAULT 'english',
  chunk_size_tokens     integer NOT NULL CHECK (chunk_size_tokens BETWEEN 50 AND 4000),
  chunk_overlap_tokens  integer NOT NULL CHECK (chunk_overlap_tokens >= 0 AND chunk_overlap_tokens < chunk_size_tokens),
  -- Bumped by every change of the base or of what search sees in it (a document made
  -- searchable, deleted, retagged, expired): ETags and the search cache key read it.
  version               integer NOT NULL DEFAULT 1,
  created_at            timestamptz NOT NULL,
  updated_at            timestamptz NOT NULL,
  -- Soft delete answers at once; the retention job removes the rows (and their chunks) later.
  deleted_at            timestamptz
);
CREATE INDEX knowledge_bases_tenant_live_page ON knowledge_bases (tenant_id, created_at DESC, id DESC)
  WHERE deleted_at IS NULL;
CREATE INDEX knowledge_bases_deleted ON knowledge_bases (deleted_at) WHERE deleted_at IS NOT NULL;

CREATE TABLE knowledge_documents (
  id                     uuid PRIMARY KEY,
  tenant_id              uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  knowledge_base_id      uuid NOT NULL REFERENCES knowledge_bases (id) ON DELETE CASCADE,
  -- The client's own key: posting it again replaces the document (a new generation).
  external_id            text,
  title                  text NOT NULL,
  description            text,
  content_type           text NOT NULL,
  tags                   text[] NOT NULL DEFAULT '{}',
  metadata               jsonb NOT NULL DEFAULT '{}'::jsonb,
  expires_at             timestamptz,
  -- processing → ready | failed for the latest generation; archived hides it from search.
  status                 text NOT NULL CHECK (status IN ('processing', 'ready', 'failed', 'archived')),
  failure_reason         text,
  -- Each (re-)ingestion writes its chunks under a new generation; search shows only the
  -- chunks of searchable_generation, switched in one statement once all of them are written,
  -- so a document is never half-searchable and a replacement never mixes two versions.
  generation             integer NOT NULL DEFAULT 1,
  searchable_generation  integer,
  chunk_count            integer NOT NULL DEFAULT 0,
  chunks_total           integer,
  chunks_done            integer NOT NULL DEFAULT 0,
  -- The source: inline bytes, or a key in the upload store; its size and SHA-256.
  source                 bytea,
  source_key             text,
  source_bytes           integer,
  source_sha256          bytea,
  -- The ingestion's lease: a worker that dies leaves it to expire, and the sweeper re-sends.
  claimed_until          timestamptz,
  attempts               integer NOT NULL DEFAULT 0,
  version                integer NOT NULL DEFAULT 1,
  created_at             timestamptz NOT NULL,
  updated_at             timestamptz NOT NULL,
  CHECK (searchable_generation IS NULL OR searchable_generation <= generation)
);
CREATE UNIQUE INDEX knowledge_documents_external ON knowledge_documents (knowledge_base_id, external_id)
  WHERE external_id IS NOT NULL;
CREATE INDEX knowledge_documents_base_page ON knowledge_documents (knowledge_base_id, created_at DESC, id DESC);
CREATE INDEX knowledge_documents_tags ON knowledge_documents USING gin (tags);
CREATE INDEX knowledge_documents_metadata ON knowledge_documents USING gin (metadata jsonb_path_ops);
CREATE INDEX knowledge_documents_expiry ON knowledge_documents (expires_at) WHERE expires_at IS NOT NULL;
-- What the sweeper looks for: ingestions in flight.
CREATE INDEX knowledge_documents_processing ON knowledge_documents (claimed_until)
  WHERE status = 'processing';

CREATE TABLE knowledge_chunks (
  id                 uuid PRIMARY KEY,
  tenant_id          uuid NOT NULL,
  knowledge_base_id  uuid NOT NULL,
  document_id        uuid NOT NULL REFERENCES knowledge_documents (id) ON DELETE CASCADE,
  generation         integer NOT NULL,
  ordinal            integer NOT NULL,
  -- Where the chunk sits in the document ("Guide > Install"), searched with the text.
  heading            text,
  text               text NOT NULL,
  token_count        integer NOT NULL,
  -- The base's language, title and heading weighted above the text; written with the row.
  search_vector      tsvector NOT NULL,
  dimensions         integer NOT NULL,
  embedding          real[] NOT NULL CHECK (cardinality(embedding) = dimensions),
  UNIQUE (document_id, generation, ordinal)
);
CREATE INDEX knowledge_chunks_base ON knowledge_chunks (knowledge_base_id);
CREATE INDEX knowledge_chunks_search ON knowledge_chunks USING gin (search_vector);

DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'vector') THEN
    CREATE EXTENSION IF NOT EXISTS vector;
    -- One partial index per dimension a base may have; 3072 (beyond HNSW's 2,000 for
    -- vector) as halfvec. A search casts the same way, so the planner matches the index.
    CREATE INDEX knowledge_chunks_hnsw_256 ON knowledge_chunks
      USING hnsw ((embedding::vector(256)) vector_cosine_ops) WHERE dimensions = 256;
    CREATE INDEX knowledge_chunks_hnsw_384 ON knowledge_chunks
      USING hnsw ((embedding::vector(384)) vector_cosine_ops) WHERE dimensions = 384;
    CREATE INDEX knowledge_chunks_hnsw_512 ON knowledge_chunks
      USING hnsw ((embedding::vector(512)) vector_cosine_ops) WHERE dimensions = 512;
    CREATE INDEX knowledge_chunks_hnsw_768 ON knowledge_chunks
      USING hnsw ((embedding::vector(768)) vector_cosine_ops) WHERE dimensions = 768;
    CREATE INDEX knowledge_chunks_hnsw_1024 ON knowledge_chunks
      USING hnsw ((embedding::vector(1024)) vector_cosine_ops) WHERE dimensions = 1024;
    CREATE INDEX knowledge_chunks_hnsw_1536 ON knowledge_chunks
      USING hnsw ((embedding::vector(1536)) vector_cosine_ops) WHERE dimensions = 1536;
    CREATE INDEX knowledge_chunks_hnsw_3072 ON knowledge_chunks
      USING hnsw ((embedding::halfvec(3072)) halfvec_cosine_ops) WHERE dimensions = 3072;
  END IF;
END
$$;

-- Down Migration

DROP TABLE knowledge_chunks;
DROP TABLE knowledge_documents;
DROP TABLE knowledge_bases;
