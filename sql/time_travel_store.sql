-- What the worker stores for time travel (docs/time-travel.md, "The order and the instant";
-- sql/0.3/10-trail.sql): root_schema/root_table of partitions, effective_at (the running
-- maximum of committed_at over (capture, commit_position, seq)), bemi.watermarks committed with
-- each batch, the record-by-record path, the tables the plugin never emits, and privileges.
-- Needs the worker (shared_preload_libraries = 'bemi').
SET client_min_messages = warning;
SELECT NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'bemi_reader') AS creates_reader \gset
CREATE EXTENSION IF NOT EXISTS bemi;
SELECT bemi.sync();  -- capture has started

CREATE TABLE tt_plain (id int PRIMARY KEY, v text);
-- Two levels: the record's root is the top-most partitioned table.
CREATE TABLE tt_meas (id int, region text, v int, PRIMARY KEY (id, region)) PARTITION BY LIST (region);
CREATE TABLE tt_meas_eu PARTITION OF tt_meas FOR VALUES IN ('eu');
CREATE TABLE tt_meas_us PARTITION OF tt_meas FOR VALUES IN ('us') PARTITION BY RANGE (id);
CREATE TABLE tt_meas_us_low PARTITION OF tt_meas_us FOR VALUES FROM (MINVALUE) TO (100);
CREATE TABLE tt_meas_us_high PARTITION OF tt_meas_us FOR VALUES FROM (100) TO (MAXVALUE);

-- Transactions of one and of several rows, across tables; a row moving between partitions.
INSERT INTO tt_plain VALUES (1, 'a');
BEGIN;
INSERT INTO tt_plain VALUES (2, 'b'), (3, 'c');
INSERT INTO tt_meas VALUES (1, 'eu', 10), (2, 'us', 20), (200, 'us', 30);
COMMIT;
UPDATE tt_meas SET region = 'us' WHERE id = 1;       -- eu -> us_low: DELETE + CREATE
UPDATE tt_meas SET id = 150 WHERE id = 2;            -- us_low -> us_high
BEGIN;
UPDATE tt_plain SET v = 'bb' WHERE id = 2;
DELETE FROM tt_meas WHERE id = 200;
DELETE FROM tt_plain WHERE id = 3;
COMMIT;
SELECT bemi.sync();

-- root_schema/root_table: the top-most partitioned table for every leaf's record, NULL for
-- the plain table.
SELECT "table", operation, primary_key, root_schema, root_table
  FROM bemi.changes WHERE "table" LIKE 'tt\_%' ORDER BY capture, commit_position, seq;

