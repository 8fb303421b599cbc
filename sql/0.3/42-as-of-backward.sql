-- AS OF backward from the live table (docs/time-travel.md, "Backward from the live table"): the
-- SQL half of src/pg/timetravel/as_of.cpp. The typed bemi.as_of (C) tries this path first; it
-- answers only when it can prove its answer equal to the forward one, else it rebuilds forward
-- (bemi._as_of_rows).

-- Rarely written (a value recorded through a fallback): tiny partial indexes let every backward
-- answer prove that none lies in its table's chain. By transaction: the changes of the
-- transactions a snapshot does not see (a handful, its xip).
CREATE INDEX changes_fallback_idx ON bemi.changes (schema, "table", capture) WHERE fallback IS NOT NULL;
CREATE INDEX baseline_rows_fallback_idx ON bemi.baseline_rows (baseline) WHERE fallback IS NOT NULL;
CREATE INDEX changes_transaction_idx ON bemi.changes (transaction_id);

CREATE FUNCTION bemi._tt_last_path()
    RETURNS text
    LANGUAGE c VOLATILE STRICT
    AS 'MODULE_PATHNAME', 'bemi_tt_last_path';
COMMENT ON FUNCTION bemi._tt_last_path() IS
    'Which path answered this backend''s last typed bemi.as_of: backward, or forward with the reason (tests and debugging)';

-- Step 1 (before the snapshot S): the permit, the instant's stability (as the forward path:
-- the same waits and ERRORs), and the key: forward names why this path does not apply, else
-- key_columns / key_types are the key's columns (as bemi.changes.primary_key renders them) and
-- how the C side parses a key text into each: int2, int4, int8, uuid (the text form is the
-- value) or text (text and varchar under a deterministic collation). Anything else: forward.
CREATE FUNCTION bemi._as_of_ready(token int8, rel regclass, until_ts timestamptz, until_pos pg_lsn,
                                  OUT forward text, OUT key_columns text[], OUT key_types text[])
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    c record;
    k record;
BEGIN
    PERFORM bemi._check_past_permit(token, rel);
    IF until_pos IS NULL THEN
        PERFORM bemi._tt_await(until_ts);
    ELSE
        PERFORM bemi._tt_await_position(until_pos);
    END IF;
    SELECT cl.relkind, cl.relispartition, cl.relreplident INTO c FROM pg_class cl WHERE cl.oid = rel;
    IF c.relkind <> 'r' THEN
        forward := 'not an ordinary table';
        RETURN;
    ELSIF c.relispartition THEN
        forward := 'a partition';
        RETURN;
    END IF;
    SELECT array_agg(a.attname::text ORDER BY x.n) AS cols,
           array_agg(CASE a.atttypid WHEN 'int2'::regtype THEN 'int2' WHEN 'int4'::regtype THEN 'int4'
                                     WHEN 'int8'::regtype THEN 'int8' WHEN 'uuid'::regtype THEN 'uuid'
                                     WHEN 'text'::regtype THEN 'text' WHEN 'varchar'::regtype THEN 'text' END
                     ORDER BY x.n) AS types,
           bool_and(coalesce((SELECT co.collisdeterministic FROM pg_collation co WHERE co.oid = a.attcollation), true)
                    AND coalesce((SELECT co.collisdeterministic FROM pg_collation co WHERE co.oid = x.coll), true)) AS det,
           count(*) AS n
      INTO k
      FROM pg_index i
     CROSS JOIN LATERAL unnest(i.indkey::int2[], i.indcollation::oid[]) WITH ORDINALITY AS x(attnum, coll, n)
      LEFT JOIN pg_attribute a ON a.attrelid = rel AND a.attnum = x.attnum
     WHERE i.indrelid = rel AND CASE c.relreplident WHEN 'i' THEN i.indisreplident ELSE i.indisprimary END;
    IF k.n IS NULL OR k.n = 0 OR array_position(k.types, NULL) IS NOT NULL OR array_position(k.cols, NULL) IS NOT NULL THEN
        forward := 'key type';
    ELSIF NOT k.det THEN
        forward := 'key collation';
    ELSE
        key_columns := k.cols;
        key_types := k.types;
    END IF;
END
$$;

-- Step 3: capture has stored every transaction whose commit record lies below wal_end (bemi.sync
-- flushes the WAL written before it and waits for the worker to store and acknowledge it;
-- wal_end was read before the call). false when it did not within bemi.time_travel_wait, or
-- could not wait at all: the forward path answers then.
CREATE FUNCTION bemi._tt_await_stored(wal_end pg_lsn)
    RETURNS boolean
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF wal_end IS NULL OR wal_end > pg_current_wal_insert_lsn() THEN
        RETURN false;
    END IF;
    RETURN bemi.sync(bemi._tt_wait());
