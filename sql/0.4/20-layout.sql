-- bemi.changes becomes PARTITION BY RANGE (effective_at) (docs/ingestion.md, "Partitions").
--
-- A table cannot become partitioned in place, so the 0.3 table is renamed bemi.changes_0_3, a
-- partitioned bemi.changes like it takes its name, and the old table is attached as one
-- partition, FROM (MINVALUE) TO (the first partition boundary after its largest effective_at):
-- its rows stay where they are, nothing is copied, and nothing is recorded as a change. Only
-- rows written by hand (effective_at NULL, which no range partition can hold) move, into the
-- default partition; the session's transaction then carries a replication origin that the
-- decoder skips (bemi.restoring, as a restore does), so the move is not recorded either.
-- CREATE EXTENSION runs the same steps on an empty 0.3 table, which is dropped instead.
--
-- Unique keys of a partitioned table must contain the partition key: the identity becomes
-- UNIQUE NULLS NOT DISTINCT (capture, commit_position, seq, effective_at) under its old name,
-- and id, still GENERATED ALWAYS AS IDENTITY (a new sequence continuing the old one's values),
-- is UNIQUE (id, effective_at), no longer the primary key (effective_at may be NULL). Every
-- other index of 0.3 is created on the parent under its own name; attaching the old table
-- adopts its equal indexes instead of building them again. The view and the function that
-- were bound to the old table's row type (bemi.transactions, bemi.diff(bemi.changes)) are
-- created again from their own definitions, with their comments and privileges.
--
-- Locks: bemi.changes is held ACCESS EXCLUSIVE from the rename to the commit; the worker's
-- batches wait for it (lock_timeout, then a retry), readers too. The attach scans the old
-- table once and builds the two new unique indexes on it.

-- (a) What is bound to the old table: saved before the rename ------------------------------

-- (An unlogged table is not decoded; dropped at the end.)
CREATE UNLOGGED TABLE bemi._upgrade_04_saved AS
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
UNION ALL
-- indexes other than the two unique keys, to create on the parent under the same names
SELECT 'index', pg_catalog.pg_get_indexdef(i.indexrelid), NULL, NULL
  FROM pg_catalog.pg_index i
 WHERE i.indrelid OPERATOR(pg_catalog.=) 'bemi.changes'::pg_catalog.regclass
   AND NOT i.indisunique;

DROP VIEW bemi.transactions;
DROP FUNCTION bemi.diff(bemi.changes);

-- (b) The old table, renamed, and the partitioned table in its place ------------------------------

DO $$
DECLARE
    idx record;
    sequence_state record;
BEGIN
    ALTER TABLE bemi.changes RENAME TO changes_0_3;
    -- Index names are relation names: freed for the parent's (CHECK constraints keep theirs,
    -- which attaching requires).
    FOR idx IN SELECT c.relname FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) i.indexrelid
                WHERE i.indrelid OPERATOR(pg_catalog.=) 'bemi.changes_0_3'::pg_catalog.regclass LOOP
        EXECUTE pg_catalog.format('ALTER INDEX bemi.%I RENAME TO %I', idx.relname,
                                  pg_catalog.regexp_replace(idx.relname, '^changes_', 'changes_0_3_'));
    END LOOP;
    -- The keys the parent's replace (its keys contain them plus effective_at).
    ALTER TABLE bemi.changes_0_3 DROP CONSTRAINT changes_0_3_pkey,
                                 DROP CONSTRAINT changes_0_3_capture_commit_position_seq_key;
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

-- A genuine duplicate (the same capture delivering the same commit again, with the same
-- effective_at) is recognised by this key (docs/ingestion.md, "Why nothing is lost or stored
-- twice"); a change of another capture can never collide with it.
ALTER TABLE bemi.changes
    ADD CONSTRAINT changes_capture_commit_position_seq_key
        UNIQUE NULLS NOT DISTINCT (capture, commit_position, seq, effective_at),
    ADD CONSTRAINT changes_id_key UNIQUE (id, effective_at);
ALTER TABLE bemi.changes REPLICA IDENTITY FULL;
COMMENT ON TABLE bemi.changes IS
    'Audit trail: one row per captured row change, filled by the bemi worker (docs/record-format.md); partitioned by effective_at (docs/ingestion.md)';
COMMENT ON COLUMN bemi.changes.id IS
    'Insertion order in this table (not commit order: use commit_position, seq); unique with effective_at';
DO $$
DECLARE
    idx record;
BEGIN
    FOR idx IN SELECT s.definition FROM bemi._upgrade_04_saved s WHERE s.kind OPERATOR(pg_catalog.=) 'index' LOOP
        EXECUTE idx.definition;  -- "... ON bemi.changes ...": the parent now
    END LOOP;
END
$$;

-- (c) The default partition ------------------------------------------------------------------

-- Rows written by hand, never purged. Its CHECK lets PostgreSQL skip
-- scanning it when a partition is created (no row of it can fall in a range), and keeps the
-- worker's rows out of it: a row whose partition is missing fails instead of landing here.
CREATE TABLE bemi.changes_default PARTITION OF bemi.changes
    (CONSTRAINT changes_default_effective_at_check CHECK (effective_at IS NULL)) DEFAULT;
ALTER TABLE bemi.changes_default REPLICA IDENTITY FULL;
COMMENT ON TABLE bemi.changes_default IS
    'bemi.changes rows written by hand (effective_at NULL); never purged';

-- (d) The old rows ----------------------------------------------------------------------------

DO $$
DECLARE
    newest pg_catalog.timestamptz;
BEGIN
    IF EXISTS (SELECT FROM bemi.changes_0_3 c WHERE c.effective_at IS NULL) THEN
        -- Rows written by hand move to the default partition, not recorded: from the next
        -- statement on, this transaction carries a replication origin the decoder skips
        -- (src/pg/capture/restore_session.cpp). The rest of ALTER EXTENSION's transaction is
        -- then not recorded either.
        PERFORM pg_catalog.set_config('bemi.restoring', 'on', true);
        INSERT INTO bemi.changes_default OVERRIDING SYSTEM VALUE
        SELECT * FROM bemi.changes_0_3 c WHERE c.effective_at IS NULL;
        DELETE FROM bemi.changes_0_3 c WHERE c.effective_at IS NULL;
    END IF;
    newest := (SELECT pg_catalog.max(c.effective_at) FROM bemi.changes_0_3 c);
    IF newest IS NULL THEN
        DROP TABLE bemi.changes_0_3;   -- CREATE EXTENSION, or a trail of hand-written rows only
    ELSE
        EXECUTE pg_catalog.format('ALTER TABLE bemi.changes ATTACH PARTITION bemi.changes_0_3 FOR VALUES FROM (MINVALUE) TO (%L)',
                                  (bemi._partition_bounds(newest)).upper);
        -- An ordinary table from now on, like the partitions the worker creates: pg_dump dumps
        -- its definition and its rows (an extension member's rows it would dump, but a restore
        -- would have no table to put them in: CREATE EXTENSION creates no such partition).
        ALTER EXTENSION bemi DROP TABLE bemi.changes_0_3;
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
