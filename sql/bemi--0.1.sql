-- bemi 0.1: the output plugin needs no SQL objects; the extension starts here so that later
-- versions (context functions, bemi.changes) are upgrades from a released version.
\echo Use "CREATE EXTENSION bemi" to load this file. \quit

CREATE FUNCTION bemi.version() RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT '0.1'::text $$;
COMMENT ON FUNCTION bemi.version() IS 'Version of the bemi extension''s SQL objects';
