
-- Every database bemi's shared memory knows about, for the operator: bemi.status shows only
-- the current database's entry, and a database being dropped or copied (a pause,
-- docs/ingestion.md "Dropping and copying a captured database") has no session to look from.
CREATE FUNCTION bemi._worker_entries(OUT database_oid pg_catalog.oid, OUT state pg_catalog.text,
                                     OUT worker_pid pg_catalog.int4, OUT wanted pg_catalog.bool,
                                     OUT pauses pg_catalog.int4)
    RETURNS SETOF record
    LANGUAGE c VOLATILE STRICT PARALLEL RESTRICTED
    AS 'MODULE_PATHNAME', 'bemi_worker_entries';
COMMENT ON FUNCTION bemi._worker_entries() IS
    'Superuser only: every database in bemi''s shared memory: its worker''s state and pid, whether capture is wanted, pauses held by DROP/CREATE DATABASE';
REVOKE EXECUTE ON FUNCTION bemi._worker_entries() FROM PUBLIC;
