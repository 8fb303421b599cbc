-- bemi 0.3 -> 0.4: ingestion engine v2 (docs/ingestion.md): the trail in range partitions with
-- retention. Assembled by the Makefile from sql/0.4/*.sql. Every name is schema-qualified: the
-- script must not depend on the caller's search_path.
\echo Use "CREATE EXTENSION bemi" or "ALTER EXTENSION bemi UPDATE" to load this file. \quit

CREATE OR REPLACE FUNCTION bemi.version() RETURNS pg_catalog.text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT '0.4'::pg_catalog.text $$;
