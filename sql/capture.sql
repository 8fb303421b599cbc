-- Automatic capture: every modifying statement carries the context in force and the client's
-- statement under "SQL", emitted once per (context, statement) and never per row.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS bemi;
CREATE TABLE todo (id int PRIMARY KEY, task text);
CREATE TABLE todo_log (id serial PRIMARY KEY, todo_id int, note text);
CREATE TABLE owners (id int PRIMARY KEY);
CREATE TABLE owned (id int PRIMARY KEY, owner_id int REFERENCES owners ON DELETE CASCADE);
SELECT 'init' FROM pg_create_logical_replication_slot('regression_slot_capture', 'bemi');
-- test_decoding shows the _bemi messages themselves, which bemi turns into context.
SELECT 'init' FROM pg_create_logical_replication_slot('regression_slot_messages', 'test_decoding');

-- Records as (table, operation, context); "SQL" shown separately.
CREATE FUNCTION changes() RETURNS TABLE (tbl text, op text, pk text, context jsonb, sql text)
LANGUAGE sql AS $$
  SELECT r->>'table', r->>'operation', r->>'primary_key', (r->'context') - 'SQL', r->'context'->>'SQL'
  FROM (SELECT data::jsonb AS r FROM pg_logical_slot_get_changes('regression_slot_capture', NULL, NULL)) d
$$;
CREATE FUNCTION messages() RETURNS bigint LANGUAGE sql AS $$
  SELECT count(*) FROM pg_logical_slot_get_changes('regression_slot_messages', NULL, NULL)
  WHERE data LIKE 'message: transactional: 1 prefix: _bemi,%'
$$;

-- No context: the statement is still recorded.
INSERT INTO todo VALUES (1, 'plain');
SELECT * FROM changes();

-- Session context lasts across transactions until changed or cleared.
SELECT bemi_set_context('{"user_id": 187234, "endpoint": "/todo", "method": "POST"}');
SELECT bemi_get_context();
INSERT INTO todo VALUES (2, 'a');
UPDATE todo SET task = 'b' WHERE id = 2;
SELECT * FROM changes();

-- is_local: this transaction only, then the session's again.
BEGIN;
SELECT bemi_set_context('{"user_id": 1, "job": "import"}', true);
SELECT bemi_get_context();
INSERT INTO todo VALUES (3, 'local');
COMMIT;
SELECT bemi_get_context();
INSERT INTO todo VALUES (4, 'session again');
SELECT * FROM changes();

-- A local context set in a savepoint that rolls back is undone with it.
BEGIN;
SELECT bemi_set_context('{"stage": "outer"}', true);
SAVEPOINT s;
SELECT bemi_set_context('{"stage": "inner"}', true);
ROLLBACK TO SAVEPOINT s;
INSERT INTO todo VALUES (5, 'after rollback to savepoint');
COMMIT;
SELECT * FROM changes();

-- The comment protocol: comment keys override session keys; "SQL" is the statement without it.
UPDATE todo SET task = 'c' WHERE id = 2 /*Bemi {"user_id": 42, "method": "PATCH"} Bemi*/;
SELECT * FROM changes();
-- bemi-django releases after 0.0.5: urllib.parse.quote()d JSON; with parameters the driver undoes the '%%'
-- doubling (first), without it reaches the server doubled (second).
UPDATE todo SET task = 'd' WHERE id = 2 /*Bemi {"user_id": 7, "endpoint": "/todo/%2A", "q": "a%3Bb%26c", "SQL": "UPDATE \"todo\" SET \"task\" = %s"} Bemi*/;
UPDATE todo SET task = 'e' WHERE id = 2 /*Bemi {"user_id": 8, "endpoint": "/todo/%%2A", "pct": "100%%"} Bemi*/;
SELECT tbl, op, context FROM changes();

-- A malformed or oversized comment never fails the write: marker and one WARNING.
SET client_min_messages = warning;
UPDATE todo SET task = 'f' WHERE id IN (1, 2) /*Bemi {"user_id": oops} Bemi*/;
UPDATE todo SET task = 'g' WHERE id = 2 /*Bemi {"user_id": 1} */;
SET bemi.max_context_bytes = 64;
UPDATE todo SET task = 'h' WHERE id = 2 /*Bemi {"blob": "0123456789012345678901234567890123456789012345678901234567890123456789"} Bemi*/;
RESET bemi.max_context_bytes;
SELECT tbl, op, context FROM changes();

-- Clearing.
SELECT bemi_clear_context();
SELECT bemi_get_context();
INSERT INTO todo VALUES (6, 'cleared');
SELECT * FROM changes();

-- Per statement inside one transaction: A, B, then A again.
SELECT bemi_set_context('{"endpoint": "/a"}');
BEGIN;
INSERT INTO todo VALUES (10, 'A');
SELECT bemi_set_context('{"endpoint": "/b"}');
UPDATE todo SET task = 'B' WHERE id = 10;
SELECT bemi_set_context('{"endpoint": "/a"}');
INSERT INTO todo VALUES (10, 'A') ON CONFLICT (id) DO UPDATE SET task = 'A again';
COMMIT;
SELECT * FROM changes();

