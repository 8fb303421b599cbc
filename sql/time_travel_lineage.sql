-- The lineage of tables (bemi.table_lineage, written by event triggers) and baselines
-- (created baselines, bemi.backfill, bemi.backfill_all): docs/time-travel.md.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS bemi;
SELECT bemi.sync();
CREATE SCHEMA tt;
CREATE SCHEMA tt2;
SET search_path = tt, public;

-- The entries of the relations that carried a name: event, names, columns (attnum:name:type),
-- key, parent's name, breaks_history, detail.
CREATE FUNCTION lin(first_name text) RETURNS TABLE (event text, name text, columns text, key text[],
                                                    parent text, breaks bool, detail text)
LANGUAGE sql AS $$
  SELECT l.event, l.schema || '.' || l."table",
         (SELECT string_agg(format('%s:%s:%s', c->>'attnum', c->>'name', c->>'type'), ' ' ORDER BY (c->>'attnum')::int)
            FROM jsonb_array_elements(l.columns) c),
         l.key,
         (SELECT p.schema || '.' || p."table" FROM bemi.table_lineage p WHERE p.relid = l.parent
           ORDER BY p.id DESC LIMIT 1),
         l.breaks_history, l.detail
    FROM bemi.table_lineage l
   WHERE l.relid IN (SELECT x.relid FROM bemi.table_lineage x WHERE x.schema || '.' || x."table" = first_name)
   ORDER BY l.id
$$;

-- created (no entry for temporary or unlogged tables)
CREATE TABLE todo (id int PRIMARY KEY, task text, done boolean);
CREATE TEMP TABLE scratch (id int PRIMARY KEY);
CREATE UNLOGGED TABLE fast (id int PRIMARY KEY);
SELECT * FROM lin('tt.todo');
-- one created entry, whatever subcommands the CREATE TABLE runs
CREATE TABLE liked (LIKE todo INCLUDING ALL, extra serial, CHECK (id > 0));
ALTER TABLE liked ADD CONSTRAINT liked_extra UNIQUE (extra), ALTER COLUMN task SET DEFAULT 'x';
SELECT event, name, columns, key FROM lin('tt.liked');
SELECT count(*) AS temp_or_unlogged_entries FROM bemi.table_lineage
 WHERE "table" IN ('scratch', 'fast');
-- with its created baseline, empty at the entry
SELECT b.schema, b."table", b.snapshot IS NULL AS no_snapshot, b.row_count, l.event AS lineage_event
  FROM bemi.baselines b JOIN bemi.table_lineage l ON l.id = b.lineage
 WHERE b.relid = 'todo'::regclass;

-- renamed, rename column, set schema
ALTER TABLE todo RENAME TO task;
ALTER TABLE task RENAME COLUMN done TO is_done;
ALTER TABLE task SET SCHEMA tt2;
-- plain ADD COLUMN: no break; DEFAULT 5 (missing value): break; volatile default (rewrite): break
ALTER TABLE tt2.task ADD COLUMN note text;
ALTER TABLE tt2.task ADD COLUMN prio int DEFAULT 5;
ALTER TABLE tt2.task ADD COLUMN stamp timestamptz DEFAULT clock_timestamp();
-- drop column: no break; type change: break
ALTER TABLE tt2.task DROP COLUMN note;
ALTER TABLE tt2.task ALTER COLUMN prio TYPE bigint;
-- key change: break
ALTER TABLE tt2.task DROP CONSTRAINT todo_pkey, ADD PRIMARY KEY (id, task);
-- nothing the lineage records: no entry
ALTER TABLE tt2.task ALTER COLUMN task SET NOT NULL;
COMMENT ON TABLE tt2.task IS 'tasks';
-- a rename inside one transaction, then a new table under the old name
BEGIN;
ALTER TABLE tt2.task RENAME TO task_old;
CREATE TABLE tt2.task (id int PRIMARY KEY);
COMMIT;
SELECT * FROM lin('tt.todo');
SELECT * FROM lin('tt2.task') WHERE name = 'tt2.task';
-- entries carry their transaction's id
SELECT count(DISTINCT transaction_id) AS transactions, count(*) AS entries FROM bemi.table_lineage
 WHERE (relid = 'tt2.task_old'::regclass AND event = 'renamed') OR (relid = 'tt2.task'::regclass);

-- drop table: keeps the last names
DROP TABLE tt2.task_old;
SELECT event, name, columns, key, breaks FROM lin('tt.todo') WHERE event = 'dropped';

