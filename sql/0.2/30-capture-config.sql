
-- What is captured: table exclusions read by the output plugin, and the REPLICA IDENTITY FULL
-- helper that gives complete "before" images. Configuration is for the extension's owner
-- (a superuser) only: 60-privileges.sql revokes it from everyone else.

-- (a) Exclusions --------------------------------------------------------------------------

-- One pattern per row, in the syntax of the plugin's include-tables/exclude-tables options
-- (include/bemi/table_filter.hpp): schema.table, split at the first unescaped dot; '*'
-- matches any characters; '\' escapes the next one ('\.' '\,' '\*' '\\'). The CHECK accepts
-- exactly what that parser accepts as a single item: a non-empty schema part without an
-- unescaped dot, a non-empty table part, no unescaped comma (which would start another
-- pattern), no lone trailing backslash, no blank at either end (the parser trims those).
-- Unescaped, the regular expression reads ^(?:[^\\.,]|\\.)+\.(?:[^\\,]|\\.)+$ (written as E''
-- strings so that it does not depend on standard_conforming_strings).
-- The plugin reads the pattern as the table's first column (src/pg/relation_cache.cpp).
-- A user_catalog_table, so the plugin reads it under the decoding snapshot: decoding the same
-- WAL again makes the same decisions. Each change sends a relcache invalidation (the C
-- trigger below) so running decoders re-read it without a restart.
CREATE TABLE bemi.excluded_tables (
    pattern    pg_catalog.text PRIMARY KEY
        CONSTRAINT excluded_tables_pattern_check
        CHECK (pattern OPERATOR(pg_catalog.~) E'^(?:[^\\\\.,]|\\\\.)+\\.(?:[^\\\\,]|\\\\.)+$'
               AND pattern OPERATOR(pg_catalog.!~) E'^[ \\t]|[ \\t]$'),
    reason     pg_catalog.text,
    created_at pg_catalog.timestamptz NOT NULL DEFAULT pg_catalog.now()
) WITH (user_catalog_table = true);

-- Changes to it are captured like any other table's: recorded in full.
ALTER TABLE bemi.excluded_tables REPLICA IDENTITY FULL;

COMMENT ON TABLE bemi.excluded_tables IS
    'Tables bemi does not capture: schema.table patterns (* wildcard, \ escapes), as the plugin''s exclude-tables option';
COMMENT ON COLUMN bemi.excluded_tables.pattern IS
    'schema.table; * matches any characters, \ escapes the next one (\. \, \* \\); a partition matches by its own or its root''s name';
COMMENT ON COLUMN bemi.excluded_tables.reason IS 'Why the table is excluded (free text)';
COMMENT ON COLUMN bemi.excluded_tables.created_at IS 'When the exclusion was added';

-- Implemented in C (sends a relcache invalidation so decoders re-read the exclusions).
CREATE FUNCTION bemi._exclusions_changed()
    RETURNS pg_catalog.trigger LANGUAGE c
    AS 'MODULE_PATHNAME', 'bemi_exclusions_changed';
COMMENT ON FUNCTION bemi._exclusions_changed() IS
    'Trigger on bemi.excluded_tables: makes running decoders re-read the exclusions';

CREATE TRIGGER excluded_tables_changed
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON bemi.excluded_tables
    FOR EACH STATEMENT EXECUTE FUNCTION bemi._exclusions_changed();

-- User configuration: dumped with the database like the audit trail.
SELECT pg_catalog.pg_extension_config_dump('bemi.excluded_tables', '');

-- (b) REPLICA IDENTITY FULL ----------------------------------------------------------------

-- Schemas whose future tables get REPLICA IDENTITY FULL (by name: a renamed schema drops out,
-- a schema dropped and created again under the same name stays in).
CREATE TABLE bemi.replica_identity_schemas (
    schema_name pg_catalog.name PRIMARY KEY,
    added_at    pg_catalog.timestamptz NOT NULL DEFAULT pg_catalog.now()
);
ALTER TABLE bemi.replica_identity_schemas REPLICA IDENTITY FULL;
COMMENT ON TABLE bemi.replica_identity_schemas IS
    'Schemas whose new tables and partitions get REPLICA IDENTITY FULL (see bemi.set_replica_identity_full)';
