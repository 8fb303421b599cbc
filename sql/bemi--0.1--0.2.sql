-- bemi 0.1 -> 0.2: context, automatic capture, bemi.changes and its ingestion worker.
-- Assembled by the Makefile from sql/0.2/*.sql. Every name is schema-qualified: the script
-- must not depend on the caller's search_path.
\echo Use "CREATE EXTENSION bemi" or "ALTER EXTENSION bemi UPDATE" to load this file. \quit

DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_namespace WHERE nspname = 'public') THEN
        RAISE EXCEPTION 'bemi needs the schema "public" for its context functions'
            USING HINT = 'Create it (CREATE SCHEMA public) and run CREATE EXTENSION bemi again.';
    END IF;
END
$$;

CREATE OR REPLACE FUNCTION bemi.version() RETURNS pg_catalog.text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT '0.2'::pg_catalog.text $$;
-- The context API. Implemented in C (src/pg/context_api.cpp); the public wrappers are the
-- same C functions under names ORMs can call without a schema.

CREATE FUNCTION bemi.set_context(context pg_catalog.jsonb, is_local pg_catalog.bool DEFAULT false)
    RETURNS void LANGUAGE c VOLATILE PARALLEL UNSAFE
    AS 'MODULE_PATHNAME', 'bemi_set_context';
COMMENT ON FUNCTION bemi.set_context(pg_catalog.jsonb, pg_catalog.bool) IS
    'Sets the application context recorded with this session''s changes (is_local: this transaction only)';

CREATE FUNCTION bemi.get_context()
    RETURNS pg_catalog.jsonb LANGUAGE c VOLATILE PARALLEL RESTRICTED
    AS 'MODULE_PATHNAME', 'bemi_get_context';
COMMENT ON FUNCTION bemi.get_context() IS
    'The application context in force: the transaction''s if set, else the session''s; {} when none';

CREATE FUNCTION bemi.clear_context(is_local pg_catalog.bool DEFAULT false)
    RETURNS void LANGUAGE c VOLATILE PARALLEL UNSAFE
    AS 'MODULE_PATHNAME', 'bemi_clear_context';
COMMENT ON FUNCTION bemi.clear_context(pg_catalog.bool) IS
    'Clears the session''s context (is_local: only the transaction''s)';

CREATE FUNCTION public.bemi_set_context(context pg_catalog.jsonb, is_local pg_catalog.bool DEFAULT false)
    RETURNS void LANGUAGE c VOLATILE PARALLEL UNSAFE
    AS 'MODULE_PATHNAME', 'bemi_set_context';
CREATE FUNCTION public.bemi_get_context()
    RETURNS pg_catalog.jsonb LANGUAGE c VOLATILE PARALLEL RESTRICTED
    AS 'MODULE_PATHNAME', 'bemi_get_context';
CREATE FUNCTION public.bemi_clear_context(is_local pg_catalog.bool DEFAULT false)
    RETURNS void LANGUAGE c VOLATILE PARALLEL UNSAFE
    AS 'MODULE_PATHNAME', 'bemi_clear_context';

-- bemi.changes: the audit trail the ingestion worker fills, one row per record of the output
-- plugin (docs/record-format.md). Of the keys a record carries only sometimes,
-- previous_primary_key and unchanged_toast have columns; root_schema/root_table do not.

-- Whoever owns schema bemi can drop or replace what is in it: refuse to put the audit trail in
-- a schema that a non-superuser created first (CREATE EXTENSION reuses an existing schema).
DO $$
DECLARE
    owner_name pg_catalog.name;
BEGIN
    SELECT r.rolname INTO owner_name
      FROM pg_catalog.pg_namespace n JOIN pg_catalog.pg_roles r ON r.oid OPERATOR(pg_catalog.=) n.nspowner
     WHERE n.nspname OPERATOR(pg_catalog.=) 'bemi'
       AND NOT r.rolsuper;
    IF FOUND THEN
        RAISE EXCEPTION 'schema "bemi" is owned by role "%", which is not a superuser', owner_name
            USING DETAIL = 'The owner of schema bemi could drop or replace bemi''s objects, including its audit trail.',
                  HINT = 'Drop the schema, or make a superuser its owner (ALTER SCHEMA bemi OWNER TO postgres), and try again.';
    END IF;
END
$$;

CREATE TABLE bemi.changes (
    id              pg_catalog.int8 GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    primary_key     pg_catalog.text,
    before          pg_catalog.jsonb NOT NULL,
    after           pg_catalog.jsonb NOT NULL,
    context         pg_catalog.jsonb NOT NULL,
    database        pg_catalog.text NOT NULL,
    schema          pg_catalog.text NOT NULL,
    "table"         pg_catalog.text NOT NULL,
    operation       pg_catalog.text NOT NULL
        CONSTRAINT changes_operation_check
        CHECK (operation OPERATOR(pg_catalog.=) ANY
               (ARRAY['CREATE', 'UPDATE', 'DELETE', 'TRUNCATE', 'UNKNOWN']::pg_catalog.text[])),
    committed_at    pg_catalog.timestamptz NOT NULL,
    transaction_id  pg_catalog.int8 NOT NULL,
    seq             pg_catalog.int4 NOT NULL,
    position        pg_catalog.int8 NOT NULL,
    commit_position pg_catalog.int8 NOT NULL,
    created_at      pg_catalog.timestamptz NOT NULL DEFAULT pg_catalog.now(),
    -- Keys the record carries only sometimes (docs/record-format.md), kept so nothing the
    -- record says is lost: the key before an UPDATE that changed it, and the columns left
    -- out of "after" because their unchanged TOAST value is not in the WAL.
    previous_primary_key pg_catalog.text,
    unchanged_toast pg_catalog.text[],
    -- Who made the change as the server knows it (session and current role, application_name;
    -- never taken from client-supplied context), and the values the record could not carry
    -- exactly, each with its column and reason (docs/record-format.md). NULL when absent.
    actor           pg_catalog.jsonb,
    fallback        pg_catalog.jsonb,
    -- The capture (one replication slot's life, bemi.capture_history.capture) that stored the
    -- row. (capture, commit_position, seq) identifies and orders a record: transaction ids and
    -- WAL positions are reused by another cluster after a restore, and a restored capture is
    -- another capture. NULL only for rows written by hand.
    capture         pg_catalog.uuid,
    -- A genuine duplicate (the same capture delivering the same commit again) is recognised by
    -- this key; a change of another capture can never collide with it.
    CONSTRAINT changes_capture_commit_position_seq_key
        UNIQUE NULLS NOT DISTINCT (capture, commit_position, seq)
);

-- A record's history: WHERE schema = ... AND "table" = ... AND primary_key = ... ORDER BY committed_at.
CREATE INDEX changes_history_idx ON bemi.changes (schema, "table", primary_key, committed_at);
-- A time window: WHERE committed_at >= ... AND committed_at < ...
CREATE INDEX changes_committed_at_idx ON bemi.changes (committed_at);
-- Context search. The default operator class jsonb_ops, not jsonb_path_ops: it is larger and
-- a little slower for @>, but also serves the key-existence operators ? ?| ?&
-- (WHERE context ? 'user_id'), which jsonb_path_ops cannot.
CREATE INDEX changes_context_idx ON bemi.changes USING gin (context pg_catalog.jsonb_ops);

-- bemi records changes to its own tables too (only the worker's own inserts are skipped, by
-- their replication origin). With a full replica identity, a superuser's UPDATE or DELETE of
-- an audit row is recorded with the whole row as it was, not just its id. It costs nothing on
-- ingestion: an INSERT's WAL never carries an old row.
ALTER TABLE bemi.changes REPLICA IDENTITY FULL;

COMMENT ON TABLE bemi.changes IS
    'Audit trail: one row per captured row change, filled by the bemi worker (docs/record-format.md)';
COMMENT ON COLUMN bemi.changes.id IS 'Insertion order in this table (not commit order: use commit_position, seq)';
COMMENT ON COLUMN bemi.changes.primary_key IS
    'The row''s key: one column''s value as text, a JSON array for several columns; NULL when unknown (TRUNCATE, no key)';
COMMENT ON COLUMN bemi.changes.before IS 'The row before the change, as far as the WAL carries it (replica identity); {} for CREATE and TRUNCATE';
COMMENT ON COLUMN bemi.changes.after IS 'The row after the change; {} for DELETE and TRUNCATE';
COMMENT ON COLUMN bemi.changes.context IS 'Application context in force for the change (bemi_set_context, SQL comment, "SQL" key); {} when none';
COMMENT ON COLUMN bemi.changes.database IS 'Database the change was made in';
COMMENT ON COLUMN bemi.changes.schema IS 'Schema of the changed table (of the leaf partition for partitioned tables)';
COMMENT ON COLUMN bemi.changes."table" IS 'The changed table (the leaf partition for partitioned tables)';
COMMENT ON COLUMN bemi.changes.operation IS 'CREATE (INSERT), UPDATE, DELETE or TRUNCATE; UNKNOWN only in a marker row of an unstorable record that could not be read';
COMMENT ON COLUMN bemi.changes.committed_at IS 'Commit time of the transaction';
COMMENT ON COLUMN bemi.changes.transaction_id IS '64-bit transaction id (epoch and xid)';
COMMENT ON COLUMN bemi.changes.seq IS '0-based ordinal of the change in its transaction: (capture, commit_position, seq) identifies and orders records';
COMMENT ON COLUMN bemi.changes.capture IS
    'The capture (bemi.capture_history.capture: one replication slot''s life) that stored the row; captures are ordered by their uuid (time-ordered)';
COMMENT ON COLUMN bemi.changes.position IS 'WAL position (LSN) of the change, as an integer; shared by the rows of one multi-row statement';
COMMENT ON COLUMN bemi.changes.commit_position IS 'WAL position (LSN) of the transaction''s commit, as an integer: orders the transactions of one capture';
COMMENT ON COLUMN bemi.changes.created_at IS 'When the worker stored the row';
COMMENT ON COLUMN bemi.changes.previous_primary_key IS
    'On an UPDATE that changed the key: the key before; otherwise NULL';
COMMENT ON COLUMN bemi.changes.actor IS
    'Who made the change as the server knows it: session_user, current_user (when different), application_name; NULL where the extension did not capture the change';
COMMENT ON COLUMN bemi.changes.fallback IS
    'Values recorded in a substitute form because the record could not carry them exactly (column, image and reason each); a marker row of a record that could not be stored has [{"reason": "unstorable", "error": ...}]; NULL when every value is exact';
COMMENT ON COLUMN bemi.changes.unchanged_toast IS
    'Columns left out of "after": unchanged out-of-line values the WAL does not carry (see REPLICA IDENTITY FULL)';

-- Rows of an extension's tables are not dumped unless marked: the audit trail is user data and
-- must survive pg_dump / pg_restore. The identity sequence is marked too, so that rows
-- inserted after a restore do not reuse ids (marking a table does not cover its sequence).
-- A restore run with bemi.restoring = on (docs/ingestion.md, "Dump, restore and upgrade") is not
-- recorded; without it, the restore's inserts are recorded like any other write.
SELECT pg_catalog.pg_extension_config_dump('bemi.changes', '');
SELECT pg_catalog.pg_extension_config_dump(
    pg_catalog.pg_get_serial_sequence('bemi.changes', 'id')::pg_catalog.regclass, '');

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
-- Ingestion into bemi.changes (docs/ingestion.md): the capture history and the batch function
-- the ingestion worker calls. The worker itself is C (src/pg/ingest_worker.cpp), started by
-- the launcher in every database where the extension is installed.

-- Ids that no restore can collide with and that sort in time: the microseconds since 1970 in
-- the first 56 bits, random bits after. A sequence would not do: a restore resets it (or the
-- worker's first row takes an id the restore's COPY brings again), and a uuid from
-- gen_random_uuid() alone has no order. Captures are ordered by their id; so restored captures
-- (recorded earlier) come before the capture of the database they were restored into, as
-- long as the clocks of the two servers agree to within the time between dump and restore.
CREATE FUNCTION bemi._time_ordered_uuid()
    RETURNS pg_catalog.uuid
    LANGUAGE sql VOLATILE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT (pg_catalog.lpad(pg_catalog.to_hex((pg_catalog.date_part('epoch', pg_catalog.clock_timestamp())
                                               OPERATOR(pg_catalog.*) 1000000)::pg_catalog.int8), 14, '0')
            OPERATOR(pg_catalog.||)
            pg_catalog.substr(pg_catalog.md5(pg_catalog.gen_random_uuid()::pg_catalog.text), 1, 18))::pg_catalog.uuid
$$;
COMMENT ON FUNCTION bemi._time_ordered_uuid() IS
    'A uuid that sorts by the time it was made (microseconds since 1970, then random bits): ids of captures and capture events';

-- What capture covered, capture by capture: where each started (the slot's consistent point),
-- every range of changes it lost (a slot invalidated by max_slot_wal_keep_size, or dropped by
-- hand; a restore or an upgrade) and every transaction an operator skipped. Written by the
-- worker and bemi.skip_transaction() only; a gap is never skipped silently. Each row says in
-- which cluster and database it was recorded: after a restore (or pg_upgrade) the rows of the
-- earlier life keep theirs, so the boundary is visible.
CREATE TABLE bemi.capture_history (
    id               pg_catalog.uuid PRIMARY KEY DEFAULT bemi._time_ordered_uuid(),
    recorded_at      pg_catalog.timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    event            pg_catalog.text NOT NULL
        CONSTRAINT capture_history_event_check
        CHECK (event OPERATOR(pg_catalog.=) ANY
               (ARRAY['capture_started', 'gap', 'capture_stopped', 'transaction_skipped']::pg_catalog.text[])),
    capture          pg_catalog.uuid NOT NULL,
    slot_name        pg_catalog.text NOT NULL,
    consistent_point pg_catalog.pg_lsn,
    gap_from         pg_catalog.pg_lsn,
    gap_to           pg_catalog.pg_lsn,
    detail           pg_catalog.text,
    system_identifier pg_catalog.int8 NOT NULL,
    database_oid     pg_catalog.oid NOT NULL,
    database         pg_catalog.name NOT NULL,
    recorded_by      pg_catalog.name NOT NULL DEFAULT session_user
);
COMMENT ON TABLE bemi.capture_history IS
    'Captures (one per replication slot''s life): where each started, every range of changes lost and every transaction skipped';
COMMENT ON COLUMN bemi.capture_history.id IS 'Time-ordered uuid: ORDER BY id is the order of events, restored ones included';
COMMENT ON COLUMN bemi.capture_history.event IS
    'capture_started: first slot (changes committed between gap_from, CREATE EXTENSION, and gap_to, the slot''s consistent point, are not captured); capture_stopped: the slot was lost (gap_from: changes after it are missing); gap: capture restarted with a new slot, or after a restore or upgrade (changes committed between gap_from and gap_to are missing; gap_from NULL when it lies in another cluster''s WAL); transaction_skipped: bemi.skip_transaction() skipped the transaction committed at gap_from';
COMMENT ON COLUMN bemi.capture_history.capture IS
    'The capture this event belongs to (bemi.changes.capture): a new one at capture_started and gap';
COMMENT ON COLUMN bemi.capture_history.consistent_point IS
    'For capture_started and gap: changes committed from this WAL position on are captured';
COMMENT ON COLUMN bemi.capture_history.system_identifier IS
    'The cluster the event was recorded in (pg_control_system()): differs in rows restored from, or upgraded from, another cluster';
COMMENT ON COLUMN bemi.capture_history.database_oid IS 'The database the event was recorded in (oid): differs in rows restored from another database';
COMMENT ON COLUMN bemi.capture_history.database IS 'Name of that database when the event was recorded';
COMMENT ON COLUMN bemi.capture_history.recorded_by IS 'The role that recorded the event (the worker runs as the bootstrap superuser)';
-- A restored database has no slot: its worker records a gap, so the history is user data.
SELECT pg_catalog.pg_extension_config_dump('bemi.capture_history', '');

-- The history recorded in this cluster and database: a restored history (another cluster or
-- database) describes slots that are not ours, even when their names match.
CREATE VIEW bemi._own_capture_history AS
SELECT h.*
  FROM bemi.capture_history h
 WHERE h.system_identifier OPERATOR(pg_catalog.=) (SELECT c.system_identifier FROM pg_catalog.pg_control_system() c)
   AND h.database_oid OPERATOR(pg_catalog.=) (SELECT d.oid FROM pg_catalog.pg_database d
                                               WHERE d.datname OPERATOR(pg_catalog.=) pg_catalog.current_database());
COMMENT ON VIEW bemi._own_capture_history IS
    'bemi.capture_history as recorded in this cluster and database (restored rows left out)';

-- The capture the worker stores into: the latest one started for this slot here.
CREATE FUNCTION bemi._current_capture(slot pg_catalog.text)
    RETURNS pg_catalog.uuid
    LANGUAGE sql STABLE STRICT PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT h.capture FROM bemi._own_capture_history h
     WHERE h.slot_name OPERATOR(pg_catalog.=) slot
       AND h.event OPERATOR(pg_catalog.=) ANY (ARRAY['capture_started', 'gap'])
     ORDER BY h.id DESC LIMIT 1
$$;
COMMENT ON FUNCTION bemi._current_capture(pg_catalog.text) IS
    'The capture (bemi.capture_history.capture) the worker of this slot stores into';

-- Records an event of the history with this cluster's and database's identity. capture_started
-- and gap begin a new capture; the others belong to the current one.
CREATE FUNCTION bemi._record_capture_event(event pg_catalog.text, slot pg_catalog.text,
                                           consistent pg_catalog.pg_lsn, gap_from pg_catalog.pg_lsn,
                                           gap_to pg_catalog.pg_lsn, detail pg_catalog.text)
    RETURNS pg_catalog.uuid
    LANGUAGE sql VOLATILE PARALLEL UNSAFE
    SET search_path = pg_catalog, pg_temp
AS $$
    INSERT INTO bemi.capture_history (event, capture, slot_name, consistent_point, gap_from, gap_to, detail,
                                      system_identifier, database_oid, database)
    SELECT event,
           CASE WHEN event OPERATOR(pg_catalog.=) ANY (ARRAY['capture_started', 'gap'])
                THEN bemi._time_ordered_uuid()
                ELSE coalesce(bemi._current_capture(slot), bemi._time_ordered_uuid()) END,
           slot, consistent, gap_from, gap_to, detail,
           c.system_identifier, d.oid, d.datname
      FROM pg_catalog.pg_control_system() c, pg_catalog.pg_database d
     WHERE d.datname OPERATOR(pg_catalog.=) pg_catalog.current_database()
    RETURNING capture
$$;
COMMENT ON FUNCTION bemi._record_capture_event(pg_catalog.text, pg_catalog.text, pg_catalog.pg_lsn, pg_catalog.pg_lsn,
                                               pg_catalog.pg_lsn, pg_catalog.text) IS
    'Ingestion worker: records an event in bemi.capture_history with this cluster''s and database''s identity';

-- A record of the plugin as jsonb. A json column holding \u0000 (which jsonb cannot hold)
-- would make the record fail the cast and stop ingestion: such escapes are kept as the six
-- characters "\u0000" instead (docs/ingestion.md). Only called for records containing that
-- text, so the exception block (a subtransaction) costs nothing on the common path.
CREATE FUNCTION bemi._record_jsonb(record pg_catalog.text)
    RETURNS pg_catalog.jsonb
    LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
    SET standard_conforming_strings = on  -- the backslashes below are literal
AS $$
DECLARE
    fixed text := record;
    previous text;
BEGIN
    RETURN record::jsonb;
EXCEPTION WHEN untranslatable_character THEN
    -- \u0000 preceded by an even number of backslashes is an escape: escape its backslash.
    -- Adjacent escapes overlap the pattern, hence the loop.
    LOOP
        previous := fixed;
        fixed := regexp_replace(fixed, '((?:^|[^\\])(?:\\\\)*)\\u0000', '\1\\\\u0000', 'g');
        EXIT WHEN fixed = previous;
    END LOOP;
    RETURN fixed::jsonb;
END
$$;
COMMENT ON FUNCTION bemi._record_jsonb(pg_catalog.text) IS
    'Ingestion helper: a record as jsonb, with \u0000 escapes in json values kept as text';

-- Is an error one that retrying the whole batch later can cure (a lock, a deadlock, a slot busy
-- in another process, shutdown)? Those make the batch fail as a whole, as before. Every other
-- error is taken as a property of the data: the batch is stored again record by record.
CREATE FUNCTION bemi._retry_later(sqlstate pg_catalog.text)
    RETURNS pg_catalog.bool
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT pg_catalog.left(sqlstate, 2) OPERATOR(pg_catalog.=) ANY (ARRAY['40', '55', '57'])
$$;
-- Is an error one that no later attempt and no marker row can cure (out of disk or memory, an
-- I/O error, an internal error)? The batch then stops at the transaction that hit it: what came
-- before it is stored, and bemi.status shows its position (bemi.skip_transaction()).
CREATE FUNCTION bemi._stalls(sqlstate pg_catalog.text)
    RETURNS pg_catalog.bool
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT pg_catalog.left(sqlstate, 2) OPERATOR(pg_catalog.=) ANY (ARRAY['53', '58', 'XX'])
$$;

-- One batch of the worker, in the worker's transaction (docs/ingestion.md):
--   - peek the slot up to upto, with BEGIN/COMMIT records around each transaction;
--   - keep the transactions whose COMMIT record ends after the origin's progress (the end of
--     the last transaction already stored): the others were stored by an earlier batch whose
--     acknowledgement did not happen;
--   - insert their row records under this_capture (the worker passes its slot's,
--     bemi._current_capture(slot)), ON CONFLICT on the identity
--     (capture, commit_position, seq): only the same capture delivering the same commit again
--     can conflict, and then the row is already there;
--   - set the origin's progress to the last transaction's commit end: it commits with the rows.
-- When that insert fails on the data (a record jsonb refuses, a row the table refuses), the
-- batch is stored again record by record (_ingest_by_record). Returns the rows inserted, the
-- position the worker may acknowledge to the slot (upto, unless a transaction stalled), and,
-- when one did, its commit position and error.
CREATE FUNCTION bemi._ingest(slot pg_catalog.name, origin pg_catalog.text, upto pg_catalog.pg_lsn,
                             this_capture pg_catalog.uuid,
                             OUT inserted pg_catalog.int8, OUT acknowledge pg_catalog.pg_lsn,
                             OUT stalled_at pg_catalog.pg_lsn, OUT stall_error pg_catalog.text)
    LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
    SET search_path = pg_catalog, pg_temp
    SET standard_conforming_strings = on  -- '\u0000' below is six characters
AS $$
DECLARE
    stored_upto pg_lsn := coalesce(pg_replication_origin_progress(origin, true), '0/0'::pg_lsn);
    last_end pg_lsn;
    last_committed_at timestamptz;
    state text;
BEGIN
    IF slot IS NULL OR origin IS NULL OR upto IS NULL OR this_capture IS NULL THEN
        RAISE EXCEPTION 'bemi: no capture recorded for slot "%" in bemi.capture_history', slot
            USING HINT = 'bemi._ingest is the ingestion worker''s: it passes bemi._current_capture(slot).';
    END IF;
    acknowledge := upto;
    BEGIN
        WITH decoded AS MATERIALIZED (
            SELECT c.lsn,
                   CASE WHEN strpos(c.data, '\u0000') = 0 THEN c.data::jsonb
                        ELSE bemi._record_jsonb(c.data) END AS r,
                   c.n
              FROM pg_logical_slot_peek_changes(slot, upto, NULL, 'include-transaction', 'on')
                   WITH ORDINALITY AS c(lsn, xid, data, n)
        ), commits AS MATERIALIZED (
            SELECT (d.r->>'transaction_id')::int8 AS transaction_id,
                   d.lsn AS commit_end,
                   (d.r->>'committed_at')::timestamptz AS committed_at
              FROM decoded d
             WHERE d.r->>'operation' = 'COMMIT'
               AND d.lsn > stored_upto
        ), stored AS (
            INSERT INTO bemi.changes (primary_key, before, after, context, database, schema, "table", operation,
                                      committed_at, transaction_id, seq, position, commit_position,
                                      previous_primary_key, unchanged_toast, actor, fallback, capture)
            SELECT d.r->>'primary_key', d.r->'before', d.r->'after', d.r->'context',
                   d.r->>'database', d.r->>'schema', d.r->>'table', d.r->>'operation',
                   c.committed_at, c.transaction_id, (d.r->>'seq')::int4,
                   (d.r->>'position')::int8, (d.r->>'commit_position')::int8,
                   d.r->>'previous_primary_key',
                   (SELECT pg_catalog.array_agg(t) FROM pg_catalog.jsonb_array_elements_text(d.r->'unchanged_toast') t),
                   d.r->'actor', d.r->'fallback', this_capture
              FROM decoded d
              JOIN commits c ON c.transaction_id = (d.r->>'transaction_id')::int8
             -- every other operation is a row record: one the table refuses (its CHECK) is
             -- stored as a marker row by the record-by-record pass, never dropped
             WHERE d.r->>'operation' NOT IN ('BEGIN', 'COMMIT')
             ORDER BY d.n
            ON CONFLICT (capture, commit_position, seq) DO NOTHING
            RETURNING 1
        )
        SELECT (SELECT count(*) FROM stored), l.commit_end, l.committed_at
          INTO inserted, last_end, last_committed_at
          FROM (SELECT) AS one
          LEFT JOIN LATERAL (SELECT c.commit_end, c.committed_at FROM commits c
                              ORDER BY c.commit_end DESC LIMIT 1) l ON true;
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE;
        IF bemi._retry_later(state) THEN
            RAISE;
        END IF;
        SELECT b.inserted, b.last_end, b.last_committed_at, b.stalled_at, b.stall_error
          INTO inserted, last_end, last_committed_at, stalled_at, stall_error
          FROM bemi._ingest_by_record(slot, upto, stored_upto, this_capture) b;
        IF stalled_at IS NOT NULL THEN
            -- Acknowledge only what precedes the stalled transaction: every commit before its
            -- commit record. The stalled one is delivered again by the next batch.
            acknowledge := coalesce(last_end, stored_upto);
        END IF;
    END;

    IF last_end IS NOT NULL THEN
        -- The stored rows and the origin's progress commit together.
        PERFORM pg_replication_origin_xact_setup(last_end, last_committed_at);
    END IF;
END
$$;
COMMENT ON FUNCTION bemi._ingest(pg_catalog.name, pg_catalog.text, pg_catalog.pg_lsn, pg_catalog.uuid) IS
    'Ingestion worker: stores one batch of the slot in bemi.changes (call only from the worker)';

-- The slow path of a batch whose insert failed: each record in a subtransaction of its own. A
-- record that still cannot be stored (jsonb refuses it, the table or a trigger refuses the row)
-- becomes a marker row in bemi.changes: its identity, its operation when known, {} images and
-- fallback [{"reason": "unstorable", "error": ...}]. A record whose insert fails with an error
-- of bemi._stalls(), or whose marker cannot be stored either, stops the batch before its
-- transaction: the transactions before it are stored (last_end is the last one's commit end),
-- and its commit position and error are returned.
CREATE FUNCTION bemi._ingest_by_record(slot pg_catalog.name, upto pg_catalog.pg_lsn, stored_upto pg_catalog.pg_lsn,
                                       this_capture pg_catalog.uuid,
                                       OUT inserted pg_catalog.int8, OUT last_end pg_catalog.pg_lsn,
                                       OUT last_committed_at pg_catalog.timestamptz,
                                       OUT stalled_at pg_catalog.pg_lsn, OUT stall_error pg_catalog.text)
    LANGUAGE plpgsql VOLATILE STRICT PARALLEL UNSAFE
    SET search_path = pg_catalog, pg_temp
    SET standard_conforming_strings = on
AS $$
DECLARE
    rec record;
    r jsonb;
    txn record;
    state text;
    message text;
    stall boolean;
    op text;
    txn_inserted int8;
    n int8;
BEGIN
    inserted := 0;
    -- The peek again, as text; each record is numbered within its transaction (BEGIN is 0), and
    -- paired with its transaction's COMMIT record (a COMMIT record is the plugin's own small
    -- JSON: it always casts).
    FOR txn IN
        WITH raw AS MATERIALIZED (
            SELECT c.lsn, c.data, c.n,
                   pg_catalog.count(*) FILTER (WHERE c.data LIKE '{"operation":"BEGIN"%')
                       OVER (ORDER BY c.n) AS txn_no
              FROM pg_logical_slot_peek_changes(slot, upto, NULL, 'include-transaction', 'on')
                   WITH ORDINALITY AS c(lsn, xid, data, n)
        )
        SELECT x.txn_no, x.lsn AS commit_end, x.data::jsonb AS commit_record,
               pg_catalog.array_agg(o.data ORDER BY o.n) FILTER (WHERE o.n IS NOT NULL) AS records
          FROM raw x
          LEFT JOIN raw o ON o.txn_no = x.txn_no AND o.data NOT LIKE '{"operation":"BEGIN"%'
                         AND o.data NOT LIKE '{"operation":"COMMIT"%'
         WHERE x.data LIKE '{"operation":"COMMIT"%' AND x.lsn > stored_upto
         GROUP BY x.txn_no, x.lsn, x.data
         ORDER BY x.txn_no
    LOOP
      txn_inserted := 0;
      -- A subtransaction per transaction: a stall undoes the rows of its transaction only.
      BEGIN
        FOR i IN 1 .. coalesce(pg_catalog.array_length(txn.records, 1), 0) LOOP
            stall := false;
            BEGIN
                r := CASE WHEN strpos(txn.records[i], '\u0000') = 0 THEN txn.records[i]::jsonb
                          ELSE bemi._record_jsonb(txn.records[i]) END;
                INSERT INTO bemi.changes (primary_key, before, after, context, database, schema, "table", operation,
                                          committed_at, transaction_id, seq, position, commit_position,
                                          previous_primary_key, unchanged_toast, actor, fallback, capture)
                SELECT r->>'primary_key', r->'before', r->'after', r->'context',
                       r->>'database', r->>'schema', r->>'table', r->>'operation',
                       (txn.commit_record->>'committed_at')::timestamptz,
                       (txn.commit_record->>'transaction_id')::int8, (r->>'seq')::int4,
                       (r->>'position')::int8, (r->>'commit_position')::int8,
                       r->>'previous_primary_key',
                       (SELECT pg_catalog.array_agg(t) FROM pg_catalog.jsonb_array_elements_text(r->'unchanged_toast') t),
                       r->'actor', r->'fallback', this_capture
                ON CONFLICT (capture, commit_position, seq) DO NOTHING;
                GET DIAGNOSTICS n = ROW_COUNT;
                txn_inserted := txn_inserted + n;
                CONTINUE;
            EXCEPTION WHEN OTHERS THEN
                GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, message = MESSAGE_TEXT;
                IF bemi._retry_later(state) THEN
                    RAISE;
                END IF;
                stall := bemi._stalls(state);
            END;
            IF NOT stall THEN
                BEGIN
                    -- The marker: what can be read of the record without casting it.
                    op := pg_catalog.substring(txn.records[i], '"operation":"([A-Z]+)"');
                    INSERT INTO bemi.changes (primary_key, before, after, context, database, schema, "table",
                                              operation, committed_at, transaction_id, seq, position,
                                              commit_position, fallback, capture)
                    VALUES (NULL, '{}', '{}', '{}',
                            coalesce(pg_catalog.substring(txn.records[i], '^\{"database":"((?:[^"\\]|\\.)*)"'),
                                     pg_catalog.current_database()),
                            coalesce(pg_catalog.substring(txn.records[i], '"schema":"((?:[^"\\]|\\.)*)"'), ''),
                            coalesce(pg_catalog.substring(txn.records[i], '"table":"((?:[^"\\]|\\.)*)"'), ''),
                            CASE WHEN op = ANY (ARRAY['CREATE', 'UPDATE', 'DELETE', 'TRUNCATE']) THEN op
                                 ELSE 'UNKNOWN' END,
                            (txn.commit_record->>'committed_at')::timestamptz,
                            (txn.commit_record->>'transaction_id')::int8,
                            -- seq: the record's own, else its place in the transaction
                            coalesce(pg_catalog.substring(txn.records[i], '"seq":([0-9]+),')::int4, i - 1),
                            coalesce(pg_catalog.substring(txn.records[i], '"position":([0-9]+),')::int8,
                                     (txn.commit_record->>'commit_position')::int8),
                            (txn.commit_record->>'commit_position')::int8,
                            pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object(
                                'reason', 'unstorable', 'error', message, 'sqlstate', state)),
                            this_capture)
                    ON CONFLICT (capture, commit_position, seq) DO NOTHING;
                    GET DIAGNOSTICS n = ROW_COUNT;
                    txn_inserted := txn_inserted + n;
                    RAISE WARNING 'bemi: a record of the transaction committed at % could not be stored: %',
                        pg_catalog.pg_lsn((txn.commit_record->>'commit_position')::numeric), message
                        USING HINT = 'A marker row (fallback reason "unstorable") stands in for it in bemi.changes.';
                EXCEPTION WHEN OTHERS THEN
                    GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, message = MESSAGE_TEXT;
                    IF bemi._retry_later(state) THEN
                        RAISE;
                    END IF;
                    stall := true;
                END;
            END IF;
            IF stall THEN
                -- Undo the rows of this transaction stored so far: it is delivered again whole.
                RAISE EXCEPTION USING MESSAGE = message, ERRCODE = 'BEMI1';
            END IF;
        END LOOP;
      EXCEPTION WHEN SQLSTATE 'BEMI1' THEN
        GET STACKED DIAGNOSTICS message = MESSAGE_TEXT;
        stalled_at := pg_catalog.pg_lsn((txn.commit_record->>'commit_position')::numeric);
        stall_error := message;
        RETURN;
      END;
        inserted := inserted + txn_inserted;
        last_end := txn.commit_end;
        last_committed_at := (txn.commit_record->>'committed_at')::timestamptz;
    END LOOP;
END
$$;
REVOKE ALL ON TABLE bemi.capture_history FROM PUBLIC;
REVOKE ALL ON TABLE bemi._own_capture_history FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION
    bemi._record_jsonb(pg_catalog.text),
    bemi._ingest(pg_catalog.name, pg_catalog.text, pg_catalog.pg_lsn, pg_catalog.uuid),
    bemi._ingest_by_record(pg_catalog.name, pg_catalog.pg_lsn, pg_catalog.pg_lsn, pg_catalog.uuid),
    bemi._record_capture_event(pg_catalog.text, pg_catalog.text, pg_catalog.pg_lsn, pg_catalog.pg_lsn,
                               pg_catalog.pg_lsn, pg_catalog.text),
    bemi._current_capture(pg_catalog.text)
    FROM PUBLIC;
-- The ingestion worker's status, bemi.sync(), and the request that starts the worker when this
-- script's transaction commits (docs/ingestion.md).

-- This database's entry in the workers' shared memory (C: src/pg/worker_functions.cpp).
CREATE FUNCTION bemi._worker_status(
    OUT slot_name pg_catalog.text,
    OUT pid pg_catalog.int4,
    OUT state pg_catalog.text,
    OUT capture_start pg_catalog.pg_lsn,
    OUT confirmed pg_catalog.pg_lsn,
    OUT caught_up_at pg_catalog.timestamptz,
    OUT changes pg_catalog.int8,
    OUT batches pg_catalog.int8,
    OUT last_batch_at pg_catalog.timestamptz,
    OUT last_error pg_catalog.text,
    OUT last_error_at pg_catalog.timestamptz,
    OUT wanted pg_catalog.bool,
    OUT stalled_at pg_catalog.pg_lsn)
    RETURNS record
    LANGUAGE c VOLATILE STRICT PARALLEL RESTRICTED
    AS 'MODULE_PATHNAME', 'bemi_worker_status';
COMMENT ON FUNCTION bemi._worker_status() IS
    'The ingestion worker of this database as shared memory describes it (see the view bemi.status)';

CREATE VIEW bemi.status AS
SELECT pg_catalog.current_database()::pg_catalog.text AS database,
       w.slot_name AS slot,
       w.pid AS worker_pid,
       w.state,
       coalesce(w.capture_start, h.consistent_point) AS capture_start,
       coalesce(w.confirmed, s.confirmed_flush_lsn) AS confirmed_position,
       GREATEST(pg_catalog.pg_current_wal_lsn() OPERATOR(pg_catalog.-)
                coalesce(w.confirmed, s.confirmed_flush_lsn), 0)::pg_catalog.int8 AS lag_bytes,
       CASE WHEN coalesce(w.confirmed, s.confirmed_flush_lsn) IS NULL THEN NULL
            WHEN pg_catalog.pg_current_wal_lsn() OPERATOR(pg_catalog.<=) coalesce(w.confirmed, s.confirmed_flush_lsn)
                THEN 0::pg_catalog.float8
            ELSE pg_catalog.date_part('epoch', pg_catalog.clock_timestamp() OPERATOR(pg_catalog.-) w.caught_up_at)
       END AS lag_seconds,
       w.changes AS changes_ingested,
       (SELECT pg_catalog.count(*) FROM bemi.capture_history g
         WHERE g.event OPERATOR(pg_catalog.=) ANY (ARRAY['gap', 'transaction_skipped']::pg_catalog.text[])) AS gaps,
       w.last_error,
       w.last_error_at,
       w.stalled_at
  FROM bemi._worker_status() w
  LEFT JOIN pg_catalog.pg_replication_slots s ON s.slot_name OPERATOR(pg_catalog.=) w.slot_name::pg_catalog.name
  LEFT JOIN LATERAL (SELECT g.consistent_point FROM bemi._own_capture_history g
                      WHERE g.event OPERATOR(pg_catalog.=) ANY (ARRAY['capture_started', 'gap']::pg_catalog.text[])
                      ORDER BY g.id DESC LIMIT 1) h ON true;
COMMENT ON VIEW bemi.status IS
    'The ingestion worker of this database: state, capture start, acknowledged position, lag, last error';
COMMENT ON COLUMN bemi.status.capture_start IS
    'Changes committed from this WAL position on are captured (the replication slot''s consistent point)';
COMMENT ON COLUMN bemi.status.confirmed_position IS
    'Every transaction that committed before this WAL position is in bemi.changes (acknowledged to the slot)';
COMMENT ON COLUMN bemi.status.lag_bytes IS 'WAL written but not yet acknowledged: pg_current_wal_lsn() - confirmed_position';
COMMENT ON COLUMN bemi.status.lag_seconds IS
    '0 when nothing is waiting; else seconds since the last moment at which everything flushed was stored: every change committed before now() - lag_seconds is in bemi.changes';
COMMENT ON COLUMN bemi.status.changes_ingested IS 'Rows this worker inserted since the server started';
COMMENT ON COLUMN bemi.status.gaps IS 'Ranges of changes lost and transactions skipped (see bemi.capture_history); 0 unless a slot was lost, a restore or upgrade restarted capture, or a transaction was skipped';
COMMENT ON COLUMN bemi.status.stalled_at IS
    'Commit position of the transaction ingestion is stopped at (its error: last_error); NULL unless stalled. See bemi.skip_transaction()';

-- The operator's way out of a stall nobody can fix from SQL (docs/ingestion.md): skips the
-- whole transaction bemi.status shows in stalled_at, without dropping the slot, and records it
-- in bemi.capture_history (who, when, which position). Only that transaction: the worker has
-- stored and acknowledged every one before it, so moving the slot's confirmed position just
-- past its commit record acknowledges it alone (decoding skips a transaction whose commit
-- record starts before the confirmed position). Superuser only: skipping loses audit data.
CREATE FUNCTION bemi.skip_transaction(commit_position pg_catalog.pg_lsn)
    RETURNS pg_catalog.pg_lsn
    LANGUAGE plpgsql VOLATILE STRICT PARALLEL UNSAFE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    w record;
    confirmed pg_lsn;
BEGIN
    IF NOT (SELECT r.rolsuper FROM pg_roles r WHERE r.rolname = current_user) THEN
        RAISE EXCEPTION 'permission denied to skip a transaction of bemi''s capture'
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'Only a superuser may skip a transaction: its changes are never recorded.';
    END IF;
    SELECT * INTO w FROM bemi._worker_status();
    IF w.stalled_at IS DISTINCT FROM commit_position THEN
        RAISE EXCEPTION 'bemi: ingestion is not stalled at %', commit_position
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('bemi.status.stalled_at is %s.', coalesce(w.stalled_at::text, 'NULL (nothing is stalled)')),
                  HINT = 'Pass the stalled_at position bemi.status shows; only that transaction can be skipped.';
    END IF;
    SELECT s.confirmed_flush_lsn INTO confirmed FROM pg_replication_slots s WHERE s.slot_name = w.slot_name;
    IF confirmed IS NULL OR confirmed > commit_position THEN
        RAISE EXCEPTION 'bemi: slot "%" is already past %', w.slot_name, commit_position
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'The transaction was stored or skipped meanwhile: check bemi.status.';
    END IF;
    PERFORM bemi._record_capture_event('transaction_skipped', w.slot_name, NULL, commit_position,
                                       commit_position + 1,
                                       format('skipped by %s with bemi.skip_transaction(); its error: %s',
                                              session_user, w.last_error));
    PERFORM pg_replication_slot_advance(w.slot_name::name, commit_position + 1);
    RETURN commit_position + 1;
END
$$;
COMMENT ON FUNCTION bemi.skip_transaction(pg_catalog.pg_lsn) IS
    'Superuser only: skips the transaction ingestion is stalled at (bemi.status.stalled_at), recorded in bemi.capture_history';

-- Waits until every change committed before the call is in bemi.changes (C).
CREATE FUNCTION bemi.sync(timeout pg_catalog.interval DEFAULT '30 seconds')
    RETURNS pg_catalog.bool
    LANGUAGE c VOLATILE STRICT PARALLEL RESTRICTED
    AS 'MODULE_PATHNAME', 'bemi_sync';
COMMENT ON FUNCTION bemi.sync(pg_catalog.interval) IS
    'Waits until the ingestion worker has stored everything written before the call (true) or the timeout passes (false)';

-- Called at the end of this script: the worker of this database starts when the transaction
-- that creates (or updates) the extension commits.
CREATE FUNCTION bemi._request_worker()
    RETURNS void
    LANGUAGE c VOLATILE STRICT PARALLEL UNSAFE
    AS 'MODULE_PATHNAME', 'bemi_request_worker';
COMMENT ON FUNCTION bemi._request_worker() IS
    'Asks the bemi launcher for this database''s ingestion worker, at commit (called by the extension script)';

-- Privileges. bemi_reader is created by 60-privileges.sql too; this part runs first.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) 'bemi_reader') THEN
        BEGIN
            CREATE ROLE bemi_reader NOLOGIN;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN
            NULL;  -- created meanwhile by another session
        END;
    END IF;
END
$$;
REVOKE ALL ON TABLE bemi.status FROM PUBLIC;
GRANT SELECT ON TABLE bemi.status, bemi.capture_history TO bemi_reader;
REVOKE EXECUTE ON FUNCTION bemi._worker_status(), bemi._request_worker() FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION bemi.skip_transaction(pg_catalog.pg_lsn) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION bemi._worker_status() TO bemi_reader;
GRANT EXECUTE ON FUNCTION bemi.sync(pg_catalog.interval) TO PUBLIC;

-- Capture starts at the worker's replication slot's consistent point, after this transaction
-- has committed (a slot cannot be created in a transaction that wrote): changes committed in
-- between are not captured. Where that window starts, for the worker to record it in
-- bemi.capture_history (gap_from of capture_started) when capture starts (docs/ingestion.md).
-- Not a configuration table: a dump does not carry it, a restore's CREATE EXTENSION makes
-- its own.
CREATE TABLE bemi._capture_requested (
    requested_at pg_catalog.pg_lsn NOT NULL
);
COMMENT ON TABLE bemi._capture_requested IS
    'Ingestion worker: where CREATE EXTENSION asked for capture, until capture starts';
REVOKE ALL ON TABLE bemi._capture_requested FROM PUBLIC;
INSERT INTO bemi._capture_requested VALUES (pg_catalog.pg_current_wal_insert_lsn());

SELECT bemi._request_worker();

-- Who may do what (docs/security.md). bemi.changes is an audit trail: only the extension's
-- owner (a superuser) writes it, through the worker; reading is granted explicitly, to role
-- bemi_reader. What is captured is configured by the owner only. Each part of this script
-- grants on its own objects: this file covers 10-context.sql, 20-changes.sql and
-- 30-capture-config.sql.

-- The role is cluster-wide and outlives the extension: create it only if it is missing, and
-- take a concurrent CREATE EXTENSION in another database creating it first as success.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) 'bemi_reader') THEN
        BEGIN
            CREATE ROLE bemi_reader NOLOGIN;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN
            NULL;  -- created meanwhile by another session
        END;
    END IF;
END
$$;

-- Whoever created the role (50-status.sql creates it first on a fresh install), say what it is.
COMMENT ON ROLE bemi_reader IS 'Reads bemi''s audit trail (bemi.changes, bemi.capture_history, bemi.status) and its exclusions';

-- Tables: nothing for PUBLIC (tables grant nothing to PUBLIC by default; this makes it
-- explicit and undoes a grant a previous install may have left in a dump).
REVOKE ALL ON TABLE bemi.changes, bemi.excluded_tables, bemi.replica_identity_schemas FROM PUBLIC;
REVOKE ALL ON SEQUENCE bemi.changes_id_seq FROM PUBLIC;
GRANT SELECT ON TABLE bemi.changes, bemi.excluded_tables TO bemi_reader;

GRANT USAGE ON SCHEMA bemi TO PUBLIC;

-- The context API is for every role (functions are executable by PUBLIC by default; explicit).
GRANT EXECUTE ON FUNCTION
    bemi.set_context(pg_catalog.jsonb, pg_catalog.bool),
    bemi.get_context(),
    bemi.clear_context(pg_catalog.bool),
    public.bemi_set_context(pg_catalog.jsonb, pg_catalog.bool),
    public.bemi_get_context(),
    public.bemi_clear_context(pg_catalog.bool)
    TO PUBLIC;

-- Configuration and trigger functions: the owner only. (Trigger functions cannot be called
-- directly anyway, and their triggers fire whoever changes the table or runs the DDL.)
REVOKE EXECUTE ON FUNCTION
    bemi.set_replica_identity_full(pg_catalog.regclass[]),
    bemi.set_replica_identity_full(pg_catalog.name, pg_catalog.bool),
    bemi.stop_replica_identity_full(pg_catalog.name),
    bemi._replica_identity_full_on_ddl(),
    bemi._replica_identity_schemas_changed(),
    bemi._exclusions_changed()
    FROM PUBLIC;
