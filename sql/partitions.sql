-- Partitioned tables: records name the leaf partition in schema/table and the top-most
-- partitioned table in root_schema/root_table; filters match a partition by its own name or
-- its root's (docs/record-format.md).
SET client_min_messages = warning;
SELECT 'init' FROM pg_create_logical_replication_slot('regression_slot_partitions', 'bemi');

CREATE SCHEMA part_archive;
-- Two levels: measurements -> by year -> 2024 by id.
CREATE TABLE measurements (id integer, taken date, region text, v numeric, PRIMARY KEY (id, taken))
    PARTITION BY RANGE (taken);
CREATE TABLE measurements_2023 PARTITION OF measurements FOR VALUES FROM ('2023-01-01') TO ('2024-01-01');
CREATE TABLE measurements_2024 PARTITION OF measurements FOR VALUES FROM ('2024-01-01') TO ('2025-01-01')
    PARTITION BY RANGE (id);
CREATE TABLE measurements_2024_low PARTITION OF measurements_2024 FOR VALUES FROM (MINVALUE) TO (1000);
CREATE TABLE measurements_2024_high PARTITION OF measurements_2024 FOR VALUES FROM (1000) TO (MAXVALUE);
-- A leaf in another schema, with its own column order and a dropped column: attached later.
CREATE TABLE part_archive.measurements_2025 (gone text, v numeric, region text, taken date NOT NULL, id integer NOT NULL);
ALTER TABLE part_archive.measurements_2025 DROP COLUMN gone;
-- A table that is not partitioned.
CREATE TABLE plain_readings (id integer PRIMARY KEY, note text);

-- REPLICA IDENTITY is per relation: the partitioned table's does not reach its partitions.
ALTER TABLE measurements REPLICA IDENTITY FULL;
SELECT relname, relreplident FROM pg_class
WHERE relname IN ('measurements', 'measurements_2023', 'measurements_2024_low') ORDER BY relname;
ALTER TABLE measurements_2023 REPLICA IDENTITY FULL;
ALTER TABLE measurements_2024 REPLICA IDENTITY FULL;
ALTER TABLE measurements_2024_low REPLICA IDENTITY FULL;
ALTER TABLE measurements_2024_high REPLICA IDENTITY FULL;
ALTER TABLE part_archive.measurements_2025 REPLICA IDENTITY FULL;

-- Transaction 1: a row in the future 2025 leaf while it is still a table of its own.
INSERT INTO part_archive.measurements_2025 VALUES (1.5, 'pre', '2025-06-01', 9);
ALTER TABLE measurements ATTACH PARTITION part_archive.measurements_2025
    FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');

-- Transaction 2: one row into each leaf, through the root; and a non-partitioned table.
BEGIN;
INSERT INTO measurements VALUES (1, '2023-05-01', 'eu', 1.0),
                                (2, '2024-01-01', 'us', 2.0),
                                (1000, '2024-12-31', 'ap', 3.0),
                                (3, '2025-01-01', 'eu', 4.0);
INSERT INTO plain_readings VALUES (1, 'not partitioned');
COMMIT;

-- Transaction 3: an UPDATE inside a partition, then UPDATEs that move rows between leaves
-- (between years, and between the two sub-partitions of 2024).
BEGIN;
UPDATE measurements SET v = 1.5 WHERE id = 1;
UPDATE measurements SET taken = '2024-02-02' WHERE id = 1;
UPDATE measurements SET id = 1001 WHERE id = 2;
UPDATE measurements SET taken = '2025-03-03', region = 'moved' WHERE id = 1000;
-- A key change that stays in its partition is an UPDATE, with the previous key.
UPDATE measurements SET id = 4 WHERE id = 3;
COMMIT;

-- Transaction 4: DELETE through the root; a detached partition is a table of its own again.
DELETE FROM measurements WHERE id = 4;
ALTER TABLE measurements DETACH PARTITION measurements_2023;
INSERT INTO measurements_2023 VALUES (7, '2023-07-07', 'detached', 7);
-- Transaction 5: TRUNCATE through the root: one record per truncated relation. The server
-- logs the partitioned tables themselves along with every leaf, so they get a record too
-- (the intermediate one, being a partition, with its root).
TRUNCATE measurements;

CREATE TEMP TABLE records AS
SELECT row_number() OVER () AS n, data, data::jsonb AS r
FROM pg_logical_slot_peek_changes('regression_slot_partitions', NULL, NULL);
CREATE TEMP VIEW brief AS
SELECT n, dense_rank() OVER (ORDER BY r->'commit_position') AS txn, (r->>'seq')::int AS seq,
       r->>'operation' AS operation, (r->>'schema') || '.' || (r->>'table') AS leaf,
       (r->>'root_schema') || '.' || (r->>'root_table') AS root, r->>'primary_key' AS primary_key
FROM records;

SELECT * FROM brief ORDER BY n;

