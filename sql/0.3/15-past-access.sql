
-- Who may read a table's past (docs/time-travel.md, "Reading the past: who may"). The public
-- time-travel functions are SECURITY INVOKER: they ask bemi._past_permit(rel), which checks the
-- calling role on the table, for a token, and pass it to the SECURITY DEFINER readers of the
-- trail, which call bemi._check_past_permit(token, rel) before reading anything.
-- Implemented in C (src/pg/timetravel/past_access.cpp).

CREATE FUNCTION bemi._past_permit(rel pg_catalog.regclass)
    RETURNS pg_catalog.int8
    LANGUAGE c VOLATILE STRICT PARALLEL UNSAFE SECURITY INVOKER
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'bemi_past_permit';
COMMENT ON FUNCTION bemi._past_permit(pg_catalog.regclass) IS
    'Checks that the calling role may read rel''s past (SELECT on the whole table, no row-level security applying to it) and returns a token for bemi._check_past_permit, valid in this transaction for this role';

-- Not STRICT: a NULL token raises instead of passing as a NULL result.
CREATE FUNCTION bemi._check_past_permit(token pg_catalog.int8, rel pg_catalog.regclass)
    RETURNS void
    LANGUAGE c VOLATILE PARALLEL UNSAFE SECURITY INVOKER
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'bemi_check_past_permit';
COMMENT ON FUNCTION bemi._check_past_permit(pg_catalog.int8, pg_catalog.regclass) IS
    'For SECURITY DEFINER readers of the trail: raises insufficient_privilege unless token was issued by bemi._past_permit for rel, in this transaction, to the same outer role';

