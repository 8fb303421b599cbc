-- Transactions: two-phase commit, subtransactions, per-statement context, empty and
-- invisible transactions, include-transaction, include-messages, identity of records and
-- malformed context messages (docs/record-format.md: "Transactions", "Context",
-- "Logical messages", "Identity and ordering").
\set VERBOSITY terse
SELECT 'init' FROM pg_create_logical_replication_slot('bemi_tx', 'bemi');

-- Decoded records land here (temporary tables are never decoded themselves).
CREATE TEMP TABLE got (n bigint, d jsonb);
CREATE FUNCTION pg_temp.fetch(VARIADIC opts text[] DEFAULT '{}') RETURNS bigint LANGUAGE sql AS $$
    DELETE FROM got;
    INSERT INTO got
        SELECT o, data::jsonb
        FROM pg_logical_slot_get_changes('bemi_tx', NULL, NULL, VARIADIC opts) WITH ORDINALITY AS c(lsn, xid, data, o);
    SELECT count(*) FROM got;
$$;
CREATE FUNCTION pg_temp.peek(VARIADIC opts text[] DEFAULT '{}') RETURNS bigint LANGUAGE sql AS $$
    DELETE FROM got;
    INSERT INTO got
        SELECT o, data::jsonb
        FROM pg_logical_slot_peek_changes('bemi_tx', NULL, NULL, VARIADIC opts) WITH ORDINALITY AS c(lsn, xid, data, o);
    SELECT count(*) FROM got;
$$;
-- A record without its volatile keys.
CREATE FUNCTION pg_temp.stable(r jsonb) RETURNS jsonb LANGUAGE sql AS $$
    SELECT r - '{transaction_id,position,commit_position,committed_at}'::text[]
$$;
CREATE TEMP VIEW brief AS
    SELECT n, d->>'operation' AS op, d->>'table' AS tab, d->'after'->>'id' AS id, (d->>'seq')::int AS seq,
           d->'context' AS context, d
    FROM got;

CREATE TABLE tx (id int PRIMARY KEY, v text);
CREATE TEMP TABLE marks (name text PRIMARY KEY, at timestamptz, lsn pg_lsn);

--------------------------------------------------------------------------------------------
-- (a) Two-phase commit: nothing at PREPARE; emitted at COMMIT PREPARED with that commit's
-- position and time; nothing at all after ROLLBACK PREPARED.
BEGIN;
SELECT 'ok' FROM pg_logical_emit_message(true, '_bemi', '{"via":"2pc"}');
INSERT INTO tx VALUES (1, 'prepared');
PREPARE TRANSACTION 'bemi_p1';
SELECT count(*) AS at_prepare FROM pg_logical_slot_peek_changes('bemi_tx', NULL, NULL);
SELECT count(*) AS at_prepare_with_framing
FROM pg_logical_slot_peek_changes('bemi_tx', NULL, NULL, 'include-transaction', 'on');
INSERT INTO marks VALUES ('before commit prepared', clock_timestamp(), pg_current_wal_lsn());
COMMIT PREPARED 'bemi_p1';
INSERT INTO marks VALUES ('after commit prepared', clock_timestamp(), pg_current_wal_lsn());
SELECT pg_temp.fetch();
SELECT pg_temp.stable(d) FROM got ORDER BY n;
SELECT (d->>'commit_position')::numeric > (d->>'position')::numeric AS commit_after_change,
       (d->>'commit_position')::numeric > (SELECT lsn - '0/0' FROM marks WHERE name = 'before commit prepared') AS commit_prepared_position,
       (d->>'commit_position')::numeric < (SELECT lsn - '0/0' FROM marks WHERE name = 'after commit prepared') AS commit_position_bounded,
       (d->>'position')::numeric < (SELECT lsn - '0/0' FROM marks WHERE name = 'before commit prepared') AS change_before_commit,
       (d->>'committed_at')::timestamptz >= (SELECT at FROM marks WHERE name = 'before commit prepared') AS commit_prepared_time,
       (d->>'committed_at')::timestamptz <= (SELECT at FROM marks WHERE name = 'after commit prepared') AS commit_time_bounded
FROM got;

BEGIN;
INSERT INTO tx VALUES (2, 'rolled back prepared');
PREPARE TRANSACTION 'bemi_p2';
ROLLBACK PREPARED 'bemi_p2';
SELECT pg_temp.fetch('include-transaction', 'on', 'include-messages', 'on');

--------------------------------------------------------------------------------------------
-- (b) A slot created with two_phase is refused.
\set VERBOSITY default
SELECT pg_create_logical_replication_slot('bemi_tx_two_phase', 'bemi', false, true);
\set VERBOSITY terse
SELECT count(*) AS leftover_slots FROM pg_replication_slots WHERE slot_name = 'bemi_tx_two_phase';

