-- The lineage of tables (docs/time-travel.md, "Tables and their names over time"): one entry per
-- creation, rename, change and drop of a user table, written by event triggers in the DDL's own
-- transaction. bemi.table_lineage is captured like any other table: each entry's CREATE record
-- in bemi.changes (schema 'bemi', table 'table_lineage', primary_key = id::text) gives it a
-- place (capture, commit_position, seq) in the order, right after the DDL in its transaction.

CREATE TABLE bemi.table_lineage (
    id             pg_catalog.uuid PRIMARY KEY DEFAULT bemi._time_ordered_uuid(),
    relid          pg_catalog.oid NOT NULL,
    event          pg_catalog.text NOT NULL
        CONSTRAINT table_lineage_event_check
        CHECK (event OPERATOR(pg_catalog.=) ANY
               (ARRAY['created', 'altered', 'renamed', 'dropped', 'baseline']::pg_catalog.text[])),
    schema         pg_catalog.name,
    "table"        pg_catalog.name,
    columns        pg_catalog.jsonb,
    key            pg_catalog.text[],
    parent         pg_catalog.oid,
    breaks_history pg_catalog.bool NOT NULL DEFAULT false,
    detail         pg_catalog.text,
    transaction_id pg_catalog.int8 NOT NULL DEFAULT pg_catalog.pg_current_xact_id()::pg_catalog.text::pg_catalog.int8,
    recorded_at    pg_catalog.timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp()
);
-- The latest entry of a relation; the entries in force under a name.
CREATE INDEX table_lineage_relid_idx ON bemi.table_lineage (relid, id);
CREATE INDEX table_lineage_name_idx ON bemi.table_lineage (schema, "table", id);
-- The partitions an entry says are under a table (DETACH PARTITION).
CREATE INDEX table_lineage_parent_idx ON bemi.table_lineage (parent) WHERE parent IS NOT NULL;
-- An UPDATE or DELETE by hand is recorded with the whole entry as it was.
ALTER TABLE bemi.table_lineage REPLICA IDENTITY FULL;

COMMENT ON TABLE bemi.table_lineage IS
    'Lineage of tables: creation, renames, changes, drops and baselines, each captured in bemi.changes (docs/time-travel.md)';
COMMENT ON COLUMN bemi.table_lineage.id IS 'Time-ordered uuid; the entry''s place in the order is its CREATE record in bemi.changes (bemi._place)';
COMMENT ON COLUMN bemi.table_lineage.relid IS 'The table''s oid (pg_class.oid)';
COMMENT ON COLUMN bemi.table_lineage.event IS 'created, altered, renamed, dropped or baseline';
COMMENT ON COLUMN bemi.table_lineage.schema IS 'The table''s schema after the event (for dropped: its last)';
COMMENT ON COLUMN bemi.table_lineage."table" IS 'The table''s name after the event (for dropped: its last)';
COMMENT ON COLUMN bemi.table_lineage.columns IS 'Live columns after the event: [{"attnum": 1, "name": "id", "type": "integer"}, ...]';
COMMENT ON COLUMN bemi.table_lineage.key IS 'Columns of the key records carry (replica identity index, else primary key) after the event; NULL when none';
COMMENT ON COLUMN bemi.table_lineage.parent IS 'The partitioned table this partition belongs to; NULL otherwise';
COMMENT ON COLUMN bemi.table_lineage.breaks_history IS 'The DDL changed stored rows without decoded row changes: instants from here on need a newer baseline';
COMMENT ON COLUMN bemi.table_lineage.detail IS 'What changed, and which rule set breaks_history';
COMMENT ON COLUMN bemi.table_lineage.transaction_id IS '64-bit id of the transaction that wrote the entry';
COMMENT ON COLUMN bemi.table_lineage.recorded_at IS 'When the entry was written (clock time)';
SELECT pg_catalog.pg_extension_config_dump('bemi.table_lineage', '');
REVOKE ALL ON TABLE bemi.table_lineage FROM PUBLIC;
GRANT SELECT ON TABLE bemi.table_lineage TO bemi_reader;

