-- Context stitching: each change gets the latest _bemi message before it in its transaction.
SET client_min_messages = warning;
SELECT 'init' FROM pg_create_logical_replication_slot('regression_slot_context', 'bemi');
CREATE TABLE items (id int PRIMARY KEY, name text);
CREATE TABLE audit_notes (id int PRIMARY KEY, note text);

-- The payload is kept as sent: numbers with every digit, unicode, nesting; line breaks
-- inside the JSON become spaces so each record stays on one line.
BEGIN;
SELECT 'msg' FROM pg_logical_emit_message(true, '_bemi',
  E'{"user_id": 123456789012345678901234567890,\n "ratio": 0.1000000000000000055511151231257827,\n "who": "Zoë ✓ 🚀", "tags": ["a", {"b": null}],\n "SQL": "INSERT INTO items VALUES (1, ''x'')"}');
INSERT INTO items VALUES (1, 'x');
INSERT INTO audit_notes VALUES (1, 'same statement context reaches every table');
COMMIT;
SELECT data::jsonb->>'table' AS tbl, data::jsonb->'context' AS context,
       data::jsonb->'context'->>'user_id' AS user_id_text,
       position(chr(10) IN data) AS newline_at
FROM pg_logical_slot_get_changes('regression_slot_context', NULL, NULL);

-- Context does not outlive its transaction.
INSERT INTO items VALUES (2, 'no context');
SELECT data::jsonb->'context' AS context FROM pg_logical_slot_get_changes('regression_slot_context', NULL, NULL);

-- A non-transactional _bemi message describes no transaction and is ignored.
SELECT 'msg' FROM pg_logical_emit_message(false, '_bemi', '{"user_id": 1}');
INSERT INTO items VALUES (3, 'still none');
SELECT data::jsonb->'context' AS context FROM pg_logical_slot_get_changes('regression_slot_context', NULL, NULL);

-- Per statement, not per transaction: A, B, then A again; the latest message wins, and a
-- message after the last change affects nothing.
BEGIN;
SELECT 'msg' FROM pg_logical_emit_message(true, '_bemi', '{"endpoint": "/a"}');
INSERT INTO items VALUES (10, 'a1'), (11, 'a2');
SELECT 'msg' FROM pg_logical_emit_message(true, '_bemi', '{"endpoint": "/b"}');
UPDATE items SET name = 'b' WHERE id = 10;
SELECT 'msg' FROM pg_logical_emit_message(true, '_bemi', '{"endpoint": "/a"}');
DELETE FROM items WHERE id = 11;
SELECT 'msg' FROM pg_logical_emit_message(true, '_bemi', '{"endpoint": "/late"}');
COMMIT;
SELECT data::jsonb->>'seq' AS seq, data::jsonb->>'operation' AS op, data::jsonb->'context' AS context
FROM pg_logical_slot_get_changes('regression_slot_context', NULL, NULL);

-- Other prefixes never set context.
BEGIN;
SELECT 'msg' FROM pg_logical_emit_message(true, '_bemi_other', '{"endpoint": "/wrong"}');
SELECT 'msg' FROM pg_logical_emit_message(true, 'bemi', '{"endpoint": "/wrong"}');
INSERT INTO items VALUES (20, 'x');
COMMIT;
SELECT data::jsonb->'context' AS context FROM pg_logical_slot_get_changes('regression_slot_context', NULL, NULL);

-- The original product's triggers emit one message per row, the same context each time:
-- still one context per change, as sent.
BEGIN;
SELECT 'msg' FROM pg_logical_emit_message(true, '_bemi', '{"user_id": 7, "SQL": "UPDATE items SET name = ''y''"}');
UPDATE items SET name = 'y' WHERE id = 1;
SELECT 'msg' FROM pg_logical_emit_message(true, '_bemi', '{"user_id": 7, "SQL": "UPDATE items SET name = ''y''"}');
UPDATE items SET name = 'y' WHERE id = 2;
COMMIT;
SELECT data::jsonb->'primary_key' AS pk, data::jsonb->'context' AS context
FROM pg_logical_slot_get_changes('regression_slot_context', NULL, NULL);

-- The same payload bytes are copied into every change: a large context over many rows.
BEGIN;
SELECT 'msg' FROM pg_logical_emit_message(true, '_bemi', json_build_object('blob', repeat('x', 60000))::text);
INSERT INTO items SELECT g, 'bulk' FROM generate_series(100, 399) g;
COMMIT;
SELECT count(*) AS changes, count(DISTINCT data::jsonb->'context') AS distinct_contexts,
       min(length(data::jsonb->'context'->>'blob')) AS blob_length
FROM pg_logical_slot_get_changes('regression_slot_context', NULL, NULL);

SELECT pg_drop_replication_slot('regression_slot_context');
DROP TABLE items, audit_notes;
