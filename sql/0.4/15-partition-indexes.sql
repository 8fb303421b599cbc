-- The indexes of a partition of bemi.changes: 0.3's indexes of the table (sql/bemi--0.1--0.2.sql,
-- sql/0.3/10-trail.sql and the parts of sql/0.3 that added their own), one set per partition,
-- named <partition>_<0.3 suffix>. Why on each partition and not on the parent: 20-layout.sql.
-- Each is justified where 0.3 created it, with one change: the context index is GIN
-- jsonb_path_ops, not jsonb_ops. The documented query is containment (WHERE context @> ...,
-- bemi.transactions), which both serve; jsonb_ops also indexes every key on its own, for the
-- key-existence operators (? ?| ?&), and cost the worker about 6 of its ~32 us per change on a
-- context with its "SQL" (bench/capture_bench.sh, docs/ingestion.md "Indexes"). Those
-- operators still work, by scanning. The partition 0.3's trail was attached as keeps its
-- jsonb_ops index.
CREATE FUNCTION bemi._partition_indexes(part pg_catalog.regclass)
    RETURNS void
    LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    name text := (SELECT c.relname FROM pg_class c WHERE c.oid = part);
    definition text;
BEGIN
    -- The keys: id, and the identity a genuine duplicate is recognised by (every row of a
    -- transaction has the same effective_at, so one transaction is in one partition).
    EXECUTE format('ALTER TABLE %s ADD CONSTRAINT %I PRIMARY KEY (id)', part, name || '_pkey');
    EXECUTE format('ALTER TABLE %s ADD CONSTRAINT %I UNIQUE NULLS NOT DISTINCT (capture, commit_position, seq)',
                   part, name || '_capture_commit_position_seq_key');
    FOREACH definition IN ARRAY ARRAY[
        'history_idx ON %s (schema, "table", primary_key, committed_at)',
        'committed_at_idx ON %s (committed_at)',
        'context_idx ON %s USING gin (context jsonb_path_ops)',
        'effective_at_idx ON %s (effective_at)',
        'relation_order_idx ON %s (schema, "table", capture, commit_position, seq)',
        'root_order_idx ON %s (root_schema, root_table, capture, commit_position, seq) WHERE root_table IS NOT NULL',
        'unstorable_idx ON %s (capture, commit_position, seq) WHERE fallback @> ''[{"reason": "unstorable"}]''::jsonb',
        'fallback_idx ON %s (schema, "table", capture) WHERE fallback IS NOT NULL',
        'transaction_idx ON %s (transaction_id)',
        'previous_key_idx ON %s (schema, "table", previous_primary_key) WHERE previous_primary_key IS NOT NULL',
        'truncate_idx ON %s (schema, "table", capture, commit_position, seq) WHERE operation = ''TRUNCATE'''
    ] LOOP
        EXECUTE 'CREATE INDEX ' || quote_ident(name || '_' || split_part(definition, ' ', 1))
                || format(substr(definition, strpos(definition, ' ')), part);
    END LOOP;
END
$$;
REVOKE EXECUTE ON FUNCTION bemi._partition_indexes(pg_catalog.regclass) FROM PUBLIC;