--------------------------------------------------------------------------------------------
-- (c) Subtransactions: rolled back changes never appear (and are not counted in seq); a
-- context message in a rolled back savepoint applies to nothing, one in a released one does.
BEGIN;
SAVEPOINT s1;
INSERT INTO tx VALUES (10, 'rolled back');
ROLLBACK TO SAVEPOINT s1;
INSERT INTO tx VALUES (11, 'kept');
COMMIT;
SELECT pg_temp.fetch();
SELECT pg_temp.stable(d) FROM got ORDER BY n;

BEGIN;
SELECT 'ok' FROM pg_logical_emit_message(true, '_bemi', '{"ctx":"A"}');
INSERT INTO tx VALUES (12, 'a');
SAVEPOINT s2;
SELECT 'ok' FROM pg_logical_emit_message(true, '_bemi', '{"ctx":"rolled back"}');
INSERT INTO tx VALUES (13, 'rolled back');
ROLLBACK TO SAVEPOINT s2;
INSERT INTO tx VALUES (14, 'a again');
SAVEPOINT s3;
SELECT 'ok' FROM pg_logical_emit_message(true, '_bemi', '{"ctx":"released"}');
RELEASE SAVEPOINT s3;
INSERT INTO tx VALUES (15, 'released');
SAVEPOINT s4;
SAVEPOINT s5;
SELECT 'ok' FROM pg_logical_emit_message(true, '_bemi', '{"ctx":"nested, outer rolled back"}');
RELEASE SAVEPOINT s5;
ROLLBACK TO SAVEPOINT s4;
INSERT INTO tx VALUES (16, 'released still');
COMMIT;
SELECT pg_temp.fetch();
SELECT op, id, seq, context FROM brief ORDER BY n;

--------------------------------------------------------------------------------------------
-- (d) Per-statement stitching: each change gets the latest context before it.
BEGIN;
INSERT INTO tx VALUES (20, 'none yet');
SELECT 'ok' FROM pg_logical_emit_message(true, '_bemi', '{"ctx":"A"}');
INSERT INTO tx VALUES (21, 'a');
SELECT 'ok' FROM pg_logical_emit_message(true, '_bemi', '{"ctx":"B"}');
INSERT INTO tx VALUES (22, 'b'), (23, 'b');
SELECT 'ok' FROM pg_logical_emit_message(true, '_bemi', '{"ctx":"A"}');
UPDATE tx SET v = 'a' WHERE id IN (22, 23);
COMMIT;
-- The next transaction starts without context.
INSERT INTO tx VALUES (24, 'next transaction');
SELECT pg_temp.fetch();
SELECT op, id, seq, context FROM brief ORDER BY n;

--------------------------------------------------------------------------------------------
-- (e) Transactions with nothing to emit produce no output at all.
-- only a context message
BEGIN;
SELECT 'ok' FROM pg_logical_emit_message(true, '_bemi', '{"ctx":"alone"}');
COMMIT;
-- only a TEMP table and an UNLOGGED table
CREATE TEMP TABLE tmp (id int);
CREATE UNLOGGED TABLE unlogged (id int PRIMARY KEY);
BEGIN;
SELECT 'ok' FROM pg_logical_emit_message(true, '_bemi', '{"ctx":"invisible"}');
INSERT INTO tmp VALUES (1);
INSERT INTO unlogged VALUES (1);
UPDATE unlogged SET id = 2;
DELETE FROM unlogged;
COMMIT;
-- rolled back
BEGIN;
SELECT 'ok' FROM pg_logical_emit_message(true, '_bemi', '{"ctx":"rolled back"}');
INSERT INTO tx VALUES (30, 'rolled back');
ROLLBACK;
-- a non-transactional context message describes nothing, inside or outside a transaction
SELECT 'ok' FROM pg_logical_emit_message(false, '_bemi', '{"ctx":"non-transactional"}');
BEGIN;
SELECT 'ok' FROM pg_logical_emit_message(false, '_bemi', '{"ctx":"non-transactional inside"}');
INSERT INTO tx VALUES (31, 'no context');
COMMIT;
SELECT pg_temp.fetch('include-transaction', 'on', 'include-messages', 'on');
SELECT op, id, seq, context FROM brief ORDER BY n;

