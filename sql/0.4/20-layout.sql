-- bemi.changes becomes PARTITION BY RANGE (effective_at) (docs/ingestion.md, "Partitions").
--
-- A table cannot become partitioned in place, so the 0.3 table is renamed bemi.changes_0_3, a
-- partitioned bemi.changes like it takes its name, and the old table is attached as one
-- partition, FROM (MINVALUE) TO (the first partition boundary after its largest effective_at):
-- its rows stay where they are, nothing is copied, and nothing is recorded as a change. Only
-- rows written by hand (effective_at NULL, which no range partition can hold) move, into the
-- default partition, without being recorded (section c).
-- CREATE EXTENSION runs the same steps on an empty 0.3 table, which is dropped instead.
--
-- Indexes live on the partitions, not on the parent: each partition has 0.3's set of indexes
-- (bemi._partition_indexes, 40-ensure-partitions.sql), its unique keys included: the primary
-- key (id) and the identity UNIQUE NULLS NOT DISTINCT (capture, commit_position, seq), which
-- need not contain the partition key because they are not the parent's. Why not partitioned
-- indexes on the parent: bemi.changes is an extension member, so pg_dump dumps neither it nor
-- its indexes, but it dumps every partition the worker created with its indexes; at restore,
-- attaching such a partition to the parent that CREATE EXTENSION made would create the
-- parent's indexes on it, and the dump's own CREATE INDEX of the same names would then fail
-- (checked: test/shell/ingest_restore.sh). id stays GENERATED ALWAYS AS IDENTITY, on the
-- parent (a new sequence continuing the old one's values). The old table keeps its indexes,
-- so the upgrade builds none. The view and the function that were bound to the old table's
-- row type (bemi.transactions, bemi.diff(bemi.changes)) are created again from their own
-- definitions, with their comments and privileges.
--
-- Locks: bemi.changes is held ACCESS EXCLUSIVE from the rename to the commit; the worker's
-- batches wait for it (lock_timeout, then a retry), readers too. The attach scans the old
-- table once (to check its rows fit the partition's range).

-- (a) What is bound to the old table: saved before the rename ------------------------------

-- (An unlogged table: not decoded; dropped at the end. Not CREATE TABLE AS, whose start the
-- lineage's event trigger records.)
CREATE UNLOGGED TABLE bemi._upgrade_04_saved (kind pg_catalog.text, definition pg_catalog.text,
                                              comment pg_catalog.text, column_comments pg_catalog.text[]);
INSERT INTO bemi._upgrade_04_saved
SELECT 'function' AS kind, pg_catalog.pg_get_functiondef(p.oid) AS definition,
       pg_catalog.obj_description(p.oid, 'pg_proc') AS comment, NULL::pg_catalog.text[] AS column_comments
  FROM pg_catalog.pg_proc p
 WHERE p.oid OPERATOR(pg_catalog.=) 'bemi.diff(bemi.changes)'::pg_catalog.regprocedure
UNION ALL
SELECT 'view', pg_catalog.pg_get_viewdef('bemi.transactions'::pg_catalog.regclass),
       pg_catalog.obj_description('bemi.transactions'::pg_catalog.regclass, 'pg_class'),
       ARRAY(SELECT pg_catalog.col_description(a.attrelid, a.attnum)
               FROM pg_catalog.pg_attribute a
              WHERE a.attrelid OPERATOR(pg_catalog.=) 'bemi.transactions'::pg_catalog.regclass
                AND a.attnum OPERATOR(pg_catalog.>) 0
              ORDER BY a.attnum)
;

DROP VIEW bemi.transactions;
DROP FUNCTION bemi.diff(bemi.changes);

-- (b) The old table, renamed, and the partitioned table in its place ------------------------------

DO $$
DECLARE
    idx record;
    sequence_state record;
BEGIN
    ALTER TABLE bemi.changes RENAME TO changes_0_3;
    -- Its indexes named after it, as the partitions' are (CHECK constraints keep their names,
    -- which attaching requires).
    FOR idx IN SELECT c.relname FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) i.indexrelid
                WHERE i.indrelid OPERATOR(pg_catalog.=) 'bemi.changes_0_3'::pg_catalog.regclass LOOP
        EXECUTE pg_catalog.format('ALTER INDEX bemi.%I RENAME TO %I', idx.relname,
                                  pg_catalog.regexp_replace(idx.relname, '^changes_', 'changes_0_3_'));
    END LOOP;
    -- The identity moves to the parent: a new sequence, from where the old one was.
    SELECT s.last_value, s.is_called INTO sequence_state FROM bemi.changes_id_seq s;
    -- (Out of the extension first: that also takes it off the extension's list of tables to dump.)
    ALTER EXTENSION bemi DROP SEQUENCE bemi.changes_id_seq;
    ALTER TABLE bemi.changes_0_3 ALTER COLUMN id DROP IDENTITY;

    -- The same columns in the same order, NOT NULLs, defaults, CHECKs and column comments.
    CREATE TABLE bemi.changes (
        LIKE bemi.changes_0_3 INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING COMMENTS
    ) PARTITION BY RANGE (effective_at);
    ALTER TABLE bemi.changes ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY;
    PERFORM pg_catalog.setval('bemi.changes_id_seq', sequence_state.last_value, sequence_state.is_called);
END
$$;

ALTER TABLE bemi.changes REPLICA IDENTITY FULL;
COMMENT ON TABLE bemi.changes IS
    'Audit trail: one row per captured row change, filled by the bemi worker (docs/record-format.md); partitioned by effective_at (docs/ingestion.md)';
COMMENT ON COLUMN bemi.changes.id IS
    'Insertion order in this table (not commit order: use commit_position, seq); unique';

-- (c) The rows written by hand, and the default partition ------------------------------------

-- Rows written by hand (effective_at NULL) cannot be in a range partition: they go to the
-- default partition, which holds nothing else and is never purged. Moving them must not be
-- recorded (bemi.changes is captured, REPLICA IDENTITY FULL): rows written into an unlogged
-- table write no WAL, and ALTER TABLE ... SET LOGGED copies them into a new heap by a table
-- rewrite, which logical decoding skips. So the default partition is built that way and
-- attached; and when there were such rows, the old table is rebuilt the same way without them
-- (a copy of the whole trail, once: a DELETE would be recorded).
DO $$
DECLARE
    hand_rows pg_catalog.bool := EXISTS (SELECT FROM bemi.changes_0_3 c WHERE c.effective_at IS NULL);
BEGIN
    CREATE UNLOGGED TABLE bemi.changes_default (LIKE bemi.changes INCLUDING DEFAULTS INCLUDING CONSTRAINTS);
    INSERT INTO bemi.changes_default SELECT * FROM bemi.changes_0_3 c WHERE c.effective_at IS NULL;
    ALTER TABLE bemi.changes_default SET LOGGED;
    IF hand_rows THEN
        CREATE UNLOGGED TABLE bemi.changes_0_3_kept (LIKE bemi.changes_0_3 INCLUDING DEFAULTS INCLUDING CONSTRAINTS);
        INSERT INTO bemi.changes_0_3_kept SELECT * FROM bemi.changes_0_3 c WHERE c.effective_at IS NOT NULL;
        ALTER TABLE bemi.changes_0_3_kept SET LOGGED;
        ALTER EXTENSION bemi DROP TABLE bemi.changes_0_3;
        DROP TABLE bemi.changes_0_3;
        ALTER TABLE bemi.changes_0_3_kept RENAME TO changes_0_3;
        PERFORM bemi._partition_indexes('bemi.changes_0_3');
        ALTER TABLE bemi.changes_0_3 REPLICA IDENTITY FULL;
    END IF;
END
$$;
-- Its CHECK keeps the worker's rows out (a row whose partition is missing fails instead of
-- landing here), and lets PostgreSQL skip scanning it when a partition is created (no row of
-- it can fall in a range).
ALTER TABLE bemi.changes_default
    ADD CONSTRAINT changes_default_effective_at_check CHECK (effective_at IS NULL);
SELECT bemi._partition_indexes('bemi.changes_default');
ALTER TABLE bemi.changes_default REPLICA IDENTITY FULL;
ALTER TABLE bemi.changes ATTACH PARTITION bemi.changes_default DEFAULT;
COMMENT ON TABLE bemi.changes_default IS
    'bemi.changes rows written by hand (effective_at NULL); never purged';

-- (d) The trail stored before 0.4: one partition ------------------------------------------------

DO $$
DECLARE
    newest pg_catalog.timestamptz := (SELECT pg_catalog.max(c.effective_at) FROM bemi.changes_0_3 c);
BEGIN
    -- An ordinary table from now on, like the partitions the worker creates: pg_dump dumps its
    -- definition and its rows (an extension member's rows it would dump, but a restore would
    -- have no table to put them in: CREATE EXTENSION creates no such partition).
    ALTER EXTENSION bemi DROP TABLE bemi.changes_0_3;
    IF newest IS NULL THEN
        DROP TABLE bemi.changes_0_3;   -- CREATE EXTENSION, or a trail of hand-written rows only
    ELSE
        EXECUTE pg_catalog.format('ALTER TABLE bemi.changes ATTACH PARTITION bemi.changes_0_3 FOR VALUES FROM (MINVALUE) TO (%L)',
                                  (bemi._partition_bounds(newest)).upper);
        -- Read through bemi.changes only.
        REVOKE ALL ON TABLE bemi.changes_0_3 FROM bemi_reader, PUBLIC;
        COMMENT ON TABLE bemi.changes_0_3 IS
            'Partition of bemi.changes: the rows stored before bemi 0.4';
    END IF;
END
$$;

-- (e) The view and the function bound to the row type, again ------------------------------------

DO $$
DECLARE
    saved record;
    i pg_catalog.int4;
BEGIN
    FOR saved IN SELECT * FROM bemi._upgrade_04_saved s WHERE s.kind OPERATOR(pg_catalog.<>) 'index' ORDER BY s.kind LOOP
        IF saved.kind OPERATOR(pg_catalog.=) 'function' THEN
            EXECUTE saved.definition;
            EXECUTE pg_catalog.format('COMMENT ON FUNCTION bemi.diff(bemi.changes) IS %L', saved.comment);
        ELSE
            EXECUTE 'CREATE VIEW bemi.transactions AS ' OPERATOR(pg_catalog.||) saved.definition;
            EXECUTE pg_catalog.format('COMMENT ON VIEW bemi.transactions IS %L', saved.comment);
            FOR i IN 1 .. coalesce(pg_catalog.array_length(saved.column_comments, 1), 0) LOOP
                CONTINUE WHEN saved.column_comments[i] IS NULL;
                EXECUTE pg_catalog.format('COMMENT ON COLUMN bemi.transactions.%I IS %L',
                                          (SELECT a.attname FROM pg_catalog.pg_attribute a
                                            WHERE a.attrelid OPERATOR(pg_catalog.=) 'bemi.transactions'::pg_catalog.regclass
                                              AND a.attnum OPERATOR(pg_catalog.=) i),
                                          saved.column_comments[i]);
            END LOOP;
        END IF;
    END LOOP;
END
$$;

-- (f) Privileges and dump ------------------------------------------------------------------------

-- As in 0.3: nothing for PUBLIC, SELECT for bemi_reader, on the parent only (reading through the
-- parent checks the parent's privileges alone; partitions grant nothing).
REVOKE ALL ON TABLE bemi.changes, bemi.changes_default, bemi.transactions FROM PUBLIC;
REVOKE ALL ON SEQUENCE bemi.changes_id_seq FROM PUBLIC;
GRANT SELECT ON TABLE bemi.changes, bemi.transactions TO bemi_reader;
GRANT EXECUTE ON FUNCTION bemi.diff(bemi.changes) TO PUBLIC;

-- pg_dump dumps no rows of a partitioned table, only of its leaves: the default partition (an
-- extension member, created by every CREATE EXTENSION) is marked; the parent stays marked as
-- in 0.3 (harmless, and pg_dump lists it), and its new identity sequence too.
SELECT pg_catalog.pg_extension_config_dump('bemi.changes', '');
SELECT pg_catalog.pg_extension_config_dump('bemi.changes_default', '');
SELECT pg_catalog.pg_extension_config_dump('bemi.changes_id_seq', '');

DROP TABLE bemi._upgrade_04_saved;
