
-- Who may do what with the objects of 0.3 (docs/time-travel.md, "Reading the past: who may";
-- docs/security.md). Runs last: every part of 0.3 exists by now. Parts may grant on their own
-- objects too; this file says it for all of them in one place, and sql/time_travel_access.sql
-- lists what PUBLIC and bemi_reader end up with.
--
--   - Public time-travel functions: EXECUTE to PUBLIC. They are SECURITY INVOKER and check the
--     caller themselves: reading a table's past asks bemi._past_permit(rel) (SELECT on the whole
--     table, no row-level security applying to the caller); revert and restore write through
--     the caller's own privileges.
--   - bemi._past_permit: PUBLIC (the wrappers run as the caller and call it).
--   - bemi._check_past_permit: nobody but the owner; it is called from SECURITY DEFINER readers,
--     which run as the owner.
--   - Internal readers of the trail (SECURITY DEFINER, bemi._...): PUBLIC only for those the
--     SECURITY INVOKER wrappers must call, each of which checks a permit first; every other
--     internal function: not PUBLIC.
--   - bemi.backfill, bemi.backfill_all: superuser (the owner) only.
--   - Tables: nothing for PUBLIC. The trail's description (lineage, baselines, watermarks) and
--     the view bemi.transactions: SELECT to bemi_reader, like bemi.changes. bemi.baseline_rows
--     holds copies of every baselined table's rows: no role reads it directly, only through a
--     permit.

-- Tables and views.
REVOKE ALL ON TABLE bemi.watermarks, bemi.table_lineage, bemi.baselines, bemi.baseline_rows,
                    bemi.transactions
    FROM PUBLIC;
GRANT SELECT ON TABLE bemi.watermarks, bemi.table_lineage, bemi.baselines, bemi.transactions
    TO bemi_reader;

-- The permit.
GRANT EXECUTE ON FUNCTION bemi._past_permit(pg_catalog.regclass) TO PUBLIC;
REVOKE EXECUTE ON FUNCTION bemi._check_past_permit(pg_catalog.int8, pg_catalog.regclass) FROM PUBLIC;

-- Public functions: every role (they check access themselves).
GRANT EXECUTE ON FUNCTION
    bemi.as_of(pg_catalog.anyelement, pg_catalog.timestamptz),
    bemi.as_of(pg_catalog.anyelement, pg_catalog.pg_lsn),
    bemi.as_of(pg_catalog.anyelement, pg_catalog.text),
    bemi.as_of_jsonb(pg_catalog.regclass, pg_catalog.timestamptz),
    bemi.as_of_jsonb(pg_catalog.name, pg_catalog.name, pg_catalog.timestamptz),
    bemi.versions(pg_catalog.anyelement, pg_catalog.timestamptz, pg_catalog.timestamptz),
    bemi.history(pg_catalog.regclass, pg_catalog.text),
    bemi.history(pg_catalog.anyelement),
    bemi.diff(pg_catalog.jsonb, pg_catalog.jsonb),
    bemi.diff(bemi.changes),
    bemi.revert(pg_catalog.int8[], pg_catalog.jsonb, pg_catalog.timestamptz, pg_catalog.timestamptz,
                pg_catalog.bool, pg_catalog.bool),
    bemi.restore(pg_catalog.anyelement, pg_catalog.timestamptz),
    bemi.restore_tables(pg_catalog.regclass[], pg_catalog.timestamptz, pg_catalog.bool)
    TO PUBLIC;

-- Baselines copy every row of a table: superuser (the owner) only.
REVOKE EXECUTE ON FUNCTION bemi.backfill(pg_catalog.regclass), bemi.backfill_all() FROM PUBLIC;

-- The readers the SECURITY INVOKER wrappers call as the caller: each checks the caller's permit
-- for its table first.
GRANT EXECUTE ON FUNCTION
    bemi._as_of_rows(pg_catalog.int8, pg_catalog.regclass, pg_catalog.timestamptz, pg_catalog.pg_lsn),
    bemi._as_of_named(pg_catalog.int8, pg_catalog.name, pg_catalog.name, pg_catalog.timestamptz),
    bemi._versions_rows(pg_catalog.int8, pg_catalog.regclass, pg_catalog.timestamptz, pg_catalog.timestamptz),
    bemi._history_rows(pg_catalog.int8, pg_catalog.regclass, pg_catalog.text),
    bemi._revert_trail(pg_catalog.int8, pg_catalog.regclass, pg_catalog.int8[], pg_catalog.jsonb,
                       pg_catalog.timestamptz, pg_catalog.timestamptz)
    TO PUBLIC;

-- The rule for internal SECURITY DEFINER functions, whatever their names: one that PUBLIC may
-- execute must check a permit before it reads anything (its body calls
-- bemi._check_past_permit). Every other one is revoked from PUBLIC here: a SECURITY DEFINER
-- function of bemi reads the whole trail with the owner's rights. (Trigger and event-trigger
-- functions need no EXECUTE privilege to fire.) The reviewed exceptions tell names, never rows:
-- bemi._tt_named (40-as-of.sql), which bemi.as_of_jsonb(schema, table, instant) calls to learn
-- which table had the name then, so that it can ask the caller's permit for that table; and
-- bemi._revert_tables
-- (60-revert.sql), which bemi.revert (SECURITY INVOKER) calls before it can know which tables to
-- ask permits for. It returns the names of the tables the selected changes touched, never keys
-- or values; bemi.revert then asks a permit for each and refuses the whole revert if one is not
-- granted. It tells a caller which tables a selection touches, what that refusal tells it anyway.
DO $$
DECLARE
    f pg_catalog.regprocedure;
BEGIN
    FOR f IN
        SELECT p.oid::pg_catalog.regprocedure
          FROM pg_catalog.pg_proc p
         WHERE p.pronamespace OPERATOR(pg_catalog.=) 'bemi'::pg_catalog.regnamespace
           AND p.prosecdef
           AND pg_catalog.starts_with(p.proname::pg_catalog.text, '_')
           AND pg_catalog.strpos(p.prosrc, 'bemi._check_past_permit(') OPERATOR(pg_catalog.=) 0
           AND p.oid OPERATOR(pg_catalog.<>) ALL (ARRAY[
               'bemi._revert_tables(pg_catalog.int8[], pg_catalog.jsonb, pg_catalog.timestamptz, pg_catalog.timestamptz)'::pg_catalog.regprocedure,
               'bemi._tt_named(pg_catalog.name, pg_catalog.name, pg_catalog.timestamptz)'::pg_catalog.regprocedure]::pg_catalog.oid[])
    LOOP
        EXECUTE pg_catalog.format('REVOKE EXECUTE ON FUNCTION %s FROM PUBLIC', f);
    END LOOP;
END
$$;

GRANT EXECUTE ON FUNCTION
    bemi._revert_tables(pg_catalog.int8[], pg_catalog.jsonb, pg_catalog.timestamptz, pg_catalog.timestamptz),
    bemi._tt_named(pg_catalog.name, pg_catalog.name, pg_catalog.timestamptz)
    TO PUBLIC;