-- The state of a relation the lineage records, read from the catalog now. ------------------

-- Live columns in attnum order, each with its type as format_type() writes it.
CREATE FUNCTION bemi._lineage_columns(rel pg_catalog.oid)
    RETURNS pg_catalog.jsonb
    LANGUAGE sql STABLE STRICT
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT coalesce(jsonb_agg(jsonb_build_object('attnum', a.attnum, 'name', a.attname,
                                                 'type', format_type(a.atttypid, a.atttypmod))
                              ORDER BY a.attnum), '[]'::jsonb)
      FROM pg_attribute a
     WHERE a.attrelid = rel AND a.attnum > 0 AND NOT a.attisdropped
$$;

-- The columns of the key records carry, in index order: the replica identity index under
-- REPLICA IDENTITY USING INDEX, otherwise the primary key (as the plugin: fill_key in
-- src/pg/decode/relation_cache.cpp). NULL when there is none.
CREATE FUNCTION bemi._lineage_key(rel pg_catalog.oid)
    RETURNS pg_catalog.text[]
    LANGUAGE sql STABLE STRICT
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT (SELECT array_agg(a.attname::text ORDER BY k.n)
              FROM unnest(i.indkey[0:i.indnkeyatts - 1]) WITH ORDINALITY k(attnum, n)
              JOIN pg_attribute a ON a.attrelid = rel AND a.attnum = k.attnum)
      FROM pg_class c
      JOIN pg_index i ON i.indrelid = c.oid
     WHERE c.oid = rel
       AND CASE WHEN c.relreplident = 'i' THEN i.indisreplident ELSE i.indisprimary END
     LIMIT 1
$$;

-- The partitioned table a partition belongs to.
CREATE FUNCTION bemi._lineage_parent(rel pg_catalog.oid)
    RETURNS pg_catalog.oid
    LANGUAGE sql STABLE STRICT
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT i.inhparent FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
     WHERE i.inhrelid = rel AND c.relispartition
$$;

-- Does the lineage follow this relation? Ordinary and partitioned tables that are captured:
-- not temporary or unlogged (their changes are not in the WAL), not in a system schema, not
-- bemi's own.
CREATE FUNCTION bemi._lineage_follows(rel pg_catalog.oid)
    RETURNS pg_catalog.bool
    LANGUAGE sql STABLE STRICT
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT coalesce((SELECT c.relkind IN ('r', 'p') AND c.relpersistence = 'p'
                            AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast', 'bemi')
                            AND n.nspname !~ '^pg_(toast_)?temp_'
                       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                      WHERE c.oid = rel), false)
$$;

-- The latest entry of a relation, unless it is the drop of an earlier relation whose oid this
-- one reuses.
CREATE FUNCTION bemi._lineage_latest(rel pg_catalog.oid)
    RETURNS SETOF bemi.table_lineage
    LANGUAGE sql STABLE STRICT
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT l.* FROM (SELECT * FROM bemi.table_lineage t WHERE t.relid = rel
                      ORDER BY t.id DESC LIMIT 1) l
     WHERE l.event <> 'dropped'
$$;

-- Writes an entry for the relation when its state differs from its latest entry (or when
-- forced: 'created', 'baseline'); returns the entry's id, NULL when nothing was written.
-- extra_break: a reason to set breaks_history found by the caller (a partition with rows
-- attached or detached below this table).
CREATE FUNCTION bemi._lineage_note(rel pg_catalog.oid, forced pg_catalog.text DEFAULT NULL,
                                   extra_break pg_catalog.text DEFAULT NULL)
    RETURNS pg_catalog.uuid
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    now_schema name;
    now_table name;
    now_columns jsonb;
    now_key text[];
    now_parent oid;
    last bemi.table_lineage;
    reasons text[] := '{}';
    changes text[] := '{}';
    ev text;
    new_id uuid;
    col record;
