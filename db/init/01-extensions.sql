-- Runs once, when the pgdata volume is first initialised, as the superuser POSTGRES_USER.
-- pg_trgm: trigram indexes for caption and tag search (ILIKE '%beach%', similarity).
CREATE EXTENSION IF NOT EXISTS pg_trgm;

-- Also in template1, so databases created later (Django's test database) inherit it.
\connect template1
CREATE EXTENSION IF NOT EXISTS pg_trgm;
