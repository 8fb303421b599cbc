-- Transactions far larger than logical_decoding_work_mem (64kB in the test server), which the
-- server spills to disk before handing them over: every record still arrives, in seq order,
-- with the right context, transaction id and commit position.
\set VERBOSITY terse
SHOW logical_decoding_work_mem;
SELECT 'init' FROM pg_create_logical_replication_slot('bemi_spill', 'bemi');

CREATE TABLE bulk (id int PRIMARY KEY, v text);

-- 100000 rows in one transaction, with a context for each half.
BEGIN;
SELECT 'ok' FROM pg_logical_emit_message(true, '_bemi', '{"job":"bulk"}');
INSERT INTO bulk SELECT i, 'row ' || i FROM generate_series(1, 50000) i;
SELECT 'ok' FROM pg_logical_emit_message(true, '_bemi', '{"job":"bulk","half":2}');
INSERT INTO bulk SELECT i, 'row ' || i FROM generate_series(50001, 100000) i;
COMMIT;
-- Then every row updated in a second transaction, without any context.
UPDATE bulk SET v = v || '!';

CREATE TEMP TABLE got AS
    SELECT o AS n, data::jsonb AS d
    FROM pg_logical_slot_get_changes('bemi_spill', NULL, NULL) WITH ORDINALITY AS c(lsn, xid, data, o);
CREATE TEMP TABLE rec AS
    SELECT n, d->>'operation' AS op, (d->>'seq')::bigint AS seq, (d->>'transaction_id')::bigint AS xid,
           (d->>'position')::numeric AS pos, (d->>'commit_position')::numeric AS commit_pos,
           (d->'after'->>'id')::int AS id, d
    FROM got;

-- The server really spilled.
SELECT spill_txns > 0 AS spilled, spill_bytes > 0 AS spilled_bytes
FROM pg_stat_replication_slots WHERE slot_name = 'bemi_spill';

-- One transaction per operation, each complete: seq is exactly 0..N-1.
SELECT op, count(*) AS records, count(DISTINCT xid) AS xids, count(DISTINCT commit_pos) AS commit_positions,
       count(DISTINCT d->>'committed_at') AS commit_times,
       min(seq) AS min_seq, max(seq) AS max_seq, count(DISTINCT seq) AS distinct_seq,
       count(DISTINCT id) AS distinct_ids, min(id) AS min_id, max(id) AS max_id
FROM rec GROUP BY op ORDER BY op;

-- Records arrive in seq order, whole transaction after whole transaction, in commit order;
-- positions never go backwards and stay below the commit position.
SELECT op, count(*) FILTER (WHERE seq <> n - first_n) AS out_of_seq_order,
       count(*) FILTER (WHERE pos < prev_pos) AS position_decreases,
       count(*) FILTER (WHERE pos >= commit_pos) AS at_or_after_commit
FROM (SELECT *, min(n) OVER w AS first_n, lag(pos) OVER (w ORDER BY seq) AS prev_pos
      FROM rec WINDOW w AS (PARTITION BY op)) r
GROUP BY op ORDER BY op;
SELECT (SELECT max(n) FROM rec WHERE op = 'CREATE') < (SELECT min(n) FROM rec WHERE op = 'UPDATE') AS in_order,
       (SELECT max(commit_pos) FROM rec WHERE op = 'CREATE') < (SELECT min(commit_pos) FROM rec WHERE op = 'UPDATE') AS commit_order,
       (SELECT max(xid) FROM rec WHERE op = 'CREATE') < (SELECT min(xid) FROM rec WHERE op = 'UPDATE') AS xid_order;

-- The first 50000 changes carry the first context, the next 50000 the second; the UPDATE
-- transaction none (context does not leak from one transaction into the next).
SELECT op, d->'context' AS context, count(*) AS records, min(seq) AS min_seq, max(seq) AS max_seq,
       min(id) AS min_id, max(id) AS max_id
FROM rec GROUP BY op, d->'context' ORDER BY op, min_seq;

-- Every record exact.
SELECT op, count(*) FILTER (WHERE d->>'primary_key' <> id::text) AS wrong_key,
       count(*) FILTER (WHERE d->'after' <> jsonb_build_object('id', id, 'v', 'row ' || id || CASE op WHEN 'UPDATE' THEN '!' ELSE '' END)) AS wrong_after,
       count(*) FILTER (WHERE d->'before' <> '{}') AS wrong_before,
       count(*) FILTER (WHERE d->>'table' <> 'bulk') AS wrong_table
FROM rec GROUP BY op ORDER BY op;
SELECT d - '{transaction_id,position,commit_position,committed_at}'::text[] AS first_and_last
FROM rec WHERE seq IN (0, 49999, 50000, 99999) ORDER BY n;

DROP TABLE got, rec;

