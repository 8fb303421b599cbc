
-- Who may do what (docs/security.md). bemi.changes is an audit trail: only the extension's
-- owner (a superuser) writes it, through the worker; reading is granted explicitly, to role
-- bemi_reader. What is captured is configured by the owner only. Each part of this script
-- grants on its own objects: this file covers 10-context.sql, 20-changes.sql and
-- 30-capture-config.sql.

-- The role is cluster-wide and outlives the extension: create it only if it is missing, and
-- take a concurrent CREATE EXTENSION in another database creating it first as success.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) 'bemi_reader') THEN
        BEGIN
            CREATE ROLE bemi_reader NOLOGIN;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN
            NULL;  -- created meanwhile by another session
        END;
    END IF;
END
$$;

-- Whoever created the role (50-status.sql creates it first on a fresh install), say what it is.
COMMENT ON ROLE bemi_reader IS 'Reads bemi''s audit trail (bemi.changes, bemi.capture_history, bemi.status) and its exclusions';

-- Tables: nothing for PUBLIC (tables grant nothing to PUBLIC by default; this makes it
-- explicit and undoes a grant a previous install may have left in a dump).
REVOKE ALL ON TABLE bemi.changes, bemi.excluded_tables, bemi.replica_identity_schemas FROM PUBLIC;
REVOKE ALL ON SEQUENCE bemi.changes_id_seq FROM PUBLIC;
GRANT SELECT ON TABLE bemi.changes, bemi.excluded_tables TO bemi_reader;

GRANT USAGE ON SCHEMA bemi TO PUBLIC;

-- The context API is for every role (functions are executable by PUBLIC by default; explicit).
GRANT EXECUTE ON FUNCTION
    bemi.set_context(pg_catalog.jsonb, pg_catalog.bool),
    bemi.get_context(),
    bemi.clear_context(pg_catalog.bool),
    public.bemi_set_context(pg_catalog.jsonb, pg_catalog.bool),
    public.bemi_get_context(),
    public.bemi_clear_context(pg_catalog.bool)
    TO PUBLIC;

-- Configuration and trigger functions: the owner only. (Trigger functions cannot be called
-- directly anyway, and their triggers fire whoever changes the table or runs the DDL.)
REVOKE EXECUTE ON FUNCTION
    bemi.set_replica_identity_full(pg_catalog.regclass[]),
    bemi.set_replica_identity_full(pg_catalog.name, pg_catalog.bool),
    bemi.stop_replica_identity_full(pg_catalog.name),
    bemi._replica_identity_full_on_ddl(),
    bemi._replica_identity_schemas_changed(),
    bemi._exclusions_changed()
    FROM PUBLIC;
