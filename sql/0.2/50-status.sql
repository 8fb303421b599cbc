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
