-- bemi 0.1 -> 0.2: context, automatic capture, bemi.changes and its ingestion worker.
-- Assembled by the Makefile from sql/0.2/*.sql. Every name is schema-qualified: the script
-- must not depend on the caller's search_path.
\echo Use "CREATE EXTENSION bemi" or "ALTER EXTENSION bemi UPDATE" to load this file. \quit

DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_namespace WHERE nspname = 'public') THEN
        RAISE EXCEPTION 'bemi needs the schema "public" for its context functions'
            USING HINT = 'Create it (CREATE SCHEMA public) and run CREATE EXTENSION bemi again.';
    END IF;
END
$$;

CREATE OR REPLACE FUNCTION bemi.version() RETURNS pg_catalog.text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT '0.2'::pg_catalog.text $$;