SELECT pg_catalog.pg_extension_config_dump('bemi.replica_identity_schemas', '');

-- Sets REPLICA IDENTITY FULL on each table and, because the setting does not cascade, on
-- every partition under it (pg_partition_tree: intermediate partitioned tables and leaves).
-- Runs with the caller's rights: ALTER TABLE needs the caller to own each table.
CREATE FUNCTION bemi.set_replica_identity_full(tables pg_catalog.regclass[])
    RETURNS SETOF pg_catalog.regclass
    LANGUAGE plpgsql VOLATILE STRICT
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    t    pg_catalog.regclass;
    kind pg_catalog."char";
    r    record;
BEGIN
    FOREACH t IN ARRAY tables LOOP
        CONTINUE WHEN t IS NULL;
        SELECT c.relkind INTO kind FROM pg_catalog.pg_class c WHERE c.oid OPERATOR(pg_catalog.=) t;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'relation with OID % does not exist', t::pg_catalog.oid
                USING ERRCODE = 'undefined_table';
        END IF;
        IF kind OPERATOR(pg_catalog.<>) ALL (ARRAY['r', 'p']::pg_catalog."char"[]) THEN
            RAISE NOTICE '"%" is not a table: skipped', t;
            CONTINUE;
        END IF;
        FOR r IN
            SELECT c.oid, c.relkind, n.nspname, c.relname
              FROM (SELECT t::pg_catalog.oid AS relid, 0 AS level  -- not in the tree when not partitioned
                    UNION
                    SELECT pt.relid, pt.level FROM pg_catalog.pg_partition_tree(t) pt) pt
              JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) pt.relid
              JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
             ORDER BY pt.level, n.nspname, c.relname
        LOOP
            IF r.relkind OPERATOR(pg_catalog.<>) ALL (ARRAY['r', 'p']::pg_catalog."char"[]) THEN
                -- a foreign table as a partition: it has no replica identity
                RAISE NOTICE '"%" is not a table: skipped', r.oid::pg_catalog.regclass;
                CONTINUE;
            END IF;
            -- read it again: a table listed twice, or an event trigger, may have set it
            CONTINUE WHEN (SELECT c.relreplident FROM pg_catalog.pg_class c
                            WHERE c.oid OPERATOR(pg_catalog.=) r.oid) OPERATOR(pg_catalog.=) 'f';
            EXECUTE pg_catalog.format('ALTER TABLE %I.%I REPLICA IDENTITY FULL', r.nspname, r.relname);
            RETURN NEXT r.oid::pg_catalog.regclass;
        END LOOP;
    END LOOP;
END
$$;
COMMENT ON FUNCTION bemi.set_replica_identity_full(pg_catalog.regclass[]) IS
    'Sets REPLICA IDENTITY FULL on these tables and all their partitions; returns the tables it changed';

-- Every ordinary and partitioned table of the schema (and the partitions under them, wherever
-- they are); with include_future, also the tables and partitions created in it later, and the
-- partitions attached later to its partitioned tables (event trigger bemi_replica_identity_full).
CREATE FUNCTION bemi.set_replica_identity_full(schema_name pg_catalog.name,
                                               include_future pg_catalog.bool DEFAULT false)
    RETURNS SETOF pg_catalog.regclass
    LANGUAGE plpgsql VOLATILE STRICT
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    nsp pg_catalog.oid;
BEGIN
    SELECT n.oid INTO nsp FROM pg_catalog.pg_namespace n WHERE n.nspname OPERATOR(pg_catalog.=) schema_name;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'schema "%" does not exist', schema_name USING ERRCODE = 'invalid_schema_name';
    END IF;
    IF schema_name OPERATOR(pg_catalog.~) '^pg_' OR schema_name OPERATOR(pg_catalog.=) 'information_schema' THEN
        RAISE EXCEPTION 'schema "%" is a system schema', schema_name USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF include_future THEN
        INSERT INTO bemi.replica_identity_schemas (schema_name) VALUES (schema_name)
            ON CONFLICT DO NOTHING;
    END IF;
    RETURN QUERY
        SELECT bemi.set_replica_identity_full(ARRAY(
            SELECT c.oid::pg_catalog.regclass FROM pg_catalog.pg_class c
             WHERE c.relnamespace OPERATOR(pg_catalog.=) nsp
               AND c.relkind OPERATOR(pg_catalog.=) ANY (ARRAY['r', 'p']::pg_catalog."char"[])
             ORDER BY c.relname));