BEGIN
    SELECT n.nspname, c.relname INTO now_schema, now_table
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = rel;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    now_columns := bemi._lineage_columns(rel);
    now_key := bemi._lineage_key(rel);
    now_parent := bemi._lineage_parent(rel);

    IF forced IS NOT NULL THEN
        INSERT INTO bemi.table_lineage (relid, event, schema, "table", columns, key, parent, breaks_history, detail)
        VALUES (rel, forced, now_schema, now_table, now_columns, now_key, now_parent, false, NULL)
        RETURNING id INTO new_id;
        RETURN new_id;
    END IF;

    SELECT * INTO last FROM bemi._lineage_latest(rel);
    IF NOT FOUND THEN
        -- A table created before bemi recorded lineage: nothing to compare with.
        INSERT INTO bemi.table_lineage (relid, event, schema, "table", columns, key, parent, breaks_history, detail)
        VALUES (rel, 'altered', now_schema, now_table, now_columns, now_key, now_parent, true,
                'first lineage entry of a table created before bemi recorded its lineage: '
                'what the DDL changed is unknown')
        RETURNING id INTO new_id;
        RETURN new_id;
    END IF;

    IF (last.schema, last."table") IS DISTINCT FROM (now_schema, now_table) THEN
        changes := array_append(changes, format('renamed from %I.%I', last.schema, last."table"));
    END IF;
    -- Columns, matched by attnum.
    FOR col IN
        SELECT coalesce((o.c->>'attnum')::int, (n.c->>'attnum')::int) AS attnum,
               o.c->>'name' AS old_name, n.c->>'name' AS new_name,
               o.c->>'type' AS old_type, n.c->>'type' AS new_type
          FROM jsonb_array_elements(last.columns) o(c)
          FULL JOIN jsonb_array_elements(now_columns) n(c) ON (o.c->>'attnum')::int = (n.c->>'attnum')::int
         ORDER BY 1
    LOOP
        IF col.old_name IS NULL THEN
            changes := array_append(changes, format('column %I added', col.new_name));
            -- A new column whose value in the existing rows is not NULL changed them without
            -- any decoded change: a missing value (DEFAULT without rewrite), or a rewrite
            -- that filled it (a volatile DEFAULT, identity, serial, stored generated column).
            IF EXISTS (SELECT FROM pg_attribute a WHERE a.attrelid = rel AND a.attnum = col.attnum
                          AND a.atthasmissing) THEN
                reasons := array_append(reasons, format('column %I added with a non-NULL missing value (DEFAULT)', col.new_name));
            ELSIF EXISTS (SELECT FROM pg_attribute a WHERE a.attrelid = rel AND a.attnum = col.attnum
                             AND (a.atthasdef OR a.attidentity <> '' OR a.attgenerated <> '')) THEN
                reasons := reasons || format('column %I added with a default, identity or generated value (table rewritten)',
                                             col.new_name);
            END IF;
        ELSIF col.new_name IS NULL THEN
            changes := array_append(changes, format('column %I dropped', col.old_name));
        ELSE
            IF col.old_name <> col.new_name THEN
                changes := array_append(changes, format('column %I renamed to %I', col.old_name, col.new_name));
            END IF;
            IF col.old_type <> col.new_type THEN
                reasons := reasons || format('column %I changed type from %s to %s',
                                             col.new_name, col.old_type, col.new_type);
            END IF;
        END IF;
    END LOOP;
    -- The key, by attnum (a renamed key column is the same key).
    IF ARRAY(SELECT (c->>'attnum')::int FROM unnest(last.key) WITH ORDINALITY k(name, i)
                    JOIN jsonb_array_elements(last.columns) c ON c->>'name' = k.name ORDER BY k.i)
       IS DISTINCT FROM
       ARRAY(SELECT (c->>'attnum')::int FROM unnest(now_key) WITH ORDINALITY k(name, i)
                    JOIN jsonb_array_elements(now_columns) c ON c->>'name' = k.name ORDER BY k.i)
       OR (last.key IS NULL) <> (now_key IS NULL) THEN
        reasons := reasons || format('key changed from %s to %s',
                                     coalesce(last.key::text, 'none'), coalesce(now_key::text, 'none'));
    ELSIF last.key IS DISTINCT FROM now_key THEN
        changes := array_append(changes, 'key column renamed');
    END IF;
    IF last.parent IS DISTINCT FROM now_parent THEN
        reasons := reasons || format('partition parent changed from %s to %s',
                                     coalesce(last.parent::regclass::text, 'none'),
                                     coalesce(now_parent::regclass::text, 'none'));
    END IF;
    IF extra_break IS NOT NULL THEN
        reasons := array_append(reasons, extra_break);
    END IF;
    IF cardinality(changes) = 0 AND cardinality(reasons) = 0 THEN
        RETURN NULL;
    END IF;
    ev := CASE WHEN (last.schema, last."table") IS DISTINCT FROM (now_schema, now_table) THEN 'renamed'
               ELSE 'altered' END;
    INSERT INTO bemi.table_lineage (relid, event, schema, "table", columns, key, parent, breaks_history, detail)
    VALUES (rel, ev, now_schema, now_table, now_columns, now_key, now_parent, cardinality(reasons) > 0,
            concat_ws('; ', CASE WHEN cardinality(reasons) > 0
                                 THEN 'breaks history: ' || array_to_string(reasons, '; ') END,
                      nullif(array_to_string(changes, '; '), '')))
    RETURNING id INTO new_id;
    RETURN new_id;