--------------------------------------------------------------------------------------------
-- (f) include-transaction: BEGIN and COMMIT around each emitted transaction, none around an
-- empty one; COMMIT counts the records between them.
BEGIN;
INSERT INTO tx VALUES (40, 'x'), (41, 'x');
COMMIT;
BEGIN;                                       -- empty: only a context message
SELECT 'ok' FROM pg_logical_emit_message(true, '_bemi', '{"ctx":"empty"}');
COMMIT;
BEGIN;
SELECT 'ok' FROM pg_logical_emit_message(true, '_bemi', '{"ctx":"F"}');
UPDATE tx SET v = 'y' WHERE id = 40;
DELETE FROM tx WHERE id = 41;
INSERT INTO tx VALUES (42, 'x');
COMMIT;
BEGIN;                                       -- empty: only an unlogged table
INSERT INTO unlogged VALUES (3);
COMMIT;
SELECT pg_temp.peek('include-transaction', 'on');
SELECT n, op, id, seq, d->'changes' AS changes FROM brief ORDER BY n;
-- BEGIN and COMMIT: exactly these keys, and the transaction's id, commit position and time.
SELECT d->>'operation' AS op, (SELECT array_agg(k) FROM jsonb_object_keys(d) k) AS keys,
       pg_temp.stable(d) AS stable_part
FROM got WHERE d->>'operation' IN ('BEGIN', 'COMMIT') ORDER BY n;
SELECT count(*) AS framed_records,
       count(*) FILTER (WHERE r.d->'transaction_id' = b.d->'transaction_id'
                          AND r.d->'commit_position' = b.d->'commit_position'
                          AND r.d->'committed_at' = b.d->'committed_at'
                          AND r.d->'transaction_id' = c.d->'transaction_id'
                          AND r.d->'commit_position' = c.d->'commit_position'
                          AND r.d->'committed_at' = c.d->'committed_at') AS matching_frame
FROM got r
JOIN LATERAL (SELECT * FROM got g WHERE g.n < r.n AND g.d->>'operation' = 'BEGIN' ORDER BY g.n DESC LIMIT 1) b ON true
JOIN LATERAL (SELECT * FROM got g WHERE g.n > r.n AND g.d->>'operation' = 'COMMIT' ORDER BY g.n LIMIT 1) c ON true
WHERE r.d->>'operation' NOT IN ('BEGIN', 'COMMIT');
-- Without the option the same records, without framing.
CREATE TEMP TABLE framed AS SELECT d FROM got WHERE d->>'operation' NOT IN ('BEGIN', 'COMMIT');
SELECT pg_temp.fetch();
SELECT count(*) AS records,
       (SELECT count(*) FROM (SELECT d FROM got EXCEPT SELECT d FROM framed) x) AS differing
FROM got;
DROP TABLE framed;

--------------------------------------------------------------------------------------------
-- (g) include-messages: other prefixes appear only with the option; content, or content_hex
-- when the payload is not valid UTF-8 or holds NUL. Messages do not count in seq.
BEGIN;
SELECT 'ok' FROM pg_logical_emit_message(true, 'app', 'hello "world"');
SELECT 'ok' FROM pg_logical_emit_message(true, '_bemi', '{"ctx":"G"}');
INSERT INTO tx VALUES (50, 'x');
SELECT 'ok' FROM pg_logical_emit_message(true, 'app', '\x00ff'::bytea);
SELECT 'ok' FROM pg_logical_emit_message(true, 'app', '\x610062'::bytea);
SELECT 'ok' FROM pg_logical_emit_message(true, 'app', 'héllo €');
INSERT INTO tx VALUES (51, 'x');
COMMIT;
SELECT 'ok' FROM pg_logical_emit_message(false, 'app', 'non-transactional');
SELECT 'ok' FROM pg_logical_emit_message(false, 'app', '\xfe'::bytea);
BEGIN;                                       -- only a message: emitted with include-messages
SELECT 'ok' FROM pg_logical_emit_message(true, 'app.only', '');
COMMIT;
-- without the option: only the two rows
SELECT pg_temp.peek();
SELECT op, id, seq, context FROM brief ORDER BY n;
-- with it
SELECT pg_temp.peek('include-messages', 'on');
SELECT n, pg_temp.stable(d) FROM got ORDER BY n;
SELECT d->>'operation' AS op, d->>'prefix' AS prefix, (SELECT array_agg(k) FROM jsonb_object_keys(d) k) AS keys,
       d ? 'transaction_id' AS has_xid,
       (d->>'commit_position')::numeric >= (d->>'position')::numeric AS not_after_commit
FROM got WHERE d->>'operation' = 'MESSAGE' ORDER BY n;
-- records of a transaction share its id and commit
SELECT count(*) AS records, count(DISTINCT d->'transaction_id') AS xids, count(DISTINCT d->'commit_position') AS commits,
       count(DISTINCT (d->'transaction_id', d->'commit_position', d->'committed_at')) AS distinct_triples
