-- Ingestion into bemi.changes (docs/ingestion.md): the capture history and the batch function
-- the ingestion worker calls. The worker itself is C (src/pg/ingest_worker.cpp), started by
-- the launcher in every database where the extension is installed.

-- What capture covered: where it started (the slot's consistent point), and every range of
-- changes it lost (a slot invalidated by max_slot_wal_keep_size, or dropped by hand). Written
-- by the worker only; a gap is never skipped silently.
CREATE TABLE bemi.capture_history (
    id               pg_catalog.int8 GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    recorded_at      pg_catalog.timestamptz NOT NULL DEFAULT pg_catalog.now(),
    event            pg_catalog.text NOT NULL
        CONSTRAINT capture_history_event_check
        CHECK (event OPERATOR(pg_catalog.=) ANY
               (ARRAY['capture_started', 'gap', 'capture_stopped']::pg_catalog.text[])),
    slot_name        pg_catalog.text NOT NULL,
    consistent_point pg_catalog.pg_lsn,
    gap_from         pg_catalog.pg_lsn,
    gap_to           pg_catalog.pg_lsn,
    detail           pg_catalog.text
);
COMMENT ON TABLE bemi.capture_history IS
    'When capture started (the replication slot''s consistent point) and every range of changes it lost';
COMMENT ON COLUMN bemi.capture_history.event IS
    'capture_started: first slot (changes committed between gap_from, CREATE EXTENSION, and gap_to, the slot''s consistent point, are not captured); capture_stopped: the slot was lost (gap_from: changes after it are missing); gap: capture restarted with a new slot (changes committed between gap_from and gap_to are missing)';
COMMENT ON COLUMN bemi.capture_history.consistent_point IS
    'For capture_started and gap: changes committed from this WAL position on are captured';
-- A restored database has no slot: its worker records a gap, so the history is user data.
SELECT pg_catalog.pg_extension_config_dump('bemi.capture_history', '');

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

-- One batch of the worker, in the worker's transaction (docs/ingestion.md):
--   - peek the slot up to upto, with BEGIN/COMMIT records around each transaction;
--   - keep the transactions whose COMMIT record ends after the origin's progress (the end of
--     the last transaction already stored): the others were stored by an earlier batch whose
--     acknowledgement did not happen;
--   - insert their row records, ON CONFLICT (transaction_id, seq) DO NOTHING as a second guard;
--   - set the origin's progress to the last transaction's commit end: it commits with the rows.
-- The peek's lsn column is, for a COMMIT record, the end of the transaction's commit record.
-- Returns the number of rows inserted. The worker acknowledges upto to the slot only after
-- this transaction has committed.
CREATE FUNCTION bemi._ingest(slot pg_catalog.name, origin pg_catalog.text, upto pg_catalog.pg_lsn)
    RETURNS pg_catalog.int8
    LANGUAGE plpgsql VOLATILE STRICT PARALLEL UNSAFE
    SET search_path = pg_catalog, pg_temp
    SET standard_conforming_strings = on  -- '\u0000' below is six characters
AS $$
DECLARE
    stored_upto pg_lsn := coalesce(pg_replication_origin_progress(origin, true), '0/0'::pg_lsn);
    inserted int8;
    last_end pg_lsn;
    last_committed_at timestamptz;
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
                                  previous_primary_key, unchanged_toast, actor, fallback)
        SELECT d.r->>'primary_key', d.r->'before', d.r->'after', d.r->'context',
               d.r->>'database', d.r->>'schema', d.r->>'table', d.r->>'operation',
               c.committed_at, c.transaction_id, (d.r->>'seq')::int4,
               (d.r->>'position')::int8, (d.r->>'commit_position')::int8,
               d.r->>'previous_primary_key',
               (SELECT pg_catalog.array_agg(t) FROM pg_catalog.jsonb_array_elements_text(d.r->'unchanged_toast') t),
               d.r->'actor', d.r->'fallback'
          FROM decoded d
          JOIN commits c ON c.transaction_id = (d.r->>'transaction_id')::int8
         -- every other operation is a row record: one the table refuses (its CHECK) stops
         -- the batch visibly instead of being dropped
         WHERE d.r->>'operation' NOT IN ('BEGIN', 'COMMIT')
         ORDER BY d.n
        ON CONFLICT (transaction_id, seq) DO NOTHING
        RETURNING 1
    )
    SELECT (SELECT count(*) FROM stored), l.commit_end, l.committed_at
      INTO inserted, last_end, last_committed_at
      FROM (SELECT) AS one
      LEFT JOIN LATERAL (SELECT c.commit_end, c.committed_at FROM commits c
                          ORDER BY c.commit_end DESC LIMIT 1) l ON true;

    IF last_end IS NOT NULL THEN
        -- The stored rows and the origin's progress commit together.
        PERFORM pg_replication_origin_xact_setup(last_end, last_committed_at);
    END IF;
    RETURN inserted;
END
$$;
COMMENT ON FUNCTION bemi._ingest(pg_catalog.name, pg_catalog.text, pg_catalog.pg_lsn) IS
    'Ingestion worker: stores one batch of the slot in bemi.changes (call only from the worker)';

REVOKE ALL ON TABLE bemi.capture_history FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION
    bemi._record_jsonb(pg_catalog.text),
    bemi._ingest(pg_catalog.name, pg_catalog.text, pg_catalog.pg_lsn)
    FROM PUBLIC;