EXCEPTION WHEN OTHERS THEN
    RETURN false;
END
$$;

-- The rows query of the forward path (bemi._tt_rows_sql) restricted to the keys $2 (text[]):
-- the chain's changes of those keys (as key or previous key) and its TRUNCATEs, the baseline's
-- rows of those keys, and only their rows. Every change of a key of $2 is in it, so each key's
-- last event is the forward path's. Built from the forward text so that both stay one query.
-- many: the baseline's rows are read in one pass and filtered by a hash of the keys (a few
-- thousand keys and more: cheaper than a probe per key), else one index probe per key (neither
-- needs statistics of bemi.baseline_rows to be chosen).
CREATE FUNCTION bemi._tt_rows_keys_sql(many boolean)
    RETURNS text
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    q text := bemi._tt_rows_sql();
    edits text[][] := ARRAY[
        ARRAY['AND (NULL::text IS NULL OR c.primary_key = NULL::text OR c.previous_primary_key = NULL::text)',
              'AND (c.operation = ''TRUNCATE'' OR c.primary_key = ANY ($2) OR c.previous_primary_key = ANY ($2))'],
        ARRAY['WHERE l.is_row', 'WHERE l.is_row AND l.key = ANY ($2)'],
        CASE WHEN many
             THEN ARRAY['WHERE b.baseline = ($1->>''baseline'')::uuid',
                        'WHERE b.baseline = ($1->>''baseline'')::uuid AND b.primary_key = ANY ($2)']
             ELSE ARRAY['FROM bemi.baseline_rows b',
                        'FROM unnest($2) AS kk(key) JOIN bemi.baseline_rows b ON b.primary_key = kk.key'] END];
    i int;
BEGIN
    FOR i IN 1 .. array_length(edits, 1) LOOP
        IF (length(q) - length(replace(q, edits[i][1], ''))) / length(edits[i][1]) <> 1 THEN
            RAISE EXCEPTION 'bemi: bemi._tt_rows_sql() changed: "%" is not in it exactly once', edits[i][1];
        END IF;
        q := replace(q, edits[i][1], edits[i][2]);
    END LOOP;
    RETURN q;
END
$$;

-- Step 4 (SECURITY DEFINER, after the wait: every statement's snapshot sees every stored batch
-- up to L). The first row is a header: primary_key NULL, fallback a jsonb string, 'backward'
-- or 'forward: <why>'. Then one row per key of K, with its row at the instant (NULL when it had
-- none). K: the keys (key or previous key) of the table's stored changes after the end of the
-- instant's prefix, and of its stored changes by the transactions invisible (64-bit ids: S's
-- xip, passed by the C side; more ids only make K larger, never wrong). The chain is the forward path's (bemi._tt_context: the same refusals, raised the same
-- way); forward whenever anything after the prefix is not a plain row change of the table in
-- the same capture, or the chain holds a value recorded through a fallback.
CREATE FUNCTION bemi._as_of_patch(token int8, rel regclass, until_ts timestamptz, until_pos pg_lsn, invisible int8[])
    RETURNS TABLE(primary_key text, "row" jsonb, fallback jsonb)
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    SET jit = off
    SET work_mem = '64MB'
AS $$
DECLARE
    ctx jsonb;
    cap uuid;
    ecp int8;
    eseq int4;
    last_seg jsonb;
    names jsonb;
    why text;
    ch record;
