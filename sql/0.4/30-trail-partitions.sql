-- The partitions of bemi.changes and their bounds: what retention reads (docs/ingestion.md,
-- "Partitions").

-- Every range partition of bemi.changes in order, with its bounds: lower -infinity for the one
-- that starts at MINVALUE (the trail stored before 0.4). The default partition is not listed.
-- Bounds are read from the catalog as PostgreSQL prints them, under a fixed time zone.
CREATE FUNCTION bemi._trail_partitions()
    RETURNS TABLE (partition pg_catalog.regclass, lower pg_catalog.timestamptz, upper pg_catalog.timestamptz)
    LANGUAGE sql STABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
    SET TimeZone = 'UTC'
    SET DateStyle = 'ISO, YMD'
AS $$
    SELECT c.oid::regclass,
           CASE WHEN b[1] = 'MINVALUE' THEN '-infinity' ELSE btrim(b[1], '''') END::timestamptz,
           CASE WHEN b[2] = 'MAXVALUE' THEN 'infinity' ELSE btrim(b[2], '''') END::timestamptz
      FROM pg_inherits i
      JOIN pg_class c ON c.oid = i.inhrelid
     CROSS JOIN LATERAL regexp_match(pg_get_expr(c.relpartbound, c.oid),
                                     '^FOR VALUES FROM \((.*)\) TO \((.*)\)$') AS b
     WHERE i.inhparent = 'bemi.changes'::regclass
       AND b IS NOT NULL
     ORDER BY 2
$$;
COMMENT ON FUNCTION bemi._trail_partitions() IS
    'The range partitions of bemi.changes with their bounds [lower, upper), in order (the default partition is not listed)';

REVOKE EXECUTE ON FUNCTION bemi._trail_partitions() FROM PUBLIC;