END
$$;

-- Records a created table: its `created` entry and its `created` baseline (empty at the entry).
-- pending: the entry written at the start of CREATE TABLE AS / SELECT INTO, to fill in.
CREATE FUNCTION bemi._lineage_created(rel pg_catalog.oid, pending pg_catalog.uuid DEFAULT NULL)
    RETURNS pg_catalog.uuid
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    entry uuid;
BEGIN
    IF pending IS NOT NULL THEN
        UPDATE bemi.table_lineage l
           SET relid = rel, schema = n.nspname, "table" = c.relname, columns = bemi._lineage_columns(rel),
               key = bemi._lineage_key(rel), parent = bemi._lineage_parent(rel), detail = NULL
          FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE c.oid = rel AND l.id = pending
        RETURNING l.id INTO entry;
    ELSE
        entry := bemi._lineage_note(rel, 'created');
    END IF;
    INSERT INTO bemi.baselines (relid, schema, "table", snapshot, lineage, row_count)
    SELECT l.relid, l.schema, l."table", NULL, l.id, 0 FROM bemi.table_lineage l WHERE l.id = entry;
    RETURN entry;
END
$$;

-- Event trigger bemi_lineage_start, at the start of CREATE TABLE AS / SELECT INTO. Their rows
-- are decoded as CREATE records before the command ends: the `created` entry must come
-- before them in the order, so it is written here (relid 0, detail 'pending') and filled in at
-- the end (bemi._lineage_on_ddl), or deleted when no table was created.
CREATE FUNCTION bemi._lineage_on_ddl_start()
    RETURNS pg_catalog.event_trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- A session whose changes are not captured (a restore under bemi.restoring, the worker:
    -- a replication origin is set up) writes no lineage: its entries would never get a place.
    IF pg_replication_origin_session_is_setup() THEN
        RETURN;
    END IF;
    INSERT INTO bemi.table_lineage (relid, event, detail) VALUES (0, 'created', 'pending');
END
$$;

-- Event trigger bemi_lineage, at the end of DDL that creates or changes tables.
CREATE FUNCTION bemi._lineage_on_ddl()
    RETURNS pg_catalog.event_trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r record;
    pending uuid;
    p record;
    has_rows bool;
    a record;
    seen oid[] := '{}';
    broken oid[] := '{}';