-- root_schema and root_table come together, only for partitions; they name the top-most
-- table even for the second level.
SELECT count(*) FILTER (WHERE (r ? 'root_schema') <> (r ? 'root_table')) AS half_root,
       count(*) FILTER (WHERE r->>'table' = 'plain_readings' AND r ? 'root_table') AS plain_with_root,
       count(*) FILTER (WHERE r->>'table' LIKE 'measurements_2024_%' AND r->>'root_table' = 'measurements') AS second_level_to_top
FROM records;

-- Sample records.
SELECT r - '{transaction_id,position,commit_position,committed_at}'::text[] AS record
FROM records WHERE n IN (4, 6) ORDER BY n;

-- The composite key is a compact JSON array, in index order (id, taken) whatever the leaf's
-- own column order; it parses back to the values.
SELECT n, r->>'table' AS leaf, r->>'primary_key' AS primary_key,
       (r->>'primary_key')::jsonb = jsonb_build_array(
           CASE r->>'operation' WHEN 'DELETE' THEN r->'before'->'id' ELSE r->'after'->'id' END,
           CASE r->>'operation' WHEN 'DELETE' THEN r->'before'->'taken' ELSE r->'after'->'taken' END) AS key_matches_row
FROM records WHERE r->>'operation' <> 'TRUNCATE' AND r->>'table' LIKE 'measurements%' ORDER BY n;
-- The UPDATE that changed the key inside one partition says what the key was.
SELECT n, r->>'operation' AS operation, r->>'primary_key' AS primary_key, r->>'previous_primary_key' AS previous_primary_key
FROM records WHERE r ? 'previous_primary_key' ORDER BY n;

-- A row that moves arrives as DELETE from the old leaf and CREATE in the new one: same
-- transaction, consecutive seq, the whole old row in before (REPLICA IDENTITY FULL on the leaf).
SELECT d.seq AS delete_seq, d.leaf AS from_leaf, c.seq AS create_seq, c.leaf AS to_leaf,
       c.seq = d.seq + 1 AS consecutive,
       dr.r->'transaction_id' = cr.r->'transaction_id' AS same_transaction,
       dr.r->'before' AS before, cr.r->'after' AS after
FROM brief d JOIN records dr ON dr.n = d.n
JOIN brief c ON c.n = d.n + 1 JOIN records cr ON cr.n = c.n
WHERE d.txn = 3 AND d.operation = 'DELETE' ORDER BY d.n;
SELECT n, r->>'table' AS leaf, r->'before' AS before, r->'after' AS after
FROM records WHERE r->>'operation' = 'UPDATE' ORDER BY n;

-- The attached leaf's records are objects of its live columns (no dropped column).
SELECT n, r->>'operation' AS operation, array_agg(k ORDER BY k) AS columns
FROM records, jsonb_object_keys(CASE WHEN r->>'operation' = 'DELETE' THEN r->'before' ELSE r->'after' END) k
WHERE r->>'table' = 'measurements_2025' GROUP BY n, r->>'operation' ORDER BY n;

-- Filters. A filtered record is the unfiltered one, byte for byte (same seq).
CREATE FUNCTION captured(VARIADIC options text[])
RETURNS TABLE (txn bigint, seq int, operation text, leaf text, same_as_unfiltered boolean)
LANGUAGE sql AS $$
    SELECT b.txn, (p.data::jsonb->>'seq')::int, p.data::jsonb->>'operation',
           (p.data::jsonb->>'schema') || '.' || (p.data::jsonb->>'table'), p.data = u.data
    FROM pg_logical_slot_peek_changes('regression_slot_partitions', NULL, NULL, VARIADIC options) p
    LEFT JOIN records u ON u.r->'transaction_id' = p.data::jsonb->'transaction_id'
                       AND u.r->'seq' = p.data::jsonb->'seq'
    LEFT JOIN brief b ON b.n = u.n
    ORDER BY u.n
$$;
-- The root's name captures every partition, at both levels and in another schema, but not
-- the partition once detached.
SELECT * FROM captured('include-tables', 'public.measurements');
-- Excluding the root excludes all partitions.
SELECT * FROM captured('exclude-tables', 'public.measurements');
-- A leaf by its own name.
SELECT * FROM captured('include-tables', 'public.measurements_2024_high');
SELECT * FROM captured('include-tables', 'part_archive.measurements_2025');
-- Leaves by a pattern on their own names; excluding one leaf of the root.
SELECT * FROM captured('include-tables', 'public.measurements_2024_*');
SELECT * FROM captured('include-tables', 'public.measurements', 'exclude-tables', 'public.measurements_2024_low');
-- An intermediate partitioned table is neither a leaf's own name nor its root's: it captures
-- only the record of its own TRUNCATE, none of its leaves' changes.
SELECT * FROM captured('include-tables', 'public.measurements_2024');

DROP FUNCTION captured(text[]);
SELECT 'stop' FROM pg_drop_replication_slot('regression_slot_partitions');
DROP TABLE measurements, measurements_2023, plain_readings;
DROP SCHEMA part_archive;
