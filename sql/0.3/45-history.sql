-- Versions and record history (docs/time-travel.md, "Public functions"; issue 7 section 2).
-- Built on the chain of 40-as-of.sql: bemi._tt_context (baseline, lineage, refusals) and
-- bemi._tt_changes (the relation's changes in order, in its current column names).

-- A record's history by key: the changes with that key or with a key it had or got through
-- key-changing UPDATEs (previous_primary_key) are found through the history index by key, and
-- this one by previous key (few rows: only UPDATEs that changed a key have one).
CREATE INDEX changes_previous_key_idx ON bemi.changes (schema, "table", previous_primary_key)
    WHERE previous_primary_key IS NOT NULL;

-- Every version of the chain's rows: a version begins at the effective_at of the change that
-- made it (a baseline row: at the baseline's anchor) and ends at the effective_at of the next
-- event of its key (a newer version, a DELETE, a key change away, a TRUNCATE of its table or
-- leaf); valid_to NULL: still valid at the end of the chain (the last stored change). A version no instant saw (ended in
-- the transaction or at the instant that made it) is left out.
CREATE FUNCTION bemi._tt_versions(ctx jsonb)
    RETURNS TABLE(primary_key text, valid_from timestamptz, valid_to timestamptz, change_id int8,
                  "row" jsonb, fallback jsonb)
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
    SET jit = off
    SET work_mem = '64MB'
AS $$
    WITH ch AS MATERIALIZED (
        SELECT * FROM bemi._tt_changes(ctx)
    ), ev AS (
        SELECT b.primary_key AS key, 'row' AS kind, -1::int8 AS cp, -1 AS sq, 1 AS sub, NULL::int8 AS change_id,
               (ctx->>'anchor_at')::timestamptz AS at, b.leaf_schema::text AS leaf_schema, b.leaf_table::text AS leaf_table,
               CASE WHEN (ctx->>'bident')::boolean THEN b."row"
                    ELSE (SELECT coalesce(jsonb_object_agg(ctx->'bmap'->>e.key, e.value), '{}')
                            FROM jsonb_each(b."row") e WHERE ctx->'bmap' ? e.key) END AS "row",
               NULL::text[] AS unchanged_toast,
               CASE WHEN b.fallback IS NOT NULL
                    THEN (SELECT jsonb_agg(f || jsonb_build_object('column', ctx->'bmap'->>(f->>'column')))
                            FROM jsonb_array_elements(b.fallback) f
                           WHERE coalesce(f->>'image', 'after') = 'after' AND ctx->'bmap' ? (f->>'column')) END AS fallback,
               NULL::text AS previous_primary_key
          FROM bemi.baseline_rows b
         WHERE b.baseline = (ctx->>'baseline')::uuid
        UNION ALL
        SELECT ch.primary_key, 'row', ch.commit_position, ch.seq, 1, ch.change_id,
               greatest(ch.effective_at, (ctx->>'anchor_at')::timestamptz), ch.leaf_schema, ch.leaf_table,
               ch."row", ch.unchanged_toast, ch.fallback, ch.previous_primary_key
          FROM ch WHERE ch.operation = ANY (ARRAY['CREATE', 'UPDATE'])
        UNION ALL
        SELECT ch.previous_primary_key, 'remove', ch.commit_position, ch.seq, 0, ch.change_id,
               greatest(ch.effective_at, (ctx->>'anchor_at')::timestamptz), ch.leaf_schema, ch.leaf_table,
               NULL, NULL, NULL, NULL
          FROM ch WHERE ch.operation = 'UPDATE' AND ch.previous_primary_key IS NOT NULL
                    AND ch.previous_primary_key <> ch.primary_key
        UNION ALL
        SELECT ch.primary_key, 'remove', ch.commit_position, ch.seq, 1, ch.change_id,
               greatest(ch.effective_at, (ctx->>'anchor_at')::timestamptz), ch.leaf_schema, ch.leaf_table,
               NULL, NULL, NULL, NULL
          FROM ch WHERE ch.operation = 'DELETE'
    ), tr AS (
        SELECT ch.own, ch.leaf_schema, ch.leaf_table, ch.commit_position AS cp, ch.seq AS sq,
               greatest(ch.effective_at, (ctx->>'anchor_at')::timestamptz) AS at
          FROM ch WHERE ch.operation = 'TRUNCATE'
    ), v AS (
        SELECT ev.*, lead(ev.at) OVER w AS next_at, lead(ev.cp) OVER w AS ncp, lead(ev.sq) OVER w AS nsq
          FROM ev
        WINDOW w AS (PARTITION BY ev.key ORDER BY ev.cp, ev.sq, ev.sub)
    ), bounded AS (
        SELECT v.*,
               coalesce((SELECT min(tr.at) FROM tr
                          WHERE (tr.cp, tr.sq) > (v.cp, v.sq)
                            AND (v.ncp IS NULL OR (tr.cp, tr.sq) < (v.ncp, v.nsq))
                            AND (tr.own OR (tr.leaf_schema, tr.leaf_table) = (v.leaf_schema, v.leaf_table))),
                        v.next_at) AS ends_at
          FROM v WHERE v.kind = 'row'
    )
    SELECT b.key, b.at, b.ends_at, b.change_id,
           CASE WHEN b.unchanged_toast IS NULL OR cardinality(b.unchanged_toast) = 0 THEN b."row"
                ELSE bemi._tt_fill_toast(ctx, b.key, b.previous_primary_key, b.cp, b.sq, b."row", b.unchanged_toast) END,
           b.fallback
      FROM bounded b
     WHERE b.ends_at IS NULL OR b.ends_at > b.at
$$;

-- Reader (SECURITY DEFINER): every version of rel's rows valid at some instant in
-- [from_time, to_time), for the holder of a permit token for rel. The chain starts at the
-- baseline in force at from_time (the first baseline when from_time is before it; for
-- -infinity, the earliest baseline whose chain is unbroken up to to_time) and ends at
-- the last change before to_time (to_time 'infinity': the last stored change, after waiting for
-- capture under READ COMMITTED).
CREATE FUNCTION bemi._versions_rows(token int8, rel regclass, from_time timestamptz, to_time timestamptz)
    RETURNS TABLE(primary_key text, valid_from timestamptz, valid_to timestamptz, change_id int8,
                  "row" jsonb, fallback jsonb)
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    SET jit = off
    SET work_mem = '64MB'
AS $$
DECLARE
    ctx jsonb;
    until timestamptz;
    bid uuid;
BEGIN
    PERFORM bemi._check_past_permit(token, rel);
    IF from_time IS NULL OR to_time IS NULL OR from_time >= to_time OR from_time = 'infinity' OR to_time = '-infinity' THEN
        RAISE EXCEPTION 'bemi: the interval [%, %) holds no instant', from_time, to_time
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Pass from_time < to_time (defaults: -infinity and infinity).';
    END IF;
    IF to_time = 'infinity' THEN
        IF current_setting('transaction_isolation') = 'read committed' THEN
            PERFORM bemi.sync(bemi._tt_wait());
        END IF;
        until := 'infinity';
    ELSE
        until := to_time - interval '1 microsecond';
        PERFORM bemi._tt_await(until);
    END IF;
    -- The chain runs past to_time when it can, so that a version still valid at to_time ends
    -- where it really ends (valid_to NULL only for a version still current); when the chain
    -- breaks after the window, it ends at to_time and valid_to NULL means "valid beyond it".
    IF until <> 'infinity' THEN
        BEGIN
            ctx := bemi._tt_context(rel, rel::text, bemi._tt_last_drop(rel), NULL, bemi._tt_columns_now(rel), true,
                                    'infinity', NULL, from_time);
        EXCEPTION WHEN object_not_in_prerequisite_state THEN
            ctx := NULL;
        END;
    END IF;
    IF ctx IS NULL AND from_time = '-infinity' THEN
        -- every version there is: from the earliest baseline whose chain reaches the end
        FOR bid IN
            SELECT bl.id FROM bemi.baselines bl
              JOIN bemi.table_lineage e ON e.id = bl.lineage
             CROSS JOIN LATERAL bemi._place(e.id) p
             WHERE bl.relid = rel AND e.id > coalesce(bemi._tt_last_drop(rel), '00000000-0000-0000-0000-000000000000'::uuid)
               AND p.capture IS NOT NULL
             ORDER BY p.capture, p.commit_position, p.seq
        LOOP
            BEGIN
                ctx := bemi._tt_context(rel, rel::text, bemi._tt_last_drop(rel), NULL, bemi._tt_columns_now(rel), true,
                                        until, NULL, NULL, bid);
                EXIT;
            EXCEPTION WHEN object_not_in_prerequisite_state THEN
                ctx := NULL;  -- its chain breaks before the end: try the next baseline
            END;
        END LOOP;
    END IF;
    IF ctx IS NULL THEN
        ctx := bemi._tt_context(rel, rel::text, bemi._tt_last_drop(rel), NULL, bemi._tt_columns_now(rel), true,
                                until, NULL, from_time);
    END IF;
    RETURN QUERY
        SELECT v.primary_key, v.valid_from, v.valid_to, v.change_id, v."row", v.fallback
          FROM bemi._tt_versions(ctx) v
         WHERE v.valid_from < to_time AND (v.valid_to IS NULL OR v.valid_to > from_time)
         ORDER BY v.primary_key, v.valid_from;
END
$$;

CREATE FUNCTION bemi.versions(rowtype anyelement, from_time timestamptz DEFAULT '-infinity',
                              to_time timestamptz DEFAULT 'infinity')
    RETURNS TABLE(primary_key text, valid_from timestamptz, valid_to timestamptz, change_id int8, "row" anyelement)
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    rel regclass := bemi._tt_rel_of_type(pg_typeof(rowtype)::regtype);
BEGIN
    PERFORM bemi._tt_check_table(rel);
    RETURN QUERY
        SELECT v.primary_key, v.valid_from, v.valid_to, v.change_id,
               jsonb_populate_record(CASE WHEN false THEN rowtype END, v."row")
          FROM bemi._versions_rows(bemi._past_permit(rel), rel, from_time, to_time) v
         WHERE v.fallback IS NULL OR bemi._tt_refuse_fallback(rel, v.primary_key, v.fallback);
END
$$;
COMMENT ON FUNCTION bemi.versions(anyelement, timestamptz, timestamptz) IS
    'Every version of the table''s rows valid at some instant in [from_time, to_time) (SQL:2011 FROM..TO), with valid_from / valid_to (NULL: still valid at the end), in the current row type';

-- A row of bemi.history(): the stored change (the columns of bemi.changes) and its diff.
CREATE TYPE bemi.history_entry AS (
    id int8, primary_key text, before jsonb, after jsonb, context jsonb, database text,
    schema text, "table" text, operation text, committed_at timestamptz, transaction_id int8,
    seq int4, "position" int8, commit_position int8, created_at timestamptz,
    previous_primary_key text, unchanged_toast text[], actor jsonb, fallback jsonb, capture uuid,
    root_schema text, root_table text, effective_at timestamptz,
    diff jsonb  -- {"col": [old, new]} of the columns the change changed; NULL when the old values are unknown
);
COMMENT ON TYPE bemi.history_entry IS
    'A row of bemi.history(): a stored change of the record (as in bemi.changes) and its diff';

-- Reader (SECURITY DEFINER): the changes of one record of rel, in commit order, following key
-- changes both ways (every key connected to it through previous_primary_key), each with a diff
-- {"col": [old, new]}: old values from the record's previous version where the change's own
-- "before" does not carry them (REPLICA IDENTITY DEFAULT).
--
-- plan_cache_mode: the statements' only parameters are rel and the keys, and every lookup is
-- driven by the segments it reads at run time, so a generic plan is as good as a custom one; without
-- it each of a session's first five calls plans every statement again (most of a call's time).
CREATE FUNCTION bemi._history_rows(token int8, rel regclass, key text)
    RETURNS SETOF bemi.history_entry
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    keys text[] := ARRAY[key];
    more text[];
    segs jsonb;
    r record;
    e bemi.history_entry;
    state jsonb;
BEGIN
    PERFORM bemi._check_past_permit(token, rel);
    IF key IS NULL THEN
        RAISE EXCEPTION 'bemi: the key must not be NULL'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Pass the key as bemi.changes.primary_key writes it: "26", or "[1,\"a\"]" for several columns.';
    END IF;
    -- The names rel's records carry, place range by place range, over every capture: each
    -- stored lineage entry of its incarnation (after its last drop) from its place to the next
    -- one's; the first from its place when it is rel's `created` entry (before it, records
    -- under that name are another table's: one dropped or renamed away), else from the start
    -- (rel existed before its lineage began); without any entry, its current names throughout.
    WITH ents AS (
        SELECT le.schema::text AS schema, le."table"::text AS "table", le.event, p.capture, p.commit_position, p.seq
          FROM bemi.table_lineage le
         CROSS JOIN LATERAL (SELECT c.capture, c.commit_position, c.seq FROM bemi.changes c
                              WHERE c.schema = 'bemi' AND c."table" = 'table_lineage'
                                AND c.primary_key = le.id::text AND c.operation = 'CREATE'
                              ORDER BY c.capture, c.commit_position, c.seq LIMIT 1) p
         WHERE le.relid = rel
           AND le.id > coalesce((SELECT d.id FROM bemi.table_lineage d WHERE d.relid = rel AND d.event = 'dropped'
                                 ORDER BY d.id DESC LIMIT 1), '00000000-0000-0000-0000-000000000000'::uuid)
    ), seg AS (
        SELECT ents.*, row_number() OVER w AS n,
               lead(ents.capture) OVER w AS ncap, lead(ents.commit_position) OVER w AS ncp, lead(ents.seq) OVER w AS nseq
          FROM ents
        WINDOW w AS (ORDER BY ents.capture, ents.commit_position, ents.seq)
    )
    SELECT jsonb_agg(jsonb_build_object(
               'schema', x.schema, 'table', x."table", 'fcap', x.fcap, 'fcp', x.fcp, 'fseq', x.fseq,
               'tcap', x.tcap, 'tcp', x.tcp, 'tseq', x.tseq))
      INTO segs
      FROM (SELECT s.schema, s."table",
                   CASE WHEN s.n = 1 AND s.event <> 'created' THEN '00000000-0000-0000-0000-000000000000'::uuid
                        ELSE s.capture END AS fcap,
                   CASE WHEN s.n = 1 AND s.event <> 'created' THEN -1 ELSE s.commit_position END AS fcp,
                   CASE WHEN s.n = 1 AND s.event <> 'created' THEN -1 ELSE s.seq END AS fseq,
                   coalesce(s.ncap, 'ffffffff-ffff-ffff-ffff-ffffffffffff'::uuid) AS tcap,
                   coalesce(s.ncp, 9223372036854775807) AS tcp, coalesce(s.nseq, 2147483647) AS tseq
              FROM seg s
            UNION ALL
            SELECT n.nspname::text, c.relname::text,
                   '00000000-0000-0000-0000-000000000000'::uuid, -1, -1,
                   'ffffffff-ffff-ffff-ffff-ffffffffffff'::uuid, 9223372036854775807, 2147483647
              FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE c.oid = rel AND NOT EXISTS (SELECT FROM ents)) x;
    LOOP
        SELECT array_agg(DISTINCT x.k) INTO more
          FROM jsonb_to_recordset(segs) AS g(schema text, "table" text, fcap uuid, fcp int8, fseq int4,
                                             tcap uuid, tcp int8, tseq int4)
         CROSS JOIN LATERAL (
            -- (OFFSET 0: found by key through the history indexes, then kept by place)
            SELECT c.previous_primary_key AS k
              FROM (SELECT c.* FROM bemi.changes c
                     WHERE c.schema = g.schema AND c."table" = g."table" AND c.primary_key = ANY (keys)
                       AND c.previous_primary_key IS NOT NULL OFFSET 0) c
             WHERE (c.capture, c.commit_position, c.seq) >= (g.fcap, g.fcp, g.fseq)
               AND (c.capture, c.commit_position, c.seq) < (g.tcap, g.tcp, g.tseq)
            UNION ALL
            SELECT c.primary_key
              FROM (SELECT c.* FROM bemi.changes c
                     WHERE c.schema = g.schema AND c."table" = g."table" AND c.previous_primary_key = ANY (keys)
                     OFFSET 0) c
             WHERE (c.capture, c.commit_position, c.seq) >= (g.fcap, g.fcp, g.fseq)
               AND (c.capture, c.commit_position, c.seq) < (g.tcap, g.tcp, g.tseq)
            UNION ALL
            SELECT CASE WHEN c.primary_key = ANY (keys) THEN c.previous_primary_key ELSE c.primary_key END
              FROM bemi.changes c
             WHERE c.root_schema = g.schema AND c.root_table = g."table" AND c.root_table IS NOT NULL
               AND (c.primary_key = ANY (keys) OR c.previous_primary_key = ANY (keys))
               AND c.previous_primary_key IS NOT NULL
               AND (c.capture, c.commit_position, c.seq) >= (g.fcap, g.fcp, g.fseq)
               AND (c.capture, c.commit_position, c.seq) < (g.tcap, g.tcp, g.tseq)
         ) x
         WHERE x.k IS NOT NULL AND x.k <> ALL (keys);
        EXIT WHEN more IS NULL;
        keys := keys || more;
    END LOOP;

    -- The record's changes in order; the diff of each against the record's state before it
    -- (carried from change to change: an UPDATE's "after" lacks unchanged TOAST values, and under
    -- REPLICA IDENTITY DEFAULT its "before" is empty). A record's history is short: a loop.
    FOR r IN
        SELECT c.*
          FROM jsonb_to_recordset(segs) AS g(schema text, "table" text, fcap uuid, fcp int8, fseq int4,
                                             tcap uuid, tcp int8, tseq int4)
         CROSS JOIN LATERAL (
            SELECT c.*
              FROM (SELECT c.* FROM bemi.changes c
                     WHERE c.schema = g.schema AND c."table" = g."table" AND c.primary_key = ANY (keys) OFFSET 0) c
             WHERE (c.capture, c.commit_position, c.seq) >= (g.fcap, g.fcp, g.fseq)
               AND (c.capture, c.commit_position, c.seq) < (g.tcap, g.tcp, g.tseq)
            UNION ALL
            SELECT c.* FROM bemi.changes c
             WHERE c.root_schema = g.schema AND c.root_table = g."table" AND c.root_table IS NOT NULL
               AND c.primary_key = ANY (keys)
               AND (c.capture, c.commit_position, c.seq) >= (g.fcap, g.fcp, g.fseq)
               AND (c.capture, c.commit_position, c.seq) < (g.tcap, g.tcp, g.tseq)
         ) c
         ORDER BY c.capture, c.commit_position, c.seq
    LOOP
        e := ROW(r.id, r.primary_key, r.before, r.after, r.context, r.database, r.schema, r."table", r.operation,
                 r.committed_at, r.transaction_id, r.seq, r."position", r.commit_position, r.created_at,
                 r.previous_primary_key, r.unchanged_toast, r.actor, r.fallback, r.capture,
                 r.root_schema, r.root_table, r.effective_at, NULL)::bemi.history_entry;
        CASE r.operation
            WHEN 'CREATE' THEN
                e.diff := bemi.diff('{}'::jsonb, r.after);
                state := r.after;
            WHEN 'UPDATE' THEN
                IF state IS NULL AND r.before = '{}'::jsonb THEN
                    e.diff := NULL;  -- nothing known of the values before
                ELSIF state IS NULL THEN
                    e.diff := bemi.diff(r.before, (SELECT coalesce(jsonb_object_agg(a.key, a.value), '{}'::jsonb)
                                                     FROM jsonb_each(r.after) a WHERE r.before ? a.key));
                ELSE
                    e.diff := bemi.diff(state || r.before, state || r.after)
                              - coalesce(r.unchanged_toast, '{}'::text[]);
                END IF;
                state := CASE WHEN state IS NULL AND r.unchanged_toast IS NOT NULL THEN NULL
                              ELSE coalesce(state, '{}'::jsonb) || r.after END;
            WHEN 'DELETE' THEN
                e.diff := bemi.diff(coalesce(state, '{}'::jsonb) || r.before, '{}'::jsonb);
                state := NULL;
            ELSE
                e.diff := '{}'::jsonb;
        END CASE;
        RETURN NEXT e;
    END LOOP;
END
$$;

CREATE FUNCTION bemi.history(rel regclass, primary_key text)
    RETURNS SETOF bemi.history_entry
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    SET plan_cache_mode = force_generic_plan  -- (as bemi._history_rows)
AS $$
BEGIN
    -- (the permit refuses what is not a table; a record's history needs no more)
    RETURN QUERY SELECT * FROM bemi._history_rows(bemi._past_permit(rel), rel, $2);
END
$$;
COMMENT ON FUNCTION bemi.history(regclass, text) IS
    'The stored changes of one record (by its key as bemi.changes writes it), in commit order, following key changes both ways, each with a diff';

-- The key of a row as the plugin writes it (docs/record-format.md, "primary_key"): the replica
-- identity index's columns, else the primary key's, rendered as the plugin renders values.
CREATE FUNCTION bemi._tt_key_of(rel regclass, r jsonb)
    RETURNS text
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
    WITH k AS (
        SELECT a.attname::text AS name, x.n
          FROM pg_class c
          JOIN pg_index i ON i.indrelid = c.oid
                         AND CASE c.relreplident WHEN 'i' THEN i.indisreplident ELSE i.indisprimary END
         CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS x(attnum, n)
          JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = x.attnum
         WHERE c.oid = rel
    )
    SELECT CASE WHEN count(*) = 1 THEN min(r->k.name #>> '{}')  -- one column: the value's text
                ELSE '[' || string_agg(coalesce(r->k.name, 'null')::text, ',' ORDER BY k.n) || ']' END
      FROM k
$$;

CREATE FUNCTION bemi.history(row_value anyelement)
    RETURNS SETOF bemi.history_entry
    LANGUAGE plpgsql VOLATILE
    -- the key's values rendered as the plugin renders them (docs/record-format.md)
    SET search_path = pg_catalog, pg_temp
    SET TimeZone = 'UTC'
    SET DateStyle = 'ISO'
    SET IntervalStyle = 'postgres'
    SET extra_float_digits = 1
    SET bytea_output = 'hex'
AS $$
DECLARE
    rel regclass := bemi._tt_rel_of_type(pg_typeof(row_value)::regtype);
    key text;
BEGIN
    PERFORM bemi._tt_check_table(rel);
    key := bemi._tt_key_of(rel, to_jsonb(row_value));
    RETURN QUERY SELECT * FROM bemi.history(rel, key);
END
$$;
COMMENT ON FUNCTION bemi.history(anyelement) IS
    'The stored changes of the record this row is (found by its key), in commit order, following key changes both ways, each with a diff';

REVOKE EXECUTE ON FUNCTION
    bemi._tt_versions(jsonb)
    FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    bemi._versions_rows(int8, regclass, timestamptz, timestamptz),
    bemi._history_rows(int8, regclass, text),
    bemi._tt_key_of(regclass, jsonb),
    bemi.versions(anyelement, timestamptz, timestamptz),
    bemi.history(regclass, text),
    bemi.history(anyelement)
    TO PUBLIC;