BEGIN
    -- A session whose changes are not captured (a restore under bemi.restoring, the worker:
    -- a replication origin is set up) writes no lineage: its entries would never get a place.
    IF pg_replication_origin_session_is_setup() THEN
        RETURN;
    END IF;
    IF tg_tag IN ('CREATE TABLE AS', 'SELECT INTO') THEN
        SELECT l.id INTO pending FROM bemi.table_lineage l
         WHERE l.relid = 0 AND l.detail = 'pending'
           AND l.transaction_id = pg_current_xact_id()::text::int8
         ORDER BY l.id DESC LIMIT 1;
    END IF;
    FOR r IN
        SELECT DISTINCT d.objid, d.command_tag, d.classid,
               d.command_tag NOT IN ('CREATE TABLE', 'CREATE TABLE AS', 'SELECT INTO') AS later
          FROM pg_event_trigger_ddl_commands() d
         WHERE d.classid IN ('pg_catalog.pg_class'::regclass, 'pg_catalog.pg_namespace'::regclass)
         ORDER BY later, d.objid  -- creations first: a subcommand may alter the new table
    LOOP
        IF r.classid = 'pg_catalog.pg_namespace'::regclass THEN
            -- ALTER SCHEMA ... RENAME renames every table in it.
            IF r.command_tag = 'ALTER SCHEMA' THEN
                FOR p IN SELECT c.oid FROM pg_class c WHERE c.relnamespace = r.objid ORDER BY c.oid LOOP
                    IF bemi._lineage_follows(p.oid) THEN
                        PERFORM bemi._lineage_note(p.oid);
                    END IF;
                END LOOP;
            END IF;
            CONTINUE;
        END IF;
        IF r.command_tag IN ('CREATE TABLE', 'CREATE TABLE AS', 'SELECT INTO') THEN
            IF bemi._lineage_follows(r.objid) THEN
                PERFORM bemi._lineage_created(r.objid, CASE WHEN r.command_tag <> 'CREATE TABLE' THEN pending END);
                IF r.command_tag <> 'CREATE TABLE' THEN
                    pending := NULL;
                END IF;
            END IF;
            CONTINUE;
        END IF;
        -- ALTER TABLE (and the like): the table, every partition under it (ADD COLUMN and
        -- the like recurse to them), and the partitions its entries say were under it
        -- (DETACH PARTITION).
        FOR p IN
            SELECT t.relid
              FROM (SELECT r.objid AS relid
                    UNION
                    SELECT pt.relid FROM pg_partition_tree(r.objid) pt
                    UNION
                    SELECT l.relid FROM bemi.table_lineage l
                     WHERE l.parent = r.objid
                       AND l.id = (SELECT l2.id FROM bemi.table_lineage l2 WHERE l2.relid = l.relid
                                    ORDER BY l2.id DESC LIMIT 1)) t
             ORDER BY t.relid
        LOOP
            CONTINUE WHEN p.relid = ANY (seen);
            seen := seen || p.relid;
            IF NOT bemi._lineage_follows(p.relid) THEN
                -- SET UNLOGGED: its changes are no longer captured.
                IF EXISTS (SELECT FROM bemi._lineage_latest(p.relid) l WHERE l.detail IS DISTINCT FROM 'unlogged')
                   AND EXISTS (SELECT FROM pg_class c WHERE c.oid = p.relid AND c.relpersistence = 'u') THEN
                    INSERT INTO bemi.table_lineage (relid, event, schema, "table", columns, key, parent,
                                                    breaks_history, detail)
                    SELECT p.relid, 'altered', n.nspname, c.relname, bemi._lineage_columns(p.relid),
                           bemi._lineage_key(p.relid), bemi._lineage_parent(p.relid), true, 'unlogged'
                      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = p.relid;
                END IF;
                CONTINUE;
            END IF;
            IF EXISTS (SELECT FROM bemi._lineage_latest(p.relid) l WHERE l.detail = 'unlogged') THEN
                -- SET LOGGED: its rows are in the WAL again, without decoded changes.
                PERFORM bemi._lineage_note(p.relid, NULL, 'set logged');
                CONTINUE;
            END IF;
            -- A partition attached or detached with rows changes its ancestors' rows, old and new.
            -- One the lineage has not seen is attached now when its pg_inherits row was written
            -- by this transaction (age(xmin) <= 0, as in bemi._replica_identity_full_on_ddl).
            IF EXISTS (SELECT FROM bemi._lineage_latest(p.relid) l
                        WHERE l.parent IS DISTINCT FROM bemi._lineage_parent(p.relid))
               OR (NOT EXISTS (SELECT FROM bemi._lineage_latest(p.relid))
                   AND EXISTS (SELECT FROM pg_inherits i WHERE i.inhrelid = p.relid
                                  AND age(i.xmin) <= 0)) THEN
                EXECUTE format('SELECT EXISTS (SELECT FROM %s)', p.relid::regclass) INTO has_rows;
                IF has_rows THEN
                    FOR a IN
                        SELECT x.relid, x.how FROM (
                            SELECT pa.relid, 'detached' AS how FROM bemi._lineage_latest(p.relid) l,
                                   pg_partition_ancestors(l.parent) pa
                            UNION ALL
                            SELECT pa.relid, 'attached' FROM pg_partition_ancestors(bemi._lineage_parent(p.relid)) pa) x
                         WHERE x.relid IS NOT NULL
                    LOOP
                        CONTINUE WHEN a.relid = ANY (broken);
                        broken := broken || a.relid;
                        IF bemi._lineage_follows(a.relid) THEN
                            PERFORM bemi._lineage_note(a.relid, NULL,
                                format('partition %s with rows %s', p.relid::regclass, a.how));
                        END IF;
                    END LOOP;
                END IF;
            END IF;
            PERFORM bemi._lineage_note(p.relid);
        END LOOP;
    END LOOP;
    -- CREATE TABLE AS that created no table we follow (IF NOT EXISTS, a temporary table).
    IF pending IS NOT NULL THEN
        DELETE FROM bemi.table_lineage l WHERE l.id = pending;
    END IF;
