-- Baselines (docs/time-travel.md, "Baselines"): where a table's history starts. A `created`
-- baseline (snapshot NULL) comes with each table created while bemi is installed; a snapshot
-- baseline is a copy of the table's rows taken by bemi.backfill(regclass).

CREATE TABLE bemi.baselines (
    id        pg_catalog.uuid PRIMARY KEY DEFAULT bemi._time_ordered_uuid(),
    relid     pg_catalog.oid NOT NULL,
    schema    pg_catalog.name NOT NULL,
    "table"   pg_catalog.name NOT NULL,
    snapshot  pg_catalog.pg_snapshot,
    lineage   pg_catalog.uuid NOT NULL,
    taken_at  pg_catalog.timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    row_count pg_catalog.int8 NOT NULL DEFAULT 0
);
CREATE INDEX baselines_relid_idx ON bemi.baselines (relid, id);
CREATE UNIQUE INDEX baselines_lineage_idx ON bemi.baselines (lineage);
ALTER TABLE bemi.baselines REPLICA IDENTITY FULL;
COMMENT ON TABLE bemi.baselines IS
    'Baselines: where a table''s history starts (created: empty at its CREATE TABLE; backfill: a copy under a snapshot)';
COMMENT ON COLUMN bemi.baselines.snapshot IS
    'The snapshot the rows were read under; NULL for a created baseline. Changes of transactions not visible in it come after the rows';
COMMENT ON COLUMN bemi.baselines.lineage IS 'Its lineage entry (bemi.table_lineage.id): its place in the order is the anchor';
COMMENT ON COLUMN bemi.baselines.row_count IS 'Rows copied into bemi.baseline_rows';

-- Never captured: the plugin skips this table by name (a baseline's rows are not changes).
CREATE TABLE bemi.baseline_rows (
    baseline    pg_catalog.uuid NOT NULL,
    primary_key pg_catalog.text NOT NULL,
    leaf_schema pg_catalog.name NOT NULL,
    leaf_table  pg_catalog.name NOT NULL,
    "row"       pg_catalog.jsonb NOT NULL,
    fallback    pg_catalog.jsonb,
    PRIMARY KEY (baseline, primary_key)
);
COMMENT ON TABLE bemi.baseline_rows IS
    'Rows of snapshot baselines, as the plugin writes them (docs/record-format.md); not captured';
COMMENT ON COLUMN bemi.baseline_rows.primary_key IS 'The row''s key as the plugin writes it';
COMMENT ON COLUMN bemi.baseline_rows.leaf_schema IS 'Schema of the partition holding the row (the table itself when not partitioned)';
COMMENT ON COLUMN bemi.baseline_rows.leaf_table IS 'The partition holding the row (the table itself when not partitioned)';
COMMENT ON COLUMN bemi.baseline_rows."row" IS 'The row as an "after" image';
COMMENT ON COLUMN bemi.baseline_rows.fallback IS 'Values written in a substitute form (as the record''s fallback, image "after"); NULL when every value is exact';

SELECT pg_catalog.pg_extension_config_dump('bemi.baselines', '');
SELECT pg_catalog.pg_extension_config_dump('bemi.baseline_rows', '');
REVOKE ALL ON TABLE bemi.baselines, bemi.baseline_rows FROM PUBLIC;
GRANT SELECT ON TABLE bemi.baselines TO bemi_reader;
