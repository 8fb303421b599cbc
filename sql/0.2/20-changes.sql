
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
