-- Creating the partitions of bemi.changes ahead of the rows (docs/ingestion.md, "Partitions").

-- Creates the partition that contains at, unless one does: aligned on bemi.partition_interval,
-- cut short where a neighbour begins or ends. It takes an ACCESS EXCLUSIVE lock on
-- bemi.changes until the transaction ends: the worker calls it in a short transaction of its
-- own, with a lock timeout, never in the one that stores a batch. The default partition holds
-- only rows whose effective_at is NULL (its CHECK), so it is not scanned. Not an extension
-- member: pg_dump dumps its definition and rows like any table's.
CREATE FUNCTION bemi._create_partition(at pg_catalog.timestamptz)
    RETURNS pg_catalog.regclass
    LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    b record;
    lower timestamptz;
    upper timestamptz;
    created regclass;
BEGIN
    IF at IS NULL OR NOT isfinite(at) THEN
        RAISE EXCEPTION 'bemi: no partition for effective_at %', at USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT p.partition INTO created FROM bemi._trail_partitions() p WHERE at >= p.lower AND at < p.upper;
    IF FOUND THEN
        RETURN created;
    END IF;
    b := bemi._partition_bounds(at);
    lower := greatest(b.lower, (SELECT max(p.upper) FROM bemi._trail_partitions() p WHERE p.upper <= at));
    upper := least(b.upper, (SELECT min(p.lower) FROM bemi._trail_partitions() p WHERE p.lower > at));
    EXECUTE format('CREATE TABLE bemi.%I PARTITION OF bemi.changes FOR VALUES FROM (%L) TO (%L)',
                   bemi._partition_name(lower), lower, upper);
    created := format('bemi.%I', bemi._partition_name(lower))::regclass;
    PERFORM bemi._partition_indexes(created);
    -- Complete "before" images of a superuser's UPDATE or DELETE, as on the parent (it does not
    -- cascade). Nothing for PUBLIC (a new table grants nothing): bemi_reader reads bemi.changes.
    EXECUTE format('ALTER TABLE %s REPLICA IDENTITY FULL', created);
    EXECUTE format('REVOKE ALL ON TABLE %s FROM PUBLIC', created);
    RETURN created;
END
$$;

-- What the worker calls before it stores a batch, in a transaction of its own: the partitions
-- that contain now() and the next two intervals, and those that contain each effective_at the
-- batch can give its rows, which are the running maximum of committed_at continued from
-- bemi._effective_at_seed(): the seed itself or one of the batch's commit times above it
-- (committed_at, the batch's commit times, any order; upto, the largest). Returns the range
-- [covered_from, covered_to) that is covered without a hole from now()'s partition on, which
-- the worker remembers to skip this call while its batches stay inside it.
CREATE FUNCTION bemi._ensure_partitions(upto pg_catalog.timestamptz,
                                        committed_at pg_catalog.timestamptz[] DEFAULT NULL,
                                        OUT created pg_catalog.int4,
                                        OUT covered_from pg_catalog.timestamptz,
                                        OUT covered_to pg_catalog.timestamptz)
    LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    seed timestamptz := bemi._effective_at_seed();
    width interval := bemi._partition_interval();
    wanted timestamptz[];
    at timestamptz;
    before int8 := (SELECT count(*) FROM pg_inherits i WHERE i.inhparent = 'bemi.changes'::regclass);
BEGIN
    wanted := ARRAY[now(), now() + width, now() + 2 * width];
    IF seed IS NOT NULL THEN
        wanted := wanted || seed;
    END IF;
    wanted := wanted || ARRAY(SELECT t FROM unnest(committed_at || upto) t
                               WHERE t IS NOT NULL AND (seed IS NULL OR t > seed));
    -- one instant per aligned partition (an infinite seed, which only a watermark edited by hand
    -- can hold, has none: the batch's rows then take their commit times)
    FOR at IN SELECT min(w) FROM unnest(wanted) w WHERE isfinite(w) GROUP BY (bemi._partition_bounds(w)).lower LOOP
        PERFORM bemi._create_partition(at);
    END LOOP;
    created := (SELECT count(*) FROM pg_inherits i WHERE i.inhparent = 'bemi.changes'::regclass) - before;
    -- The run of adjacent partitions through now().
    WITH RECURSIVE run AS (
        SELECT p.lower, p.upper FROM bemi._trail_partitions() p WHERE now() >= p.lower AND now() < p.upper
        UNION ALL
        SELECT p.lower, p.upper FROM run r JOIN bemi._trail_partitions() p ON p.lower = r.upper
    )
    SELECT min(r.lower), max(r.upper) INTO covered_from, covered_to FROM run r;
END
$$;
COMMENT ON FUNCTION bemi._ensure_partitions(pg_catalog.timestamptz, pg_catalog.timestamptz[]) IS
    'Ingestion worker: creates the partitions of bemi.changes a batch and the next intervals need (call it in a short transaction of its own)';
REVOKE EXECUTE ON FUNCTION
    bemi._create_partition(pg_catalog.timestamptz),
    bemi._ensure_partitions(pg_catalog.timestamptz, pg_catalog.timestamptz[])
    FROM PUBLIC;
