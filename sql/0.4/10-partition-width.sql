-- The width and the names of the partitions of bemi.changes (docs/ingestion.md, "Partitions").

-- The width of new partitions: bemi.partition_interval (superuser only, default 1 day), a whole
-- number of minutes that divides a day, or a whole number of days. Bounds are multiples of it
-- from 1970-01-01 00:00 UTC, so every partition starts on a UTC boundary. Changing it affects
-- only partitions created afterwards (a new one is cut short where an existing one begins).
CREATE FUNCTION bemi._partition_interval()
    RETURNS pg_catalog.interval
    LANGUAGE plpgsql STABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    setting text := nullif(current_setting('bemi.partition_interval', true), '');
    width interval := coalesce(setting, '1 day')::interval;
    seconds numeric := extract(epoch FROM width);
BEGIN
    IF extract(month FROM width) <> 0 OR extract(year FROM width) <> 0 OR seconds < 60 OR seconds % 60 <> 0
       OR (86400 % seconds <> 0 AND seconds % 86400 <> 0) THEN
        RAISE EXCEPTION 'bemi.partition_interval "%" is not a whole number of minutes dividing a day, nor of days', setting
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'For example 1 day, 7 days, 6 hours or 1 minute.';
    END IF;
    RETURN make_interval(secs => seconds::float8);
END
$$;

-- The aligned partition that contains at: [lower, upper).
CREATE FUNCTION bemi._partition_bounds(at pg_catalog.timestamptz,
                                       OUT lower pg_catalog.timestamptz, OUT upper pg_catalog.timestamptz)
    LANGUAGE sql STABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
AS $$
    WITH w AS (SELECT extract(epoch FROM bemi._partition_interval()) AS seconds)
    SELECT to_timestamp((floor(extract(epoch FROM at) / w.seconds) * w.seconds)::float8),
           to_timestamp(((floor(extract(epoch FROM at) / w.seconds) + 1) * w.seconds)::float8)
      FROM w
$$;

-- A partition's name, from its lower bound in UTC: changes_pYYYYMMDD, with _HH24MI when it
-- does not start at midnight (bemi._partition_interval allows only whole minutes).
CREATE FUNCTION bemi._partition_name(lower pg_catalog.timestamptz)
    RETURNS pg_catalog.name
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT ('changes_p' || CASE WHEN (lower AT TIME ZONE 'UTC')::time = '00:00'
                                THEN to_char(lower AT TIME ZONE 'UTC', 'YYYYMMDD')
                                ELSE to_char(lower AT TIME ZONE 'UTC', 'YYYYMMDD"_"HH24MI') END)::name
$$;

REVOKE EXECUTE ON FUNCTION
    bemi._partition_interval(),
    bemi._partition_bounds(pg_catalog.timestamptz),
    bemi._partition_name(pg_catalog.timestamptz)
    FROM PUBLIC;