FROM got WHERE d ? 'transaction_id';
-- with framing too: messages count as records of the transaction
SELECT pg_temp.fetch('include-messages', 'on', 'include-transaction', 'on');
SELECT n, op, d->>'prefix' AS prefix, id, d->'changes' AS changes FROM brief ORDER BY n;

--------------------------------------------------------------------------------------------
-- (h) Identity: (transaction_id, seq) is unique, identical when the WAL is decoded again,
-- and transaction_id is txid_current() (64 bits, with the epoch).
CREATE TABLE xids (label text PRIMARY KEY, xid bigint);
BEGIN;
INSERT INTO xids SELECT 'first', txid_current();
INSERT INTO tx SELECT i, 'h' FROM generate_series(60, 64) i;
UPDATE tx SET v = 'h2' WHERE id BETWEEN 60 AND 64;
COMMIT;
BEGIN;
DELETE FROM tx WHERE id BETWEEN 60 AND 62;
INSERT INTO xids SELECT 'second', txid_current();
COMMIT;
SELECT pg_temp.peek();
CREATE TEMP TABLE first_pass AS SELECT * FROM got;
SELECT pg_temp.peek();
SELECT count(*) AS records, count(DISTINCT (d->'transaction_id', d->'seq')) AS distinct_ids,
       (SELECT count(*) FROM (SELECT n, d FROM got EXCEPT SELECT n, d FROM first_pass) x) AS changed_on_redecode
FROM got;
SELECT x.label, count(*) AS records, min((d->>'seq')::int) AS min_seq, max((d->>'seq')::int) AS max_seq,
       bool_and((d->>'transaction_id')::bigint = x.xid) AS xid_is_txid_current,
       bool_and((d->>'transaction_id')::bigint > 0) AS positive
FROM got JOIN xids x ON x.xid = (d->>'transaction_id')::bigint
GROUP BY x.label ORDER BY x.label;
SELECT count(*) AS records_of_other_transactions
FROM got WHERE (d->>'transaction_id')::bigint NOT IN (SELECT xid FROM xids);
SELECT d->>'table' AS tab, op, id, seq FROM brief WHERE d->>'transaction_id' = (SELECT xid::text FROM xids WHERE label = 'second') ORDER BY n;
-- A table filter never renumbers a record: seq is counted before filters apply.
SELECT pg_temp.peek('exclude-tables', 'public.xids');
SELECT count(*) AS records, count(*) FILTER (WHERE d IN (SELECT d FROM first_pass)) AS same_as_unfiltered
FROM got;
SELECT d->>'table' AS tab, op, id, seq FROM brief WHERE d->>'transaction_id' = (SELECT xid::text FROM xids WHERE label = 'second') ORDER BY n;
SELECT pg_temp.fetch();
DROP TABLE first_pass;

