-- Baselines (docs/time-travel.md, "Baselines"): where a table's history starts. A `created`
-- baseline (snapshot NULL) comes with each table created while bemi is installed; a snapshot
-- baseline is a copy of the table's rows taken by bemi.backfill(regclass).

CREATE TABLE bemi.baselines (
    id        pg_catalog.uuid PRIMARY KEY DEFAULT bemi._time_ordered_uuid(),
    relid     pg_catalog.oid NOT NULL,
    schema    pg_catalog.name NOT NULL,
    "table"   pg_catalog.name NOT NULL,
    snapshot  pg_catalog.pg_snapshot,
    lineage   pg_catalog.uuid NOT NULL,
    taken_at  pg_catalog.timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    row_count pg_catalog.int8 NOT NULL DEFAULT 0
);
CREATE INDEX baselines_relid_idx ON bemi.baselines (relid, id);
CREATE UNIQUE INDEX baselines_lineage_idx ON bemi.baselines (lineage);
ALTER TABLE bemi.baselines REPLICA IDENTITY FULL;
COMMENT ON TABLE bemi.baselines IS
    'Baselines: where a table''s history starts (created: empty at its CREATE TABLE; backfill: a copy under a snapshot)';
COMMENT ON COLUMN bemi.baselines.snapshot IS
    'The snapshot the rows were read under; NULL for a created baseline. Changes of transactions not visible in it come after the rows';
COMMENT ON COLUMN bemi.baselines.lineage IS 'Its lineage entry (bemi.table_lineage.id): its place in the order is the anchor';
COMMENT ON COLUMN bemi.baselines.row_count IS 'Rows copied into bemi.baseline_rows';

