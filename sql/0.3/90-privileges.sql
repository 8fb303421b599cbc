
-- Who may do what with the objects of 0.3 (docs/time-travel.md, "Reading the past: who may";
-- docs/security.md). Runs last: every part of 0.3 exists by now. Parts may grant on their own
-- objects too; this file says it for all of them in one place, and is what
-- test/time_travel_access checks.
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

-- The permit. _past_readable answers for the outer role: for SECURITY DEFINER functions too.
GRANT EXECUTE ON FUNCTION bemi._past_permit(pg_catalog.regclass) TO PUBLIC;
REVOKE EXECUTE ON FUNCTION bemi._check_past_permit(pg_catalog.int8, pg_catalog.regclass),
                           bemi._past_readable(pg_catalog.regclass)
    FROM PUBLIC;

-- Functions. While the parts of 0.3 are built on separate branches, a function of the contract
-- that is not there yet is skipped (to_regprocedure NULL); test/time_travel_access lists every
-- bemi function PUBLIC may execute, so a skipped or renamed one shows up there.
DO $$
DECLARE
    f record;
BEGIN
    FOR f IN
        SELECT v.signature, v.public
          FROM (VALUES
            -- public: they check access themselves
            ('bemi.as_of(pg_catalog.anyelement, pg_catalog.timestamptz)', true),
            ('bemi.as_of(pg_catalog.anyelement, pg_catalog.pg_lsn)', true),
            ('bemi.as_of_jsonb(pg_catalog.regclass, pg_catalog.timestamptz)', true),
            ('bemi.as_of_jsonb(pg_catalog.name, pg_catalog.name, pg_catalog.timestamptz)', true),
            ('bemi.versions(pg_catalog.anyelement, pg_catalog.timestamptz, pg_catalog.timestamptz)', true),
            ('bemi.history(pg_catalog.regclass, pg_catalog.text)', true),
            ('bemi.history(pg_catalog.anyelement)', true),
            ('bemi.diff(pg_catalog.jsonb, pg_catalog.jsonb)', true),
            ('bemi.diff(bemi.changes)', true),
            ('bemi.revert(pg_catalog.int8[], pg_catalog.jsonb, pg_catalog.timestamptz, pg_catalog.timestamptz, pg_catalog.bool, pg_catalog.bool)', true),
            ('bemi.restore(pg_catalog.anyelement, pg_catalog.timestamptz)', true),
            ('bemi.restore_tables(pg_catalog.regclass[], pg_catalog.timestamptz, pg_catalog.bool)', true),
            -- superuser only
            ('bemi.backfill(pg_catalog.regclass)', false),
            ('bemi.backfill_all()', false)
          ) AS v (signature, public)
    LOOP
        IF pg_catalog.to_regprocedure(f.signature) IS NULL THEN
            CONTINUE;
        END IF;
        EXECUTE pg_catalog.format(CASE WHEN f.public THEN 'GRANT EXECUTE ON FUNCTION %s TO PUBLIC'
                                       ELSE 'REVOKE EXECUTE ON FUNCTION %s FROM PUBLIC' END,
                                  pg_catalog.to_regprocedure(f.signature));
    END LOOP;
END
$$;

-- The rule for internal SECURITY DEFINER functions, whatever their names: one that PUBLIC may
-- execute must check a permit before it reads anything (its body calls
-- bemi._check_past_permit). Every other one is revoked from PUBLIC here: a SECURITY DEFINER
-- function of bemi reads the whole trail with the owner's rights. (Trigger and event-trigger
-- functions need no EXECUTE privilege to fire.) Reviewed exceptions, which a SECURITY INVOKER
-- wrapper calls before it can know which table to ask a permit for, and which return names,
-- never rows or values:
--   bemi._tt_relid_at: which table had a name at an instant (as_of_jsonb(schema, table, ...));
--   bemi._revert_tables: the tables a revert's selection touches (bemi.revert then asks a permit
--     for each, and refuses the whole revert if one is not granted).
-- Both tell a caller that may read none of those tables that such a table existed or changed in
-- the selection (what the refusal of as_of_jsonb or bemi.revert tells it anyway).
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
                   coalesce(pg_catalog.to_regprocedure('bemi._tt_relid_at(pg_catalog.name, pg_catalog.name, pg_catalog.timestamptz)')::pg_catalog.oid, 0::pg_catalog.oid),
                   coalesce(pg_catalog.to_regprocedure('bemi._revert_tables(pg_catalog.int8[], pg_catalog.jsonb, pg_catalog.timestamptz, pg_catalog.timestamptz)')::pg_catalog.oid, 0::pg_catalog.oid)
               ]::pg_catalog.oid[])
    LOOP
        EXECUTE pg_catalog.format('REVOKE EXECUTE ON FUNCTION %s FROM PUBLIC', f);
    END LOOP;
END
$$;

-- Exception (60-revert.sql): bemi.revert, SECURITY INVOKER, must learn which tables the selected
-- changes touched before it can ask for their permits. bemi._revert_tables returns those
-- tables' names only (no keys, no values); each table's changes are then read through
-- bemi._revert_trail, which checks the caller's permit.
GRANT EXECUTE ON FUNCTION bemi._revert_tables(pg_catalog.int8[], pg_catalog.jsonb, pg_catalog.timestamptz,
                                              pg_catalog.timestamptz) TO PUBLIC;
