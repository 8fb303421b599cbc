-- bemi._effective_at_seed() as PL/pgSQL: the same answer, planned lazily.
--
-- The worker asks for the seed once per batch. As a SQL function with a SET clause it was
-- planned whole on every call, and its fallback — the largest effective_at of bemi.changes —
-- means planning a query over every partition and its indexes, to be answered by the first
-- branch almost always: a per-batch cost that grew with the number of partitions (about a
-- tenth of the worker's CPU at 2,600 transactions/s with three partitions). PL/pgSQL plans the
-- fallback only when it runs: without any watermark.
CREATE OR REPLACE FUNCTION bemi._effective_at_seed()
    RETURNS pg_catalog.timestamptz
    LANGUAGE plpgsql STABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    seed timestamptz := (SELECT max(w.max_committed_at) FROM bemi.watermarks w);
BEGIN
    IF seed IS NULL THEN
        seed := (SELECT max(c.effective_at) FROM bemi.changes c);
    END IF;
    RETURN seed;
END
$$;