-- One message per statement, not per row: 200 rows, one message.
SELECT messages() > 0 AS earlier_messages;
INSERT INTO todo SELECT g, 'bulk' FROM generate_series(100, 299) g;
SELECT messages() AS context_messages;
SELECT count(*) AS records, count(DISTINCT context) AS contexts FROM changes();

-- Writes in functions, triggers and cascades belong to the client's statement.
CREATE FUNCTION add_todo(i int) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO todo VALUES (i, 'from function');
END $$;
CREATE FUNCTION log_todo() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO todo_log (todo_id, note) VALUES (NEW.id, 'trigger');
  RETURN NEW;
END $$;
CREATE TRIGGER todo_logged AFTER INSERT ON todo FOR EACH ROW EXECUTE FUNCTION log_todo();
SELECT add_todo(20);
INSERT INTO owners VALUES (1);
INSERT INTO owned VALUES (1, 1), (2, 1);
SELECT count(*) FROM changes();
SELECT messages() > 0 AS earlier_messages;
DELETE FROM owners WHERE id = 1;
SELECT messages() AS messages_for_delete_and_cascade;
SELECT tbl, op, pk, context, sql FROM changes();
SELECT add_todo(21);
SELECT tbl, op, pk, sql FROM changes();
-- An exception block rolls back a subtransaction inside the client's statement: the changes
-- after it still belong to that statement.
CREATE FUNCTION add_two(i int) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  BEGIN
    INSERT INTO todo VALUES (i, 'rolled back');
    RAISE EXCEPTION 'undo';
  EXCEPTION WHEN raise_exception THEN NULL;
  END;
  INSERT INTO todo VALUES (i + 1, 'kept');
END $$;
SELECT add_two(22);
SELECT tbl, op, pk, sql FROM changes();

-- Several statements in one query string: each change gets its own statement.
INSERT INTO todo VALUES (30, 'x') \; UPDATE todo SET task = 'y' WHERE id = 30 \; DELETE FROM todo_log;
SELECT tbl, op, count(*), sql FROM changes() GROUP BY tbl, op, sql ORDER BY 1, 2;
DROP TRIGGER todo_logged ON todo;

-- Prepared statements keep their $n placeholders.
PREPARE upd(text, int) AS UPDATE todo SET task = $1 WHERE id = $2;
EXECUTE upd('prepared', 30);
SELECT op, sql FROM changes();

-- COPY FROM and TRUNCATE carry context too.
SELECT bemi_set_context('{"job": "nightly import"}');
COPY todo_log (todo_id, note) FROM stdin;
1	copied
\.
TRUNCATE todo_log;
SELECT tbl, op, context, sql FROM changes();

-- EXPLAIN without ANALYZE changes nothing and emits nothing.
SELECT messages() > 0 AS earlier_messages;
EXPLAIN (COSTS OFF) INSERT INTO todo VALUES (40, 'never');
SELECT messages() AS emitted_by_explain;

-- A procedure that commits starts a new transaction: its next change gets its message again.
CREATE PROCEDURE two_steps() LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO todo VALUES (50, 'first');
  COMMIT;
  INSERT INTO todo VALUES (51, 'second');
END $$;
CALL two_steps();
SELECT op, pk, context, sql FROM changes();

-- SQL capture: cut at bemi.max_sql_bytes on a character boundary, or off.
SET bemi.max_sql_bytes = 64;
UPDATE todo SET task = 'ééééééééééééééééééééééééééééééééééééééééé' WHERE id = 50;
SELECT octet_length(sql) AS sql_bytes, sql FROM changes();
RESET bemi.max_sql_bytes;
SET bemi.capture_sql = off;
UPDATE todo SET task = 'private' WHERE id = 50;
SELECT context, sql FROM changes();
RESET bemi.capture_sql;

-- Bad input to bemi_set_context is a clear ERROR.
SELECT bemi_set_context('[1, 2]');
SELECT bemi_set_context('"text"');
SELECT bemi_set_context(NULL);
SELECT bemi_set_context('{"a": 1}', NULL);
SELECT bemi_set_context(jsonb_build_object('blob', repeat('x', 9000)));
SET bemi.context = 'not json';

-- Only a superuser changes what is captured.
CREATE ROLE capture_app;
SET ROLE capture_app;
SET bemi.capture_sql = off;
SET bemi.max_sql_bytes = 100;
SET bemi.max_context_bytes = 100000;
SELECT bemi_set_context('{"as": "app"}');
SELECT bemi_get_context();
RESET ROLE;
DROP ROLE capture_app;

SELECT pg_drop_replication_slot('regression_slot_capture');
SELECT pg_drop_replication_slot('regression_slot_messages');
DROP PROCEDURE two_steps();
DROP FUNCTION changes(), messages(), add_todo(int), add_two(int), log_todo();
DROP TABLE todo, todo_log, owned, owners;
SELECT bemi_clear_context();
DROP EXTENSION bemi;
