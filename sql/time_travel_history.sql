-- Versions and record history (docs/time-travel.md; sql/0.3/45-history.sql): bemi.versions
-- reproduces every state saved after each commit of a scripted history; a narrower interval
-- returns the versions valid in it; bemi.history follows key changes both ways, with diffs
-- reconstructed from the record's previous version. Needs the worker.
SET client_min_messages = warning;
SET DateStyle = 'ISO';  -- instants in messages are masked in this form
SET TimeZone = 'UTC';
CREATE EXTENSION IF NOT EXISTS bemi;
SELECT bemi.sync();
SET bemi.time_travel_wait = '3s';

CREATE TEMP TABLE steps (n serial PRIMARY KEY, tbl regclass NOT NULL, at timestamptz, state jsonb);
CREATE FUNCTION pg_temp.mark(t regclass) RETURNS void LANGUAGE sql AS $$
    INSERT INTO steps (tbl) VALUES (t)
$$;
CREATE FUNCTION pg_temp.contents(t regclass) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    r jsonb;
BEGIN
    EXECUTE format('SELECT coalesce(jsonb_agg(to_jsonb(x) ORDER BY to_jsonb(x)::text), ''[]'') FROM %s x', t) INTO r;
    RETURN r;
END
$$;
CREATE FUNCTION pg_temp.save() RETURNS void LANGUAGE sql AS $$
    UPDATE steps SET at = clock_timestamp(), state = pg_temp.contents(tbl) WHERE n = (SELECT max(n) FROM steps)
