-- The trail's new columns for time travel (docs/time-travel.md, "The order and the instant"):
-- the record's root_schema/root_table, effective_at, the watermark each stored batch commits
-- with, and the ingestion functions that write them.

-- (a) Columns ---------------------------------------------------------------------------------

ALTER TABLE bemi.changes
    ADD COLUMN root_schema  pg_catalog.text,
    ADD COLUMN root_table   pg_catalog.text,
    ADD COLUMN effective_at pg_catalog.timestamptz;

COMMENT ON COLUMN bemi.changes.root_schema IS
    'Only for a partition: schema of the top-most partitioned table (the record''s root_schema); NULL otherwise, and in rows stored before bemi 0.3';
COMMENT ON COLUMN bemi.changes.root_table IS
    'Only for a partition: the top-most partitioned table (the record''s root_table); NULL otherwise, and in rows stored before bemi 0.3';
COMMENT ON COLUMN bemi.changes.effective_at IS
    'Running maximum of committed_at over the order (capture, commit_position, seq) up to and including this transaction: never decreases along the order, the same for every row of a transaction; as_of(T) is every change with effective_at <= T (docs/time-travel.md). NULL only in rows written by hand (capture NULL)';

-- Fill effective_at of the rows stored before 0.3: the running maximum per transaction, in
-- the order (capture, commit_position), rows written by hand (capture NULL) first. An UPDATE of
-- every row would be decoded and recorded (bemi.changes is captured, REPLICA IDENTITY FULL): N
-- audit rows more in one transaction. A table rewrite is not decoded (the new heap is a
-- rewrite relation, which logical decoding skips), so the values go in through ALTER COLUMN
-- TYPE ... USING, which rewrites the table. The running maximum differs from committed_at only
-- for transactions whose commit time is earlier than one before them in the order (rare):
-- those are computed beforehand into an unlogged table (no WAL: not decoded either) and looked
-- up, only for rows whose committed_at is below the largest of them; every other row takes its
-- committed_at. (The ALTER TABLE ADD COLUMN above holds bemi.changes locked: the worker stores
-- nothing meanwhile.) Both helpers are dropped below.
CREATE UNLOGGED TABLE bemi._effective_at_fill AS
SELECT r.capture, r.commit_position, r.effective_at
  FROM (SELECT coalesce(c.capture, '00000000-0000-0000-0000-000000000000'::pg_catalog.uuid) AS capture,
               c.commit_position,
               pg_catalog.min(c.committed_at) AS committed_at,
               pg_catalog.max(pg_catalog.max(c.committed_at))
                   OVER (ORDER BY c.capture NULLS FIRST, c.commit_position
                         ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS effective_at
          FROM bemi.changes c
         GROUP BY c.capture, c.commit_position) r
 WHERE r.effective_at OPERATOR(pg_catalog.<>) r.committed_at;
CREATE UNIQUE INDEX ON bemi._effective_at_fill (capture, commit_position);

-- Called for rows that may be such an exception: no SET clause (a function with one saves and
-- restores settings at every call), so every name in it is qualified instead.
CREATE FUNCTION bemi._effective_at_fill(capture pg_catalog.uuid, commit_position pg_catalog.int8)
    RETURNS pg_catalog.timestamptz
    LANGUAGE sql STABLE PARALLEL UNSAFE
AS $$
    SELECT f.effective_at FROM bemi._effective_at_fill f
     WHERE f.capture OPERATOR(pg_catalog.=) coalesce($1, '00000000-0000-0000-0000-000000000000'::pg_catalog.uuid)
       AND f.commit_position OPERATOR(pg_catalog.=) $2
$$;

-- Every row the worker stores (markers included) has effective_at; only rows written by hand,
-- which belong to no capture, may leave it out (a NOT NULL column would make every hand-written
-- INSERT name it). Checked by the rewrite.
DO $$
DECLARE
    bound pg_catalog.timestamptz := (SELECT pg_catalog.max(f.effective_at) FROM bemi._effective_at_fill f);
BEGIN
    -- No exception (bound NULL): CASE takes committed_at for every row, no lookup at all.
    EXECUTE pg_catalog.format(
        'ALTER TABLE bemi.changes
             ALTER COLUMN effective_at TYPE pg_catalog.timestamptz
                 USING CASE WHEN committed_at OPERATOR(pg_catalog.<) %L::pg_catalog.timestamptz
                            THEN coalesce(bemi._effective_at_fill(capture, commit_position), committed_at)
                            ELSE committed_at END,
             ADD CONSTRAINT changes_effective_at_check
                 CHECK (effective_at IS NOT NULL OR capture IS NULL)', bound);
END
$$;

DROP FUNCTION bemi._effective_at_fill(pg_catalog.uuid, pg_catalog.int8);
DROP TABLE bemi._effective_at_fill;

-- (b) Indexes ---------------------------------------------------------------------------------

-- The end of prefix(T): the first change with effective_at > T (and "is the prefix for T
-- closed": does a stored change with effective_at > T exist), one index probe each.
CREATE INDEX changes_effective_at_idx ON bemi.changes (effective_at);
-- One relation's changes in the commit order (as_of, versions, history of a table): an index
-- range scan per relation and capture, already sorted, whatever else the trail holds.
CREATE INDEX changes_relation_order_idx ON bemi.changes (schema, "table", capture, commit_position, seq);
-- The same for a partitioned table, by its root: all its leaves' changes in order, rows that
-- moved between partitions included. Partial: most rows are not partitions'.
CREATE INDEX changes_root_order_idx ON bemi.changes (root_schema, root_table, capture, commit_position, seq)
    WHERE root_table IS NOT NULL;
-- changes_history_idx (schema, "table", primary_key, committed_at) stays: README's query of a
-- record's history (WHERE schema, "table", primary_key ORDER BY committed_at) uses it, and it
-- also serves a record's changes in commit order (one key's rows, sorted in memory).

-- (c) Watermarks ------------------------------------------------------------------------------

-- What is stored, per capture, as MVCC sees it: the worker's batch writes its rows and its
-- capture's row here in one transaction, so a snapshot that sees one sees the other. Readers of
-- the past (docs/time-travel.md, "Stable answers") take "what is stored" from here, never from
-- shared memory. max_committed_at also carries the running maximum of effective_at from batch
-- to batch and, taken over every capture, across captures.
CREATE TABLE bemi.watermarks (
    capture              pg_catalog.uuid PRIMARY KEY,
    stored_through       pg_catalog.pg_lsn,
    last_commit_position pg_catalog.int8 NOT NULL,
    max_committed_at     pg_catalog.timestamptz NOT NULL,
    updated_at           pg_catalog.timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE bemi.watermarks IS
    'Per capture, how far bemi.changes is stored: written by the ingestion worker in the same transaction as the rows (docs/time-travel.md)';
COMMENT ON COLUMN bemi.watermarks.capture IS 'The capture (bemi.capture_history.capture, bemi.changes.capture)';
COMMENT ON COLUMN bemi.watermarks.stored_through IS
    'End of the commit record of the last stored transaction (the replication origin''s progress); NULL only when not known (a capture of rows stored before bemi 0.3)';
COMMENT ON COLUMN bemi.watermarks.last_commit_position IS
    'commit_position of the last stored transaction of the capture';
COMMENT ON COLUMN bemi.watermarks.max_committed_at IS
    'effective_at of the last stored transaction: the running maximum of committed_at up to it';
COMMENT ON COLUMN bemi.watermarks.updated_at IS 'When the batch that last moved it was stored';

-- User data like the trail it describes (a restore brings both; the running maximum then
-- continues from the restored captures).
SELECT pg_catalog.pg_extension_config_dump('bemi.watermarks', '');
REVOKE ALL ON TABLE bemi.watermarks FROM PUBLIC;
GRANT SELECT ON TABLE bemi.watermarks TO bemi_reader;

-- Watermarks of the captures stored before 0.3, from their rows. The capture the worker stores
-- into now gets its origin's progress as stored_through. (This insert is not recorded:
-- the plugin never emits changes of bemi.watermarks, src/pg/decode/relation_cache.hpp.)
INSERT INTO bemi.watermarks (capture, stored_through, last_commit_position, max_committed_at)
SELECT DISTINCT ON (c.capture)
       c.capture,
       CASE WHEN c.capture OPERATOR(pg_catalog.=)
                 bemi._current_capture('bemi_' OPERATOR(pg_catalog.||) d.oid::pg_catalog.text)
            THEN pg_catalog.pg_replication_origin_progress(
                     'bemi_ingest_' OPERATOR(pg_catalog.||) d.oid::pg_catalog.text, false) END,
       c.commit_position, c.effective_at
  FROM bemi.changes c,
       pg_catalog.pg_database d
 WHERE c.capture IS NOT NULL
   AND d.datname OPERATOR(pg_catalog.=) pg_catalog.current_database()
 ORDER BY c.capture, c.commit_position DESC, c.seq DESC;

-- Where the running maximum continues from: the largest over every capture, so effective_at
-- never decreases across captures (a new slot, a restore). Without any watermark (a trail
-- written before 0.3 holding only hand-written rows, or one restored without them), from the
-- trail itself (one probe of changes_effective_at_idx).
CREATE FUNCTION bemi._effective_at_seed()
    RETURNS pg_catalog.timestamptz
    LANGUAGE sql STABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT coalesce((SELECT max(w.max_committed_at) FROM bemi.watermarks w),
                    (SELECT max(c.effective_at) FROM bemi.changes c))
$$;
COMMENT ON FUNCTION bemi._effective_at_seed() IS
    'Ingestion worker: the running maximum of committed_at stored so far, over every capture';

-- Moves a capture's watermark to the last transaction a batch stored, in the batch's
-- transaction. Never backwards (a batch stores only transactions after the origin's progress).
CREATE FUNCTION bemi._advance_watermark(this_capture pg_catalog.uuid, stored_through pg_catalog.pg_lsn,
                                        last_commit_position pg_catalog.int8,
                                        max_committed_at pg_catalog.timestamptz)
    RETURNS void
    LANGUAGE sql VOLATILE PARALLEL UNSAFE
    SET search_path = pg_catalog, pg_temp
AS $$
    INSERT INTO bemi.watermarks AS w (capture, stored_through, last_commit_position, max_committed_at, updated_at)
    VALUES ($1, $2, $3, $4, now())
    ON CONFLICT (capture) DO UPDATE
       SET stored_through = excluded.stored_through,
           last_commit_position = excluded.last_commit_position,
           max_committed_at = greatest(w.max_committed_at, excluded.max_committed_at),
           updated_at = excluded.updated_at
     WHERE w.stored_through IS NULL OR w.stored_through <= excluded.stored_through
$$;
COMMENT ON FUNCTION bemi._advance_watermark(pg_catalog.uuid, pg_catalog.pg_lsn, pg_catalog.int8, pg_catalog.timestamptz) IS
    'Ingestion worker: records in bemi.watermarks the last transaction a batch stored for the capture';
REVOKE EXECUTE ON FUNCTION
    bemi._effective_at_seed(),
    bemi._advance_watermark(pg_catalog.uuid, pg_catalog.pg_lsn, pg_catalog.int8, pg_catalog.timestamptz)
    FROM PUBLIC;

-- (d) Ingestion: bemi._ingest and bemi._ingest_by_record of 0.2 (sql/bemi--0.1--0.2.sql), changed
-- to store root_schema, root_table and effective_at, to move the watermark, and to read the
-- batch from bemi._batch_records instead of peeking the slot themselves.

-- One batch's records, as pg_logical_slot_peek_changes(slot, upto, NULL, 'include-transaction',
-- 'on') returns them. The ingestion worker decodes the slot itself, each WAL record once, with a
-- decoding context it keeps from batch to batch (docs/ingestion.md, "Streaming"); in the worker,
-- this returns the records it decoded for slot up to upto (where its decoding stopped). Anywhere
-- else (a test storing a copied slot, a benchmark), it is that peek.
CREATE FUNCTION bemi._batch_records(slot pg_catalog.name, upto pg_catalog.pg_lsn)
    RETURNS TABLE (lsn pg_catalog.pg_lsn, xid pg_catalog.xid, data pg_catalog.text)
    LANGUAGE c VOLATILE STRICT PARALLEL UNSAFE
    AS 'MODULE_PATHNAME', 'bemi_batch_records';
COMMENT ON FUNCTION bemi._batch_records(pg_catalog.name, pg_catalog.pg_lsn) IS
    'Ingestion worker: the records of one batch (the worker''s decoded records, else a peek of the slot)';
REVOKE EXECUTE ON FUNCTION bemi._batch_records(pg_catalog.name, pg_catalog.pg_lsn) FROM PUBLIC;

-- One batch of the worker, in the worker's transaction (docs/ingestion.md):
--   - read the batch up to upto (bemi._batch_records), with BEGIN/COMMIT records around each
--     transaction;
--   - keep the transactions whose COMMIT record ends after the origin's progress (the end of
--     the last transaction already stored): the others were stored by an earlier batch whose
--     acknowledgement did not happen;
--   - insert their row records under this_capture (the worker passes its slot's,
--     bemi._current_capture(slot)), ON CONFLICT on the identity
--     (capture, commit_position, seq): only the same capture delivering the same commit again
--     can conflict, and then the row is already there;
--   - set the origin's progress to the last transaction's commit end: it commits with the rows.
--   - (0.3) give each transaction its effective_at, the running maximum of committed_at in
--     commit order, continued from bemi._effective_at_seed(), and move the capture's row of
--     bemi.watermarks to the last stored transaction: it commits with the rows too.
-- When that insert fails on the data (a record jsonb refuses, a row the table refuses), the
-- batch is stored again record by record (_ingest_by_record). Returns the rows inserted, the
-- position the worker may acknowledge to the slot (upto, unless a transaction stalled), and,
-- when one did, its commit position and error.
CREATE OR REPLACE FUNCTION bemi._ingest(slot pg_catalog.name, origin pg_catalog.text, upto pg_catalog.pg_lsn,
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
    last_commit_position int8;
    last_effective_at timestamptz;
    seed timestamptz := bemi._effective_at_seed();
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
              FROM bemi._batch_records(slot, upto)
                   WITH ORDINALITY AS c(lsn, xid, data, n)
        ), commits AS MATERIALIZED (
            -- effective_at: the running maximum in commit order (the peek's), continued from
            -- what is stored already
            SELECT t.*,
                   greatest(seed,
                            max(t.committed_at) OVER (ORDER BY t.n ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW))
                       AS effective_at
              FROM (SELECT (d.r->>'transaction_id')::int8 AS transaction_id,
                           d.lsn AS commit_end,
                           (d.r->>'commit_position')::int8 AS commit_position,
                           (d.r->>'committed_at')::timestamptz AS committed_at,
                           d.n
                      FROM decoded d
                     WHERE d.r->>'operation' = 'COMMIT'
                       AND d.lsn > stored_upto) t
        ), stored AS (
            INSERT INTO bemi.changes (primary_key, before, after, context, database, schema, "table", operation,
                                      committed_at, transaction_id, seq, position, commit_position,
                                      previous_primary_key, unchanged_toast, actor, fallback, capture,
                                      root_schema, root_table, effective_at)
            SELECT d.r->>'primary_key', d.r->'before', d.r->'after', d.r->'context',
                   d.r->>'database', d.r->>'schema', d.r->>'table', d.r->>'operation',
                   c.committed_at, c.transaction_id, (d.r->>'seq')::int4,
                   (d.r->>'position')::int8, (d.r->>'commit_position')::int8,
                   d.r->>'previous_primary_key',
                   (SELECT pg_catalog.array_agg(t) FROM pg_catalog.jsonb_array_elements_text(d.r->'unchanged_toast') t),
                   d.r->'actor', d.r->'fallback', this_capture,
                   d.r->>'root_schema', d.r->>'root_table', c.effective_at
              FROM decoded d
              JOIN commits c ON c.transaction_id = (d.r->>'transaction_id')::int8
             -- every other operation is a row record: one the table refuses (its CHECK) is
             -- stored as a marker row by the record-by-record pass, never dropped
             WHERE d.r->>'operation' NOT IN ('BEGIN', 'COMMIT')
             ORDER BY d.n
            ON CONFLICT (capture, commit_position, seq) DO NOTHING
            RETURNING 1
        )
        SELECT (SELECT count(*) FROM stored), l.commit_end, l.committed_at, l.commit_position, l.effective_at
          INTO inserted, last_end, last_committed_at, last_commit_position, last_effective_at
          FROM (SELECT) AS one
          LEFT JOIN LATERAL (SELECT c.commit_end, c.committed_at, c.commit_position, c.effective_at FROM commits c
                              ORDER BY c.commit_end DESC LIMIT 1) l ON true;
        IF last_end IS NOT NULL THEN
            -- (the record-by-record pass moves the watermark itself)
            PERFORM bemi._advance_watermark(this_capture, last_end, last_commit_position, last_effective_at);
        END IF;
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
CREATE OR REPLACE FUNCTION bemi._ingest_by_record(slot pg_catalog.name, upto pg_catalog.pg_lsn, stored_upto pg_catalog.pg_lsn,
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
    -- effective_at: the running maximum of committed_at over the stored transactions
    running_max timestamptz := bemi._effective_at_seed();
    txn_effective_at timestamptz;
    last_commit_position int8;
BEGIN
    inserted := 0;
    -- The batch again, as text; each record is numbered within its transaction (BEGIN is 0), and
    -- paired with its transaction's COMMIT record (a COMMIT record is the plugin's own small
    -- JSON: it always casts).
    FOR txn IN
        WITH raw AS MATERIALIZED (
            SELECT c.lsn, c.data, c.n,
                   pg_catalog.count(*) FILTER (WHERE c.data LIKE '{"operation":"BEGIN"%')
                       OVER (ORDER BY c.n) AS txn_no
              FROM bemi._batch_records(slot, upto)
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
      txn_effective_at := greatest(running_max, (txn.commit_record->>'committed_at')::timestamptz);
      -- A subtransaction per transaction: a stall undoes the rows of its transaction only.
      BEGIN
        FOR i IN 1 .. coalesce(pg_catalog.array_length(txn.records, 1), 0) LOOP
            stall := false;
            BEGIN
                r := CASE WHEN strpos(txn.records[i], '\u0000') = 0 THEN txn.records[i]::jsonb
                          ELSE bemi._record_jsonb(txn.records[i]) END;
                INSERT INTO bemi.changes (primary_key, before, after, context, database, schema, "table", operation,
                                          committed_at, transaction_id, seq, position, commit_position,
                                          previous_primary_key, unchanged_toast, actor, fallback, capture,
                                          root_schema, root_table, effective_at)
                SELECT r->>'primary_key', r->'before', r->'after', r->'context',
                       r->>'database', r->>'schema', r->>'table', r->>'operation',
                       (txn.commit_record->>'committed_at')::timestamptz,
                       (txn.commit_record->>'transaction_id')::int8, (r->>'seq')::int4,
                       (r->>'position')::int8, (r->>'commit_position')::int8,
                       r->>'previous_primary_key',
                       (SELECT pg_catalog.array_agg(t) FROM pg_catalog.jsonb_array_elements_text(r->'unchanged_toast') t),
                       r->'actor', r->'fallback', this_capture,
                       r->>'root_schema', r->>'root_table', txn_effective_at
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
                                              commit_position, fallback, capture,
                                              root_schema, root_table, effective_at)
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
                            this_capture,
                            -- a partition's root: right after "table" (so never a column's key)
                            pg_catalog.substring(txn.records[i],
                                '^\{"database":"(?:[^"\\]|\\.)*","schema":"(?:[^"\\]|\\.)*","table":"(?:[^"\\]|\\.)*","root_schema":"((?:[^"\\]|\\.)*)"'),
                            pg_catalog.substring(txn.records[i],
                                '^\{"database":"(?:[^"\\]|\\.)*","schema":"(?:[^"\\]|\\.)*","table":"(?:[^"\\]|\\.)*","root_schema":"(?:[^"\\]|\\.)*","root_table":"((?:[^"\\]|\\.)*)"'),
                            txn_effective_at)
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
        EXIT;  -- (was RETURN: the watermark below is written first)
      END;
        inserted := inserted + txn_inserted;
        last_end := txn.commit_end;
        last_committed_at := (txn.commit_record->>'committed_at')::timestamptz;
        last_commit_position := (txn.commit_record->>'commit_position')::int8;
        running_max := txn_effective_at;
    END LOOP;
    -- The watermark: the last transaction stored (before the stalled one, if one stalled).
    IF last_end IS NOT NULL THEN
        PERFORM bemi._advance_watermark(this_capture, last_end, last_commit_position, running_max);
    END IF;