--------------------------------------------------------------------------------------------
-- (i) Malformed context messages never stop decoding: the changes they cover carry
-- {"_invalid_context": <first 64 bytes>, "_invalid_context_reason": <why>}.
CREATE TABLE ctx (id int PRIMARY KEY, what text);
BEGIN;
SELECT 'ok' FROM pg_logical_emit_message(true, '_bemi', 'not json');
INSERT INTO ctx VALUES (1, 'not JSON');
SELECT 'ok' FROM pg_logical_emit_message(true, '_bemi', '[1,2]');
INSERT INTO ctx VALUES (2, 'JSON array');
SELECT 'ok' FROM pg_logical_emit_message(true, '_bemi', '"a string"');
INSERT INTO ctx VALUES (3, 'JSON string');
SELECT 'ok' FROM pg_logical_emit_message(true, '_bemi', '42');
INSERT INTO ctx VALUES (4, 'JSON number');
SELECT 'ok' FROM pg_logical_emit_message(true, '_bemi', '');
INSERT INTO ctx VALUES (5, 'empty');
SELECT 'ok' FROM pg_logical_emit_message(true, '_bemi', '\x7b2261223a22ff227d'::bytea);  -- {"a":"<ff>"}
INSERT INTO ctx VALUES (6, 'invalid UTF-8');
SELECT 'ok' FROM pg_logical_emit_message(true, '_bemi', '\x7b2261223a317d007b7d'::bytea);  -- {"a":1}<NUL>{}
INSERT INTO ctx VALUES (7, 'NUL byte after a valid object');
SELECT 'ok' FROM pg_logical_emit_message(true, '_bemi', '\x7b2261223a2278007a227d'::bytea);  -- {"a":"x<NUL>z"}
INSERT INTO ctx VALUES (8, 'NUL byte in a string');
SELECT 'ok' FROM pg_logical_emit_message(true, '_bemi', '{"a":"x\u0000z"}');
INSERT INTO ctx VALUES (9, 'escaped NUL');
SELECT 'ok' FROM pg_logical_emit_message(true, '_bemi', '{"k":"' || repeat('x', 100000) || '"}');
INSERT INTO ctx VALUES (10, '100 kB');
SELECT 'ok' FROM pg_logical_emit_message(true, '_bemi', repeat('{"a":', 100) || '1' || repeat('}', 100));
INSERT INTO ctx VALUES (11, '100 levels');
SELECT 'ok' FROM pg_logical_emit_message(true, '_bemi', repeat('{"a":', 65) || '1' || repeat('}', 65));
INSERT INTO ctx VALUES (12, '65 levels');
SELECT 'ok' FROM pg_logical_emit_message(true, '_bemi', '{"a":1} trailing');
INSERT INTO ctx VALUES (13, 'trailing garbage'), (14, 'trailing garbage, second row');
SELECT 'ok' FROM pg_logical_emit_message(true, '_bemi', '{"ok":true}');
INSERT INTO ctx VALUES (15, 'valid again');
SELECT 'ok' FROM pg_logical_emit_message(true, '_bemi', repeat('{"a":', 64) || '1' || repeat('}', 64));
INSERT INTO ctx VALUES (16, '64 levels');
SELECT 'ok' FROM pg_logical_emit_message(true, '_bemi', '{"k":"' || repeat('y', 65528) || '"}');
INSERT INTO ctx VALUES (17, 'exactly 65536 bytes');
SELECT 'ok' FROM pg_logical_emit_message(true, '_bemi', '{"k":"' || repeat('y', 65529) || '"}');
INSERT INTO ctx VALUES (19, '65537 bytes');
COMMIT;
BEGIN;
SELECT 'ok' FROM pg_logical_emit_message(true, '_bemi', '{"user":"é"}');
INSERT INTO ctx VALUES (18, 'next transaction, valid');
COMMIT;
SELECT pg_temp.fetch();
SELECT d->'after'->>'id' AS id, d->'after'->>'what' AS what, (d->>'seq')::int AS seq,
       CASE WHEN d->'context' ? '_invalid_context'
            THEN jsonb_build_object('reason', d->'context'->'_invalid_context_reason',
                                    'excerpt', d->'context'->'_invalid_context')
       END AS invalid,
       (SELECT array_agg(k) FROM jsonb_object_keys(d->'context') k) AS context_keys
FROM got ORDER BY n;
SELECT d->'after'->>'id' AS id, octet_length(d->'context'->>'_invalid_context') AS excerpt_bytes,
       (d->'context') = (repeat('{"a":', 64) || '1' || repeat('}', 64))::jsonb AS deep_valid_exact,
       d->'context'->>'k' = repeat('y', 65528) AS limit_valid_exact
FROM got WHERE d->'after'->>'id' IN ('10', '11', '16', '17') ORDER BY n;
-- The slot moved past all of it.
SELECT count(*) AS left_over FROM pg_logical_slot_get_changes('bemi_tx', NULL, NULL);

-- max-context-bytes: a smaller limit makes a 20-byte context invalid; 16 bytes still pass.
SELECT octet_length('{"abcdefghijk":"12"}') AS a, octet_length('{"abcdefghijk":1}') AS b,
       octet_length('{"abcdefghij":1}') AS c;
BEGIN;
SELECT 'ok' FROM pg_logical_emit_message(true, '_bemi', '{"abcdefghijk":"12"}');
INSERT INTO ctx VALUES (20, '20 bytes');
SELECT 'ok' FROM pg_logical_emit_message(true, '_bemi', '{"abcdefghijk":1}');
INSERT INTO ctx VALUES (21, '17 bytes');
SELECT 'ok' FROM pg_logical_emit_message(true, '_bemi', '{"abcdefghij":1}');
INSERT INTO ctx VALUES (22, '16 bytes');
COMMIT;
SELECT pg_temp.peek();
SELECT d->'after'->>'id' AS id, d->'context' AS context FROM got ORDER BY n;
SELECT pg_temp.fetch('max-context-bytes', '16');
SELECT d->'after'->>'id' AS id, d->'context' AS context FROM got ORDER BY n;
SELECT count(*) AS left_over FROM pg_logical_slot_get_changes('bemi_tx', NULL, NULL);

SELECT 'stop' FROM pg_drop_replication_slot('bemi_tx');