--------------------------------------------------------------------------------------------
-- A spilled transaction full of subtransactions, a quarter of them rolled back: their rows
-- and their context messages are gone, seq has no gaps.
CREATE TABLE sub (id int PRIMARY KEY, batch int);
BEGIN;
DO $$
BEGIN
    FOR b IN 1..40 LOOP
        BEGIN  -- a subtransaction
            PERFORM pg_logical_emit_message(true, '_bemi', format('{"batch":%s}', b));
            INSERT INTO sub SELECT b * 10000 + i, b FROM generate_series(1, 1000) i;
            IF b % 4 = 0 THEN
                RAISE EXCEPTION 'roll back batch %', b;
            END IF;
        EXCEPTION WHEN raise_exception THEN
            NULL;
        END;
    END LOOP;
END
$$;
-- Batch 40 rolled back, message included: these rows get batch 39's context.
INSERT INTO sub SELECT 500000 + i, 0 FROM generate_series(1, 1000) i;
COMMIT;
SELECT count(*) AS rows_in_table, count(DISTINCT batch) AS batches FROM sub;

-- The same with savepoints: rolled back, released, nested.
BEGIN;
SELECT 'ok' FROM pg_logical_emit_message(true, '_bemi', '{"job":"savepoints"}');
INSERT INTO sub SELECT 1000000 + i, -1 FROM generate_series(1, 20000) i;
SAVEPOINT a;
SELECT 'ok' FROM pg_logical_emit_message(true, '_bemi', '{"job":"rolled back"}');
INSERT INTO sub SELECT 2000000 + i, -2 FROM generate_series(1, 20000) i;
ROLLBACK TO SAVEPOINT a;
SAVEPOINT b;
INSERT INTO sub SELECT 3000000 + i, -3 FROM generate_series(1, 20000) i;
SAVEPOINT c;
INSERT INTO sub SELECT 4000000 + i, -4 FROM generate_series(1, 20000) i;
SAVEPOINT d;
INSERT INTO sub SELECT 5000000 + i, -5 FROM generate_series(1, 20000) i;
ROLLBACK TO SAVEPOINT d;
RELEASE SAVEPOINT b;
INSERT INTO sub SELECT 6000000 + i, -6 FROM generate_series(1, 20000) i;
COMMIT;

CREATE TEMP TABLE got AS
    SELECT o AS n, data::jsonb AS d
    FROM pg_logical_slot_get_changes('bemi_spill', NULL, NULL) WITH ORDINALITY AS c(lsn, xid, data, o);
CREATE TEMP TABLE rec AS
    SELECT n, (d->>'seq')::bigint AS seq, (d->>'transaction_id')::bigint AS xid,
           (d->>'position')::numeric AS pos, (d->>'commit_position')::numeric AS commit_pos,
           (d->'after'->>'id')::int AS id, (d->'after'->>'batch')::int AS batch, d
    FROM got;

-- Per transaction: complete, gap-free, in order.
SELECT min(batch) >= 0 AS do_block, count(*) AS records, count(DISTINCT commit_pos) AS commit_positions,
       min(seq) AS min_seq, max(seq) AS max_seq, count(DISTINCT seq) AS distinct_seq,
       count(*) FILTER (WHERE seq <> n - first_n) AS out_of_seq_order,
       count(*) FILTER (WHERE pos < prev_pos) AS position_decreases
FROM (SELECT *, min(n) OVER w AS first_n, lag(pos) OVER (w ORDER BY seq) AS prev_pos
      FROM rec WINDOW w AS (PARTITION BY xid)) r
GROUP BY xid ORDER BY min(n);

-- Exactly the rows that are in the table, none of a rolled back subtransaction.
SELECT (SELECT count(*) FROM rec) AS records, (SELECT count(*) FROM sub) AS rows_in_table,
       (SELECT count(*) FROM (SELECT id, batch FROM rec EXCEPT SELECT id, batch FROM sub) x) AS not_in_table,
       (SELECT count(*) FROM (SELECT id, batch FROM sub EXCEPT SELECT id, batch FROM rec) x) AS missing,
       (SELECT count(*) FROM rec WHERE batch > 0 AND batch % 4 = 0 OR batch IN (-2, -5)) AS rolled_back_rows;

-- Contexts: each DO-block batch its own message; the message of a rolled back subtransaction
-- applies to nothing.
SELECT count(*) FILTER (WHERE d->'context' <> jsonb_build_object('batch', batch)) AS wrong_context
FROM rec WHERE batch > 0;
SELECT batch, d->'context' AS context, count(*) AS records, min(seq) AS min_seq, max(seq) AS max_seq
FROM rec WHERE batch <= 0 GROUP BY batch, d->'context' ORDER BY min(n);

SELECT 'stop' FROM pg_drop_replication_slot('bemi_spill');
