-- bemi from plain SQL: each request is one transaction that sets its context first.
--   psql -v ON_ERROR_STOP=1 -d app -f recipe.sql
-- (the todo table: id serial PRIMARY KEY, task text, is_completed boolean DEFAULT false)

-- Request 1: user 187234 adds three todos.
BEGIN;
SELECT bemi_set_context('{"user_id": 187234, "endpoint": "/todo", "method": "POST", "note": "it''s 100% \"done\" */ DROP TABLE todo; /* %s"}', true);
INSERT INTO todo (task) VALUES ('Sleep'), ('Eat'), ('Repeat');
COMMIT;

-- An instant between the two requests, for time travel below.
SELECT clock_timestamp() AS between_requests \gset

-- Request 2: user 42 completes two todos and deletes one.
BEGIN;
SELECT bemi_set_context('{"user_id": 42, "endpoint": "/todo/bulk", "method": "PATCH"}', true);
UPDATE todo SET is_completed = true WHERE id IN (1, 2);
DELETE FROM todo WHERE id = 3;
COMMIT;

-- is_local => true ended with the transaction: this write carries no context.
INSERT INTO todo (task) VALUES ('Code');

-- Reading: wait until bemi has stored everything committed so far.
SELECT bemi.sync();

-- A record's history, each change with its diff and its request's context.
SELECT operation, diff, context->>'user_id' AS user_id, context->>'SQL' AS sql
  FROM bemi.history('todo', '2');

-- The table as it was between the two requests.
SELECT * FROM bemi.as_of(NULL::todo, :'between_requests') ORDER BY id;

-- Everything user 42 did.
SELECT "table", primary_key, operation FROM bemi.changes
 WHERE context @> '{"user_id": 42}' ORDER BY committed_at, seq;