-- Never captured: the plugin skips this table by name (a baseline's rows are not changes).
CREATE TABLE bemi.baseline_rows (
    baseline    pg_catalog.uuid NOT NULL,
    primary_key pg_catalog.text NOT NULL,
    leaf_schema pg_catalog.name NOT NULL,
    leaf_table  pg_catalog.name NOT NULL,
    "row"       pg_catalog.jsonb NOT NULL,
    fallback    pg_catalog.jsonb,
    PRIMARY KEY (baseline, primary_key)
);
COMMENT ON TABLE bemi.baseline_rows IS
    'Rows of snapshot baselines, as the plugin writes them (docs/record-format.md); not captured';
COMMENT ON COLUMN bemi.baseline_rows.primary_key IS 'The row''s key as the plugin writes it';
COMMENT ON COLUMN bemi.baseline_rows.leaf_schema IS 'Schema of the partition holding the row (the table itself when not partitioned)';
COMMENT ON COLUMN bemi.baseline_rows.leaf_table IS 'The partition holding the row (the table itself when not partitioned)';
COMMENT ON COLUMN bemi.baseline_rows."row" IS 'The row as an "after" image';
COMMENT ON COLUMN bemi.baseline_rows.fallback IS 'Values written in a substitute form (as the record''s fallback, image "after"); NULL when every value is exact';

SELECT pg_catalog.pg_extension_config_dump('bemi.baselines', '');
SELECT pg_catalog.pg_extension_config_dump('bemi.baseline_rows', '');
REVOKE ALL ON TABLE bemi.baselines, bemi.baseline_rows FROM PUBLIC;
GRANT SELECT ON TABLE bemi.baselines TO bemi_reader;

-- The json casts rendering a type the way to_jsonb() does would run, as the plugin decides it
-- (json_casts_in and classify in src/pg/decode/relation_cache.cpp): 0 none, 1 only trusted ones,
-- 2 some untrusted one. A cast is trusted when its function is built in, or when the function
-- and the cast's source type both belong to superusers.
CREATE FUNCTION bemi._json_cast_use(typid pg_catalog.oid, depth pg_catalog.int4 DEFAULT 0)
    RETURNS pg_catalog.int4
    LANGUAGE plpgsql STABLE STRICT
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    base oid := typid;
    t record;
    use int4 := 0;
    f record;
    castfunc oid;
BEGIN
    IF depth > 16 THEN
        RETURN 2;  -- absurd nesting: be careful rather than fast
    END IF;
    LOOP  -- a domain follows its base type
        SELECT ty.typtype, ty.typbasetype, ty.typelem, ty.typrelid, ty.typowner,
               ty.typsubscript = 'pg_catalog.array_subscript_handler'::regproc AS is_array
          INTO t FROM pg_type ty WHERE ty.oid = base;
        IF NOT FOUND THEN
            RETURN 2;
        END IF;
        EXIT WHEN t.typtype <> 'd';
        base := t.typbasetype;
    END LOOP;
    IF t.is_array AND t.typelem <> 0 THEN
        RETURN bemi._json_cast_use(t.typelem, depth + 1);
    END IF;
    IF base = 'pg_catalog.record'::regtype THEN
        RETURN 2;  -- fields unknown until run time
    END IF;
    IF t.typtype = 'c' THEN
        FOR f IN SELECT a.atttypid FROM pg_attribute a
                  WHERE a.attrelid = t.typrelid AND a.attnum > 0 AND NOT a.attisdropped LOOP
            use := greatest(use, bemi._json_cast_use(f.atttypid, depth + 1));
            EXIT WHEN use = 2;
        END LOOP;
        RETURN use;
    END IF;
    IF base < 16384 THEN
        RETURN 0;
    END IF;
    SELECT c.castfunc INTO castfunc FROM pg_cast c
     WHERE c.castsource = base AND c.casttarget = 'pg_catalog.json'::regtype AND c.castmethod = 'f';
    IF castfunc IS NULL OR castfunc = 0 THEN
        RETURN 0;
    END IF;
    IF castfunc < 16384 AND (SELECT p.pronamespace FROM pg_proc p WHERE p.oid = castfunc) = 'pg_catalog'::regnamespace THEN
        RETURN 1;
    END IF;
    RETURN CASE WHEN coalesce((SELECT r.rolsuper FROM pg_proc p JOIN pg_roles r ON r.oid = p.proowner
                                WHERE p.oid = castfunc), false)
                     AND coalesce((SELECT r.rolsuper FROM pg_roles r WHERE r.oid = t.typowner), false)
                THEN 1 ELSE 2 END;
END
$$;

-- Does a pattern of bemi.excluded_tables match schema.table? The syntax of the plugin's
-- exclude-tables (include/bemi/table_filter.hpp): split at the first unescaped dot, '*'
-- matches any characters, '\' escapes the next one.
CREATE FUNCTION bemi._pattern_matches(pattern pg_catalog.text, schema_name pg_catalog.text,
                                      table_name pg_catalog.text)
    RETURNS pg_catalog.bool
    LANGUAGE plpgsql IMMUTABLE STRICT
    SET search_path = pg_catalog, pg_temp
    SET standard_conforming_strings = on  -- the backslashes below are literal
AS $$
DECLARE
    parts text[] := ARRAY['', ''];
    part int := 1;
    i int := 1;
    ch text;
BEGIN
    pattern := btrim(pattern, E' \t');
    WHILE i <= length(pattern) LOOP
        ch := substr(pattern, i, 1);
        IF ch = '\' AND i < length(pattern) THEN
            i := i + 1;
            parts[part] := parts[part] || regexp_replace(substr(pattern, i, 1), '([^A-Za-z0-9_])', '\\\1', 'g');
        ELSIF ch = '*' THEN
            parts[part] := parts[part] || '.*';
        ELSIF ch = '.' AND part = 1 THEN
            part := 2;
        ELSE
            parts[part] := parts[part] || regexp_replace(ch, '([^A-Za-z0-9_])', '\\\1', 'g');
        END IF;
        i := i + 1;
    END LOOP;
    RETURN part = 2 AND schema_name ~ ('^(?:' || parts[1] || ')$') AND table_name ~ ('^(?:' || parts[2] || ')$');
END
$$;

-- The pattern of bemi.excluded_tables that excludes the relation (by its own names or, for a
-- partition, its root's), NULL when none does.
CREATE FUNCTION bemi._exclusion_of(rel pg_catalog.regclass)
    RETURNS pg_catalog.text
    LANGUAGE sql STABLE STRICT
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT e.pattern
      FROM bemi.excluded_tables e,
           (SELECT n.nspname::text AS s, c.relname::text AS t
              FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE c.oid = rel
                OR c.oid = (SELECT a.relid FROM pg_partition_ancestors(rel) a
                             JOIN pg_class ac ON ac.oid = a.relid
                            WHERE NOT ac.relispartition LIMIT 1)) names
     WHERE bemi._pattern_matches(e.pattern, names.s, names.t)
     ORDER BY e.pattern
     LIMIT 1
$$;

-- One value of the slow path of bemi.backfill, as the plugin writes it when the value needs a
-- substitute: [value, reason] (reason NULL when exact). untrusted: the output function's text
-- (untrusted_cast); a trusted cast that raises: the text (cast_failed); json text jsonb
-- refuses (\u0000, a number beyond numeric): the json text as a string (json_not_jsonb).
CREATE FUNCTION bemi._backfill_value(v anyelement, untrusted pg_catalog.bool)
    RETURNS pg_catalog.jsonb
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    j text;
BEGIN
    IF num_nulls(v) = 1 THEN
        RETURN '[null, null]';
    END IF;
    IF untrusted THEN
        RETURN jsonb_build_array(format('%s', v), 'untrusted_cast');
    END IF;
    BEGIN
        j := to_json(v)::text;
    EXCEPTION WHEN OTHERS THEN
        IF bemi._retry_later(SQLSTATE) OR bemi._stalls(SQLSTATE) THEN
            RAISE;
        END IF;
        RETURN jsonb_build_array(format('%s', v), 'cast_failed');
    END;
    BEGIN
        RETURN jsonb_build_array(j::jsonb, NULL);
    EXCEPTION WHEN OTHERS THEN
        IF bemi._retry_later(SQLSTATE) OR bemi._stalls(SQLSTATE) THEN
            RAISE;
        END IF;
        RETURN jsonb_build_array(j, 'json_not_jsonb');
    END;
END
$$;

-- bemi.backfill(regclass): a snapshot baseline of a table (docs/time-travel.md, "Baselines").
--
-- Reads every row under one snapshot S in one statement, S = pg_current_snapshot() of that
-- statement (under READ COMMITTED the statement's snapshot, under REPEATABLE READ and
-- SERIALIZABLE the transaction's: either works). The caller's own transaction counts as
-- visible in S: what it wrote to the table before the call is in the copy; it must not write
-- the table after the call in the same transaction (those changes would be taken as already
-- copied). Capture must have started before S: the capture_started (or gap) event of the
-- current capture must be visible to S, so every transaction S does not see commits after the
-- slot's consistent point and is captured.
CREATE FUNCTION bemi.backfill(rel pg_catalog.regclass)
    RETURNS pg_catalog.uuid
    LANGUAGE plpgsql VOLATILE STRICT
    SET search_path = pg_catalog, pg_temp
    SET TimeZone = 'UTC'
    SET DateStyle = 'ISO'
    SET IntervalStyle = 'postgres'
    SET extra_float_digits = 1
    SET bytea_output = 'hex'
    SET lc_monetary = 'C'
AS $$
DECLARE
    cls record;
    cap record;
    key_names text[];
    pattern text;
    cols record;
    row_parts text[] := '{}';
    fallback_parts text[] := '{}';
    key_fallback_parts text[] := '{}';
    any_untrusted bool := false;
    row_expr text;
    fallback_expr text;
    key_expr text;
    baseline_id uuid := bemi._time_ordered_uuid();
    entry uuid;
    snap pg_snapshot;
    n int8;
    odd text;
    slow_values text[] := '{}';
    fast_inner text;
    slow_inner text;
    copy_sql text;
    state text;
BEGIN
    IF NOT (SELECT r.rolsuper FROM pg_roles r WHERE r.rolname = current_user) THEN
        RAISE EXCEPTION 'permission denied to backfill a baseline of %', rel
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'Only a superuser may run bemi.backfill: it reads every row of the table.';
    END IF;
    SELECT c.relkind, c.relpersistence, n.nspname, c.relname INTO cls
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = rel;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'relation with OID % does not exist', rel::oid USING ERRCODE = 'undefined_table';
    END IF;
    IF cls.relkind NOT IN ('r', 'p') THEN
        RAISE EXCEPTION '"%" is not a table', rel
            USING ERRCODE = 'wrong_object_type',
                  HINT = 'bemi.backfill takes an ordinary or partitioned table; views, materialized views, foreign tables and sequences have no captured history.';
    END IF;
    IF cls.relpersistence = 't' THEN
        RAISE EXCEPTION '"%" is a temporary table', rel
            USING ERRCODE = 'wrong_object_type',
                  HINT = 'Changes of temporary tables are not captured: they have no history to start.';
    END IF;
    IF cls.relpersistence = 'u' THEN
        RAISE EXCEPTION '"%" is an unlogged table', rel
            USING ERRCODE = 'wrong_object_type',
                  HINT = 'Changes of unlogged tables are not in the WAL and are not captured (ALTER TABLE ... SET LOGGED first).';
    END IF;
    IF cls.nspname IN ('pg_catalog', 'information_schema', 'pg_toast', 'bemi') THEN
        RAISE EXCEPTION '"%" is a system or bemi table', rel
            USING ERRCODE = 'wrong_object_type',
                  HINT = 'Baselines are for user tables.';
    END IF;
    pattern := bemi._exclusion_of(rel);
    IF pattern IS NOT NULL THEN
        RAISE EXCEPTION '"%" is excluded from capture', rel
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = format('It matches the pattern %L of bemi.excluded_tables.', pattern),
                  HINT = 'Remove the exclusion (DELETE FROM bemi.excluded_tables) before taking a baseline.';
    END IF;
    key_names := bemi._lineage_key(rel);
    IF key_names IS NULL THEN
        RAISE EXCEPTION '"%" has no primary key or replica identity index', rel
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Rows are told apart by their key: add a primary key (or REPLICA IDENTITY USING INDEX) first.';
    END IF;
    -- Every partition must name its rows by the same key (the plugin takes each leaf's own).
    SELECT string_agg(pt.relid::regclass::text, ', ') INTO odd
      FROM pg_partition_tree(rel) pt JOIN pg_class c ON c.oid = pt.relid
     WHERE c.relkind = 'r' AND bemi._lineage_key(pt.relid) IS DISTINCT FROM key_names;
    IF odd IS NOT NULL THEN
        RAISE EXCEPTION 'partitions of "%" have another key than it: %', rel, odd
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Give every partition the same primary key or replica identity index as the partitioned table.';
    END IF;
    -- Capture must have started, and still run, in this database.
    SELECT h.event, h.capture, h.slot_name INTO cap FROM bemi._own_capture_history h
     WHERE h.event IN ('capture_started', 'gap', 'capture_stopped')
     ORDER BY h.id DESC LIMIT 1;
    IF NOT FOUND OR cap.event = 'capture_stopped'
       OR NOT EXISTS (SELECT FROM pg_replication_slots s
                       WHERE s.slot_name = cap.slot_name AND s.database = current_database()) THEN
        RAISE EXCEPTION 'bemi capture has not started in this database'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = CASE WHEN NOT FOUND THEN 'bemi.capture_history has no capture of this database visible to this transaction.'
                                WHEN cap.event = 'capture_stopped' THEN 'The replication slot was lost (capture_stopped).'
                                ELSE format('The replication slot "%s" does not exist.', cap.slot_name) END,
                  HINT = 'A baseline must be taken after capture starts: wait until bemi.status shows a capture_start (SELECT bemi.sync()), then call bemi.backfill in a new transaction.';
    END IF;

    -- Keep DDL out until the copy commits; read the columns after the lock.
    EXECUTE format('LOCK TABLE %s IN ACCESS SHARE MODE', rel);
    FOR cols IN
        SELECT a.attname::text AS name, a.atttypid, bemi._json_cast_use(a.atttypid) = 2 AS untrusted,
               a.attname::text = ANY (key_names) AS in_key
          FROM pg_attribute a WHERE a.attrelid = rel AND a.attnum > 0 AND NOT a.attisdropped
         ORDER BY a.attnum
    LOOP
        slow_values := slow_values || format('(%s, %L, bemi._backfill_value(t.%I, %L), true, ''after'')',
                                             cardinality(slow_values) + 1000000, cols.name, cols.name, cols.untrusted);
        IF cols.untrusted THEN
            any_untrusted := true;
            -- The output function's text (format's %s), never a cast.
            row_parts := row_parts || format('%L, CASE WHEN pg_catalog.num_nulls(t.%I) = 1 THEN NULL ELSE pg_catalog.format(''%%s'', t.%I) END',
                                             cols.name, cols.name, cols.name);
            fallback_parts := fallback_parts || format(
                'CASE WHEN pg_catalog.num_nulls(t.%I) = 0 THEN pg_catalog.jsonb_build_object(''image'', ''after'', ''column'', %L, ''reason'', ''untrusted_cast'') END',
                cols.name, cols.name);
        ELSE
            row_parts := row_parts || format('%L, t.%I', cols.name, cols.name);
        END IF;
    END LOOP;
    -- Key columns that fall back come first, in key order (as the record lists them).
    SELECT coalesce(array_agg(format(
               'pg_catalog.jsonb_build_object(''image'', ''primary_key'', ''column'', %L, ''reason'', ''untrusted_cast'')', k.name)
               ORDER BY k.i), '{}')
      INTO key_fallback_parts
      FROM unnest(key_names) WITH ORDINALITY k(name, i)
      JOIN pg_attribute a ON a.attrelid = rel AND a.attname = k.name
     WHERE bemi._json_cast_use(a.atttypid) = 2;
    IF any_untrusted THEN
        -- jsonb_build_object takes at most 100 arguments: 50 columns per call.
        SELECT string_agg('pg_catalog.jsonb_build_object(' || array_to_string(row_parts[g * 50 + 1:g * 50 + 50], ', ') || ')',
                          ' OPERATOR(pg_catalog.||) ' ORDER BY g)
          INTO row_expr
          FROM generate_series(0, (cardinality(row_parts) - 1) / 50) g;
        fallback_expr := format('(SELECT pg_catalog.jsonb_agg(v.e ORDER BY v.n) FROM (VALUES %s) v(n, e) WHERE v.e IS NOT NULL)',
                                (SELECT string_agg(format('(%s, %s)', x.n, x.e), ', ' ORDER BY x.n)
                                   FROM unnest(key_fallback_parts || fallback_parts) WITH ORDINALITY x(e, n)));
    ELSE
        row_expr := 'pg_catalog.to_jsonb(t)';
        fallback_expr := 'NULL::pg_catalog.jsonb';
    END IF;
    -- Key columns written in a substitute form are listed first (image primary_key).
    slow_values := slow_values || ARRAY(
        SELECT format('(%s, %L, bemi._backfill_value(t.%I, %L), false, ''primary_key'')',
                      k.i, k.name, k.name, bemi._json_cast_use(a.atttypid) = 2)
          FROM unnest(key_names) WITH ORDINALITY k(name, i)
          JOIN pg_attribute a ON a.attrelid = rel AND a.attname = k.name
         ORDER BY k.i);
    -- The key as the plugin writes it: one column's value as text (a JSON string unquoted),
    -- several as a compact JSON array in index order.
    IF cardinality(key_names) = 1 THEN
        key_expr := format('x.r OPERATOR(pg_catalog.->>) %L', key_names[1]);
    ELSE
        key_expr := '''['' OPERATOR(pg_catalog.||) pg_catalog.concat_ws('','', '
                    || (SELECT string_agg(format('(x.r OPERATOR(pg_catalog.->) %L)::pg_catalog.text', k), ', ')
                          FROM unnest(key_names) k)
                    || ') OPERATOR(pg_catalog.||) '']''';
    END IF;

    -- One statement: S and the read share its snapshot. The fast path renders rows with
    -- to_jsonb; if a value needs a substitute form (a trusted cast that raises, json that jsonb
    -- refuses) it fails, and the slow path renders every value apart (bemi._backfill_value).
    copy_sql := 'WITH s AS MATERIALIZED (SELECT pg_catalog.pg_current_snapshot() AS snap),
              copied AS (
                INSERT INTO bemi.baseline_rows (baseline, primary_key, leaf_schema, leaf_table, "row", fallback)
                SELECT $1, ' || key_expr || ', ln.nspname, lc.relname, x.r, x.f
                  FROM (%s) x
                  JOIN pg_catalog.pg_class lc ON lc.oid OPERATOR(pg_catalog.=) x.leaf
                  JOIN pg_catalog.pg_namespace ln ON ln.oid OPERATOR(pg_catalog.=) lc.relnamespace
                RETURNING 1)
         SELECT (SELECT s.snap FROM s), (SELECT pg_catalog.count(*) FROM copied)';
    fast_inner := format('SELECT t.tableoid AS leaf, %s AS r, %s AS f FROM %s t', row_expr, fallback_expr, rel);
    slow_inner := format(
        'SELECT t.tableoid AS leaf, v.r, v.f FROM %s t,
         LATERAL (SELECT coalesce(pg_catalog.jsonb_object_agg(c.k, c.p OPERATOR(pg_catalog.->) 0)
                                               FILTER (WHERE c.in_row), ''{}''::pg_catalog.jsonb) AS r,
                         pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(''image'', c.img, ''column'', c.k,
                                                                            ''reason'', c.p OPERATOR(pg_catalog.->>) 1)
                                              ORDER BY c.n)
                             FILTER (WHERE c.p OPERATOR(pg_catalog.->>) 1 IS NOT NULL) AS f
                    FROM (VALUES %s) c(n, k, p, in_row, img)) v',
        rel, array_to_string(slow_values, ', '));
    BEGIN
        EXECUTE format(copy_sql, fast_inner) INTO snap, n USING baseline_id;
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE;
        IF bemi._retry_later(state) OR bemi._stalls(state) THEN
            RAISE;
        END IF;
        EXECUTE format(copy_sql, slow_inner) INTO snap, n USING baseline_id;
    END;

    -- Capture started before S (checked above against an earlier or the same snapshot).
    entry := bemi._lineage_note(rel, 'baseline');
    -- The partitions under it the lineage has not seen get a first entry (not a break: they are
    -- as the copy shows them), so that detaching one later is seen.
    INSERT INTO bemi.table_lineage (relid, event, schema, "table", columns, key, parent, breaks_history, detail)
    SELECT pt.relid, 'altered', n.nspname, c.relname, bemi._lineage_columns(pt.relid), bemi._lineage_key(pt.relid),
           bemi._lineage_parent(pt.relid), false, format('first entry: a partition of %s at its baseline', rel)
      FROM pg_partition_tree(rel) pt
      JOIN pg_class c ON c.oid = pt.relid JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE pt.relid <> rel::oid AND bemi._lineage_follows(pt.relid)
       AND NOT EXISTS (SELECT FROM bemi._lineage_latest(pt.relid))
     ORDER BY pt.level, pt.relid;
    INSERT INTO bemi.baselines (id, relid, schema, "table", snapshot, lineage, row_count)
    VALUES (baseline_id, rel, cls.nspname, cls.relname, snap, entry, n);
    RETURN baseline_id;
END
$$;
COMMENT ON FUNCTION bemi.backfill(pg_catalog.regclass) IS
    'Superuser only: copies the table''s rows, as the plugin writes them, into a baseline under one snapshot; returns the baseline''s id';

-- Is there a baseline the history of the relation can start from in the current capture: one
-- whose anchor is stored in the current capture, with no entry breaking the history after it?
CREATE FUNCTION bemi._has_usable_baseline(rel pg_catalog.oid)
    RETURNS pg_catalog.bool
    LANGUAGE sql STABLE STRICT
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT EXISTS (
        SELECT FROM bemi.baselines b
          JOIN bemi.table_lineage l ON l.id = b.lineage
         WHERE b.relid = rel
           AND (bemi._place(b.lineage)).capture = (SELECT h.capture FROM bemi._own_capture_history h
                                                    WHERE h.event IN ('capture_started', 'gap')
                                                    ORDER BY h.id DESC LIMIT 1)
           AND NOT EXISTS (SELECT FROM bemi.table_lineage later
                            WHERE later.relid = rel AND later.id > l.id
                              AND (later.breaks_history OR later.event = 'dropped')))
$$;

-- bemi.backfill_all(): a baseline of every user table that has none usable: ordinary and
-- partitioned tables (a partitioned table whole, not its partitions one by one), not bemi's
-- own, not temporary or unlogged, not excluded, with a key. Returns the tables it baselined;
-- tables it cannot baseline are named in a NOTICE.
CREATE FUNCTION bemi.backfill_all()
    RETURNS SETOF pg_catalog.regclass
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r record;
BEGIN
    IF NOT (SELECT ro.rolsuper FROM pg_roles ro WHERE ro.rolname = current_user) THEN
        RAISE EXCEPTION 'permission denied to backfill baselines'
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'Only a superuser may run bemi.backfill_all: it reads every row of every table.';
    END IF;
    -- Lineage entries committed before the call are then stored and have their place.
    PERFORM bemi.sync();
    FOR r IN
        SELECT c.oid::regclass AS rel
          FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
           AND bemi._lineage_follows(c.oid)
         ORDER BY n.nspname, c.relname
    LOOP
        CONTINUE WHEN bemi._has_usable_baseline(r.rel);
        IF bemi._exclusion_of(r.rel) IS NOT NULL THEN
            RAISE NOTICE '% is excluded from capture: skipped', r.rel;
            CONTINUE;
        END IF;
        IF bemi._lineage_key(r.rel) IS NULL THEN
            RAISE NOTICE '% has no primary key or replica identity index: skipped', r.rel;
            CONTINUE;
        END IF;
        PERFORM bemi.backfill(r.rel);
        RETURN NEXT r.rel;
    END LOOP;
END
$$;
COMMENT ON FUNCTION bemi.backfill_all() IS
    'Superuser only: bemi.backfill of every user table without a usable baseline; returns the tables baselined';

REVOKE EXECUTE ON FUNCTION
    bemi._json_cast_use(pg_catalog.oid, pg_catalog.int4),
    bemi._backfill_value(anyelement, pg_catalog.bool),
    bemi._pattern_matches(pg_catalog.text, pg_catalog.text, pg_catalog.text),
    bemi._exclusion_of(pg_catalog.regclass),
    bemi.backfill(pg_catalog.regclass),
    bemi._has_usable_baseline(pg_catalog.oid),
    bemi.backfill_all()
    FROM PUBLIC;