-- CREATE TABLE AS and SELECT INTO: the created entry comes before the rows in the order
CREATE TABLE copied AS SELECT g AS id, 'x' || g AS label FROM generate_series(1, 3) g;
SELECT 1 AS id INTO selected;
CREATE TABLE IF NOT EXISTS copied AS SELECT 1 AS id;
CREATE TEMP TABLE tcopied AS SELECT 1 AS id;
SELECT * FROM lin('tt.copied');
SELECT * FROM lin('tt.selected');
SELECT count(*) AS pending_entries FROM bemi.table_lineage WHERE relid = 0;

-- partitions: created with their parent; attach and detach with rows break both histories
CREATE TABLE events (id int, at date, PRIMARY KEY (id, at)) PARTITION BY RANGE (at);
CREATE TABLE events_2024 PARTITION OF events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE TABLE events_2025 (id int, at date, PRIMARY KEY (id, at));
CREATE TABLE events_2026 (id int, at date, PRIMARY KEY (id, at));
INSERT INTO events_2025 VALUES (1, '2025-03-01');
ALTER TABLE events ATTACH PARTITION events_2025 FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
ALTER TABLE events ATTACH PARTITION events_2026 FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
ALTER TABLE events DETACH PARTITION events_2025;
-- a column added to the parent reaches the partitions
ALTER TABLE events ADD COLUMN note text;
SELECT * FROM lin('tt.events');
SELECT * FROM lin('tt.events_2024');
SELECT * FROM lin('tt.events_2025');
SELECT * FROM lin('tt.events_2026');
-- DROP of a partition alone takes its rows out of the parent: break
CREATE TABLE events_2027 PARTITION OF events FOR VALUES FROM ('2027-01-01') TO ('2028-01-01');
DROP TABLE events_2027;
SELECT l.event, l.breaks_history, l.detail FROM bemi.table_lineage l
 WHERE l.relid = 'events'::regclass ORDER BY l.id DESC LIMIT 1;
-- DROP of a partitioned table drops its partitions too (no entry for the parent then)
DROP TABLE events;
SELECT name, event FROM (SELECT (lin(n)).* FROM unnest(ARRAY['tt.events', 'tt.events_2024', 'tt.events_2026']) n) x
 WHERE event = 'dropped' ORDER BY name;

-- SET UNLOGGED stops capture, SET LOGGED brings rows without decoded changes: both break
CREATE TABLE flip (id int PRIMARY KEY);
ALTER TABLE flip SET UNLOGGED;
ALTER TABLE flip ADD COLUMN v int;
ALTER TABLE flip SET LOGGED;
SELECT event, name, columns, breaks, detail FROM lin('tt.flip');
-- a table the lineage has not seen (created while the trigger was off): its first entry
-- cannot tell what changed, so it breaks the history
ALTER EVENT TRIGGER bemi_lineage DISABLE;
CREATE TABLE unseen (id int PRIMARY KEY);
ALTER EVENT TRIGGER bemi_lineage ENABLE;
ALTER TABLE unseen ADD COLUMN v int;
SELECT event, name, breaks, detail FROM lin('tt.unseen');
-- a failed CREATE TABLE AS leaves no entry
CREATE TABLE failed AS SELECT 1 / 0 AS x;
SELECT count(*) AS entries FROM bemi.table_lineage WHERE relid = 0 OR "table" = 'failed';

-- partitions the lineage has not seen: a baseline of the partitioned table gives them a first
-- entry, so detaching one with rows later breaks the parent's history; attaching one does too
ALTER EVENT TRIGGER bemi_lineage DISABLE;
CREATE TABLE old_parted (id int, k int, PRIMARY KEY (id, k)) PARTITION BY RANGE (k);
CREATE TABLE old_parted_1 PARTITION OF old_parted FOR VALUES FROM (0) TO (10);
CREATE TABLE old_parted_2 (id int, k int, PRIMARY KEY (id, k));
ALTER EVENT TRIGGER bemi_lineage ENABLE;
INSERT INTO old_parted VALUES (1, 1);
INSERT INTO old_parted_2 VALUES (2, 12);
SELECT bemi.backfill('old_parted') IS NOT NULL AS baselined;
ALTER TABLE old_parted DETACH PARTITION old_parted_1;
ALTER TABLE old_parted ATTACH PARTITION old_parted_2 FOR VALUES FROM (10) TO (20);
SELECT event, name, parent, breaks, detail FROM lin('tt.old_parted');
SELECT event, name, parent, breaks, detail FROM lin('tt.old_parted_1');
SELECT event, name, parent, breaks, detail FROM lin('tt.old_parted_2');

