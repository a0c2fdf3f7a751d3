-- Runs once, when the pgdata volume is first initialised, as the superuser POSTGRES_USER.
-- pg_trgm: trigram indexes for caption and tag search (ILIKE '%beach%', similarity).
-- vector (pgvector): the embeddings' HNSW index (the migrations also create it, as superuser).
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE EXTENSION IF NOT EXISTS vector;

-- Also in template1, so databases created later (Django's test database) inherit them.
\connect template1
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE EXTENSION IF NOT EXISTS vector;
