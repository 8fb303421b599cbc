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