END
$$;

-- The worker stores a batch with a fast path in C (src/pg/ingest/batch_store.cpp) and falls back
-- to bemi._ingest for anything unusual. This runs the same on a slot's records up to upto (a
-- peek: a copied slot in tests and benchmarks), with bemi._ingest's result and whether the fast
-- path stored it. Superuser only (also checked in C).
CREATE FUNCTION bemi._store_batch(slot pg_catalog.name, origin pg_catalog.text, upto pg_catalog.pg_lsn,
                                  this_capture pg_catalog.uuid,
                                  OUT inserted pg_catalog.int8, OUT acknowledge pg_catalog.pg_lsn,
                                  OUT stalled_at pg_catalog.pg_lsn, OUT stall_error pg_catalog.text,
                                  OUT fast pg_catalog.bool)
    LANGUAGE c VOLATILE PARALLEL UNSAFE
    AS 'MODULE_PATHNAME', 'bemi_store_batch';
COMMENT ON FUNCTION bemi._store_batch(pg_catalog.name, pg_catalog.text, pg_catalog.pg_lsn, pg_catalog.uuid) IS
    'Ingestion worker: stores one batch as the worker does (fast path, else bemi._ingest); superuser only';
REVOKE EXECUTE ON FUNCTION bemi._store_batch(pg_catalog.name, pg_catalog.text, pg_catalog.pg_lsn, pg_catalog.uuid)
    FROM PUBLIC;