END
$$;

-- Event trigger bemi_lineage_drop: the drop of every followed table, under its last names.
CREATE FUNCTION bemi._lineage_on_drop()
    RETURNS pg_catalog.event_trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r record;
    a record;
    dropped_parent oid;
    broken oid[] := '{}';
BEGIN
    IF to_regclass('bemi.table_lineage') IS NULL THEN
        RETURN;  -- DROP EXTENSION bemi
    END IF;
    -- A session whose changes are not captured (a restore under bemi.restoring, the worker:
    -- a replication origin is set up) writes no lineage: its entries would never get a place.
    IF pg_replication_origin_session_is_setup() THEN
        RETURN;
    END IF;
    FOR r IN
        SELECT d.objid, d.schema_name, d.object_name
          FROM pg_event_trigger_dropped_objects() d
         WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.objsubid = 0
           AND d.object_type = 'table' AND NOT d.is_temporary
           AND d.schema_name NOT IN ('pg_catalog', 'information_schema', 'pg_toast', 'bemi')
         ORDER BY d.objid
    LOOP
        -- An unlogged table the lineage does not follow has no entry, or one saying so.
        CONTINUE WHEN NOT EXISTS (SELECT FROM bemi._lineage_latest(r.objid))
                  AND EXISTS (SELECT FROM bemi.table_lineage l WHERE l.relid = r.objid);
        INSERT INTO bemi.table_lineage (relid, event, schema, "table", columns, key, parent, detail)
        SELECT r.objid, 'dropped', r.schema_name, r.object_name, l.columns, l.key, l.parent, NULL
          FROM (SELECT NULL) x LEFT JOIN bemi._lineage_latest(r.objid) l ON true
        RETURNING parent INTO dropped_parent;
        -- A partition dropped on its own takes its rows out of its ancestors without decoded
        -- changes (its rows can no longer be counted: an empty one breaks them too).
        IF dropped_parent IS NOT NULL AND EXISTS (SELECT FROM pg_class c WHERE c.oid = dropped_parent) THEN
            FOR a IN SELECT pa.relid FROM pg_partition_ancestors(dropped_parent) pa LOOP
                CONTINUE WHEN a.relid = ANY (broken);
                broken := broken || a.relid;
                IF bemi._lineage_follows(a.relid) THEN
                    PERFORM bemi._lineage_note(a.relid, NULL,
                        format('partition %I.%I dropped with its rows', r.schema_name, r.object_name));
                END IF;
            END LOOP;
        END IF;
    END LOOP;
    -- DROP INDEX of a replica identity index leaves its table without a key (records carry
    -- none from then on): the tables under REPLICA IDENTITY USING INDEX without one.
    IF EXISTS (SELECT FROM pg_event_trigger_dropped_objects() d WHERE d.object_type = 'index') THEN
        FOR r IN
            SELECT c.oid FROM pg_class c
             WHERE c.relreplident = 'i' AND c.relkind IN ('r', 'p')
               AND NOT EXISTS (SELECT FROM pg_index i WHERE i.indrelid = c.oid AND i.indisreplident)
             ORDER BY c.oid
        LOOP
            IF bemi._lineage_follows(r.oid) AND EXISTS (SELECT FROM bemi._lineage_latest(r.oid) l WHERE l.key IS NOT NULL) THEN
                PERFORM bemi._lineage_note(r.oid);
            END IF;
        END LOOP;
    END IF;
