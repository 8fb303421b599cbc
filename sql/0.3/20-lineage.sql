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
