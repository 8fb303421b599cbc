-- Who may read a table's past (docs/time-travel.md, "Reading the past: who may"): the calling
-- role needs SELECT on the whole table, and row-level security must not apply to it.
-- bemi._past_permit checks that and issues a token; SECURITY DEFINER readers accept only a
-- token issued for their table, in the same transaction, to the same outer role.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS bemi;
-- Capture has started (the worker's slot exists) once this returns.
SELECT bemi.sync();
\set VERBOSITY default

CREATE TABLE tt_open (id int PRIMARY KEY, secret text);
CREATE TABLE tt_other (id int PRIMARY KEY);
CREATE TABLE tt_rls (id int PRIMARY KEY, owner_name text);
CREATE TABLE tt_forced (id int PRIMARY KEY);
CREATE TABLE tt_parted (id int PRIMARY KEY) PARTITION BY RANGE (id);
CREATE TABLE tt_parted_1 PARTITION OF tt_parted FOR VALUES FROM (0) TO (100);
CREATE VIEW tt_view AS SELECT id FROM tt_open;
CREATE SEQUENCE tt_seq;
BEGIN;
INSERT INTO tt_open VALUES (1, 'a'), (2, 'b');
SELECT pg_current_xact_id() AS open_xid \gset
COMMIT;
INSERT INTO tt_rls VALUES (1, 'regress_tt_whole'), (2, 'someone else');
INSERT INTO tt_forced VALUES (1);

CREATE ROLE regress_tt_whole;     -- SELECT on whole tables
CREATE ROLE regress_tt_columns;   -- SELECT on some columns only
CREATE ROLE regress_tt_none;      -- no privilege
CREATE ROLE regress_tt_bypass BYPASSRLS;
CREATE ROLE regress_tt_owner;     -- owns tt_rls (RLS, not forced) and tt_forced (forced)
GRANT SELECT ON tt_open, tt_other, tt_rls, tt_parted, tt_view TO regress_tt_whole;
GRANT SELECT (id) ON tt_open TO regress_tt_columns;
GRANT SELECT (id, secret) ON tt_open TO regress_tt_columns;   -- every column, still not the table
GRANT SELECT ON tt_rls TO regress_tt_bypass;
GRANT regress_tt_none TO regress_tt_whole;   -- so regress_tt_whole may SET ROLE regress_tt_none
ALTER TABLE tt_rls OWNER TO regress_tt_owner;
ALTER TABLE tt_forced OWNER TO regress_tt_owner;
ALTER TABLE tt_rls ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_rows ON tt_rls USING (owner_name = current_user);
ALTER TABLE tt_forced ENABLE ROW LEVEL SECURITY;
ALTER TABLE tt_forced FORCE ROW LEVEL SECURITY;

-- The pattern, in miniature: a SECURITY DEFINER reader (owned by the superuser running this
-- test, so it could read any table) that reads only after the permit check, and the SECURITY
-- INVOKER wrapper that asks for the permit.
CREATE FUNCTION tt_definer_read(token int8, rel regclass) RETURNS int8
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE n int8;
BEGIN
    PERFORM bemi._check_past_permit(token, rel);
    EXECUTE format('SELECT count(*) FROM %s', rel) INTO n;
    RETURN n;
END
$$;
CREATE FUNCTION tt_invoker_read(rel regclass) RETURNS int8
LANGUAGE sql SECURITY INVOKER SET search_path = pg_catalog, pg_temp AS $$
    SELECT public.tt_definer_read(bemi._past_permit(rel), rel)
$$;
-- Tokens are random, non-zero, and new at each call.
SELECT bemi._past_permit('tt_open') <> 0 AS nonzero,
       bemi._past_permit('tt_open') <> bemi._past_permit('tt_open') AS distinct_tokens;
-- The superuser: every table, RLS (forced or not) bypassed.
SELECT tt_invoker_read('tt_open') AS open_rows, tt_invoker_read('tt_rls') AS rls_rows,
       tt_invoker_read('tt_forced') AS forced_rows, tt_invoker_read('tt_parted') AS parted_rows,
       tt_invoker_read('tt_parted_1') AS partition_rows;

-- Not a table.
SELECT bemi._past_permit('tt_view');
SELECT bemi._past_permit('tt_seq');
SELECT bemi._past_permit('pg_class_oid_index');
SELECT bemi._past_permit(12345678::oid::regclass);
-- NULL: STRICT permit gives NULL, and a NULL token never passes a check.
SELECT bemi._past_permit(NULL) IS NULL AS null_permit;
SELECT bemi._check_past_permit(NULL, 'tt_open');
SELECT bemi._check_past_permit(1, NULL);
-- A made-up token.
SELECT bemi._check_past_permit(42, 'tt_open');

-- Whole-table SELECT: allowed, also for a partitioned table and its partition table itself
-- (regress_tt_whole has SELECT on tt_parted, not on tt_parted_1).
SET ROLE regress_tt_whole;
SELECT tt_invoker_read('tt_open') AS open_rows, tt_invoker_read('tt_parted') AS parted_rows;
SELECT tt_invoker_read('tt_parted_1');
-- RLS applies to a plain role: refused, although it may SELECT the table today.
SELECT count(*) AS visible_today FROM tt_rls;
SELECT tt_invoker_read('tt_rls');
-- ... also with row_security off (which would only make today's SELECT fail).
SET row_security = off;
SELECT tt_invoker_read('tt_rls');
RESET row_security;
-- Tokens are kept in psql variables (\gset, not printed) to be tried again later.
-- A token for another table.
SELECT bemi._past_permit('tt_other') AS other_token \gset
SELECT tt_definer_read(:other_token, 'tt_open');
-- Within its transaction a token may be checked again; after it, committed or rolled back,
-- it is refused.
BEGIN;
SELECT bemi._past_permit('tt_open') AS token \gset
SELECT tt_definer_read(:token, 'tt_open') AS same_transaction;
SELECT tt_definer_read(:token, 'tt_open') AS checked_again;
COMMIT;
SELECT tt_definer_read(:token, 'tt_open');
BEGIN;
SELECT bemi._past_permit('tt_open') AS token \gset
ROLLBACK;
SELECT tt_definer_read(:token, 'tt_open');
-- ... also when the transaction failed.
BEGIN;
SELECT bemi._past_permit('tt_open') AS token \gset
SELECT 1 / 0;
ROLLBACK;
SELECT tt_definer_read(:token, 'tt_open');
-- A single statement is a transaction too.
SELECT bemi._past_permit('tt_open') AS token \gset
SELECT tt_definer_read(:token, 'tt_open');
-- A subtransaction's abort does not end the permit (the top-level transaction goes on).
BEGIN;
SELECT bemi._past_permit('tt_open') AS token \gset
SAVEPOINT s;
SELECT 1 / 0;
ROLLBACK TO SAVEPOINT s;
SELECT tt_definer_read(:token, 'tt_open') AS after_savepoint;
COMMIT;
-- Another outer role (SET ROLE) cannot use a token issued to regress_tt_whole, and using it
-- again after RESET ROLE works: the permit is tied to the role, not spent by the refusal.
BEGIN;
SELECT bemi._past_permit('tt_open') AS token \gset
SET LOCAL ROLE regress_tt_none;
SAVEPOINT s;
SELECT tt_definer_read(:token, 'tt_open');
ROLLBACK TO SAVEPOINT s;
SET LOCAL ROLE regress_tt_whole;
SELECT tt_definer_read(:token, 'tt_open') AS back_to_issuer;
COMMIT;
-- Many permits in one transaction (more than the backend keeps at once): each one checked
-- right after it was issued passes.
BEGIN;
SELECT count(*) FILTER (WHERE tt_invoker_read('tt_open') = 2) AS passed FROM generate_series(1, 100);
-- The backend keeps the last 64 permits of the transaction: a token issued before 64 newer
-- ones is refused, one issued just within them is still valid.
SELECT bemi._past_permit('tt_open') AS token \gset
SELECT bemi._past_permit('tt_open') AS token_2 \gset
SELECT count(bemi._past_permit('tt_open')) AS newer FROM generate_series(1, 63);
SELECT tt_definer_read(:token_2, 'tt_open') AS within_last_64;
SELECT tt_definer_read(:token, 'tt_open');
COMMIT;
RESET ROLE;

-- SELECT on a table in a schema the role may not use: refused, as reading the table is.
CREATE SCHEMA tt_private;
CREATE TABLE tt_private.t (id int PRIMARY KEY);
GRANT SELECT ON tt_private.t TO regress_tt_whole;
SELECT 'tt_private.t'::regclass::oid AS private_oid \gset
SET ROLE regress_tt_whole;
SELECT bemi._past_permit(:private_oid);
RESET ROLE;
GRANT USAGE ON SCHEMA tt_private TO regress_tt_whole;
SET ROLE regress_tt_whole;
SELECT bemi._past_permit(:private_oid) <> 0 AS permitted_with_usage;
RESET ROLE;
DROP SCHEMA tt_private CASCADE;

-- Only some columns: refused, even with every column granted one by one.
SET ROLE regress_tt_columns;
SELECT count(secret) AS columns_readable_today FROM tt_open;
SELECT tt_invoker_read('tt_open');
SELECT bemi._past_permit('tt_open');
-- No privilege at all.
SET ROLE regress_tt_none;
SELECT bemi._past_permit('tt_open');
SELECT tt_invoker_read('tt_other');
-- Calling the reader directly with a guessed token.
SELECT tt_definer_read(1, 'tt_open');

-- BYPASSRLS: allowed on an RLS table.
SET ROLE regress_tt_bypass;
SELECT tt_invoker_read('tt_rls') AS bypass_rows;
-- The owner: allowed without FORCE, refused with it.
SET ROLE regress_tt_owner;
SELECT tt_invoker_read('tt_rls') AS owner_rows;
SELECT tt_invoker_read('tt_forced');
RESET ROLE;
ALTER TABLE tt_forced NO FORCE ROW LEVEL SECURITY;
SET ROLE regress_tt_owner;
SELECT tt_invoker_read('tt_forced') AS owner_rows_not_forced;
RESET ROLE;
-- History to read: t1 is an instant after the inserts above. Then tt_secret is renamed and its
-- name reused by a new table (regress_tt_whole may read the new one only, regress_tt_bypass the
-- old one only), and tt_gone is dropped (its past is for readers of bemi.changes).
CREATE ROLE regress_tt_reader IN ROLE bemi_reader;
CREATE TABLE tt_secret (id int PRIMARY KEY, v text);
CREATE TABLE tt_gone (id int PRIMARY KEY);
INSERT INTO tt_secret VALUES (1, 'old secret');
INSERT INTO tt_gone VALUES (1);
SELECT bemi.sync();
SELECT clock_timestamp() AS t1 \gset
ALTER TABLE tt_secret RENAME TO tt_secret_old;
CREATE TABLE tt_secret (id int PRIMARY KEY, v text);
INSERT INTO tt_secret VALUES (2, 'new');
DROP TABLE tt_gone;
GRANT SELECT ON tt_secret TO regress_tt_whole;
GRANT SELECT ON tt_secret_old TO regress_tt_bypass;   -- the old name reaches it through the lineage
SELECT bemi.sync();
SELECT pg_lsn(commit_position::numeric) AS open_position, primary_key AS open_key
  FROM bemi.changes WHERE "table" = 'tt_open' ORDER BY id LIMIT 1 \gset

-- The public functions: each asks for the permit as its caller. tt_try runs one and says what
-- stopped it: the permit's refusal (its message), or something after the permit (a reader,
-- whose first statement checks the permit, was running), or that it answered.
SET bemi.time_travel_wait = 100;
CREATE FUNCTION tt_try(q text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    n int8;
    ctx text;
BEGIN
    EXECUTE format('SELECT count(*) FROM (%s) s', q) INTO n;
    RETURN format('answered: %s rows', n);
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS ctx = PG_EXCEPTION_CONTEXT;
    IF SQLSTATE = '42501' THEN
        RETURN 'refused: ' || SQLERRM;
    ELSIF ctx ~ 'function bemi\._(as_of_rows|as_of_named|versions_rows|history_rows|revert_trail)\('
          AND ctx !~ '_check_past_permit' THEN
        RETURN 'permitted, then: ' || SQLERRM;
    END IF;
    RETURN 'failed before the permit: ' || SQLSTATE || ' ' || SQLERRM;
END
$$;
CREATE TEMP TABLE tt_calls (n int, label text, call text);
INSERT INTO tt_calls VALUES
    (1, 'as_of(tt_open, t1)', format($q$SELECT * FROM bemi.as_of(NULL::public.tt_open, %L::timestamptz)$q$, :'t1')),
    (2, 'as_of(tt_open, its insert)', format($q$SELECT * FROM bemi.as_of(NULL::public.tt_open, %L::pg_lsn)$q$, :'open_position')),
    (3, 'as_of_jsonb(tt_open, t1)', format($q$SELECT * FROM bemi.as_of_jsonb('public.tt_open', %L::timestamptz)$q$, :'t1')),
    (4, 'as_of_jsonb(public, tt_open, t1)', format($q$SELECT * FROM bemi.as_of_jsonb('public', 'tt_open', %L::timestamptz)$q$, :'t1')),
    (5, 'versions(tt_open)', $q$SELECT * FROM bemi.versions(NULL::public.tt_open)$q$),
    (6, 'history(tt_open, key)', format($q$SELECT * FROM bemi.history('public.tt_open', %L)$q$, :'open_key')),
    (7, 'history(tt_open row)', $q$SELECT * FROM bemi.history((1, NULL)::public.tt_open)$q$),
    (8, 'as_of(tt_rls, t1)', format($q$SELECT * FROM bemi.as_of(NULL::public.tt_rls, %L::timestamptz)$q$, :'t1')),
    (9, 'as_of_jsonb(tt_parted, t1)', format($q$SELECT * FROM bemi.as_of_jsonb('public.tt_parted', %L::timestamptz)$q$, :'t1')),
    -- the name tt_secret at t1 was the table now called tt_secret_old
    (10, 'as_of_jsonb(public, tt_secret, t1)', format($q$SELECT * FROM bemi.as_of_jsonb('public', 'tt_secret', %L::timestamptz)$q$, :'t1')),
    (11, 'versions(new tt_secret)', $q$SELECT * FROM bemi.versions(NULL::public.tt_secret)$q$),
    (12, 'as_of_jsonb(public, tt_gone, t1)', format($q$SELECT * FROM bemi.as_of_jsonb('public', 'tt_gone', %L::timestamptz)$q$, :'t1')),
    -- the transaction that inserted into tt_open: a dry run still locks the rows it checks
    (13, 'revert(tt_open''s insert)', format($q$SELECT * FROM bemi.revert(transaction_ids => ARRAY[%s], dry_run => true)$q$, :'open_xid')),
    (14, 'restore_tables(tt_open, t1)', format($q$SELECT * FROM bemi.restore_tables(ARRAY['public.tt_open'::regclass], %L, dry_run => true)$q$, :'t1')),
    (15, 'restore(tt_open row, t1)', format($q$SELECT * FROM bemi.restore((1, NULL)::public.tt_open, %L)$q$, :'t1')),
    -- the readers themselves: a made-up token, and a real permit for another table
    (16, '_as_of_rows(made-up token)', format($q$SELECT * FROM bemi._as_of_rows(42, 'public.tt_open', %L, NULL)$q$, :'t1')),
    (17, '_history_rows(tt_open permit, tt_secret_old)', $q$SELECT * FROM bemi._history_rows(bemi._past_permit('public.tt_open'), 'public.tt_secret_old', '1')$q$),
    (18, 'backfill(tt_secret)', $q$SELECT bemi.backfill('public.tt_secret')$q$);
GRANT SELECT ON tt_calls TO PUBLIC;
CREATE TEMP TABLE tt_outcomes (role text, n int, outcome text);
GRANT INSERT ON tt_outcomes TO PUBLIC;
SET ROLE regress_tt_whole;
INSERT INTO tt_outcomes SELECT current_user, n, tt_try(call) FROM tt_calls ORDER BY n;
SET ROLE regress_tt_columns;
INSERT INTO tt_outcomes SELECT current_user, n, tt_try(call) FROM tt_calls ORDER BY n;
SET ROLE regress_tt_none;
INSERT INTO tt_outcomes SELECT current_user, n, tt_try(call) FROM tt_calls ORDER BY n;
SET ROLE regress_tt_bypass;
INSERT INTO tt_outcomes SELECT current_user, n, tt_try(call) FROM tt_calls ORDER BY n;
SET ROLE regress_tt_reader;
INSERT INTO tt_outcomes SELECT current_user, n, tt_try(call) FROM tt_calls ORDER BY n;
RESET ROLE;
INSERT INTO tt_outcomes SELECT 'superuser', n, tt_try(call) FROM tt_calls ORDER BY n;
SELECT c.n, c.label, o.role, o.outcome FROM tt_outcomes o JOIN tt_calls c USING (n) ORDER BY c.n, o.role;
-- What the permitted calls read is the right table's: the rows of tt_open at t1, the old
-- secret under its name at t1 (for a role that may read tt_secret_old), nothing of it through
-- the new tt_secret.
SELECT * FROM bemi.as_of(NULL::tt_open, :'t1'::timestamptz) ORDER BY id;
SELECT primary_key, "row" FROM bemi.as_of_jsonb('public', 'tt_secret', :'t1'::timestamptz);
SELECT ("row").id, ("row").v, valid_to IS NULL AS current FROM bemi.versions(NULL::tt_secret) ORDER BY 1;
DROP TABLE tt_calls, tt_outcomes;
DROP FUNCTION tt_try(text);
RESET bemi.time_travel_wait;

-- Granted whole-table SELECT later, regress_tt_columns may read the past.
GRANT SELECT ON tt_open TO regress_tt_columns;
SET ROLE regress_tt_columns;
SELECT tt_invoker_read('tt_open') AS granted_later;
RESET ROLE;

-- The permit check is for SECURITY DEFINER readers only: nobody else may call it.
SET ROLE regress_tt_whole;
SELECT bemi._check_past_permit(1, 'tt_open');
RESET ROLE;

-- Privileges of the trail (sql/0.3/90-privileges.sql). Every function of bemi that PUBLIC may
-- execute, and whether it runs as its owner: a SECURITY DEFINER one must check a permit.
SELECT p.oid::regprocedure AS public_function, p.prosecdef AS definer,
       strpos(p.prosrc, 'bemi._check_past_permit(') > 0 AS checks_permit
  FROM pg_proc p
 WHERE p.pronamespace = 'bemi'::regnamespace
   AND (p.proacl IS NULL
        OR EXISTS (SELECT FROM aclexplode(p.proacl) a WHERE a.grantee = 0 AND a.privilege_type = 'EXECUTE'))
 ORDER BY p.oid::regprocedure::text;
SELECT p.oid::regprocedure AS unchecked_public_definer
  FROM pg_proc p
 WHERE p.pronamespace = 'bemi'::regnamespace AND p.prosecdef
   AND strpos(p.prosrc, 'bemi._check_past_permit(') = 0
   AND (p.proacl IS NULL
        OR EXISTS (SELECT FROM aclexplode(p.proacl) a WHERE a.grantee = 0 AND a.privilege_type = 'EXECUTE'));
-- Tables and views: what PUBLIC and bemi_reader may do.
SELECT c.oid::regclass AS relation, c.relkind,
       coalesce((SELECT string_agg(a.privilege_type, ',' ORDER BY a.privilege_type)
                   FROM aclexplode(c.relacl) a WHERE a.grantee = 0), '') AS public,
       coalesce((SELECT string_agg(a.privilege_type, ',' ORDER BY a.privilege_type)
                   FROM aclexplode(c.relacl) a WHERE a.grantee = 'bemi_reader'::regrole), '') AS bemi_reader
  FROM pg_class c
 WHERE c.relnamespace = 'bemi'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm', 'S')
   AND NOT c.relispartition
 ORDER BY c.oid::regclass::text;
-- The partitions of bemi.changes (0.4; named by date, so counted): nothing for PUBLIC or
-- bemi_reader, who read them through bemi.changes.
SELECT count(*) > 0 AS partitions,
       count(*) FILTER (WHERE EXISTS (SELECT FROM aclexplode(c.relacl) a
                                       WHERE a.grantee IN (0, 'bemi_reader'::regrole))) AS readable_directly
  FROM pg_class c
 WHERE c.relnamespace = 'bemi'::regnamespace AND c.relispartition;
-- bemi.baseline_rows holds rows of every baselined table: not readable directly, not even by
-- bemi_reader.
GRANT bemi_reader TO regress_tt_whole;
SET ROLE regress_tt_whole;
SELECT count(*) FROM bemi.baseline_rows;
-- Nor may it take baselines (they copy every row of a table).
SELECT bemi.backfill_all();
SELECT count(*) >= 0 AS reads_lineage FROM bemi.table_lineage;
SET ROLE regress_tt_none;
SELECT count(*) FROM bemi.table_lineage;
RESET ROLE;

-- A SECURITY DEFINER function of a role without privileges, called by a superuser, reads with
-- its owner's rights: bemi's functions decide for the role that calls them, never for the outer
-- (session) role, so the function cannot make a privileged caller read the past for it.
CREATE FUNCTION tt_deputy_named(t timestamptz) RETURNS bigint LANGUAGE sql SECURITY DEFINER
    AS $$ SELECT count(*) FROM bemi.as_of_jsonb('public', 'tt_open', t) $$;
CREATE FUNCTION tt_deputy_rel(t timestamptz) RETURNS bigint LANGUAGE sql SECURITY DEFINER
    AS $$ SELECT count(*) FROM bemi.as_of_jsonb('public.tt_open', t) $$;
ALTER FUNCTION tt_deputy_named(timestamptz) OWNER TO regress_tt_none;
ALTER FUNCTION tt_deputy_rel(timestamptz) OWNER TO regress_tt_none;
SELECT tt_deputy_named(:'t1'::timestamptz);
SELECT tt_deputy_rel(:'t1'::timestamptz);
-- the same calls made by the superuser itself are answered
SELECT count(*) FROM bemi.as_of_jsonb('public', 'tt_open', :'t1'::timestamptz);
DROP FUNCTION tt_deputy_named(timestamptz), tt_deputy_rel(timestamptz);

DROP FUNCTION tt_invoker_read(regclass), tt_definer_read(int8, regclass);
DROP VIEW tt_view;
DROP SEQUENCE tt_seq;
DROP TABLE tt_open, tt_other, tt_rls, tt_forced, tt_parted, tt_secret, tt_secret_old;
DROP ROLE regress_tt_whole, regress_tt_columns, regress_tt_none, regress_tt_bypass, regress_tt_owner, regress_tt_reader;
DROP EXTENSION bemi;