END
$$;
COMMENT ON FUNCTION bemi.set_replica_identity_full(pg_catalog.name, pg_catalog.bool) IS
    'Sets REPLICA IDENTITY FULL on every table of the schema and their partitions (include_future: and on tables created or attached later); returns the tables it changed';

CREATE FUNCTION bemi.stop_replica_identity_full(schema_name pg_catalog.name)
    RETURNS pg_catalog.bool
    LANGUAGE plpgsql VOLATILE STRICT
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    DELETE FROM bemi.replica_identity_schemas s WHERE s.schema_name OPERATOR(pg_catalog.=) $1;
    RETURN FOUND;
END
$$;
COMMENT ON FUNCTION bemi.stop_replica_identity_full(pg_catalog.name) IS
    'Stops giving new tables of the schema REPLICA IDENTITY FULL (tables keep their setting); false if it was not recorded';

-- The event trigger. A table is in scope when it, or a partitioned table above it, is in a
-- recorded schema. On CREATE TABLE / CREATE TABLE AS / SELECT INTO: the new table (a new
-- partition included). On ALTER TABLE of a partitioned table: the partitions attached to it in
-- this transaction, with all partitions under them. Their pg_inherits row was written by this
-- transaction or one of its subtransactions, whose xids are not older than its own:
-- age(xmin) <= 0 (this also takes in a partition attached by a later transaction that has
-- already committed: new as well, so no harm). Other ALTER TABLEs, such as an explicit REPLICA
-- IDENTITY DEFAULT on a partition or an ADD COLUMN that recurses to the partitions, leave the
-- partitions' identity alone. ALTER TABLE ... SET SCHEMA into a recorded schema is not covered.
-- The ALTER TABLE it runs fires it again: it only touches tables whose identity is not FULL
-- yet, and every ALTER makes one FULL, so the recursion ends.
-- SECURITY DEFINER: it runs on any role's DDL, reads the configuration, which only the owner
-- can read, and must set the identity of partitions the role may not own (attaching a
-- partitioned table needs ownership of it, not of the partitions under it).
CREATE FUNCTION bemi._replica_identity_full_on_ddl()
    RETURNS pg_catalog.event_trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r record;
