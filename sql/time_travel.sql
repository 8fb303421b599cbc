-- AS OF (docs/time-travel.md; sql/0.3/40-as-of.sql): the typed form, the position form and the
-- jsonb forms, checked against the tables' contents saved after every commit of a scripted
-- history (composite keys, key changes, delete and re-insert, TRUNCATE, partitions, unchanged
-- TOAST values, replica identity DEFAULT and FULL), schema changes through the lineage, a
-- dropped table, and every refusal. Needs the worker (shared_preload_libraries = 'bemi').
SET client_min_messages = warning;
SET DateStyle = 'ISO';  -- instants in messages are masked in this form
SET TimeZone = 'UTC';
CREATE EXTENSION IF NOT EXISTS bemi;
SELECT bemi.sync();  -- capture has started
SET bemi.time_travel_wait = '3s';

-- After each commit of a step: the table's contents and the instant (after the commit), and
-- the step's transaction id (recorded inside it; temporary tables are not captured).
CREATE TEMP TABLE steps (n serial PRIMARY KEY, tbl regclass NOT NULL, xid int8, at timestamptz, state jsonb);
CREATE FUNCTION pg_temp.mark(t regclass) RETURNS void LANGUAGE sql AS $$
    INSERT INTO steps (tbl, xid) VALUES (t, pg_current_xact_id()::text::int8)
$$;
-- A table's rows as one jsonb array in a fixed order.
CREATE FUNCTION pg_temp.contents(t regclass) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    r jsonb;
BEGIN
    EXECUTE format('SELECT coalesce(jsonb_agg(to_jsonb(x) ORDER BY to_jsonb(x)::text), ''[]'') FROM %s x', t) INTO r;
    RETURN r;
END
$$;
CREATE FUNCTION pg_temp.save() RETURNS void LANGUAGE sql AS $$
    UPDATE steps SET at = clock_timestamp(), state = pg_temp.contents(tbl)
     WHERE n = (SELECT max(n) FROM steps)
$$;
-- bemi.as_of in the same form.
CREATE FUNCTION pg_temp.as_of(t regclass, at timestamptz) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    r jsonb;
BEGIN
    EXECUTE format('SELECT coalesce(jsonb_agg(to_jsonb(x) ORDER BY to_jsonb(x)::text), ''[]'') FROM bemi.as_of(NULL::%s, $1) x', t)
        INTO r USING at;
    RETURN r;
END
$$;
CREATE FUNCTION pg_temp.as_of(t regclass, pos pg_lsn) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    r jsonb;
BEGIN
    EXECUTE format('SELECT coalesce(jsonb_agg(to_jsonb(x) ORDER BY to_jsonb(x)::text), ''[]'') FROM bemi.as_of(NULL::%s, $1) x', t)
        INTO r USING pos;
    RETURN r;
