-- bemi 0.2 -> 0.3: time travel, record history, diffs and revert (docs/time-travel.md).
-- Assembled by the Makefile from sql/0.3/*.sql. Every name is schema-qualified: the script
-- must not depend on the caller's search_path.
\echo Use "CREATE EXTENSION bemi" or "ALTER EXTENSION bemi UPDATE" to load this file. \quit

CREATE OR REPLACE FUNCTION bemi.version() RETURNS pg_catalog.text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT '0.3'::pg_catalog.text $$;