-- effective_at is the running maximum of committed_at over the whole trail in the order
-- (capture, commit_position, seq), never decreases, and is the same for every row of a
-- transaction. The trail here has several transactions of several rows.
SELECT count(*) > 5 AS some_rows,
       count(*) FILTER (WHERE effective_at IS NULL) AS without,
       count(*) FILTER (WHERE effective_at IS DISTINCT FROM running_max) AS not_running_max,
       count(*) FILTER (WHERE effective_at < previous) AS decreasing,
       count(*) FILTER (WHERE effective_at < committed_at) AS before_commit
  FROM (SELECT effective_at, committed_at,
               max(committed_at) OVER (ORDER BY capture NULLS FIRST, commit_position
                                       RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS running_max,
               lag(effective_at) OVER (ORDER BY capture NULLS FIRST, commit_position, seq) AS previous
          FROM bemi.changes) c;
SELECT count(*) FILTER (WHERE n > 1) >= 2 AS several_multi_row_transactions,
       count(*) FILTER (WHERE values_ > 1) AS transactions_with_two_values
  FROM (SELECT count(*) AS n, count(DISTINCT effective_at) AS values_
          FROM bemi.changes GROUP BY capture, commit_position) t;

-- One watermark, of the current capture, at the last stored commit: its position, its
-- effective_at, and the end of its commit record (the origin's progress, which moves in the
-- same transaction).
SELECT count(*) AS watermarks FROM bemi.watermarks;
SELECT w.capture = bemi._current_capture(s.slot_name) AS current_capture,
       w.last_commit_position = (SELECT max(c.commit_position) FROM bemi.changes c
                                  WHERE c.capture = w.capture) AS last_position,
       w.max_committed_at = (SELECT c.effective_at FROM bemi.changes c WHERE c.capture = w.capture
                              ORDER BY c.commit_position DESC, c.seq DESC LIMIT 1) AS last_effective_at,
       w.max_committed_at = (SELECT max(c.effective_at) FROM bemi.changes c) AS running_max,
       w.stored_through = pg_replication_origin_progress('bemi_ingest_' || d.oid, false) AS origin_progress,
       w.stored_through > pg_lsn(w.last_commit_position::text::numeric) AS after_commit_record,
       w.updated_at <= now() AS updated_at
  FROM bemi.watermarks w,
       pg_database d
  JOIN pg_replication_slots s ON s.database = d.datname AND s.slot_name = 'bemi_' || d.oid
 WHERE d.datname = current_database();

-- The record-by-record path (a row the table refuses becomes a marker): markers, and the rows
-- stored one by one, get effective_at and the root too, and the watermark moves.
CREATE FUNCTION tt_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.after->>'v' = '666' THEN RAISE EXCEPTION 'refused'; END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER tt_refuse BEFORE INSERT ON bemi.changes FOR EACH ROW EXECUTE FUNCTION tt_refuse();
BEGIN;
INSERT INTO tt_meas VALUES (300, 'us', 666), (301, 'us', 1);
INSERT INTO tt_plain VALUES (4, 'd');
COMMIT;
SELECT bemi.sync();
DROP TRIGGER tt_refuse ON bemi.changes;
DROP FUNCTION tt_refuse();
SELECT "table", operation, root_schema, root_table, fallback->0->>'reason' AS fallback,
       effective_at = (SELECT max(effective_at) FROM bemi.changes) AS latest,
       effective_at >= committed_at AS not_before_commit
  FROM bemi.changes c
 WHERE commit_position = (SELECT max(commit_position) FROM bemi.changes)
 ORDER BY seq;
SELECT w.last_commit_position = (SELECT max(commit_position) FROM bemi.changes) AS watermark_moved,
       w.max_committed_at = (SELECT max(effective_at) FROM bemi.changes) AS watermark_effective_at
  FROM bemi.watermarks w;

-- The running maximum continues from the watermarks (over every capture): a later
-- max_committed_at, as a commit time from a clock that was ahead would leave, is carried to the
-- next transactions until commit times pass it. (This UPDATE is not recorded: the plugin never
-- emits bemi.watermarks.)
UPDATE bemi.watermarks SET max_committed_at = max_committed_at + interval '1 day';
SELECT max_committed_at AS ahead FROM bemi.watermarks \gset
INSERT INTO tt_plain VALUES (5, 'e');
BEGIN;
INSERT INTO tt_plain VALUES (6, 'f');
INSERT INTO tt_plain VALUES (7, 'g');
COMMIT;
SELECT bemi.sync();
SELECT primary_key, effective_at = :'ahead' AS carried, committed_at < :'ahead' AS committed_earlier
  FROM bemi.changes WHERE "table" = 'tt_plain' AND primary_key IN ('5', '6', '7') ORDER BY seq, primary_key;
SELECT max_committed_at = :'ahead' AS kept,
       last_commit_position = (SELECT max(commit_position) FROM bemi.changes) AS moved
  FROM bemi.watermarks;
-- Still never decreasing along the order.
SELECT count(*) FILTER (WHERE effective_at < previous) AS decreasing
  FROM (SELECT effective_at, lag(effective_at) OVER (ORDER BY capture, commit_position, seq) AS previous
          FROM bemi.changes) c;

-- Tables the plugin never emits: bemi.watermarks (the worker's writes carry its origin, and a
-- superuser's UPDATE above was not recorded either) and bemi.baseline_rows (derived copies
-- taken by bemi.backfill; a stand-in of that name when the real one is not installed).
CREATE TEMP TABLE tt_stand_in AS SELECT to_regclass('bemi.baseline_rows') IS NULL AS created;
DO $$
BEGIN
    IF (SELECT created FROM tt_stand_in) THEN
        CREATE TABLE bemi.baseline_rows (baseline uuid, primary_key text, leaf_schema name, leaf_table name,
                                         "row" jsonb, fallback jsonb);
    END IF;
END $$;
SET session_replication_role = replica;  -- no foreign key check against bemi.baselines
BEGIN;
INSERT INTO bemi.baseline_rows
SELECT * FROM jsonb_populate_record(NULL::bemi.baseline_rows,
    '{"baseline": "00000000-0000-0000-0000-000000000001", "primary_key": "1", "leaf_schema": "public",
      "leaf_table": "tt_plain", "row": {"id": 1}}');
INSERT INTO tt_plain VALUES (8, 'same transaction');
COMMIT;
RESET session_replication_role;
SELECT bemi.sync();
SELECT count(*) FILTER (WHERE "table" = 'tt_plain' AND primary_key = '8') AS control_row,
       count(*) FILTER (WHERE schema = 'bemi' AND "table" IN ('baseline_rows', 'watermarks')) AS never_emitted
  FROM bemi.changes;
DELETE FROM bemi.baseline_rows WHERE baseline = '00000000-0000-0000-0000-000000000001';
DO $$
BEGIN
    IF (SELECT created FROM tt_stand_in) THEN
        DROP TABLE bemi.baseline_rows;
    END IF;
END $$;

-- Privileges: bemi_reader reads the watermarks; nobody else reads them; nobody but the
-- owner writes them or runs the ingestion helpers.
CREATE ROLE tt_store_reader IN ROLE bemi_reader;
CREATE ROLE tt_store_other;
SELECT r AS role,
       has_table_privilege(r, 'bemi.watermarks', 'SELECT') AS can_select,
       has_table_privilege(r, 'bemi.watermarks', 'INSERT, UPDATE, DELETE, TRUNCATE') AS can_write,
       has_function_privilege(r, 'bemi._advance_watermark(uuid, pg_lsn, bigint, timestamptz)', 'EXECUTE') AS can_advance,
       has_function_privilege(r, 'bemi._effective_at_seed()', 'EXECUTE') AS can_seed
  FROM unnest(ARRAY['tt_store_reader', 'tt_store_other']) r ORDER BY r;
SET ROLE tt_store_reader;
SELECT count(*) AS readable FROM bemi.watermarks;
SET ROLE tt_store_other;
SELECT count(*) FROM bemi.watermarks;
RESET ROLE;
SELECT c::regclass AS dumped FROM pg_extension, unnest(extconfig) c
 WHERE extname = 'bemi' AND c = 'bemi.watermarks'::regclass;

DROP ROLE tt_store_reader, tt_store_other;
DROP TABLE tt_plain, tt_meas;
DROP EXTENSION bemi;
DROP SCHEMA IF EXISTS bemi;
\if :creates_reader
-- (kept if another database's extension still grants to it)
DO $$ BEGIN DROP ROLE bemi_reader; EXCEPTION WHEN dependent_objects_still_exist THEN NULL; END $$;
\endif