END
$$;
-- The SQLSTATE, message and hint of an error, with instants and positions masked.
CREATE FUNCTION pg_temp.err(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    m text; h text; st text;
BEGIN
    EXECUTE q;
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS m = MESSAGE_TEXT, h = PG_EXCEPTION_HINT, st = RETURNED_SQLSTATE;
    RETURN st || ': ' || regexp_replace(regexp_replace(m || ' HINT: ' || coalesce(h, ''),
               '\d{4}-\d\d-\d\d[ T][0-9:.]+(\+00(:00)?)?', '<T>', 'g'), '\m[0-9A-F]+/[0-9A-F]+\M', '<LSN>', 'g');
END
$$;

--------------------------------------------------------------------------------------------
-- A composite key not named id (REPLICA IDENTITY DEFAULT): updates, a key changed by an
-- UPDATE, delete and re-insert of a key (in one transaction and across two), TRUNCATE.
CREATE TABLE tt_lines (order_no int, line text, qty int, note text, PRIMARY KEY (order_no, line));
-- The same under REPLICA IDENTITY FULL.
CREATE TABLE tt_full (code text PRIMARY KEY, v int);
ALTER TABLE tt_full REPLICA IDENTITY FULL;

BEGIN; SELECT pg_temp.mark('tt_lines');
INSERT INTO tt_lines VALUES (1, 'a', 1, 'x'), (1, 'b', 2, 'y'), (2, 'a', 3, 'z');
COMMIT; SELECT pg_temp.save();
BEGIN; SELECT pg_temp.mark('tt_lines');
UPDATE tt_lines SET qty = 10 WHERE order_no = 1 AND line = 'a';
UPDATE tt_lines SET qty = 11 WHERE order_no = 1 AND line = 'a';
COMMIT; SELECT pg_temp.save();
BEGIN; SELECT pg_temp.mark('tt_lines');
UPDATE tt_lines SET line = 'c' WHERE order_no = 1 AND line = 'b';    -- key change
COMMIT; SELECT pg_temp.save();
BEGIN; SELECT pg_temp.mark('tt_lines');
DELETE FROM tt_lines WHERE order_no = 2;
INSERT INTO tt_lines VALUES (2, 'a', 30, 'again');                    -- delete and re-insert
UPDATE tt_lines SET order_no = 3, note = 'moved' WHERE order_no = 1 AND line = 'c';
COMMIT; SELECT pg_temp.save();
BEGIN; SELECT pg_temp.mark('tt_lines');
DELETE FROM tt_lines WHERE order_no = 1 AND line = 'a';
COMMIT; SELECT pg_temp.save();
BEGIN; SELECT pg_temp.mark('tt_lines');
INSERT INTO tt_lines VALUES (1, 'a', 100, 'back');                   -- re-inserted later
UPDATE tt_lines SET line = 'b' WHERE order_no = 3;                   -- back to a key it had
COMMIT; SELECT pg_temp.save();
BEGIN; SELECT pg_temp.mark('tt_lines');
TRUNCATE tt_lines;
INSERT INTO tt_lines VALUES (5, 'e', 5, 'after truncate');
COMMIT; SELECT pg_temp.save();
BEGIN; SELECT pg_temp.mark('tt_lines');
TRUNCATE tt_lines;
COMMIT; SELECT pg_temp.save();
BEGIN; SELECT pg_temp.mark('tt_lines');
INSERT INTO tt_lines VALUES (6, 'f', 6, NULL), (7, 'g', 7, 'g');
COMMIT; SELECT pg_temp.save();

BEGIN; SELECT pg_temp.mark('tt_full');
INSERT INTO tt_full VALUES ('k1', 1), ('k2', 2);
COMMIT; SELECT pg_temp.save();
BEGIN; SELECT pg_temp.mark('tt_full');
UPDATE tt_full SET v = v + 10;
UPDATE tt_full SET code = 'k3' WHERE code = 'k1';
COMMIT; SELECT pg_temp.save();
BEGIN; SELECT pg_temp.mark('tt_full');
DELETE FROM tt_full WHERE code = 'k2';
INSERT INTO tt_full VALUES ('k1', 100);
COMMIT; SELECT pg_temp.save();

--------------------------------------------------------------------------------------------
-- A partitioned table: rows moved between partitions are counted once; TRUNCATE of one leaf
-- removes only its rows; DML straight into a leaf; TRUNCATE of the whole table.
CREATE TABLE tt_part (id int, region text, v int, PRIMARY KEY (id, region)) PARTITION BY LIST (region);
CREATE TABLE tt_part_eu PARTITION OF tt_part FOR VALUES IN ('eu');
CREATE TABLE tt_part_us PARTITION OF tt_part FOR VALUES IN ('us');
BEGIN; SELECT pg_temp.mark('tt_part');
INSERT INTO tt_part VALUES (1, 'eu', 1), (2, 'eu', 2), (3, 'us', 3);
COMMIT; SELECT pg_temp.save();
BEGIN; SELECT pg_temp.mark('tt_part');
UPDATE tt_part SET region = 'us', v = 10 WHERE id = 1;               -- eu -> us
COMMIT; SELECT pg_temp.save();
BEGIN; SELECT pg_temp.mark('tt_part');
TRUNCATE tt_part_eu;                                                 -- only eu's rows
INSERT INTO tt_part_us VALUES (4, 'us', 4);
COMMIT; SELECT pg_temp.save();
BEGIN; SELECT pg_temp.mark('tt_part');
UPDATE tt_part SET region = 'eu' WHERE id = 4;                       -- us -> eu
UPDATE tt_part SET id = 5 WHERE id = 3;
COMMIT; SELECT pg_temp.save();
BEGIN; SELECT pg_temp.mark('tt_part');
TRUNCATE tt_part;
INSERT INTO tt_part VALUES (9, 'eu', 9);
COMMIT; SELECT pg_temp.save();

--------------------------------------------------------------------------------------------
-- Unchanged TOAST values (REPLICA IDENTITY DEFAULT): the UPDATEs leave "big" out of "after";
-- its value comes from the versions before, across a key change too.
CREATE FUNCTION pg_temp.big(seed int) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT string_agg(md5((seed * 100000 + i)::text), '') FROM generate_series(1, 2000) i
$$;
CREATE TABLE tt_toast (id int PRIMARY KEY, note text, big text);
BEGIN; SELECT pg_temp.mark('tt_toast');
INSERT INTO tt_toast VALUES (1, 'one', pg_temp.big(1)), (2, 'two', pg_temp.big(2));
COMMIT; SELECT pg_temp.save();
BEGIN; SELECT pg_temp.mark('tt_toast');
UPDATE tt_toast SET note = 'one!' WHERE id = 1;
COMMIT; SELECT pg_temp.save();
BEGIN; SELECT pg_temp.mark('tt_toast');
UPDATE tt_toast SET id = 3, note = 'three' WHERE id = 1;
UPDATE tt_toast SET note = 'two!' WHERE id = 2;
COMMIT; SELECT pg_temp.save();
BEGIN; SELECT pg_temp.mark('tt_toast');
UPDATE tt_toast SET note = 'three!' WHERE id = 3;
UPDATE tt_toast SET big = pg_temp.big(22) WHERE id = 2;
COMMIT; SELECT pg_temp.save();
BEGIN; SELECT pg_temp.mark('tt_toast');
UPDATE tt_toast SET note = 'two!!' WHERE id = 2;
COMMIT; SELECT pg_temp.save();

-- Something committed after the last step, so that its instant is settled.
CREATE TABLE tt_tick (n int);
INSERT INTO tt_tick VALUES (1);
SELECT bemi.sync();

-- The records really left the TOAST values out.
SELECT count(*) AS updates_without_big
  FROM bemi.changes WHERE "table" = 'tt_toast' AND unchanged_toast = '{big}';

-- as_of at every saved instant equals the contents saved then.
SELECT s.n, s.tbl, pg_temp.as_of(s.tbl, s.at) = s.state AS as_of_equal, jsonb_array_length(s.state) AS rows
  FROM steps s ORDER BY s.n;
-- ... and as_of at the stored commit position of each step.
SELECT s.n, s.tbl, pg_temp.as_of(s.tbl, pg_lsn(c.commit_position::numeric)) = s.state AS as_of_position_equal
  FROM steps s
  JOIN (SELECT DISTINCT transaction_id, commit_position FROM bemi.changes
         WHERE capture = (SELECT capture FROM bemi.watermarks ORDER BY updated_at DESC LIMIT 1)) c
    ON c.transaction_id = s.xid
 ORDER BY s.n;
-- Every step's transaction was stored, so each was checked by position too.
SELECT count(*) AS steps, count(*) FILTER (WHERE xid IN (SELECT transaction_id FROM bemi.changes)) AS stored
  FROM steps;
-- Between a step's save and the next step's commit: the state of the step.
SELECT pg_temp.as_of('tt_lines', s.at + (c.committed_at - s.at) / 2) = s.state AS between_commits
  FROM steps s JOIN steps n ON n.n = s.n + 1 AND n.tbl = s.tbl
  JOIN LATERAL (SELECT min(committed_at) AS committed_at FROM bemi.changes WHERE transaction_id = n.xid) c ON true
 WHERE s.tbl = 'tt_lines'::regclass ORDER BY s.n LIMIT 3;
-- An untyped literal is an instant, or a commit position when it has that form.
SELECT count(*) AS rows_now FROM bemi.as_of(NULL::tt_lines, (SELECT at FROM steps WHERE tbl = 'tt_lines'::regclass ORDER BY n DESC LIMIT 1)::text);
SELECT count(*) AS rows_at_position
  FROM bemi.as_of(NULL::tt_lines, (SELECT pg_lsn(commit_position::numeric) FROM bemi.changes
                                    WHERE transaction_id = (SELECT xid FROM steps WHERE tbl = 'tt_lines'::regclass ORDER BY n LIMIT 1)
                                    LIMIT 1)::text);
-- The typed rows are the table's row type, ready for WHERE and joins.
SELECT l.* FROM bemi.as_of(NULL::tt_lines, (SELECT at FROM steps WHERE tbl = 'tt_lines'::regclass ORDER BY n LIMIT 1 OFFSET 3)) l
 WHERE l.qty > 5 ORDER BY l.order_no, l.line;
-- The jsonb form: the key as bemi.changes writes it, the row, no fallback.
SELECT primary_key, "row", fallback
  FROM bemi.as_of_jsonb('tt_lines', (SELECT at FROM steps WHERE tbl = 'tt_lines'::regclass ORDER BY n LIMIT 1 OFFSET 3))
 ORDER BY primary_key;
SELECT id, note, md5(big) = md5(pg_temp.big(1)) AS big_1, md5(big) = md5(pg_temp.big(2)) AS big_2
  FROM bemi.as_of(NULL::tt_toast, (SELECT at FROM steps WHERE tbl = 'tt_toast'::regclass ORDER BY n LIMIT 1 OFFSET 2))
 ORDER BY id;

--------------------------------------------------------------------------------------------
-- Schema changes: rows come back in the current row type; a renamed column keeps its
-- history, a dropped column is gone, a column added later is NULL before; a renamed table is
-- followed; a name reused by another table never mixes the two.
CREATE TEMP TABLE instants (label text PRIMARY KEY, at timestamptz);
CREATE TABLE tt_ren (id int PRIMARY KEY, a text, b text, c text);
INSERT INTO tt_ren VALUES (1, 'a1', 'b1', 'c1');
INSERT INTO instants VALUES ('created', clock_timestamp());
ALTER TABLE tt_ren RENAME COLUMN a TO a2;
UPDATE tt_ren SET a2 = 'a2' WHERE id = 1;
INSERT INTO instants VALUES ('renamed column', clock_timestamp());
ALTER TABLE tt_ren DROP COLUMN b;
INSERT INTO tt_ren VALUES (2, 'x2', 'c2');
INSERT INTO instants VALUES ('dropped column', clock_timestamp());
ALTER TABLE tt_ren ADD COLUMN d int;
UPDATE tt_ren SET d = 4 WHERE id = 1;
INSERT INTO instants VALUES ('added column', clock_timestamp());
ALTER TABLE tt_ren RENAME TO tt_ren2;
INSERT INTO tt_ren2 VALUES (3, 'x3', 'c3', 3);
INSERT INTO instants VALUES ('renamed table', clock_timestamp());
CREATE TABLE tt_ren (x int PRIMARY KEY, y text);                     -- the old name, another table
INSERT INTO tt_ren VALUES (9, 'other');
INSERT INTO instants VALUES ('name reused', clock_timestamp());
-- A table dropped since.
CREATE TABLE tt_gone (k text PRIMARY KEY, v int);
INSERT INTO tt_gone VALUES ('a', 1), ('b', 2);
ALTER TABLE tt_gone RENAME COLUMN v TO w;
UPDATE tt_gone SET w = 20 WHERE k = 'b';
INSERT INTO instants VALUES ('before drop', clock_timestamp());
DROP TABLE tt_gone;
INSERT INTO instants VALUES ('after drop', clock_timestamp());
INSERT INTO tt_tick VALUES (2);
SELECT bemi.sync();

SELECT i.label, r.*
  FROM instants i CROSS JOIN LATERAL bemi.as_of(NULL::tt_ren2, i.at) r
 WHERE i.label IN ('created', 'renamed column', 'dropped column', 'added column', 'renamed table', 'name reused')
 ORDER BY i.at, r.id;
SELECT i.label, r.* FROM instants i CROSS JOIN LATERAL bemi.as_of(NULL::tt_ren, i.at) r
 WHERE i.label = 'name reused';
-- By name: tt_ren at an instant before the rename is the table now called tt_ren2 (in its
-- current column names); after the reuse, the new table.
SELECT i.label, j.primary_key, j."row"
  FROM instants i CROSS JOIN LATERAL bemi.as_of_jsonb('public', 'tt_ren', i.at) j
 WHERE i.label IN ('added column', 'name reused')
 ORDER BY i.at, j.primary_key;
-- A dropped table by name, in its last column names; and refused after its drop.
SELECT j.primary_key, j."row", j.fallback
  FROM bemi.as_of_jsonb('public', 'tt_gone', (SELECT at FROM instants WHERE label = 'before drop')) j
 ORDER BY j.primary_key;
SELECT pg_temp.err($$SELECT * FROM bemi.as_of_jsonb('public', 'tt_gone', (SELECT at FROM instants WHERE label = 'after drop'))$$);

--------------------------------------------------------------------------------------------
-- A value recorded through a fallback (json that jsonb refuses): the typed form refuses the
-- row, naming table, key and column; the jsonb form returns it with its fallback entries.
CREATE TABLE tt_fb (id int PRIMARY KEY, doc json);
INSERT INTO tt_fb VALUES (1, '{"a": 1}'), (2, '{"a": "\u0000"}');
INSERT INTO instants VALUES ('fallback', clock_timestamp());
INSERT INTO tt_tick VALUES (3);
SELECT bemi.sync();
SELECT pg_temp.err($$SELECT * FROM bemi.as_of(NULL::tt_fb, (SELECT at FROM instants WHERE label = 'fallback'))$$);
SELECT primary_key, "row", fallback
  FROM bemi.as_of_jsonb('tt_fb', (SELECT at FROM instants WHERE label = 'fallback')) ORDER BY primary_key;

--------------------------------------------------------------------------------------------
-- Refusals, each with its hint.
CREATE VIEW tt_asof_view AS SELECT * FROM tt_full;
CREATE SEQUENCE tt_asof_seq;
CREATE TABLE tt_nokey (a int, b text);
CREATE TABLE tt_nothing (id int PRIMARY KEY);
ALTER TABLE tt_nothing REPLICA IDENTITY NOTHING;
-- not a table
SELECT pg_temp.err($$SELECT * FROM bemi.as_of(NULL::tt_asof_view, now())$$);
SELECT pg_temp.err($$SELECT * FROM bemi.as_of_jsonb('tt_asof_seq', now())$$);
SELECT pg_temp.err($$SELECT * FROM bemi.as_of(NULL::int, now())$$);
-- no key to tell rows apart
SELECT pg_temp.err($$SELECT * FROM bemi.as_of(NULL::tt_nokey, now())$$);
SELECT pg_temp.err($$SELECT * FROM bemi.as_of(NULL::tt_nothing, now())$$);
-- an instant before the history begins
SELECT pg_temp.err($$SELECT * FROM bemi.as_of(NULL::tt_full, '2001-01-01 00:00+00')$$);
SELECT pg_temp.err($$SELECT * FROM bemi.as_of(NULL::tt_ren, (SELECT at FROM instants WHERE label = 'created'))$$);
-- a position that is not a stored commit
SELECT pg_temp.err($$SELECT * FROM bemi.as_of(NULL::tt_full, '0/10'::pg_lsn)$$);
-- an instant not settled yet: READ COMMITTED waits (here not at all), REPEATABLE READ refuses
SET bemi.time_travel_wait = 0;
SELECT pg_temp.err($$SELECT * FROM bemi.as_of(NULL::tt_full, now() + interval '1 hour')$$);
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT pg_temp.err($$SELECT * FROM bemi.as_of(NULL::tt_full, now() + interval '1 hour')$$);
COMMIT;
SET bemi.time_travel_wait = '3s';
SHOW bemi.time_travel_wait;

-- Chain breaks, each in a transaction rolled back: a capture that changed (a later capture
-- holds the next change), a skipped transaction, a marker of the table and one of an unknown
-- table.
CREATE TEMP TABLE latest AS
SELECT capture, commit_position, effective_at FROM bemi.changes ORDER BY capture DESC, commit_position DESC LIMIT 1;
BEGIN;
INSERT INTO bemi.changes (primary_key, before, after, context, database, schema, "table", operation, committed_at,
                          transaction_id, seq, position, commit_position, capture, effective_at)
SELECT '1', '{}', '{"n": 1}', '{}', current_database(), 'public', 'tt_tick', 'CREATE', effective_at + interval '1 hour',
       1, 0, 1, 1, 'ffffffff-0000-0000-0000-000000000000', effective_at + interval '1 hour'
  FROM latest;
SELECT pg_temp.err($$SELECT * FROM bemi.as_of(NULL::tt_full, (SELECT effective_at + interval '1 minute' FROM latest))$$);
ROLLBACK;
BEGIN;
INSERT INTO bemi.capture_history (event, capture, slot_name, gap_from, detail, system_identifier, database_oid, database)
SELECT 'transaction_skipped', l.capture, 'test', pg_lsn((l.commit_position - 1)::numeric), 'test',
       (SELECT system_identifier FROM pg_control_system()), d.oid, d.datname
  FROM latest l, pg_database d WHERE d.datname = current_database();
SELECT pg_temp.err($$SELECT * FROM bemi.as_of(NULL::tt_full, (SELECT effective_at FROM latest))$$);
ROLLBACK;
BEGIN;
INSERT INTO bemi.changes (primary_key, before, after, context, database, schema, "table", operation, committed_at,
                          transaction_id, seq, position, commit_position, capture, effective_at, fallback)
SELECT NULL, '{}', '{}', '{}', current_database(), 'public', 'tt_full', 'UNKNOWN', effective_at,
       1, 999, commit_position, commit_position, capture, effective_at,
       '[{"reason": "unstorable", "error": "test"}]'
  FROM latest;
SELECT pg_temp.err($$SELECT * FROM bemi.as_of(NULL::tt_full, (SELECT effective_at FROM latest))$$);
-- an instant before the marker is still answerable
SELECT pg_temp.as_of('tt_full', s.at) = s.state AS before_marker
  FROM steps s WHERE s.tbl = 'tt_full'::regclass ORDER BY s.n DESC LIMIT 1;
ROLLBACK;
BEGIN;
INSERT INTO bemi.changes (primary_key, before, after, context, database, schema, "table", operation, committed_at,
                          transaction_id, seq, position, commit_position, capture, effective_at, fallback)
SELECT NULL, '{}', '{}', '{}', current_database(), '', '', 'UNKNOWN', effective_at,
       1, 999, commit_position, commit_position, capture, effective_at,
       '[{"reason": "unstorable", "error": "test"}]'
  FROM latest;
SELECT pg_temp.err($$SELECT * FROM bemi.as_of(NULL::tt_full, (SELECT effective_at FROM latest))$$);
ROLLBACK;

-- Excluded from capture: refused while excluded, and after the exclusion is lifted for every
-- instant since it began, until a new baseline; instants before it stay answerable.
CREATE TABLE tt_excl (id int PRIMARY KEY, v int);
INSERT INTO tt_excl VALUES (1, 1);
INSERT INTO instants VALUES ('before exclusion', clock_timestamp());
INSERT INTO bemi.excluded_tables (pattern, reason) VALUES ('public.tt_ex*', 'test');
UPDATE tt_excl SET v = 2;                                            -- not captured
INSERT INTO instants VALUES ('excluded', clock_timestamp());
INSERT INTO tt_tick VALUES (4);
SELECT bemi.sync();
SELECT pg_temp.err($$SELECT * FROM bemi.as_of(NULL::tt_excl, (SELECT at FROM instants WHERE label = 'before exclusion'))$$);
DELETE FROM bemi.excluded_tables WHERE pattern = 'public.tt_ex*';
INSERT INTO instants VALUES ('exclusion lifted', clock_timestamp());
INSERT INTO tt_tick VALUES (5);
SELECT bemi.sync();
SELECT * FROM bemi.as_of(NULL::tt_excl, (SELECT at FROM instants WHERE label = 'before exclusion'));
SELECT pg_temp.err($$SELECT * FROM bemi.as_of(NULL::tt_excl, (SELECT at FROM instants WHERE label = 'exclusion lifted'))$$);
SELECT bemi.backfill('tt_excl') IS NOT NULL AS backfilled;
INSERT INTO instants VALUES ('excl backfilled', clock_timestamp());
INSERT INTO tt_tick VALUES (6);
SELECT bemi.sync();
SELECT * FROM bemi.as_of(NULL::tt_excl, (SELECT at FROM instants WHERE label = 'excl backfilled'));

-- A schema change that changes rows without row changes (ADD COLUMN ... DEFAULT 5): refused
-- from it on, until a new baseline.
CREATE TABLE tt_brk (id int PRIMARY KEY);
INSERT INTO tt_brk VALUES (1);
INSERT INTO instants VALUES ('before break', clock_timestamp());
ALTER TABLE tt_brk ADD COLUMN z int DEFAULT 5;
INSERT INTO instants VALUES ('after break', clock_timestamp());
INSERT INTO tt_tick VALUES (7);
SELECT bemi.sync();
SELECT * FROM bemi.as_of(NULL::tt_brk, (SELECT at FROM instants WHERE label = 'before break'));
SELECT pg_temp.err($$SELECT * FROM bemi.as_of(NULL::tt_brk, (SELECT at FROM instants WHERE label = 'after break'))$$);
SELECT bemi.backfill('tt_brk') IS NOT NULL AS backfilled;
INSERT INTO tt_brk VALUES (2);
INSERT INTO instants VALUES ('brk backfilled', clock_timestamp());
INSERT INTO tt_tick VALUES (8);
SELECT bemi.sync();
SELECT * FROM bemi.as_of(NULL::tt_brk, (SELECT at FROM instants WHERE label = 'brk backfilled')) ORDER BY id;

-- Who may read the past: whole-table SELECT (not some columns), no row-level security.
CREATE ROLE tt_asof_reader;
CREATE ROLE tt_asof_columns;
GRANT SELECT ON tt_full TO tt_asof_reader;
GRANT SELECT (code) ON tt_full TO tt_asof_columns;
CREATE TABLE tt_asof_rls (id int PRIMARY KEY);
ALTER TABLE tt_asof_rls ENABLE ROW LEVEL SECURITY;
GRANT SELECT ON tt_asof_rls TO tt_asof_reader;
GRANT SELECT ON steps TO tt_asof_reader, tt_asof_columns;
SET ROLE tt_asof_reader;
SELECT pg_temp.as_of('tt_full', s.at) = s.state AS reader_sees
  FROM steps s WHERE s.tbl = 'tt_full'::regclass ORDER BY s.n DESC LIMIT 1;
SELECT pg_temp.err($$SELECT * FROM bemi.as_of(NULL::tt_asof_rls, now() - interval '1 second')$$);
SELECT pg_temp.err($$SELECT * FROM bemi.as_of_jsonb('public', 'tt_gone', (SELECT at FROM steps LIMIT 1))$$);
-- the readers refuse a token of another table
SELECT pg_temp.err($$SELECT * FROM bemi._as_of_rows(bemi._past_permit('tt_full'), 'tt_asof_rls', now() - interval '1 second', NULL)$$);
RESET ROLE;
SET ROLE tt_asof_columns;
SELECT pg_temp.err($$SELECT * FROM bemi.as_of(NULL::tt_full, now() - interval '1 second')$$);
RESET ROLE;
REVOKE ALL ON tt_full, tt_asof_rls, steps FROM tt_asof_reader, tt_asof_columns;
DROP ROLE tt_asof_reader;
DROP ROLE tt_asof_columns;
