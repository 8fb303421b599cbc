
-- bemi.status says how often the worker's fast path (src/pg/ingest/batch_store.cpp) left a
-- batch to bemi._ingest, and why the last time: an operator sees a trigger, a rule or a
-- refused record sending every batch down the slower SQL path (docs/ingestion.md).
CREATE FUNCTION bemi._worker_fast_path(
    OUT fast_path_fallbacks pg_catalog.int8,
    OUT last_fallback pg_catalog.text,
    OUT last_fallback_at pg_catalog.timestamptz)
    RETURNS record
    LANGUAGE c VOLATILE STRICT PARALLEL RESTRICTED
    AS 'MODULE_PATHNAME', 'bemi_worker_fast_path';
COMMENT ON FUNCTION bemi._worker_fast_path() IS
    'Batches of this database the ingestion worker''s fast path left to bemi._ingest since the server started, and why the last one (see the view bemi.status)';
REVOKE EXECUTE ON FUNCTION bemi._worker_fast_path() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION bemi._worker_fast_path() TO bemi_reader;

-- The columns of 0.2 unchanged and in their order (CREATE OR REPLACE VIEW only appends), then
-- the fast path's.
CREATE OR REPLACE VIEW bemi.status AS
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
       w.stalled_at,
       f.fast_path_fallbacks,
       f.last_fallback,
       f.last_fallback_at
  FROM bemi._worker_status() w
  CROSS JOIN bemi._worker_fast_path() f
  LEFT JOIN pg_catalog.pg_replication_slots s ON s.slot_name OPERATOR(pg_catalog.=) w.slot_name::pg_catalog.name
  LEFT JOIN LATERAL (SELECT g.consistent_point FROM bemi._own_capture_history g
                      WHERE g.event OPERATOR(pg_catalog.=) ANY (ARRAY['capture_started', 'gap']::pg_catalog.text[])
                      ORDER BY g.id DESC LIMIT 1) h ON true;
COMMENT ON COLUMN bemi.status.fast_path_fallbacks IS
    'Batches the worker stored through bemi._ingest instead of its fast path since the server started (a trigger, rule or row-level security on bemi.changes, a record with \u0000, a record the fast path could not store)';
COMMENT ON COLUMN bemi.status.last_fallback IS 'Why the last of those batches left the fast path; NULL if none did';
COMMENT ON COLUMN bemi.status.last_fallback_at IS 'When the last of those batches was stored';
