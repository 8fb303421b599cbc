-- bemi.excluded_tables: rows decide which tables the decoder skips, read under the decoding
-- snapshot, so a change of exclusions applies from its commit on and decoding the same WAL
-- again makes the same decisions. Also: MERGE and deferred triggers under capture, and the
-- upgrade path from 0.1.
SET client_min_messages = warning;
-- In a database without the extension the capture hooks emit nothing (the library is loaded
-- here: the test server preloads it).
CREATE TABLE plain (id int PRIMARY KEY);
SELECT 'init' FROM pg_create_logical_replication_slot('regression_slot_no_extension', 'test_decoding');
INSERT INTO plain VALUES (1);
SELECT count(*) FILTER (WHERE data LIKE 'message:%') AS messages, count(*) FILTER (WHERE data LIKE 'table public.plain%') AS changes
FROM pg_logical_slot_get_changes('regression_slot_no_extension', NULL, NULL);
SELECT pg_drop_replication_slot('regression_slot_no_extension');
DROP TABLE plain;
CREATE EXTENSION bemi VERSION '0.1';
SELECT bemi.version();
ALTER EXTENSION bemi UPDATE;
SELECT extversion, bemi.version() FROM pg_extension WHERE extname = 'bemi';
SELECT count(*) AS changes_table FROM pg_class WHERE oid = 'bemi.changes'::regclass;

CREATE TABLE sessions (id int PRIMARY KEY, data text);
CREATE TABLE orders (id int PRIMARY KEY, total numeric);
SELECT 'init' FROM pg_create_logical_replication_slot('regression_slot_exclusions', 'bemi');
CREATE FUNCTION seen() RETURNS TABLE (tbl text, op text, pk text)
LANGUAGE sql AS $$
  SELECT r->>'schema' || '.' || (r->>'table'), r->>'operation', r->>'primary_key'
  FROM (SELECT data::jsonb AS r FROM pg_logical_slot_peek_changes('regression_slot_exclusions', NULL, NULL)) d
$$;

INSERT INTO sessions VALUES (1, 'a');
INSERT INTO orders VALUES (1, 10);
-- Excluded from here on (the exclusion itself is a change worth recording).
INSERT INTO bemi.excluded_tables (pattern, reason) VALUES ('public.sess*', 'churn');
INSERT INTO sessions VALUES (2, 'b');
INSERT INTO orders VALUES (2, 20);
-- And back.
DELETE FROM bemi.excluded_tables WHERE pattern = 'public.sess*';
INSERT INTO sessions VALUES (3, 'c');
SELECT * FROM seen();
-- Decoding the same WAL again gives the same answer.
SELECT count(*) FROM seen();

SELECT 'done' FROM pg_logical_slot_get_changes('regression_slot_exclusions', NULL, NULL);

-- MERGE is captured with its statement.
SELECT bemi_set_context('{"job": "merge"}');
MERGE INTO orders o USING (VALUES (2, 25), (3, 30)) AS v(id, total) ON o.id = v.id
WHEN MATCHED THEN UPDATE SET total = v.total
WHEN NOT MATCHED THEN INSERT VALUES (v.id, v.total);
SELECT data::jsonb->>'operation' AS op, data::jsonb->>'primary_key' AS pk,
       data::jsonb->'context'->>'job' AS job, left(data::jsonb->'context'->>'SQL', 16) AS sql
FROM pg_logical_slot_get_changes('regression_slot_exclusions', NULL, NULL);

-- A deferred constraint trigger fires at COMMIT, after the client's statements: its changes
-- get the transaction's last message (the last modifying statement's context and SQL).
CREATE TABLE order_audit (id serial PRIMARY KEY, order_id int);
CREATE FUNCTION audit_order() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO order_audit (order_id) VALUES (NEW.id);
  RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER order_audited AFTER INSERT ON orders
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION audit_order();
BEGIN;
SELECT bemi_set_context('{"step": "first"}', true);
INSERT INTO orders VALUES (10, 1);
SELECT bemi_set_context('{"step": "last"}', true);
INSERT INTO orders VALUES (11, 2);
COMMIT;
SELECT data::jsonb->>'table' AS tbl, data::jsonb->>'primary_key' AS pk,
       data::jsonb->'context'->>'step' AS step, data::jsonb->'context'->>'SQL' AS sql
FROM pg_logical_slot_get_changes('regression_slot_exclusions', NULL, NULL)
WHERE data::jsonb->>'schema' <> 'bemi';  -- not the lineage of the CREATE TABLE (time_travel_lineage)

-- A superuser can edit the audit trail, but the edit is itself a change bemi records (only
-- the ingestion worker's own origin is skipped, never bemi's schema).
SELECT bemi_set_context('{"who": "dba"}');
INSERT INTO bemi.changes (primary_key, before, after, context, database, schema, "table", operation,
                          committed_at, transaction_id, seq, position, commit_position)
VALUES ('1', '{}', '{"id": 1}', '{}', current_database(), 'public', 'orders', 'CREATE', now(), 1, 0, 0, 0);
UPDATE bemi.changes SET context = '{"forged": true}' WHERE transaction_id = 1;
DELETE FROM bemi.changes WHERE transaction_id = 1;
SELECT data::jsonb->>'schema' AS schema, data::jsonb->>'table' AS tbl, data::jsonb->>'operation' AS op,
       data::jsonb->'before'->'context' AS context_before, data::jsonb->'after'->'context' AS context_after,
       data::jsonb->'context'->>'who' AS who
FROM pg_logical_slot_get_changes('regression_slot_exclusions', NULL, NULL);

SELECT pg_drop_replication_slot('regression_slot_exclusions');
DROP FUNCTION seen(), audit_order() CASCADE;
DROP TABLE sessions, orders, order_audit;
RESET bemi.context;
DROP EXTENSION bemi;