-- the key: a replica identity index (break), the index dropped (no key: break)
CREATE TABLE keyed (id int PRIMARY KEY, code text NOT NULL);
CREATE UNIQUE INDEX keyed_code ON keyed (code);
ALTER TABLE keyed REPLICA IDENTITY USING INDEX keyed_code;
ALTER TABLE keyed RENAME COLUMN code TO label;
DROP INDEX keyed_code;
SELECT event, key, breaks, detail FROM lin('tt.keyed');

-- a session whose changes are not captured (a replication origin: a restore under
-- bemi.restoring) writes no lineage
SELECT 'origin' FROM pg_replication_origin_create('tt_restore_like');
SELECT pg_replication_origin_session_setup('tt_restore_like');
CREATE TABLE uncaptured (id int PRIMARY KEY);
ALTER TABLE uncaptured ADD COLUMN v int;
SELECT pg_replication_origin_session_reset();
SELECT pg_replication_origin_drop('tt_restore_like');
SELECT count(*) AS entries FROM bemi.table_lineage WHERE "table" = 'uncaptured';

-- ALTER SCHEMA ... RENAME renames its tables
CREATE SCHEMA moving;
CREATE TABLE moving.t (id int PRIMARY KEY);
ALTER SCHEMA moving RENAME TO moved;
SELECT event, name, detail FROM lin('moving.t');

-- Entries are captured: each is a CREATE record of bemi.table_lineage with its id as the key,
-- and bemi._place gives its place in the order.
SELECT bemi.sync();
SELECT count(*) > 20 AS entries, count(*) = count(p.capture) AS all_placed,
       count(*) = count(p.effective_at) AS all_with_effective_at
  FROM bemi.table_lineage l, LATERAL bemi._place(l.id) p
 WHERE l.schema IN ('tt', 'tt2', 'moving', 'moved');
-- the place of the CTAS entry comes before its rows in the order; the rows carry its names
SELECT bool_and((c.capture, c.commit_position, c.seq) > (p.capture, p.commit_position, p.seq)) AS rows_after_entry,
       count(*) AS copied_rows
  FROM bemi.table_lineage l, LATERAL bemi._place(l.id) p, bemi.changes c
 WHERE l.schema = 'tt' AND l."table" = 'copied' AND l.event = 'created'
   AND c.schema = 'tt' AND c."table" = 'copied';
-- the entries of one transaction are in the order of its DDL
SELECT (p1.commit_position, p1.seq) < (p2.commit_position, p2.seq) AS in_order
  FROM (SELECT id FROM bemi.table_lineage WHERE "table" = 'task_old' AND event = 'renamed') a,
       (SELECT id FROM bemi.table_lineage WHERE schema = 'tt2' AND "table" = 'task' AND event = 'created') b,
       LATERAL bemi._place(a.id) p1, LATERAL bemi._place(b.id) p2;
SELECT * FROM bemi._place('00000000-0000-0000-0000-000000000000');

-- ===== bemi.backfill =====
-- A wide set of types: rows inserted while captured, then a baseline of the same rows. Each
-- baseline row (row, key, fallback) equals the `after`, key and fallback of its CREATE record.
CREATE ROLE regress_tt_owner NOSUPERUSER;
GRANT CREATE, USAGE ON SCHEMA tt TO regress_tt_owner;
SET ROLE regress_tt_owner;
-- a type whose json cast belongs to a non-superuser: must never run (it would raise)
CREATE TYPE tt.mood AS ENUM ('happy', 'sad');
CREATE FUNCTION tt.mood_to_json(tt.mood) RETURNS json LANGUAGE plpgsql AS $f$
BEGIN RAISE EXCEPTION 'the untrusted cast ran'; END $f$;
CREATE CAST (tt.mood AS json) WITH FUNCTION tt.mood_to_json(tt.mood);
CREATE TYPE tt.mood_box AS (m tt.mood, n int);
-- the lineage follows a non-superuser's DDL too
CREATE TABLE tt.owned (id int PRIMARY KEY);
ALTER TABLE tt.owned RENAME TO owned2;
DROP TABLE tt.owned2;
RESET ROLE;
SELECT event, name FROM lin('tt.owned');
CREATE TYPE tt.pt AS (x numeric, label text, at timestamptz);
CREATE DOMAIN tt.posint AS int CHECK (VALUE > 0);
CREATE TABLE wide (id int PRIMARY KEY, n numeric, f8 float8, f4 real, nan float8, ts timestamptz,
                   t timestamp, d date, tm time, iv interval, b bytea, ia int[], ta text[], fa float8[][],
                   comp tt.pt, ca tt.pt[], j json, jb jsonb, m money, u uuid, tx text, ip inet,
                   r int4range, flag bool, dom tt.posint, big int8, sm int2, rc regclass,
                   mood tt.mood, moods tt.mood[], mb tt.mood_box, nul text);