$$;
-- The rows of the versions valid at an instant, in the same form.
CREATE FUNCTION pg_temp.valid_at(t regclass, at timestamptz) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    r jsonb;
BEGIN
    EXECUTE format('SELECT coalesce(jsonb_agg(to_jsonb(v."row") ORDER BY to_jsonb(v."row")::text), ''[]'')
                      FROM bemi.versions(NULL::%s) v
                     WHERE v.valid_from <= $1 AND (v.valid_to IS NULL OR v.valid_to > $1)', t)
        INTO r USING at;
    RETURN r;
END
$$;
CREATE FUNCTION pg_temp.err(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    m text; h text; st text;
BEGIN
    EXECUTE q;
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS m = MESSAGE_TEXT, h = PG_EXCEPTION_HINT, st = RETURNED_SQLSTATE;
    RETURN st || ': ' || regexp_replace(m || ' HINT: ' || coalesce(h, ''),
               '\d{4}-\d\d-\d\d[ T][0-9:.]+(\+00(:00)?)?', '<T>', 'g');
END
$$;

-- A table whose first rows were not captured (created while excluded: its history starts at
-- the baseline bemi.backfill takes), then key changes, delete and re-insert, TRUNCATE; a
-- partitioned table with a row moving between partitions.
INSERT INTO bemi.excluded_tables (pattern) VALUES ('public.th_items');
CREATE TABLE th_items (sku text PRIMARY KEY, price int, label text);
INSERT INTO th_items VALUES ('s1', 10, 'one'), ('s2', 20, 'two');
DELETE FROM bemi.excluded_tables WHERE pattern = 'public.th_items';
SELECT bemi.sync();
SELECT bemi.backfill('th_items') IS NOT NULL AS backfilled;
SELECT count(*) AS captured_rows FROM bemi.changes WHERE "table" = 'th_items';
BEGIN; SELECT pg_temp.mark('th_items');
UPDATE th_items SET price = 11 WHERE sku = 's1';
INSERT INTO th_items VALUES ('s3', 30, 'three');
COMMIT; SELECT pg_temp.save();
BEGIN; SELECT pg_temp.mark('th_items');
UPDATE th_items SET sku = 's4' WHERE sku = 's3';                  -- key change
UPDATE th_items SET price = 12 WHERE sku = 's1';
COMMIT; SELECT pg_temp.save();
BEGIN; SELECT pg_temp.mark('th_items');
UPDATE th_items SET sku = 's5', label = 'five' WHERE sku = 's4';  -- and again
DELETE FROM th_items WHERE sku = 's2';
COMMIT; SELECT pg_temp.save();
BEGIN; SELECT pg_temp.mark('th_items');
INSERT INTO th_items VALUES ('s2', 21, 'two again');             -- re-inserted
INSERT INTO th_items VALUES ('s6', 60, 'gone at once');
DELETE FROM th_items WHERE sku = 's6';                            -- never visible
COMMIT; SELECT pg_temp.save();
BEGIN; SELECT pg_temp.mark('th_items');
TRUNCATE th_items;
INSERT INTO th_items VALUES ('s1', 13, 'one after truncate');
COMMIT; SELECT pg_temp.save();

CREATE TABLE th_part (id int, zone text, v int, PRIMARY KEY (id, zone)) PARTITION BY LIST (zone);
CREATE TABLE th_part_a PARTITION OF th_part FOR VALUES IN ('a');
CREATE TABLE th_part_b PARTITION OF th_part FOR VALUES IN ('b');
BEGIN; SELECT pg_temp.mark('th_part');
INSERT INTO th_part VALUES (1, 'a', 1), (2, 'b', 2);
COMMIT; SELECT pg_temp.save();
BEGIN; SELECT pg_temp.mark('th_part');
UPDATE th_part SET zone = 'b', v = 10 WHERE id = 1;
COMMIT; SELECT pg_temp.save();
BEGIN; SELECT pg_temp.mark('th_part');
TRUNCATE th_part_b;
INSERT INTO th_part VALUES (3, 'a', 3);
COMMIT; SELECT pg_temp.save();
CREATE TABLE th_tick (n int);
INSERT INTO th_tick VALUES (1);
SELECT bemi.sync();

-- The versions valid at each saved instant are the contents saved then; and at the baseline.
SELECT s.n, s.tbl, pg_temp.valid_at(s.tbl, s.at) = s.state AS versions_equal, jsonb_array_length(s.state) AS rows
  FROM steps s ORDER BY s.n;
SELECT pg_temp.valid_at('th_items', p.effective_at) AS at_baseline
  FROM bemi.baselines b CROSS JOIN LATERAL bemi._place(b.lineage) p
 WHERE b."table" = 'th_items' AND b.snapshot IS NOT NULL;

-- Every version of th_items: valid_from is the effective_at of the change that made it (the
-- baseline's anchor for its rows), valid_to that of the next event of the row.
CREATE TEMP TABLE anchor AS
SELECT p.* FROM bemi.baselines b CROSS JOIN LATERAL bemi._place(b.lineage) p
 WHERE b."table" = 'th_items' AND b.snapshot IS NOT NULL;
SELECT v.primary_key, v."row", v.change_id IS NULL AS from_baseline,
       v.valid_from = coalesce(c.effective_at, a.effective_at) AS from_ok,
       v.valid_to IS NULL AS current,
       v.valid_to = (SELECT min(n.effective_at) FROM bemi.changes n
                      WHERE n."table" = 'th_items'
                        AND (n.capture, n.commit_position, n.seq)
                            > (coalesce(c.capture, a.capture), coalesce(c.commit_position, a.commit_position), coalesce(c.seq, a.seq))
                        AND (n.primary_key = v.primary_key OR n.previous_primary_key = v.primary_key OR n.operation = 'TRUNCATE'))
           AS to_next_event
  FROM bemi.versions(NULL::th_items) v LEFT JOIN bemi.changes c ON c.id = v.change_id CROSS JOIN anchor a
 ORDER BY v.valid_from, v.primary_key;

-- [from, to): the versions valid at some instant of it, no others.
SELECT v.primary_key, v."row"
  FROM bemi.versions(NULL::th_items, (SELECT at FROM steps WHERE n = 2), (SELECT at FROM steps WHERE n = 3)) v
 ORDER BY v.primary_key, v.valid_from;
SELECT count(*) AS in_window,
       count(*) FILTER (WHERE v.valid_from < (SELECT at FROM steps WHERE n = 3)
                          AND (v.valid_to IS NULL OR v.valid_to > (SELECT at FROM steps WHERE n = 2))) AS overlapping
  FROM bemi.versions(NULL::th_items, (SELECT at FROM steps WHERE n = 2), (SELECT at FROM steps WHERE n = 3)) v;
SELECT pg_temp.err($$SELECT * FROM bemi.versions(NULL::th_items, now(), now() - interval '1 day')$$);

-- A record's history, from a key in the middle of its key changes: both ways, with diffs
-- (REPLICA IDENTITY DEFAULT: old values from the previous version).
SELECT operation, primary_key, previous_primary_key, diff FROM bemi.history('th_items', 's4');
SELECT operation, primary_key, previous_primary_key, diff
  FROM bemi.history(ROW('s5', NULL, NULL)::th_items);
-- A key deleted and inserted again: both lives. Its first version is a baseline row, not a
-- change: the DELETE's diff holds what its record carries (the key, REPLICA IDENTITY DEFAULT).
SELECT operation, primary_key, diff FROM bemi.history('th_items', 's2');
-- A partitioned table: a move between partitions changes the key (the partition key is part
-- of it) and is recorded as a DELETE and a CREATE, without previous_primary_key: two records.
SELECT operation, primary_key, "table", root_table, diff FROM bemi.history('th_part', '[1,"a"]');
SELECT operation, primary_key, "table", diff FROM bemi.history(ROW(1, 'b', NULL)::th_part);
-- A composite key with a text part renders as the record writes it.
SELECT bemi._tt_key_of('th_part', '{"id": 1, "zone": "b"}') AS key;

-- Who may: the whole table, through the permit (a permit for another table is refused).
CREATE ROLE th_reader;
CREATE ROLE th_none;
GRANT SELECT ON th_items TO th_reader;
GRANT SELECT ON th_tick TO th_none;
SET ROLE th_reader;
SELECT count(*) > 0 AS reader_versions FROM bemi.versions(NULL::th_items);
SELECT count(*) AS reader_history FROM bemi.history('th_items', 's1');
RESET ROLE;
SET ROLE th_none;
SELECT pg_temp.err($$SELECT * FROM bemi.versions(NULL::th_items)$$);
SELECT pg_temp.err($$SELECT * FROM bemi.history('th_items', 's1')$$);
SELECT pg_temp.err($$SELECT * FROM bemi._history_rows(bemi._past_permit('th_tick'), 'th_items', 's1')$$);
RESET ROLE;
REVOKE ALL ON th_items FROM th_reader;
REVOKE ALL ON th_tick FROM th_none;
DROP ROLE th_reader;
DROP ROLE th_none;
SELECT pg_temp.err($$SELECT * FROM bemi.history('pg_stat_activity', '1')$$);
SELECT pg_temp.err($$SELECT * FROM bemi.history('th_items', NULL)$$);