BEGIN
    -- Enabled only while a schema is recorded (bemi._replica_identity_schemas_changed), so
    -- DDL in a database that records none takes no lock on bemi.replica_identity_schemas.
    FOR r IN
        WITH cmd AS (
            SELECT d.command_tag, d.objid
              FROM pg_catalog.pg_event_trigger_ddl_commands() d
             WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
               AND d.objsubid OPERATOR(pg_catalog.=) 0
        ), created AS (
            SELECT cmd.objid AS relid FROM cmd
             WHERE cmd.command_tag OPERATOR(pg_catalog.<>) 'ALTER TABLE'
            UNION
            SELECT i.inhrelid FROM cmd
              JOIN pg_catalog.pg_inherits i ON i.inhparent OPERATOR(pg_catalog.=) cmd.objid
             WHERE cmd.command_tag OPERATOR(pg_catalog.=) 'ALTER TABLE'
               AND pg_catalog.age(i.xmin) OPERATOR(pg_catalog.<=) 0
        )
        SELECT DISTINCT c.oid, n.nspname, c.relname, pt.level
          FROM created
         CROSS JOIN LATERAL (SELECT created.relid, 0 AS level
                             UNION
                             SELECT t.relid, t.level FROM pg_catalog.pg_partition_tree(created.relid) t) pt
          JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) pt.relid
          JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
         WHERE c.relkind OPERATOR(pg_catalog.=) ANY (ARRAY['r', 'p']::pg_catalog."char"[])
           AND c.relpersistence OPERATOR(pg_catalog.<>) 't'
           AND c.relreplident OPERATOR(pg_catalog.<>) 'f'
           AND EXISTS (
               SELECT FROM (SELECT c.oid AS relid  -- not among its ancestors when not a partition
                            UNION
                            SELECT a.relid FROM pg_catalog.pg_partition_ancestors(c.oid) a) a
                 JOIN pg_catalog.pg_class ac ON ac.oid OPERATOR(pg_catalog.=) a.relid
                 JOIN pg_catalog.pg_namespace an ON an.oid OPERATOR(pg_catalog.=) ac.relnamespace
                 JOIN bemi.replica_identity_schemas s
                   ON s.schema_name OPERATOR(pg_catalog.=) an.nspname)
         ORDER BY pt.level, n.nspname, c.relname
    LOOP
        CONTINUE WHEN (SELECT c.relreplident FROM pg_catalog.pg_class c
                        WHERE c.oid OPERATOR(pg_catalog.=) r.oid) OPERATOR(pg_catalog.=) 'f';
        EXECUTE pg_catalog.format('ALTER TABLE %I.%I REPLICA IDENTITY FULL', r.nspname, r.relname);
    END LOOP;
END
$$;
COMMENT ON FUNCTION bemi._replica_identity_full_on_ddl() IS
    'Event trigger bemi_replica_identity_full: REPLICA IDENTITY FULL for new tables and partitions in recorded schemas';

CREATE EVENT TRIGGER bemi_replica_identity_full ON ddl_command_end
    WHEN TAG IN ('CREATE TABLE', 'CREATE TABLE AS', 'SELECT INTO', 'ALTER TABLE')
    EXECUTE FUNCTION bemi._replica_identity_full_on_ddl();
-- Nothing is recorded yet: the trigger waits until a schema is.
ALTER EVENT TRIGGER bemi_replica_identity_full DISABLE;

-- Enables the event trigger while bemi.replica_identity_schemas has a row, disables it when it
-- has none: reading the table in the event trigger instead would take a lock on it in every
-- DDL transaction of the database. A statement trigger, so that every way the table changes
-- (these functions, direct DML by its owner, pg_restore's COPY of the configuration) keeps
-- the event trigger in step. SECURITY DEFINER: ALTER EVENT TRIGGER needs the owner.
CREATE FUNCTION bemi._replica_identity_schemas_changed()
    RETURNS pg_catalog.trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    wanted pg_catalog."char" := CASE WHEN EXISTS (SELECT FROM bemi.replica_identity_schemas) THEN 'O' ELSE 'D' END;
BEGIN
    IF (SELECT e.evtenabled FROM pg_catalog.pg_event_trigger e
         WHERE e.evtname OPERATOR(pg_catalog.=) 'bemi_replica_identity_full') OPERATOR(pg_catalog.<>) wanted THEN
        IF wanted OPERATOR(pg_catalog.=) 'O' THEN
            ALTER EVENT TRIGGER bemi_replica_identity_full ENABLE;
        ELSE
            ALTER EVENT TRIGGER bemi_replica_identity_full DISABLE;
        END IF;
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION bemi._replica_identity_schemas_changed() IS
    'Trigger: enables the event trigger bemi_replica_identity_full exactly while a schema is recorded';
CREATE TRIGGER replica_identity_schemas_changed
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON bemi.replica_identity_schemas
    FOR EACH STATEMENT EXECUTE FUNCTION bemi._replica_identity_schemas_changed();