INSERT INTO wide VALUES
  (1, 123456789012345678901234567890.123456789, 0.1, 1.5, 'NaN', '2024-01-02 03:04:05.123456+05', '2024-01-02 03:04:05',
   '2024-02-29', '12:34:56.789', '1 year 2 mons 3 days 04:05:06.5', '\x00ff10', '{1,NULL,3}', '{"a b","c\"d",NULL}',
   '{{1.5,2},{3,-0.25}}', ROW(1.10, 'x "y"', '2024-06-01 12:00+02'), ARRAY[ROW(2, 'z', NULL)::tt.pt],
   '{"k": [1, 2.50, "v"],  "dup": 1}', '{"k": {"n": null}}', 12.34, 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
   E'tab\there\nnew "quoted" \\ back', '192.168.0.1/24', '[1,10)', true, 7, 9223372036854775807, -32768,
   'tt.wide', 'sad', '{happy,sad}', ROW('happy', 3), NULL),
  (2, -0.000001, 1e300, -1e-30, 'Infinity', 'infinity', '-infinity', '0001-01-01', '00:00', '-1 days', '\x',
   '{}', '{}', NULL, NULL, NULL, 'null', '[]', -0.5, NULL, '', NULL, 'empty', false, 1, 0, 0, NULL,
   NULL, NULL, NULL, 'x'),
  (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
   NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
-- a key of several columns, as the plugin writes it (a compact JSON array)
CREATE TABLE multi (a int, b text, c numeric, v text, PRIMARY KEY (b, a, c));
INSERT INTO multi VALUES (1, 'x "q" \ y', 2.50, 'one'), (2, 'plain', -1, 'two');
-- a key that is a replica identity index, not the primary key
CREATE TABLE ri (id int PRIMARY KEY, code text NOT NULL, v int);
CREATE UNIQUE INDEX ri_code ON ri (code);
ALTER TABLE ri REPLICA IDENTITY USING INDEX ri_code;
INSERT INTO ri VALUES (1, 'c1', 10), (2, 'c2', 20);
-- a partitioned table: every leaf's rows, each with its leaf
CREATE TABLE parted (id int, region text, v int, PRIMARY KEY (id, region)) PARTITION BY LIST (region);
CREATE TABLE parted_eu PARTITION OF parted FOR VALUES IN ('eu');
CREATE TABLE parted_us PARTITION OF parted FOR VALUES IN ('us') PARTITION BY RANGE (id);
CREATE TABLE parted_us_low PARTITION OF parted_us FOR VALUES FROM (0) TO (100);
INSERT INTO parted VALUES (1, 'eu', 1), (2, 'us', 2), (3, 'us', 3);
SELECT bemi.sync();
SELECT bemi.backfill('wide') IS NOT NULL AS wide, bemi.backfill('multi') IS NOT NULL AS multi,
       bemi.backfill('ri') IS NOT NULL AS ri, bemi.backfill('parted') IS NOT NULL AS parted;
SELECT bemi.sync();

-- What the captured CREATE records hold, against the baselines.
CREATE FUNCTION compare_baseline(rel regclass) RETURNS TABLE (baseline_rows bigint, recorded bigint, same_key bigint,
                                                               same_row bigint, same_fallback bigint, same_leaf bigint)
LANGUAGE sql AS $$
  SELECT count(*), count(c.id), count(*) FILTER (WHERE c.primary_key = r.primary_key),
         count(*) FILTER (WHERE c.after = r."row"), count(*) FILTER (WHERE c.fallback IS NOT DISTINCT FROM r.fallback),
         count(*) FILTER (WHERE c.schema = r.leaf_schema AND c."table" = r.leaf_table)
    FROM bemi.baselines b
    JOIN bemi.baseline_rows r ON r.baseline = b.id
    LEFT JOIN bemi.changes c ON c.operation = 'CREATE' AND c.primary_key = r.primary_key
                            AND coalesce(c.root_table, c."table") = b."table" AND coalesce(c.root_schema, c.schema) = b.schema
   WHERE b.relid = rel AND b.snapshot IS NOT NULL
$$;
SELECT 'wide' AS rel, * FROM compare_baseline('wide')
UNION ALL SELECT 'multi', * FROM compare_baseline('multi')
UNION ALL SELECT 'ri', * FROM compare_baseline('ri')
UNION ALL SELECT 'parted', * FROM compare_baseline('parted');
-- the differences, if any (none expected)
SELECT r.primary_key, k AS col, r."row"->k AS baseline, c.after->k AS recorded
  FROM bemi.baselines b JOIN bemi.baseline_rows r ON r.baseline = b.id
  JOIN bemi.changes c ON c.schema = 'tt' AND c."table" = 'wide' AND c.operation = 'CREATE' AND c.primary_key = r.primary_key,
       LATERAL jsonb_object_keys(c.after) k
 WHERE b.relid = 'wide'::regclass AND r."row"->k IS DISTINCT FROM c.after->k;
-- a few values as stored
SELECT primary_key, "row"->'n' AS n, "row"->'f8' AS f8, "row"->'ts' AS ts, "row"->'b' AS b, "row"->'mood' AS mood,
       "row"->'mb' AS mb, fallback
  FROM bemi.baseline_rows WHERE baseline = (SELECT id FROM bemi.baselines WHERE relid = 'wide'::regclass AND snapshot IS NOT NULL)
 ORDER BY primary_key;
SELECT primary_key, leaf_schema, leaf_table FROM bemi.baseline_rows
 WHERE baseline IN (SELECT id FROM bemi.baselines WHERE relid IN ('multi'::regclass, 'ri'::regclass, 'parted'::regclass))
 ORDER BY leaf_table, primary_key;
-- the baselines: snapshot, row count, a `baseline` lineage entry whose place is stored
SELECT b."table", b.row_count, b.snapshot IS NOT NULL AS has_snapshot, l.event, l.key,
       (bemi._place(l.id)).capture IS NOT NULL AS anchored
  FROM bemi.baselines b JOIN bemi.table_lineage l ON l.id = b.lineage
 WHERE b.relid IN ('wide'::regclass, 'multi'::regclass, 'ri'::regclass, 'parted'::regclass) AND b.snapshot IS NOT NULL
 ORDER BY b."table";
-- the copy's snapshot: the transactions that wrote the rows are visible in it
SELECT bool_and(pg_visible_in_snapshot(c.transaction_id::text::xid8, b.snapshot)) AS rows_visible_in_snapshot
  FROM bemi.baselines b JOIN bemi.changes c ON c."table" = 'wide' AND c.schema = 'tt'
 WHERE b.relid = 'wide'::regclass AND b.snapshot IS NOT NULL;
-- a baseline's rows are not changes
SELECT count(*) AS baseline_rows_in_changes FROM bemi.changes WHERE schema = 'bemi' AND "table" = 'baseline_rows';
-- the baselines themselves are recorded
SELECT count(*) AS baselines, count(c.id) AS recorded FROM bemi.baselines b
  LEFT JOIN bemi.changes c ON c.schema = 'bemi' AND c."table" = 'baselines' AND c.primary_key = b.id::text
 WHERE b.schema = 'tt';

-- Values that need a substitute form (the slow path): json that jsonb refuses, a trusted cast
-- that raises, next to an untrusted one; still as the plugin writes them.
CREATE TYPE tt.colour AS ENUM ('red', 'blue');
CREATE FUNCTION tt.colour_to_json(tt.colour) RETURNS json LANGUAGE plpgsql IMMUTABLE STRICT AS $f$
BEGIN
    IF $1 = 'blue' THEN RAISE EXCEPTION 'no blue'; END IF;
    RETURN json_build_object('colour', $1::text);
END $f$;
CREATE CAST (tt.colour AS json) WITH FUNCTION tt.colour_to_json(tt.colour);
CREATE TABLE odd (id text PRIMARY KEY, j json, ja json[], c tt.colour, mood tt.mood, n numeric);
INSERT INTO odd VALUES ('a', '{"x": "nul \u0000 here"}', ARRAY['1e999999'::json], 'red', 'happy', 1.50),
                       ('b', '[1]', ARRAY['{}'::json], 'blue', NULL, -2),
                       ('c', NULL, NULL, NULL, NULL, NULL);
SELECT bemi.sync();
SELECT bemi.backfill('odd') IS NOT NULL AS odd;
SELECT bemi.sync();
SELECT * FROM compare_baseline('odd');
SELECT primary_key, "row", fallback FROM bemi.baseline_rows
 WHERE baseline = (SELECT id FROM bemi.baselines WHERE relid = 'odd'::regclass AND snapshot IS NOT NULL)
 ORDER BY primary_key;

-- Refusals.
CREATE VIEW wide_view AS SELECT * FROM wide;
CREATE TEMP TABLE temp_t (id int PRIMARY KEY);
CREATE UNLOGGED TABLE unlogged_t (id int PRIMARY KEY);
CREATE TABLE no_key (id int, v text);
CREATE TABLE secret_data (id int PRIMARY KEY);
INSERT INTO bemi.excluded_tables (pattern) VALUES ('tt.secret*');
CREATE TABLE parted_odd (id int, k int, PRIMARY KEY (id, k)) PARTITION BY RANGE (k);
CREATE TABLE parted_odd_1 PARTITION OF parted_odd FOR VALUES FROM (0) TO (10);
CREATE UNIQUE INDEX parted_odd_1_ri ON parted_odd_1 (k, id);
ALTER TABLE parted_odd_1 REPLICA IDENTITY USING INDEX parted_odd_1_ri;
\set VERBOSITY default
\set SHOW_CONTEXT never
SELECT bemi.backfill('wide_view');
SELECT bemi.backfill('temp_t');
SELECT bemi.backfill('unlogged_t');
SELECT bemi.backfill('no_key');
SELECT bemi.backfill('secret_data');
SELECT bemi.backfill('parted_odd');
SELECT bemi.backfill('bemi.changes');
SELECT bemi.backfill(0);
-- capture not started (no capture visible), and capture lost
BEGIN;
DELETE FROM bemi.capture_history;
SELECT bemi.backfill('wide');
ROLLBACK;
BEGIN;
INSERT INTO bemi.capture_history (event, capture, slot_name, system_identifier, database_oid, database)
SELECT 'capture_stopped', capture, slot_name, system_identifier, database_oid, database
  FROM bemi._own_capture_history ORDER BY id DESC LIMIT 1;
SELECT bemi.backfill('wide');
ROLLBACK;
-- a non-superuser: no EXECUTE; and refused even when granted
CREATE ROLE regress_tt_user NOSUPERUSER;
GRANT USAGE ON SCHEMA tt TO regress_tt_user;
SET ROLE regress_tt_user;
SELECT bemi.backfill('tt.wide');
SELECT * FROM bemi.backfill_all();
RESET ROLE;
GRANT EXECUTE ON FUNCTION bemi.backfill(regclass), bemi.backfill_all() TO regress_tt_user;
SET ROLE regress_tt_user;
SELECT bemi.backfill('tt.wide');
SELECT * FROM bemi.backfill_all();
RESET ROLE;
REVOKE EXECUTE ON FUNCTION bemi.backfill(regclass), bemi.backfill_all() FROM regress_tt_user;
\set VERBOSITY terse
SELECT bemi._pattern_matches(p, s, t) AS matches, p, s, t
  FROM (VALUES ('tt.secret*', 'tt', 'secret_data'), ('tt.secret\*', 'tt', 'secret_data'), ('tt.secret\*', 'tt', 'secret*'),
               ('*.*', 'a.b', 'c'), ('a\.b.c', 'a.b', 'c'), ('a.b.c', 'a', 'b.c'), ('t?.x', 'tt', 'x'), ('T.x', 't', 'x')) v(p, s, t);

-- backfill_all: every table without a usable baseline (a created baseline in this capture
-- counts; a later entry that breaks the history does not), partitioned tables whole.
CREATE TABLE fresh (id int PRIMARY KEY);
ALTER TABLE fresh ADD COLUMN v int DEFAULT 1;
-- (the tables of earlier suites in this database are baselined too; shown: this suite's)
SELECT t::text AS baselined FROM bemi.backfill_all() t
 WHERE (SELECT c.relnamespace::regnamespace::text FROM pg_class c WHERE c.oid = t) IN ('tt', 'tt2', 'moved')
 ORDER BY 1;
SELECT * FROM bemi.backfill_all();
DELETE FROM bemi.excluded_tables;

-- DROP EXTENSION with the event triggers in place, and back
DROP EXTENSION bemi;
CREATE TABLE after_drop (id int PRIMARY KEY);
DROP TABLE after_drop;
CREATE EXTENSION bemi;
SELECT bemi.sync();

DROP SCHEMA tt, tt2, moved CASCADE;
DROP ROLE regress_tt_owner, regress_tt_user;
