-- bemi.revert: inverse of selected changes (by transaction id, context, time window), newest
-- first, conflict-checked; dry_run, skip_conflicts, double revert, key changes, TRUNCATE,
-- REPLICA IDENTITY DEFAULT, privileges, and the marker its own changes are captured with.
-- bemi.restore / bemi.restore_tables: a record and tables back (and forward) to an instant.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS bemi;
SELECT bemi.sync();

-- Runs a statement and shows its ERROR (message, detail, hint) with change ids masked.
CREATE FUNCTION try(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE m text; d text; h text;
BEGIN
    EXECUTE q;
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS m = MESSAGE_TEXT, d = PG_EXCEPTION_DETAIL, h = PG_EXCEPTION_HINT;
    RETURN regexp_replace(m || E'\nDETAIL: ' || coalesce(d, '') || E'\nHINT: ' || coalesce(h, ''),
                          'change [0-9]+', 'change N', 'g');
END $$;
-- The plan / result without change ids.
CREATE FUNCTION show(q text) RETURNS TABLE(tbl text, primary_key text, action text, conflict text)
LANGUAGE plpgsql AS $$
BEGIN
    RETURN QUERY EXECUTE format('SELECT "table", primary_key, action, regexp_replace(conflict, ''change [0-9]+'', ''change N'', ''g'') FROM (%s) r', q);
END $$;

CREATE TABLE todo (id int PRIMARY KEY, task text, done bool NOT NULL DEFAULT false);
ALTER TABLE todo REPLICA IDENTITY FULL;
CREATE TABLE tag (todo_id int, name text, PRIMARY KEY (todo_id, name));   -- REPLICA IDENTITY DEFAULT

-- Selectors.
SELECT try('SELECT * FROM bemi.revert()');
SELECT try($$SELECT * FROM bemi.revert(from_time => '2026-01-02', to_time => '2026-01-01')$$);
SELECT try($$SELECT * FROM bemi.revert(context => '[1]')$$);
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT try($$SELECT * FROM bemi.revert(context => '{"request_id": "x"}')$$);
ROLLBACK;
SELECT * FROM bemi.revert(context => '{"request_id": "nothing-matches"}');

-- request A: creates; request B: updates, a delete, a key change, on both tables.
SELECT bemi.set_context('{"request_id": "A", "user_id": 1}');
INSERT INTO todo VALUES (1, 'Sleep'), (2, 'Eat'), (3, 'Code');
INSERT INTO tag VALUES (1, 'home'), (2, 'food');
SELECT bemi.set_context('{"request_id": "B", "user_id": 2}');
BEGIN;
SELECT txid_current() AS tx_b \gset
UPDATE todo SET done = true WHERE id = 1;
DELETE FROM todo WHERE id = 2;
UPDATE todo SET id = 30, task = 'Code more' WHERE id = 3;   -- key change (FULL)
UPDATE tag SET name = 'house' WHERE todo_id = 1;            -- key change (DEFAULT)
DELETE FROM tag WHERE todo_id = 2;                          -- DEFAULT: before = key only
COMMIT;
SELECT bemi.clear_context();
SELECT bemi.sync();
TABLE todo;
TABLE tag;

-- dry_run: the plan, newest change first; nothing changes.
SELECT * FROM show($$SELECT * FROM bemi.revert(context => '{"request_id": "B"}', dry_run => true)$$);
SELECT count(*) AS unchanged FROM todo WHERE (id, done) IN ((1, true), (30, false));

-- Revert request B by its transaction id.
SELECT * FROM show(format('SELECT * FROM bemi.revert(transaction_ids => ARRAY[%s]::int8[])', :'tx_b'));
TABLE todo ORDER BY id;
TABLE tag ORDER BY todo_id;

-- Reverting again: every inverse conflicts (the rows are no longer what B left), nothing changes.
SELECT try(format('SELECT * FROM bemi.revert(transaction_ids => ARRAY[%s]::int8[])', :'tx_b'));
SELECT * FROM show(format('SELECT * FROM bemi.revert(transaction_ids => ARRAY[%s]::int8[], dry_run => true, skip_conflicts => true)', :'tx_b'));

-- The revert's own changes are captured with the caller's context plus the marker.
SELECT bemi.sync();
SELECT "table", operation, primary_key, shown - 'SQL' AS context,
       context->'bemi_revert'->'transaction_ids' = jsonb_build_array(:'tx_b'::int8) AS names_tx_b
  FROM (SELECT "table", operation, primary_key, capture, commit_position, seq,
               jsonb_set(context, '{bemi_revert,transaction_ids}', '["tx_b"]') AS shown, context
          FROM bemi.changes WHERE context ? 'bemi_revert') c
 ORDER BY capture, commit_position, seq;
-- The marker does not outlive the revert: the caller's context is back (none here).
SELECT bemi.get_context();
-- With a context of the caller's own, merged.
SELECT bemi.set_context('{"user_id": 99, "reason": "undo A"}');
BEGIN;
SELECT * FROM show($$SELECT * FROM bemi.revert(context => '{"user_id": 1}')$$);
SELECT bemi.get_context();          -- the caller's, unchanged inside its transaction
UPDATE todo SET task = 'after revert' WHERE false;
COMMIT;
SELECT bemi.clear_context();
SELECT bemi.sync();
SELECT count(*) AS rows_left FROM todo;
SELECT DISTINCT context - 'SQL' AS context FROM bemi.changes WHERE context @> '{"bemi_revert": {"context": {"user_id": 1}}}';

-- Conflicts: without skip_conflicts the whole revert fails and lists every conflict.
SELECT bemi.set_context('{"request_id": "C"}');
INSERT INTO todo VALUES (1, 'one'), (2, 'two'), (3, 'three');
SELECT bemi.set_context('{"request_id": "D"}');
UPDATE todo SET done = true;
SELECT bemi.clear_context();
UPDATE todo SET task = 'changed since' WHERE id = 2;         -- someone else, later
DELETE FROM todo WHERE id = 3;
SELECT bemi.sync();
SELECT try($$SELECT * FROM bemi.revert(context => '{"request_id": "D"}')$$);
SELECT id, task, done FROM todo ORDER BY id;                  -- nothing changed
-- skip_conflicts: the rest is applied, conflicts reported.
SELECT * FROM show($$SELECT * FROM bemi.revert(context => '{"request_id": "D"}', skip_conflicts => true)$$);
SELECT id, task, done FROM todo ORDER BY id;

-- By time window: only the changes committed in [from_time, to_time).
SELECT clock_timestamp() AS t0 \gset
INSERT INTO todo VALUES (10, 'ten');
SELECT clock_timestamp() AS t1 \gset
INSERT INTO todo VALUES (11, 'eleven');
SELECT bemi.sync();
SELECT * FROM show(format('SELECT * FROM bemi.revert(from_time => %L, to_time => %L)', :'t0', :'t1'));
SELECT id FROM todo WHERE id >= 10 ORDER BY id;

-- REPLICA IDENTITY DEFAULT: before images reconstructed from the row's previous version,
-- unchanged TOAST values included; a row that predates the trail has no known before image.
CREATE TABLE doc (id int PRIMARY KEY, title text, body text);
ALTER TABLE doc ALTER body SET STORAGE EXTERNAL;
INSERT INTO bemi.excluded_tables VALUES ('public.doc', 'not yet');
INSERT INTO doc VALUES (1, 'old', 'predates the trail');
DELETE FROM bemi.excluded_tables WHERE pattern = 'public.doc';
INSERT INTO doc VALUES (2, 'v1', repeat('x', 4000));
UPDATE doc SET title = 'v2' WHERE id = 2;                     -- body: unchanged TOAST
SELECT bemi.set_context('{"request_id": "E"}');
UPDATE doc SET title = 'v3' WHERE id = 2;
UPDATE doc SET title = 'new' WHERE id = 1;
SELECT bemi.clear_context();
SELECT bemi.sync();
SELECT try($$SELECT * FROM bemi.revert(context => '{"request_id": "E"}')$$);
SELECT * FROM show($$SELECT * FROM bemi.revert(context => '{"request_id": "E"}', skip_conflicts => true)$$);
SELECT id, title, length(body) FROM doc ORDER BY id;
SELECT bemi.set_context('{"request_id": "F"}');
DELETE FROM doc WHERE id = 2;
SELECT bemi.clear_context();
SELECT bemi.sync();
SELECT * FROM show($$SELECT * FROM bemi.revert(context => '{"request_id": "F"}')$$);
SELECT id, title, length(body), body = repeat('x', 4000) AS body_back FROM doc ORDER BY id;

-- Rows older than the trail come from the table's baseline (bemi.backfill).
CREATE TABLE legacy (id int PRIMARY KEY, v text, big text);
ALTER TABLE legacy ALTER big SET STORAGE EXTERNAL;
INSERT INTO bemi.excluded_tables VALUES ('public.legacy', 'not yet');
INSERT INTO legacy VALUES (1, 'old', repeat('q', 3000)), (2, 'two', 'b');
DELETE FROM bemi.excluded_tables WHERE pattern = 'public.legacy';
SELECT bemi.sync();
SELECT bemi.backfill('legacy') IS NOT NULL AS baselined;
SELECT bemi.set_context('{"request_id": "L"}');
UPDATE legacy SET v = 'new' WHERE id = 1;                     -- big: unchanged TOAST
DELETE FROM legacy WHERE id = 2;
SELECT bemi.clear_context();
SELECT bemi.sync();
SELECT * FROM show($$SELECT * FROM bemi.revert(context => '{"request_id": "L"}')$$);
SELECT id, v, length(big) FROM legacy ORDER BY id;
DROP TABLE legacy;

-- A partitioned table: reverted through its root (the records name the leaves), a row that
-- moved between partitions (a DELETE and a CREATE) goes back to its first partition.
CREATE TABLE m (id int, region text, v int, PRIMARY KEY (id, region)) PARTITION BY LIST (region);
CREATE TABLE m_eu PARTITION OF m FOR VALUES IN ('eu');
CREATE TABLE m_us PARTITION OF m FOR VALUES IN ('us');
INSERT INTO m VALUES (1, 'eu', 10), (2, 'us', 20);
SELECT bemi.set_context('{"request_id": "P"}');
UPDATE m SET region = 'us', v = 11 WHERE id = 1;
UPDATE m SET v = 21 WHERE id = 2;
SELECT bemi.clear_context();
SELECT bemi.sync();
SELECT "table", root_table, operation, primary_key FROM bemi.changes WHERE context @> '{"request_id": "P"}'
 ORDER BY commit_position, seq;
SELECT * FROM show($$SELECT * FROM bemi.revert(context => '{"request_id": "P"}')$$);
SELECT tableoid::regclass AS part, * FROM m ORDER BY id;
SELECT bemi.set_context('{"request_id": "PT"}');
TRUNCATE m;
SELECT bemi.clear_context();
SELECT bemi.sync();
SELECT * FROM show($$SELECT * FROM bemi.revert(context => '{"request_id": "PT"}', skip_conflicts => true)$$);
DROP TABLE m;

-- Renames (bemi.table_lineage): changes recorded under the old names are reverted in the
-- table as it is called now, through its current column names; a column dropped since is
-- ignored; a new table that took the old name is left alone.
CREATE TABLE ren (id int PRIMARY KEY, a text, gone int);
ALTER TABLE ren REPLICA IDENTITY FULL;
INSERT INTO ren VALUES (1, 'x', 0);
SELECT bemi.set_context('{"request_id": "R"}');
UPDATE ren SET a = 'y', gone = 1 WHERE id = 1;
INSERT INTO ren VALUES (2, 'z', 2);
SELECT bemi.clear_context();
ALTER TABLE ren RENAME TO ren2;
ALTER TABLE ren2 RENAME COLUMN a TO b;
ALTER TABLE ren2 DROP COLUMN gone;
CREATE TABLE ren (id int PRIMARY KEY, a text);
INSERT INTO ren VALUES (1, 'y'), (2, 'z');
SELECT bemi.sync();
SELECT * FROM show($$SELECT * FROM bemi.revert(context => '{"request_id": "R"}')$$);
TABLE ren2;
TABLE ren;
DROP TABLE ren, ren2;

-- TRUNCATE: the rows the table held just before it come back (or a clear refusal).
SELECT bemi.set_context('{"request_id": "T"}');
TRUNCATE todo;
SELECT bemi.clear_context();
SELECT bemi.sync();
SELECT id, task, done FROM todo ORDER BY id;                  -- (empty)
SELECT * FROM show($$SELECT * FROM bemi.revert(context => '{"request_id": "T"}')$$);
SELECT id, task, done FROM todo ORDER BY id;                  -- back
-- A TRUNCATE after other changes of the table in its own transaction: refused clearly.
BEGIN;
SELECT bemi.set_context('{"request_id": "T2"}', true);
INSERT INTO todo VALUES (99, 'x');
TRUNCATE todo;
COMMIT;
SELECT bemi.sync();
SELECT try($$SELECT * FROM bemi.revert(context => '{"request_id": "T2"}')$$);
SELECT * FROM show($$SELECT * FROM bemi.revert(context => '{"request_id": "T2"}', skip_conflicts => true)$$);
SELECT id FROM todo ORDER BY id;

-- Privileges: the DML runs as the caller; reading a table's trail needs SELECT on it.
CREATE ROLE tt_revert_reader;
CREATE ROLE tt_revert_none;
GRANT SELECT ON todo TO tt_revert_reader;
SELECT bemi.set_context('{"request_id": "G"}');
INSERT INTO todo VALUES (50, 'fifty');
SELECT bemi.clear_context();
SELECT bemi.sync();
SET ROLE tt_revert_reader;        -- may read, may not write
SELECT try($$SELECT * FROM bemi.revert(context => '{"request_id": "G"}')$$);
RESET ROLE;
SET ROLE tt_revert_none;          -- may not even read
SELECT try($$SELECT * FROM bemi.revert(context => '{"request_id": "G"}', dry_run => true)$$);
RESET ROLE;
GRANT DELETE, UPDATE ON todo TO tt_revert_reader;
SET ROLE tt_revert_reader;
SELECT * FROM show($$SELECT * FROM bemi.revert(context => '{"request_id": "G"}')$$);
RESET ROLE;
SELECT count(*) AS fifty_gone FROM todo WHERE id = 50;
REVOKE ALL ON todo FROM tt_revert_reader;
DROP ROLE tt_revert_reader, tt_revert_none;

-- Restore one record, then whole tables, to an earlier instant, and forward again.
DELETE FROM todo;
INSERT INTO todo VALUES (1, 'a'), (2, 'b');
SELECT bemi.sync();
SELECT clock_timestamp() AS s1 \gset
SELECT jsonb_agg(t ORDER BY id) AS state1 FROM todo t \gset
UPDATE todo SET task = 'a2' WHERE id = 1;
DELETE FROM todo WHERE id = 2;
INSERT INTO todo VALUES (3, 'c');
SELECT bemi.sync();
SELECT clock_timestamp() AS s2 \gset
SELECT jsonb_agg(t ORDER BY id) AS state2 FROM todo t \gset
SELECT pg_sleep(0.01);
INSERT INTO tag VALUES (7, 'later');                          -- a stored commit after s2
SELECT bemi.sync();
SELECT * FROM show(format('SELECT * FROM bemi.restore(ROW(2, NULL, NULL)::todo, %L)', :'s1'));   -- re-inserted
SELECT * FROM show(format('SELECT r.* FROM todo t, bemi.restore(t, %L) r WHERE t.id = 1', :'s1'));  -- updated back
SELECT * FROM show(format('SELECT r.* FROM todo t, bemi.restore(t, %L) r WHERE t.id = 1', :'s1'));  -- already so: nothing
SELECT id, task, done FROM todo ORDER BY id;
SELECT try(format('SELECT * FROM bemi.restore(NULL::todo, %L)', :'s1'));
SELECT try(format('SELECT * FROM bemi.restore(1, %L)', :'s1'));
-- Tables: back to s1 (dry run first), then forward to s2.
SELECT * FROM show(format('SELECT * FROM bemi.restore_tables(ARRAY[''todo''::regclass], %L, dry_run => true)', :'s1'));
SELECT * FROM show(format('SELECT * FROM bemi.restore_tables(ARRAY[''todo''::regclass], %L)', :'s1'));
SELECT jsonb_agg(t ORDER BY id) = :'state1'::jsonb AS at_s1 FROM todo t;
SELECT * FROM show(format('SELECT * FROM bemi.restore_tables(ARRAY[''todo''::regclass], %L)', :'s2'));
SELECT jsonb_agg(t ORDER BY id) = :'state2'::jsonb AS at_s2 FROM todo t;
SELECT bemi.sync();
SELECT DISTINCT "table", context->'bemi_restore' ? 'at' AS marked FROM bemi.changes WHERE context ? 'bemi_restore';

DROP FUNCTION try(text), show(text);
DROP TABLE todo, tag, doc;
DROP EXTENSION bemi;