BEGIN
    PERFORM bemi._check_past_permit(token, rel);
    ctx := bemi._tt_context_live(rel, until_ts, (until_pos - '0/0'::pg_lsn)::int8);
    cap := (ctx->>'cap')::uuid;
    ecp := (ctx->>'ecp')::int8;
    eseq := (ctx->>'eseq')::int4;
    last_seg := ctx->'segs'->-1;
    SELECT jsonb_agg(DISTINCT jsonb_build_array(s->>'schema', s->>'table')) INTO names
      FROM jsonb_array_elements(ctx->'segs') s;

    IF cap IS DISTINCT FROM bemi._tt_current_capture() THEN
        why := 'capture restarted after the instant';
    ELSIF last_seg IS NULL OR (last_seg->>'tcp')::int8 <> 9223372036854775807
          OR NOT EXISTS (SELECT FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                          WHERE c.oid = rel AND n.nspname = last_seg->>'schema' AND c.relname = last_seg->>'table') THEN
        why := 'the table''s names changed';
    ELSIF EXISTS (SELECT FROM bemi.capture_history h
                   WHERE h.capture = cap
                     AND (h.event = 'capture_stopped'
                          OR (h.event = 'transaction_skipped' AND (h.gap_from - '0/0'::pg_lsn) > ecp))) THEN
        why := 'capture stopped or skipped a transaction after the instant';
    ELSIF EXISTS (SELECT FROM bemi.table_lineage e CROSS JOIN LATERAL bemi._place(e.id) p
                   WHERE e.relid = rel AND e.id > coalesce(bemi._tt_last_drop(rel), '00000000-0000-0000-0000-000000000000')
                     AND p.capture IS NOT NULL AND (p.capture, p.commit_position, p.seq) > (cap, ecp, eseq)) THEN
        why := 'a schema change or baseline after the instant';
    ELSIF EXISTS (SELECT FROM bemi.changes c
                   WHERE c.schema = 'bemi' AND c."table" = 'excluded_tables' AND c.capture = cap
                     AND (c.commit_position, c.seq) > (ecp, eseq)) THEN
        why := 'exclusions changed after the instant';
    ELSIF EXISTS (SELECT FROM bemi.changes c
                   WHERE c.fallback @> '[{"reason": "unstorable"}]' AND c.capture = cap
                     AND (c.commit_position, c.seq) > (ecp, eseq) AND c."table" = '') THEN
        why := 'a record of an unknown table could not be stored after the instant';
    ELSIF EXISTS (SELECT FROM bemi.baseline_rows b
                   WHERE b.baseline = (ctx->>'baseline')::uuid AND b.fallback IS NOT NULL)
          OR EXISTS (SELECT FROM jsonb_array_elements(names) nm
                      WHERE EXISTS (SELECT FROM bemi.changes c
                                     WHERE c.schema = nm->>0 AND c."table" = nm->>1 AND c.capture = cap
                                       AND c.fallback IS NOT NULL)) THEN
        why := 'a value recorded through a fallback';
    END IF;
    IF why IS NULL THEN
        -- the keys through a hash (DISTINCT in an aggregate would sort them)
        WITH c AS MATERIALIZED (
            SELECT c.operation, c.primary_key, c.previous_primary_key FROM bemi.changes c
                 WHERE c.schema = last_seg->>'schema' AND c."table" = last_seg->>'table' AND c.capture = cap
                   AND (c.commit_position, c.seq) > (ecp, eseq)
                UNION ALL
                SELECT c.operation, c.primary_key, c.previous_primary_key FROM bemi.changes c
                 WHERE c.transaction_id = ANY (invisible) AND c.capture = cap
                   AND names @> jsonb_build_array(jsonb_build_array(c.schema, c."table")))
        SELECT (SELECT bool_or(c.operation <> ALL (ARRAY['CREATE', 'UPDATE', 'DELETE']) OR c.primary_key IS NULL) FROM c) AS odd,
               (SELECT array_agg(k.key)
                  FROM (SELECT c.primary_key FROM c UNION SELECT c.previous_primary_key FROM c) AS k(key)
                 WHERE k.key IS NOT NULL) AS keys
          INTO ch;
        IF ch.odd THEN
            why := 'a TRUNCATE or a record without a key after the instant';
        END IF;
    END IF;
    IF why IS NOT NULL THEN
        RETURN QUERY SELECT NULL::text, NULL::jsonb, to_jsonb('forward: ' || why);
        RETURN;
    END IF;
    RETURN QUERY SELECT NULL::text, NULL::jsonb, to_jsonb('backward'::text);
    RETURN QUERY EXECUTE
        'SELECT k.key, r."row", r.fallback FROM unnest($2) AS k(key) LEFT JOIN ('
        || bemi._tt_rows_keys_sql(cardinality(ch.keys) >= 5000) || ') AS r(primary_key, "row", fallback) ON r.primary_key = k.key'
        USING ctx, coalesce(ch.keys, '{}'::text[]);
END
$$;

REVOKE EXECUTE ON FUNCTION
    bemi._tt_rows_keys_sql(boolean)
    FROM PUBLIC;
-- The C entry and the readers check a permit token (or read only the catalogs and the caller's
-- own backend); the wrappers call them as the caller.
GRANT EXECUTE ON FUNCTION
    bemi._tt_last_path(),
    bemi._as_of_ready(int8, regclass, timestamptz, pg_lsn),
    bemi._tt_await_stored(pg_lsn),
    bemi._as_of_patch(int8, regclass, timestamptz, pg_lsn, int8[])
    TO PUBLIC;
