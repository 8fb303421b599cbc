-- The record's shape: keys, types, operations, positions and commit time.
SET client_min_messages = warning;
SELECT 'init' FROM pg_create_logical_replication_slot('regression_slot_format', 'bemi');

CREATE TABLE todo (id serial PRIMARY KEY, task text NOT NULL, is_completed boolean NOT NULL DEFAULT false);
ALTER TABLE todo REPLICA IDENTITY FULL;

CREATE TEMP TABLE marks AS SELECT pg_current_wal_insert_lsn() AS lsn_before, clock_timestamp() AS time_before;
BEGIN;
SELECT 'msg' FROM pg_logical_emit_message(true, '_bemi', '{"user_id": 187234, "endpoint": "/todo", "method": "POST"}');
COPY todo (task) FROM stdin;
Sleep
Eat
Repeat
\.
UPDATE todo SET is_completed = true WHERE id = 2;
DELETE FROM todo WHERE id = 3;
COMMIT;
TRUNCATE todo;

CREATE TEMP TABLE records AS
SELECT row_number() OVER () AS n, lsn AS output_lsn, xid, data, data::jsonb AS r
FROM pg_logical_slot_get_changes('regression_slot_format', NULL, NULL);

-- The records as a consumer sees them, minus the keys that change from run to run.
SELECT r - '{transaction_id,position,commit_position,committed_at}'::text[] AS record FROM records ORDER BY n;

-- One line per record, no pretty-printing.
SELECT count(*) AS records, count(*) FILTER (WHERE data LIKE '%' || chr(10) || '%') AS multi_line FROM records;

-- Every record has exactly the documented keys, with the documented types.
SELECT n, array_agg(k ORDER BY k) AS keys
FROM records, jsonb_object_keys(r) k GROUP BY n
HAVING array_agg(k ORDER BY k) <> '{after,before,commit_position,committed_at,context,database,operation,position,primary_key,schema,seq,table,transaction_id}';
SELECT count(*) FILTER (WHERE jsonb_typeof(r->'database') = 'string' AND r->>'database' = current_database()
                          AND jsonb_typeof(r->'schema') = 'string' AND jsonb_typeof(r->'table') = 'string'
                          AND jsonb_typeof(r->'before') = 'object' AND jsonb_typeof(r->'after') = 'object'
                          AND jsonb_typeof(r->'context') = 'object' AND jsonb_typeof(r->'transaction_id') = 'number'
                          AND jsonb_typeof(r->'seq') = 'number' AND jsonb_typeof(r->'position') = 'number'
                          AND jsonb_typeof(r->'commit_position') = 'number'
                          AND jsonb_typeof(r->'committed_at') = 'string') AS well_typed,
       count(*) AS total
FROM records;

-- transaction_id is the server's xid (with epoch), one per transaction.
SELECT count(DISTINCT r->'transaction_id') AS transactions,
       bool_and((r->>'transaction_id')::bigint % 4294967296 = xid::text::bigint) AS matches_xid
FROM records;

-- Positions are LSNs as integers: within the WAL written by this test, and each change
-- before its commit record; committed_at is UTC with microseconds, at or after the start.
SELECT bool_and((r->>'position')::numeric >= (SELECT lsn_before - '0/0' FROM marks)) AS position_after_start,
       bool_and((r->>'position')::numeric < (r->>'commit_position')::numeric) AS change_before_commit,
       bool_and(r->>'committed_at' ~ '^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00$') AS committed_at_form,
       bool_and((r->>'committed_at')::timestamptz >= (SELECT time_before FROM marks)) AS committed_after_start,
       bool_and((r->>'committed_at')::timestamptz <= clock_timestamp()) AS committed_before_now
FROM records;

-- position is the LSN the server itself reports for the change; one commit_position per
-- transaction, and transactions in commit order.
SELECT bool_and((r->>'position')::numeric = output_lsn - '0/0') AS position_is_change_lsn FROM records;
SELECT r->'transaction_id' = (SELECT r->'transaction_id' FROM records WHERE n = 1) AS first_transaction,
       count(DISTINCT r->'commit_position') AS commit_positions, count(*) AS records
FROM records GROUP BY 1 ORDER BY 1;
SELECT (SELECT (r->>'commit_position')::numeric FROM records WHERE r->>'operation' = 'TRUNCATE')
     > (SELECT (r->>'commit_position')::numeric FROM records WHERE r->>'operation' = 'CREATE' LIMIT 1) AS commit_order;

-- Rows of one COPY share their position; seq orders them.
SELECT count(DISTINCT r->'position') AS insert_positions, array_agg((r->>'seq')::int ORDER BY n) AS seqs
FROM records WHERE r->>'operation' = 'CREATE';

-- A transaction that only emits context produces nothing.
SELECT 'msg' FROM pg_logical_emit_message(true, '_bemi', '{"user_id": 1}');
SELECT count(*) AS empty_transaction_output FROM pg_logical_slot_get_changes('regression_slot_format', NULL, NULL);

-- A table with another key column name and a composite key.
CREATE TABLE accounts (code text PRIMARY KEY, balance numeric);
CREATE TABLE memberships (org_id int, user_name text, role text, PRIMARY KEY (org_id, user_name));
INSERT INTO accounts VALUES ('ACME-1', 10.50);
INSERT INTO memberships VALUES (7, 'o''neil "the" admin', 'owner');
UPDATE memberships SET user_name = 'bob' WHERE org_id = 7;
SELECT data::jsonb->>'table' AS tbl, data::jsonb->>'operation' AS op, data::jsonb->'primary_key' AS primary_key,
       data::jsonb->'previous_primary_key' AS previous_primary_key
FROM pg_logical_slot_get_changes('regression_slot_format', NULL, NULL);

SELECT pg_drop_replication_slot('regression_slot_format');
DROP TABLE todo, accounts, memberships;