END
$$;

CREATE EVENT TRIGGER bemi_lineage_start ON ddl_command_start
    WHEN TAG IN ('CREATE TABLE AS', 'SELECT INTO')
    EXECUTE FUNCTION bemi._lineage_on_ddl_start();
CREATE EVENT TRIGGER bemi_lineage ON ddl_command_end
    WHEN TAG IN ('CREATE TABLE', 'CREATE TABLE AS', 'SELECT INTO', 'ALTER TABLE', 'CREATE SCHEMA', 'ALTER SCHEMA')
    EXECUTE FUNCTION bemi._lineage_on_ddl();
CREATE EVENT TRIGGER bemi_lineage_drop ON sql_drop
    EXECUTE FUNCTION bemi._lineage_on_drop();

-- The entry's place in the order: its CREATE record in bemi.changes. NULL while not stored.
CREATE FUNCTION bemi._place(lineage pg_catalog.uuid, OUT capture pg_catalog.uuid,
                            OUT commit_position pg_catalog.int8, OUT seq pg_catalog.int4,
                            OUT effective_at pg_catalog.timestamptz)
    RETURNS record
    LANGUAGE sql STABLE STRICT
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT c.capture, c.commit_position, c.seq, c.effective_at
      FROM bemi.changes c
     WHERE c.schema = 'bemi' AND c."table" = 'table_lineage' AND c.primary_key = lineage::text
       AND c.operation = 'CREATE'
     ORDER BY c.capture, c.commit_position, c.seq
     LIMIT 1
$$;
COMMENT ON FUNCTION bemi._place(pg_catalog.uuid) IS
    'The place (capture, commit_position, seq, effective_at) of a lineage entry in the order: its CREATE record in bemi.changes; NULL while not stored';

REVOKE EXECUTE ON FUNCTION
    bemi._lineage_columns(pg_catalog.oid), bemi._lineage_key(pg_catalog.oid), bemi._lineage_parent(pg_catalog.oid),
    bemi._lineage_follows(pg_catalog.oid), bemi._lineage_latest(pg_catalog.oid),
    bemi._lineage_note(pg_catalog.oid, pg_catalog.text, pg_catalog.text),
    bemi._lineage_created(pg_catalog.oid, pg_catalog.uuid),
    bemi._lineage_on_ddl_start(), bemi._lineage_on_ddl(), bemi._lineage_on_drop(),
    bemi._place(pg_catalog.uuid)
    FROM PUBLIC;
