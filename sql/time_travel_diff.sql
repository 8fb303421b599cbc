-- bemi.diff (of two images and of a stored change) and the view bemi.transactions: one row per
-- stored transaction, found by its context through the GIN index.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS bemi;
SELECT bemi.sync();

-- Two images: changed keys only; a key missing on one side is null there.
SELECT bemi.diff('{"a": 1, "b": "x", "c": null}', '{"a": 2, "b": "x", "d": [1, 2]}');
SELECT bemi.diff('{"a": null}', '{}');                      -- {}: missing counts as null
SELECT bemi.diff('{}', '{}');
SELECT bemi.diff('{"n": 1.0, "o": {"x": 1}}', '{"n": 1, "o": {"x": 2}}');  -- jsonb equality; nested as a whole
SELECT bemi.diff(NULL, '{}') IS NULL AS strict_null;
SELECT bemi.diff('[1]', '{}');                               -- ERROR: not objects
SELECT p.provolatile, p.proparallel, p.proisstrict FROM pg_proc p
 WHERE p.oid = 'bemi.diff(jsonb, jsonb)'::regprocedure;

-- Stored changes: one table under REPLICA IDENTITY FULL, one under DEFAULT with a TOASTed column.
CREATE TABLE todo (id int PRIMARY KEY, task text, done bool DEFAULT false);
ALTER TABLE todo REPLICA IDENTITY FULL;
CREATE TABLE note (id int PRIMARY KEY, title text, body text);
ALTER TABLE note ALTER body SET STORAGE EXTERNAL;
SELECT bemi.set_context('{"request_id": "req-1", "user_id": 187234}');
BEGIN;
INSERT INTO todo VALUES (1, 'Sleep'), (2, 'Eat');
INSERT INTO note VALUES (1, 'n1', repeat('b', 3000));
COMMIT;
SELECT bemi.set_context('{"request_id": "req-2", "user_id": 187234}');
BEGIN;
UPDATE todo SET done = true WHERE id = 1;
DELETE FROM todo WHERE id = 2;
UPDATE note SET title = 'n1!' WHERE id = 1;            -- DEFAULT: no before image; body: unchanged TOAST
SELECT bemi.set_context('{"request_id": "req-2", "user_id": 42}', true);
UPDATE note SET id = 2 WHERE id = 1;                   -- key change: before holds the old key
COMMIT;
SELECT bemi.set_context('{"request_id": "req-3"}');
TRUNCATE todo;
SELECT bemi.clear_context();
SELECT bemi.sync();

SELECT "table", operation, primary_key, unchanged_toast, bemi.diff(c) - 'body' AS diff,
       (c.after ? 'body') AS after_has_body
  FROM bemi.changes c WHERE schema = 'public'
 ORDER BY capture, commit_position, seq;
-- Unchanged TOAST columns are never "changed", and a DELETE's diff is before -> nothing.
SELECT count(*) AS toast_in_diff FROM bemi.changes c WHERE c.unchanged_toast IS NOT NULL AND bemi.diff(c) ?| c.unchanged_toast;

-- One row per stored transaction, in commit order.
SELECT transaction_id > 0 AS has_xid, context - 'SQL' AS context, jsonb_array_length(contexts) AS n_contexts,
       (SELECT jsonb_agg(x - 'SQL') FROM jsonb_array_elements(contexts) x) AS contexts,
       tables, changes, counts, actor ? 'session_user' AS has_actor
  FROM bemi.transactions WHERE tables && '{public.todo,public.note}'
 ORDER BY capture, commit_position;
-- The view and the trail agree: every stored change of a captured transaction is counted once.
SELECT (SELECT sum(changes) FROM bemi.transactions) = (SELECT count(*) FROM bemi.changes WHERE capture IS NOT NULL) AS all_counted,
       (SELECT count(*) FROM bemi.transactions)
       = (SELECT count(DISTINCT (capture, commit_position)) FROM bemi.changes WHERE capture IS NOT NULL) AS one_row_each;
-- Same transaction_id, commit_position, committed_at as the trail's rows.
SELECT bool_and(t.transaction_id = c.transaction_id AND t.committed_at = c.committed_at) AS consistent
  FROM bemi.transactions t JOIN bemi.changes c USING (capture, commit_position);

-- "What did request X change": one query, by the first change's context.
SELECT tables, counts FROM bemi.transactions WHERE context @> '{"request_id": "req-2"}';
SELECT tables, counts FROM bemi.transactions WHERE context @> '{"user_id": 187234}' ORDER BY commit_position;
-- A context only a later change of the transaction had: search the trail, join on the identity.
SELECT t.tables, t.counts FROM bemi.transactions t
 WHERE (t.capture, t.commit_position) IN (SELECT capture, commit_position FROM bemi.changes WHERE context @> '{"user_id": 42}');
-- The filter reaches bemi.changes' GIN index (the planner may prefer it once the table is big;
-- here it is forced by disabling sequential scans).
SET enable_seqscan = off;
CREATE FUNCTION plan_of(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE l text; r text := '';
BEGIN
    FOR l IN EXECUTE 'EXPLAIN (COSTS OFF) ' || q LOOP r := r || l || E'\n'; END LOOP;
    RETURN r;
END $$;
SELECT plan_of($$SELECT * FROM bemi.transactions WHERE context @> '{"request_id": "req-2"}'$$) ~ 'Bitmap Index Scan on changes_\w*context_idx' AS uses_context_index;
RESET enable_seqscan;

-- Who may read it: bemi_reader, not PUBLIC.
CREATE ROLE tt_diff_nobody;
SET ROLE tt_diff_nobody;
SELECT count(*) FROM bemi.transactions;      -- ERROR: permission denied
RESET ROLE;
GRANT bemi_reader TO tt_diff_nobody;
SET ROLE tt_diff_nobody;
SELECT count(*) > 0 AS reader_sees FROM bemi.transactions;
RESET ROLE;
DROP ROLE tt_diff_nobody;

DROP FUNCTION plan_of(text);
DROP TABLE todo, note;
DROP EXTENSION bemi;
