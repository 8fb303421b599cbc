-- Revert and restore (docs/time-travel.md, "Revert and restore"). Both compute a plan of ordinary
-- DML steps and apply it with the caller's privileges, inside the caller's transaction; the DML
-- is captured like any other, with the caller's context plus a marker ("bemi_revert" /
-- "bemi_restore") naming what was reverted or restored.
--
-- Pieces:
-- - bemi._revert_tables (SECURITY DEFINER): the tables the selected changes touched (names only);
-- - bemi._revert_trail (SECURITY DEFINER, needs the caller's permit for the table): the selected
--   changes of one table, each with its full before image (reconstructed from the row's
--   previous version under REPLICA IDENTITY DEFAULT) or the reason it is unknown;
-- - bemi._apply_plan (SECURITY INVOKER): checks and applies the steps in order, locking each
--   row it checks (FOR UPDATE), collects the conflicts, and rolls everything back on a
--   conflict (unless skip_conflicts) or when dry_run;
-- - bemi.revert, bemi.restore, bemi.restore_tables (SECURITY INVOKER): the public entries.

-- TRUNCATE records of a table in a range of the order: a revert checks, for each reconstructed
-- before image, that no TRUNCATE came between the row's previous version and the change. Rare
-- rows, so a small partial index.
CREATE INDEX changes_truncate_idx ON bemi.changes (schema, "table", capture, commit_position, seq)
    WHERE operation = 'TRUNCATE';

-- Key columns of a table, in index order: the replica identity index under REPLICA IDENTITY
-- USING INDEX, otherwise the primary key (the columns the record's primary_key is made of).
CREATE FUNCTION bemi._key_columns(rel pg_catalog.regclass)
    RETURNS pg_catalog.text[]
    LANGUAGE sql STABLE STRICT
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT array_agg(a.attname::text ORDER BY k.ord)
      FROM pg_class c
      JOIN pg_index i ON i.indrelid = c.oid
       AND CASE WHEN c.relreplident = 'i' THEN i.indisreplident ELSE i.indisprimary END
     CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
      JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum
     WHERE c.oid = rel
$$;

-- The changes a revert selects, each with the relation it belongs to now (docs/time-travel.md,
-- "Tables and their names over time"): a record belongs to the relation whose names were in
-- force at its place in the order -- the latest bemi.table_lineage entry carrying the record's
-- names (for a partition: its root's) placed before it -- and its columns map to that
-- relation's current names through the entry's attnums. A table without lineage entries (made
-- before 0.3) is found by its name now, columns compared by name. Changes of bemi's own tables
-- (lineage entries, exclusions, ...) are never reverted. relid NULL: the table is gone.
-- (Positional parameters: in a SQL function a column named like a parameter would win.)
CREATE FUNCTION bemi._revert_selected(transaction_ids pg_catalog.int8[], context pg_catalog.jsonb,
                                      from_time pg_catalog.timestamptz, to_time pg_catalog.timestamptz)
    RETURNS TABLE(change_id pg_catalog.int8, capture pg_catalog.uuid, schema pg_catalog.text, "table" pg_catalog.text,
                  relid pg_catalog.oid, column_map pg_catalog.jsonb)
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- Built for the selectors given, so that each uses its index (the GIN index on context, the
    -- index on committed_at): a generic plan of "$2 IS NULL OR context @> $2" scans everything.
    RETURN QUERY EXECUTE format($q$
    SELECT c.id, c.capture, coalesce(c.root_schema, c.schema), coalesce(c.root_table, c."table"),
           CASE WHEN l.relid IS NULL THEN to_regclass(format('%%I.%%I', coalesce(c.root_schema, c.schema),
                                                               coalesce(c.root_table, c."table")))::oid
                WHEN l.event = 'dropped' OR NOT EXISTS (SELECT FROM pg_class k WHERE k.oid = l.relid) THEN NULL
                ELSE l.relid END,
           CASE WHEN l.relid IS NOT NULL THEN
               (SELECT coalesce(jsonb_object_agg(col->>'name', a.attname::text), '{}')
                  FROM jsonb_array_elements(coalesce(l.columns, '[]')) col
                  JOIN pg_attribute a ON a.attrelid = l.relid AND a.attnum = (col->>'attnum')::int2 AND NOT a.attisdropped)
           END
      FROM bemi.changes c
      LEFT JOIN LATERAL (
            SELECT e.relid, e.event, e.columns
              FROM bemi.table_lineage e
              JOIN bemi.changes pl ON pl.schema = 'bemi' AND pl."table" = 'table_lineage'
                                  AND pl.primary_key = e.id::text AND pl.operation = 'CREATE'
             WHERE e.schema = coalesce(c.root_schema, c.schema) AND e."table" = coalesce(c.root_table, c."table")
               AND (pl.capture, pl.commit_position, pl.seq) < (c.capture, c.commit_position, c.seq)
             ORDER BY pl.capture DESC, pl.commit_position DESC, pl.seq DESC
             LIMIT 1) l ON true
     WHERE c.schema <> 'bemi' %s
    $q$, concat_ws(' ', CASE WHEN $1 IS NOT NULL THEN 'AND c.transaction_id = ANY ($1)' END,
                        CASE WHEN $2 IS NOT NULL THEN 'AND c.context @> $2' END,
                        CASE WHEN $3 IS NOT NULL THEN 'AND c.committed_at >= $3' END,
                        CASE WHEN $4 IS NOT NULL THEN 'AND c.committed_at < $4' END))
        USING $1, $2, $3, $4;
END
$$;

REVOKE EXECUTE ON FUNCTION bemi._revert_selected(pg_catalog.int8[], pg_catalog.jsonb, pg_catalog.timestamptz,
                                                 pg_catalog.timestamptz) FROM PUBLIC;

-- The tables of the selected changes: names and relation only (reading the changes themselves
-- needs the permit of each table: bemi._revert_trail).
CREATE FUNCTION bemi._revert_tables(transaction_ids pg_catalog.int8[], context pg_catalog.jsonb,
                                    from_time pg_catalog.timestamptz, to_time pg_catalog.timestamptz)
    RETURNS TABLE(schema pg_catalog.text, "table" pg_catalog.text, relid pg_catalog.oid, captures pg_catalog.int8)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT min(s.schema), min(s."table"), s.relid, count(DISTINCT s.capture)
      FROM bemi._revert_selected($1, $2, $3, $4) s
     GROUP BY s.relid, CASE WHEN s.relid IS NULL THEN s.schema || '.' || s."table" END
     ORDER BY 1, 2
$$;

-- The selected changes of one table, newest first, with what the inverse needs:
-- before_image: the whole row before the change (UPDATE, DELETE), from the record when the WAL
-- carried it (REPLICA IDENTITY FULL), otherwise reconstructed from the row's previous version in
-- the same capture (its after image, unchanged TOAST values filled from older versions,
-- following key changes), the record's own before values winning; NULL with `problem` saying why
-- when that is impossible. For a TRUNCATE, prior_position: the stored commit just before its
-- transaction (the state to re-insert is as of there). Checks the caller's permit for rel.
CREATE FUNCTION bemi._revert_trail(token pg_catalog.int8, rel pg_catalog.regclass,
                                   transaction_ids pg_catalog.int8[], context pg_catalog.jsonb,
                                   from_time pg_catalog.timestamptz, to_time pg_catalog.timestamptz)
    RETURNS TABLE(id pg_catalog.int8, capture pg_catalog.uuid, commit_position pg_catalog.int8,
                  seq pg_catalog.int4, transaction_id pg_catalog.int8, operation pg_catalog.text,
                  primary_key pg_catalog.text, previous_primary_key pg_catalog.text,
                  after pg_catalog.jsonb, unchanged_toast pg_catalog.text[], fallback pg_catalog.jsonb,
                  before_image pg_catalog.jsonb, prior_position pg_catalog.int8, problem pg_catalog.text)
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    rel_schema text;
    rel_table text;
    current_columns text[];
    c bemi.changes;
    p bemi.changes;
    img jsonb;
    missing text[];
    cur_key text;
    at_position int8;
    at_seq int4;
    steps int;
    sr record;
    brow record;
    cmap jsonb;
BEGIN
    PERFORM bemi._check_past_permit(token, rel);
    SELECT n.nspname, k.relname INTO rel_schema, rel_table
      FROM pg_class k JOIN pg_namespace n ON n.oid = k.relnamespace WHERE k.oid = rel;
    SELECT array_agg(a.attname::text) INTO current_columns
      FROM pg_attribute a WHERE a.attrelid = rel AND a.attnum > 0 AND NOT a.attisdropped;

    FOR sr IN
        SELECT x AS ch, sel.column_map
          FROM bemi._revert_selected(_revert_trail.transaction_ids, _revert_trail.context, from_time, to_time) sel
          JOIN bemi.changes x ON x.id = sel.change_id
         WHERE sel.relid = rel
         ORDER BY x.capture DESC, x.commit_position DESC, x.seq DESC
    LOOP
        c := sr.ch;
        cmap := sr.column_map;
        id := c.id; capture := c.capture; commit_position := c.commit_position; seq := c.seq;
        transaction_id := c.transaction_id; operation := c.operation; primary_key := c.primary_key;
        previous_primary_key := c.previous_primary_key; after := c.after;
        unchanged_toast := c.unchanged_toast; fallback := c.fallback;
        before_image := NULL; prior_position := NULL; problem := NULL;

        IF c.fallback @> '[{"reason": "unstorable"}]' OR c.operation = 'UNKNOWN' THEN
            problem := 'the record could not be stored (marker row): its change is unknown';
        ELSIF c.operation = 'TRUNCATE' THEN
            IF c.root_table IS NOT NULL OR (SELECT k.relkind FROM pg_class k WHERE k.oid = rel) = 'p' THEN
                problem := 'a TRUNCATE of a partitioned table or of a partition is not reverted: bring the table back with bemi.restore_tables';
            ELSIF EXISTS (SELECT FROM bemi.changes y
                        WHERE y.capture = c.capture AND y.commit_position = c.commit_position
                          AND y.seq < c.seq AND y.schema = c.schema AND y."table" = c."table") THEN
                problem := 'the table was changed earlier in the TRUNCATE''s own transaction: the rows it removed are not known';
            ELSE
                SELECT max(y.commit_position) INTO prior_position FROM bemi.changes y
                 WHERE y.capture = c.capture AND y.commit_position < c.commit_position;
                IF prior_position IS NULL THEN
                    problem := 'no stored transaction before the TRUNCATE in its capture: the rows it removed are not known';
                END IF;
            END IF;
        ELSIF c.operation IN ('UPDATE', 'DELETE') THEN
            -- The record's before image is whole when it has every column (REPLICA IDENTITY FULL):
            -- for an UPDATE every column of its after image and its unchanged TOAST columns; for
            -- a DELETE every column the table has now.
            IF (c.operation = 'UPDATE'
                AND (SELECT array_agg(k) FROM jsonb_object_keys(c.after) k) || coalesce(c.unchanged_toast, '{}')
                    <@ (SELECT coalesce(array_agg(k), '{}') FROM jsonb_object_keys(c.before) k))
               OR (c.operation = 'DELETE'
                   AND current_columns <@ (SELECT coalesce(array_agg(CASE WHEN cmap IS NULL THEN k ELSE cmap->>k END), '{}')
                                             FROM jsonb_object_keys(c.before) k)) THEN
                before_image := c.before;
            ELSE
                -- Walk back through the row's earlier versions in the same capture.
                img := NULL;
                missing := NULL;
                cur_key := CASE WHEN c.operation = 'UPDATE' THEN coalesce(c.previous_primary_key, c.primary_key)
                                ELSE c.primary_key END;
                at_position := c.commit_position;
                at_seq := c.seq;
                steps := 0;
                LOOP
                    steps := steps + 1;
                    IF cur_key IS NULL OR steps > 10000 THEN
                        problem := 'before image unknown: the record has no key';
                        EXIT;
                    END IF;
                    -- The latest earlier record of the key (by the index on schema, table, key;
                    -- for a partition: in any leaf of its root). A record that moved the key
                    -- away would have to be followed by one that brought it back, found first.
                    IF c.root_table IS NULL THEN
                        -- (OFFSET 0: the key's records by the index on schema, table, key; never a
                        -- walk back through the table's whole order)
                        SELECT * INTO p FROM (SELECT * FROM bemi.changes z
                                               WHERE z.schema = c.schema AND z."table" = c."table" AND z.primary_key = cur_key
                                              OFFSET 0) y
                         WHERE y.capture = c.capture AND (y.commit_position, y.seq) < (at_position, at_seq)
                         ORDER BY y.commit_position DESC, y.seq DESC
                         LIMIT 1;
                    ELSE
                        SELECT * INTO p FROM (SELECT * FROM bemi.changes z
                                               WHERE (z.schema, z."table") IN (SELECT ns.nspname::text, k.relname::text
                                                                                FROM pg_partition_tree(rel) pt
                                                                                JOIN pg_class k ON k.oid = pt.relid
                                                                                JOIN pg_namespace ns ON ns.oid = k.relnamespace
                                                                               WHERE pt.isleaf)
                                                 AND z.primary_key = cur_key
                                              OFFSET 0) y
                         WHERE y.root_schema = c.root_schema AND y.root_table = c.root_table
                           AND y.capture = c.capture AND (y.commit_position, y.seq) < (at_position, at_seq)
                         ORDER BY y.commit_position DESC, y.seq DESC
                         LIMIT 1;
                    END IF;
                    IF NOT FOUND THEN
                        -- Older than the trail: the row in the relation's latest snapshot baseline
                        -- (bemi.backfill) anchored before the change in the same capture.
                        SELECT br."row", br.fallback INTO brow
                          FROM bemi.baselines b
                         CROSS JOIN LATERAL bemi._place(b.lineage) pl
                          JOIN bemi.baseline_rows br ON br.baseline = b.id AND br.primary_key = cur_key
                         WHERE b.relid = rel AND b.snapshot IS NOT NULL AND pl.capture = c.capture
                           AND (pl.commit_position, pl.seq) < (c.commit_position, c.seq)
                         ORDER BY pl.commit_position DESC, pl.seq DESC
                         LIMIT 1;
                        IF brow."row" IS NULL THEN
                            problem := 'before image unknown: no earlier version of the row in the trail or a baseline (REPLICA IDENTITY DEFAULT; the row predates capture: bemi.backfill)';
                        ELSIF brow.fallback IS NOT NULL THEN
                            problem := 'before image unknown: the row''s baseline copy holds values recorded through a fallback';
                        ELSE
                            img := CASE WHEN img IS NULL THEN brow."row" ELSE brow."row" || img END;
                        END IF;
                        EXIT;
                    END IF;
                    IF EXISTS (SELECT FROM bemi.changes y
                                WHERE y.operation = 'TRUNCATE' AND y.capture = c.capture
                                  AND ((y.schema = coalesce(c.root_schema, c.schema) AND y."table" = coalesce(c.root_table, c."table"))
                                       OR (y.schema = c.schema AND y."table" = c."table"))
                                  AND (y.commit_position, y.seq) > (p.commit_position, p.seq)
                                  AND (y.commit_position, y.seq) < (at_position, at_seq)) THEN
                        problem := 'before image unknown: the table was truncated after the row''s previous version';
                        EXIT;
                    END IF;
                    IF p.operation NOT IN ('CREATE', 'UPDATE') OR p.primary_key IS DISTINCT FROM cur_key THEN
                        problem := format('before image unknown: the row''s previous change (%s, id %s) leaves no row with this key',
                                          p.operation, p.id);
                        EXIT;
                    END IF;
                    IF p.fallback IS NOT NULL THEN
                        problem := format('before image unknown: the row''s previous version (change %s) holds values recorded through a fallback', p.id);
                        EXIT;
                    END IF;
                    IF img IS NULL THEN
                        img := p.after;
                        missing := coalesce(p.unchanged_toast, '{}');
                    ELSE
                        img := p.after || img;
                        missing := ARRAY(SELECT m FROM unnest(missing) m WHERE NOT img ? m);
                        missing := missing || ARRAY(SELECT m FROM unnest(coalesce(p.unchanged_toast, '{}')) m
                                                     WHERE NOT img ? m AND m <> ALL (missing));
                    END IF;
                    EXIT WHEN cardinality(missing) = 0;
                    cur_key := coalesce(p.previous_primary_key, p.primary_key);
                    at_position := p.commit_position;
                    at_seq := p.seq;
                END LOOP;
                IF problem IS NULL THEN
                    before_image := img || c.before;
                END IF;
            END IF;
        END IF;
        -- The images in the relation's current column names (a column dropped since is left out).
        IF cmap IS NOT NULL THEN
            after := (SELECT coalesce(jsonb_object_agg(cmap->>e.key, e.value), '{}') FROM jsonb_each(after) e WHERE cmap ? e.key);
            before_image := (SELECT coalesce(jsonb_object_agg(cmap->>e.key, e.value), '{}') FROM jsonb_each(before_image) e WHERE cmap ? e.key);
            unchanged_toast := ARRAY(SELECT cmap->>u FROM unnest(unchanged_toast) u WHERE cmap ? u);
        END IF;
        RETURN NEXT;
    END LOOP;
END
$$;

-- Checks and applies a plan: a jsonb array of steps, in order, each
--   {"change_id", "rel" (oid), "primary_key", "action": DELETE | UPDATE | INSERT,
--    "key" (image holding the current key columns), "expect" (image the row must match; for an
--    INSERT the row must be absent), "target" (image to write), "conflict" (known beforehand)}.
-- Returns one row per step; a step whose check fails is not applied and says why. When any
-- step conflicts and not skip_conflicts, raises an ERROR whose DETAIL lists every conflict; when
-- dry_run, every step is undone. The DML runs with the caller's privileges under the caller's
-- context plus the marker (transaction-local, restored when the function returns: the SET
-- clause on bemi.context), with the settings the record format's values are written under, so
-- to_jsonb of the current row compares exactly with the recorded images.
CREATE FUNCTION bemi._apply_plan(plan pg_catalog.jsonb, skip_conflicts pg_catalog.bool, dry_run pg_catalog.bool,
                                 run_context pg_catalog.jsonb, what pg_catalog.text)
    RETURNS TABLE(change_id pg_catalog.int8, schema pg_catalog.text, "table" pg_catalog.text,
                  primary_key pg_catalog.text, action pg_catalog.text, conflict pg_catalog.text)
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    SET bemi.context = ''
    SET TimeZone = 'UTC'
    SET DateStyle = 'ISO'
    SET IntervalStyle = 'postgres'
    SET extra_float_digits = 1
    SET bytea_output = 'hex'
    SET lc_monetary = 'C'
AS $$
DECLARE
    step jsonb;
    rel regclass;
    keys text[];
    key_match text;
    cur jsonb;
    differs text;
    cols text[];
    results jsonb[] := '{}';
    affected int8;
    conflicts text[] := '{}';
    result_conflict text;
    rel_schema text;
    rel_table text;
BEGIN
    -- The caller must be allowed every statement of the plan: the row checks lock rows
    -- (FOR UPDATE needs UPDATE), DELETE / UPDATE / INSERT each their own privilege.
    FOR rel, rel_schema IN
        SELECT DISTINCT (s->>'rel')::oid::regclass, p.priv
          FROM jsonb_array_elements(plan) s,
               LATERAL unnest(CASE s->>'action' WHEN 'DELETE' THEN ARRAY['SELECT', 'UPDATE', 'DELETE']
                                                WHEN 'UPDATE' THEN ARRAY['SELECT', 'UPDATE']
                                                ELSE ARRAY['SELECT', 'INSERT'] END) p(priv)
         ORDER BY 1, 2
    LOOP
        IF NOT has_table_privilege(rel, rel_schema) THEN
            RAISE EXCEPTION 'permission denied: % needs % on table %', what, rel_schema, rel
                USING ERRCODE = 'insufficient_privilege',
                      HINT = 'It runs with your privileges: a role may revert or restore only a table it may SELECT and write (INSERT, UPDATE, DELETE as the plan needs; row locks need UPDATE).';
        END IF;
    END LOOP;
    PERFORM bemi.set_context(run_context, true);
    BEGIN
        FOR step IN SELECT s FROM jsonb_array_elements(plan) s LOOP
            rel := (step->>'rel')::oid::regclass;
            SELECT n.nspname, k.relname INTO rel_schema, rel_table
              FROM pg_class k JOIN pg_namespace n ON n.oid = k.relnamespace WHERE k.oid = rel;
            result_conflict := step->>'conflict';
            IF result_conflict IS NULL THEN
                keys := bemi._key_columns(rel);
                IF keys IS NULL THEN
                    RAISE EXCEPTION 'bemi: table % has no primary key or replica identity index', rel
                        USING ERRCODE = 'object_not_in_prerequisite_state',
                              HINT = 'bemi tells rows apart by their key: add a primary key.';
                END IF;
                IF NOT (step->'key') ?& keys THEN
                    result_conflict := format('the record lacks key column(s) %s of the table now',
                                              array_to_string(ARRAY(SELECT k FROM unnest(keys) k WHERE NOT (step->'key') ? k), ', '));
                END IF;
            END IF;
            IF result_conflict IS NULL THEN
                key_match := (SELECT string_agg(format('t.%1$I = r.%1$I', k), ' AND ') FROM unnest(keys) k);
                EXECUTE format('SELECT to_jsonb(t.*) FROM %s t, jsonb_populate_record(NULL::%s, $1) r WHERE %s FOR UPDATE OF t',
                               rel, rel, key_match)
                   INTO cur USING step->'key';
                IF step->>'action' = 'INSERT' THEN
                    IF cur IS NOT NULL THEN
                        result_conflict := 'a row with this key exists';
                    END IF;
                ELSIF cur IS NULL THEN
                    result_conflict := 'the row no longer exists';
                ELSE
                    -- Compare the columns the table has now with what the change left (columns the
                    -- image lacks: dropped or renamed since, or unchanged TOAST: not compared).
                    SELECT string_agg(format('%s is %s, the change left %s', e.key,
                                             left((cur -> e.key)::text, 60), left(e.value::text, 60)), '; ' ORDER BY e.key)
                      INTO differs
                      FROM jsonb_each(step->'expect') e
                     WHERE cur ? e.key AND (cur -> e.key) IS DISTINCT FROM e.value;
                    IF differs IS NOT NULL THEN
                        result_conflict := 'the row differs from what the change left: ' || differs;
                    END IF;
                END IF;
            END IF;
            IF result_conflict IS NULL THEN
                BEGIN
                    IF step->>'action' = 'DELETE' THEN
                        EXECUTE format('DELETE FROM %s t USING jsonb_populate_record(NULL::%s, $1) r WHERE %s', rel, rel, key_match)
                           USING step->'key';
                    ELSIF step->>'action' = 'UPDATE' THEN
                        -- Only the columns whose value changes; never generated columns.
                        SELECT array_agg(a.attname::text ORDER BY a.attnum) INTO cols
                          FROM pg_attribute a
                         WHERE a.attrelid = rel AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
                           AND (step->'target') ? a.attname
                           AND (cur -> a.attname::text) IS DISTINCT FROM (step->'target' -> a.attname::text);
                        IF cols IS NOT NULL THEN
                            EXECUTE format('UPDATE %s t SET (%s) = ROW(%s) FROM jsonb_populate_record(NULL::%s, $1) r, jsonb_populate_record(NULL::%s, $2) v WHERE %s',
                                           rel,
                                           (SELECT string_agg(format('%I', c), ', ') FROM unnest(cols) c),
                                           (SELECT string_agg(format('v.%I', c), ', ') FROM unnest(cols) c),
                                           rel, rel, key_match)
                               USING step->'key', step->'target';
                        END IF;
                    ELSIF step->>'action' = 'INSERT' THEN
                        SELECT array_agg(a.attname::text ORDER BY a.attnum) INTO cols
                          FROM pg_attribute a
                         WHERE a.attrelid = rel AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
                           AND (step->'target') ? a.attname;
                        EXECUTE format('INSERT INTO %s (%s) OVERRIDING SYSTEM VALUE SELECT %s FROM jsonb_populate_record(NULL::%s, $1) v',
                                       rel,
                                       (SELECT string_agg(format('%I', c), ', ') FROM unnest(cols) c),
                                       (SELECT string_agg(format('v.%I', c), ', ') FROM unnest(cols) c),
                                       rel)
                           USING step->'target';
                    END IF;
                    GET DIAGNOSTICS affected = ROW_COUNT;
                    IF affected <> 1 AND NOT (step->>'action' = 'UPDATE' AND cols IS NULL) THEN
                        -- A BEFORE trigger that returns NULL, or a policy: say so, never pretend.
                        RAISE EXCEPTION USING ERRCODE = 'BEMIA', MESSAGE = format('the %s changed %s rows, not 1 (a trigger or policy intervened)', step->>'action', affected);
                    END IF;
                EXCEPTION WHEN integrity_constraint_violation OR SQLSTATE 'BEMIA' THEN
                    result_conflict := SQLERRM;
                END;
            END IF;
            IF result_conflict IS NOT NULL THEN
                conflicts := conflicts || format('%s.%s key %s (change %s, %s): %s', rel_schema, rel_table,
                                                 coalesce(step->>'primary_key', 'NULL'), coalesce(step->>'change_id', '-'),
                                                 step->>'action', result_conflict);
            END IF;
            results := results || jsonb_build_object(
                'change_id', step->'change_id', 'schema', rel_schema, 'table', rel_table,
                'primary_key', step->'primary_key', 'action', step->'action', 'conflict', result_conflict);
        END LOOP;
        IF cardinality(conflicts) > 0 AND NOT skip_conflicts THEN
            RAISE EXCEPTION 'bemi: % has % conflict(s); nothing was changed', what, cardinality(conflicts)
                USING ERRCODE = 'serialization_failure',
                      DETAIL = array_to_string(conflicts, E'\n'),
                      HINT = 'Each row must still be what the change left. Fix the rows, or pass skip_conflicts => true to apply the rest (dry_run => true shows the plan).';
        END IF;
        IF dry_run THEN
            RAISE EXCEPTION USING ERRCODE = 'BEMIR';
        END IF;
    EXCEPTION WHEN SQLSTATE 'BEMIR' THEN
        NULL;  -- dry run: every step undone
    END;
    RETURN QUERY
        SELECT (r->>'change_id')::int8, r->>'schema', r->>'table', r->>'primary_key', r->>'action', r->>'conflict'
          FROM unnest(results) WITH ORDINALITY AS x(r, ord)
         ORDER BY x.ord;
END
$$;

-- Refuses isolation levels under which the caller would not see what bemi.sync() waited for.
CREATE FUNCTION bemi._revert_sync(what pg_catalog.text)
    RETURNS void
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF current_setting('transaction_isolation') <> 'read committed' THEN
        RAISE EXCEPTION 'bemi: % needs READ COMMITTED, this transaction is %', what, current_setting('transaction_isolation')
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = 'It waits until every selected change is stored and must then see those rows; a '
                           || upper(current_setting('transaction_isolation')) || ' snapshot taken earlier would miss them.',
                  HINT = 'Run it in a READ COMMITTED transaction (the default).';
    END IF;
    IF NOT bemi.sync() THEN
        RAISE EXCEPTION 'bemi: % could not make sure every change is stored: bemi.sync() timed out', what
            USING ERRCODE = 'lock_not_available',
                  HINT = 'Check bemi.status (lag, last_error) and try again.';
    END IF;
END
$$;

CREATE FUNCTION bemi.revert(transaction_ids pg_catalog.int8[] DEFAULT NULL, context pg_catalog.jsonb DEFAULT NULL,
                            from_time pg_catalog.timestamptz DEFAULT NULL, to_time pg_catalog.timestamptz DEFAULT NULL,
                            skip_conflicts pg_catalog.bool DEFAULT false, dry_run pg_catalog.bool DEFAULT false)
    RETURNS TABLE(change_id pg_catalog.int8, schema pg_catalog.text, "table" pg_catalog.text,
                  primary_key pg_catalog.text, action pg_catalog.text, conflict pg_catalog.text)
    LANGUAGE plpgsql VOLATILE SECURITY INVOKER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    t record;
    rel regclass;
    r record;
    plan jsonb[] := '{}';     -- arrays: appending in place, not copying a jsonb each time
    steps jsonb[] := '{}';
    marker jsonb;
    keys text[];
    row_image jsonb;
    truncated jsonb[];
    keyinfo text;
BEGIN
    IF transaction_ids IS NULL AND context IS NULL AND from_time IS NULL AND to_time IS NULL THEN
        RAISE EXCEPTION 'bemi.revert: no changes selected'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Pass transaction_ids, context (e.g. ''{"request_id": "..."}''), from_time and/or to_time; they combine with AND.';
    END IF;
    IF from_time > to_time THEN
        RAISE EXCEPTION 'bemi.revert: from_time % is after to_time %', from_time, to_time
            USING ERRCODE = 'invalid_parameter_value', HINT = 'The window is from_time <= committed_at < to_time.';
    END IF;
    IF context IS NOT NULL AND jsonb_typeof(context) <> 'object' THEN
        RAISE EXCEPTION 'bemi.revert: context must be a JSON object'
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Changes are selected by containment: context @> ''{"request_id": "..."}''.';
    END IF;
    PERFORM bemi._revert_sync('bemi.revert');

    -- Every table the selection touches, each read through the caller's permit.
    FOR t IN SELECT * FROM bemi._revert_tables(transaction_ids, context, from_time, to_time) LOOP
        IF transaction_ids IS NOT NULL AND t.captures > 1 THEN
            RAISE EXCEPTION 'bemi.revert: the transaction ids select changes of % captures', t.captures
                USING ERRCODE = 'invalid_parameter_value',
                      DETAIL = 'Transaction ids are reused by another cluster after a restore (bemi.capture_history).',
                      HINT = 'Narrow the selection with from_time / to_time to one capture.';
        END IF;
        rel := t.relid::regclass;
        IF rel IS NULL THEN
            RAISE EXCEPTION 'bemi.revert: table %.% of the selected changes does not exist', t.schema, t."table"
                USING ERRCODE = 'undefined_table',
                      HINT = 'A table dropped (or renamed) since cannot be reverted; narrow the selection.';
        END IF;
        plan := plan || ARRAY(SELECT to_jsonb(x) || jsonb_build_object('rel', rel::oid)
                                FROM bemi._revert_trail(bemi._past_permit(rel), rel, transaction_ids, context, from_time, to_time) x);
    END LOOP;

    -- Newest first over every table: (capture, commit_position, seq) descending.
    FOR r IN SELECT s FROM unnest(plan) s
              ORDER BY s->>'capture' DESC, (s->>'commit_position')::int8 DESC, (s->>'seq')::int4 DESC LOOP
        IF r.s->>'problem' IS NOT NULL THEN
            steps := steps || jsonb_build_object(
                'change_id', r.s->'id', 'rel', r.s->'rel', 'primary_key', r.s->'primary_key',
                'action', CASE r.s->>'operation' WHEN 'CREATE' THEN 'DELETE' WHEN 'UPDATE' THEN 'UPDATE' ELSE 'INSERT' END,
                'conflict', r.s->>'problem');
        ELSIF r.s->'fallback' IS NOT NULL AND r.s->'fallback' <> 'null' THEN
            steps := steps || jsonb_build_object(
                'change_id', r.s->'id', 'rel', r.s->'rel', 'primary_key', r.s->'primary_key',
                'action', CASE r.s->>'operation' WHEN 'CREATE' THEN 'DELETE' WHEN 'UPDATE' THEN 'UPDATE' ELSE 'INSERT' END,
                'conflict', 'the change holds values recorded through a fallback: they cannot be checked or written back exactly');
        ELSIF r.s->>'operation' = 'CREATE' THEN
            steps := steps || jsonb_build_object(
                'change_id', r.s->'id', 'rel', r.s->'rel', 'primary_key', r.s->'primary_key', 'action', 'DELETE',
                'key', r.s->'after', 'expect', r.s->'after');
        ELSIF r.s->>'operation' = 'UPDATE' THEN
            steps := steps || jsonb_build_object(
                'change_id', r.s->'id', 'rel', r.s->'rel', 'primary_key', r.s->'primary_key', 'action', 'UPDATE',
                'key', r.s->'before_image' || (r.s->'after'), 'expect', r.s->'after',
                'target', r.s->'before_image');
        ELSIF r.s->>'operation' = 'DELETE' THEN
            steps := steps || jsonb_build_object(
                'change_id', r.s->'id', 'rel', r.s->'rel', 'primary_key', r.s->'primary_key', 'action', 'INSERT',
                'key', r.s->'before_image', 'target', r.s->'before_image');
        ELSIF r.s->>'operation' = 'TRUNCATE' THEN
            rel := (r.s->>'rel')::oid::regclass;
            IF to_regprocedure('bemi.as_of(anyelement, pg_lsn)') IS NULL THEN
                steps := steps || jsonb_build_object(
                    'change_id', r.s->'id', 'rel', r.s->'rel', 'action', 'INSERT',
                    'conflict', 'TRUNCATE cannot be reverted: bemi.as_of is not installed');
                CONTINUE;
            END IF;
            keys := bemi._key_columns(rel);
            -- The rows the table held just before the TRUNCATE's transaction (bemi.as_of at the
            -- stored commit before it), re-inserted; when history cannot tell, a clear conflict.
            BEGIN
                truncated := '{}';
                FOR row_image IN EXECUTE format('SELECT to_jsonb(t.*) FROM bemi.as_of(NULL::%s, pg_lsn(($1)::numeric)) t ORDER BY %s',
                                                rel, (SELECT string_agg(format('t.%I', k), ', ') FROM unnest(keys) k))
                        USING (r.s->>'prior_position')::int8 LOOP
                    keyinfo := CASE WHEN cardinality(keys) = 1 THEN row_image->>keys[1]
                                    ELSE (SELECT jsonb_agg(row_image->k ORDER BY o) FROM unnest(keys) WITH ORDINALITY u(k, o))::text END;
                    truncated := truncated || jsonb_build_object(
                        'change_id', r.s->'id', 'rel', r.s->'rel', 'primary_key', keyinfo, 'action', 'INSERT',
                        'key', row_image, 'target', row_image);
                END LOOP;
                steps := steps || truncated;
            EXCEPTION WHEN OTHERS THEN
                steps := steps || jsonb_build_object(
                    'change_id', r.s->'id', 'rel', r.s->'rel', 'action', 'INSERT',
                    'conflict', 'the rows the TRUNCATE removed are not known: ' || SQLERRM);
            END;
        END IF;
    END LOOP;

    marker := jsonb_strip_nulls(jsonb_build_object(
        'transaction_ids', to_jsonb(transaction_ids), 'context', revert.context,
        'from_time', to_jsonb(from_time), 'to_time', to_jsonb(to_time)));
    RETURN QUERY SELECT * FROM bemi._apply_plan(to_jsonb(steps), skip_conflicts, dry_run,
                                                bemi.get_context() || jsonb_build_object('bemi_revert', marker),
                                                'bemi.revert');
END
$$;
COMMENT ON FUNCTION bemi.revert(pg_catalog.int8[], pg_catalog.jsonb, pg_catalog.timestamptz, pg_catalog.timestamptz,
                                pg_catalog.bool, pg_catalog.bool) IS
    'Applies the inverse of the selected changes (newest first), conflict-checked, with the caller''s privileges';

-- Restore one record to its state as of an instant: the row whose key is the key of the given
-- row value (the other fields may be anything: NULL::t is not enough, a key is needed), read
-- with bemi.as_of_jsonb (the caller's permit), then one DELETE, INSERT or UPDATE as needed.
CREATE FUNCTION bemi.restore(row_or_key anyelement, at pg_catalog.timestamptz)
    RETURNS TABLE(change_id pg_catalog.int8, schema pg_catalog.text, "table" pg_catalog.text,
                  primary_key pg_catalog.text, action pg_catalog.text, conflict pg_catalog.text)
    LANGUAGE plpgsql VOLATILE SECURITY INVOKER
    SET search_path = pg_catalog, pg_temp
    SET TimeZone = 'UTC'
    SET DateStyle = 'ISO'
    SET IntervalStyle = 'postgres'
    SET extra_float_digits = 1
    SET bytea_output = 'hex'
    SET lc_monetary = 'C'
AS $$
DECLARE
    rel regclass;
    keys text[];
    key_image jsonb;
    key_match text;
    past record;
    cur jsonb;
    keytext text;
    steps jsonb := '[]';
BEGIN
    SELECT t.typrelid::regclass INTO rel FROM pg_type t WHERE t.oid = pg_typeof(row_or_key) AND t.typrelid <> 0;
    IF rel IS NULL OR (SELECT c.relkind FROM pg_class c WHERE c.oid = rel) NOT IN ('r', 'p') THEN
        RAISE EXCEPTION 'bemi.restore: % is not the row type of a table', pg_typeof(row_or_key)
            USING ERRCODE = 'wrong_object_type',
                  HINT = 'Pass a row of the table, e.g. bemi.restore(t, ''2026-12-01 10:00+00'') FROM t WHERE ..., or ROW(42, NULL)::t.';
    END IF;
    keys := bemi._key_columns(rel);
    IF keys IS NULL THEN
        RAISE EXCEPTION 'bemi.restore: table % has no primary key or replica identity index', rel
            USING ERRCODE = 'object_not_in_prerequisite_state', HINT = 'bemi tells rows apart by their key: add a primary key.';
    END IF;
    key_image := to_jsonb(row_or_key);
    IF key_image IS NULL OR EXISTS (SELECT FROM unnest(keys) k WHERE key_image -> k IS NULL OR key_image -> k = 'null') THEN
        RAISE EXCEPTION 'bemi.restore: the row value has no key (%)', array_to_string(keys, ', ')
            USING ERRCODE = 'null_value_not_allowed', HINT = 'Pass a row value whose key columns are set.';
    END IF;
    PERFORM bemi._revert_sync('bemi.restore');
    keytext := CASE WHEN cardinality(keys) = 1 THEN key_image->>keys[1]
                    ELSE (SELECT jsonb_agg(key_image->k ORDER BY o) FROM unnest(keys) WITH ORDINALITY u(k, o))::text END;
    SELECT a."row", a.fallback INTO past
      FROM bemi.as_of_jsonb(rel, at) a
     WHERE NOT EXISTS (SELECT FROM unnest(keys) k WHERE (a."row" -> k) IS DISTINCT FROM (key_image -> k));
    IF past.fallback IS NOT NULL AND past.fallback <> '[]' THEN
        RAISE EXCEPTION 'bemi.restore: the row % of % as of % holds values recorded through a fallback', keytext, rel, at
            USING ERRCODE = 'data_exception', DETAIL = past.fallback::text,
                  HINT = 'Such values are not exact (docs/record-format.md, "fallback"): restore the row by hand.';
    END IF;
    key_match := (SELECT string_agg(format('t.%1$I = r.%1$I', k), ' AND ') FROM unnest(keys) k);
    EXECUTE format('SELECT to_jsonb(t.*) FROM %s t, jsonb_populate_record(NULL::%s, $1) r WHERE %s', rel, rel, key_match)
       INTO cur USING key_image;
    IF past."row" IS NULL AND cur IS NOT NULL THEN
        steps := jsonb_build_array(jsonb_build_object('rel', rel::oid, 'primary_key', keytext, 'action', 'DELETE',
                                                      'key', cur, 'expect', cur));
    ELSIF past."row" IS NOT NULL AND cur IS NULL THEN
        steps := jsonb_build_array(jsonb_build_object('rel', rel::oid, 'primary_key', keytext, 'action', 'INSERT',
                                                      'key', past."row", 'target', past."row"));
    ELSIF past."row" IS NOT NULL
          AND EXISTS (SELECT FROM jsonb_object_keys(cur) c WHERE (cur -> c) IS DISTINCT FROM coalesce(past."row" -> c, 'null')) THEN
        steps := jsonb_build_array(jsonb_build_object('rel', rel::oid, 'primary_key', keytext, 'action', 'UPDATE',
                                                      'key', cur, 'expect', cur,
                                                      'target', (SELECT jsonb_object_agg(c, coalesce(past."row" -> c, 'null'))
                                                                   FROM jsonb_object_keys(cur) c)));
    END IF;
    RETURN QUERY SELECT * FROM bemi._apply_plan(steps, false, false,
        bemi.get_context() || jsonb_build_object('bemi_restore', jsonb_build_object(
            'tables', jsonb_build_array(rel::text), 'primary_key', keytext, 'at', to_jsonb(at))),
        'bemi.restore');
END
$$;
COMMENT ON FUNCTION bemi.restore(anyelement, pg_catalog.timestamptz) IS
    'Brings one record (by the key of the given row) back to its state as of the instant, by ordinary DML';

-- Restore tables to their state as of an instant (roll back or roll forward): DELETE the keys
-- the past did not have, UPDATE the rows that differ, INSERT the missing ones, table by table
-- in the order given (deletes, then updates, then inserts). Compares whole rows as the record
-- format writes them; a column the table has now but did not have then becomes NULL.
CREATE FUNCTION bemi.restore_tables(tables pg_catalog.regclass[], at pg_catalog.timestamptz,
                                    dry_run pg_catalog.bool DEFAULT false)
    RETURNS TABLE(change_id pg_catalog.int8, schema pg_catalog.text, "table" pg_catalog.text,
                  primary_key pg_catalog.text, action pg_catalog.text, conflict pg_catalog.text)
    LANGUAGE plpgsql VOLATILE SECURITY INVOKER
    SET search_path = pg_catalog, pg_temp
    SET TimeZone = 'UTC'
    SET DateStyle = 'ISO'
    SET IntervalStyle = 'postgres'
    SET extra_float_digits = 1
    SET bytea_output = 'hex'
    SET lc_monetary = 'C'
AS $$
DECLARE
    rel regclass;
    keys text[];
    bad text;
    table_steps jsonb;
    steps jsonb := '[]';
BEGIN
    IF tables IS NULL OR cardinality(tables) = 0 OR at IS NULL THEN
        RAISE EXCEPTION 'bemi.restore_tables: no tables or no instant given'
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Pass ARRAY[''t1''::regclass, ...] and an instant.';
    END IF;
    PERFORM bemi._revert_sync('bemi.restore_tables');
    FOREACH rel IN ARRAY tables LOOP
        keys := bemi._key_columns(rel);
        IF keys IS NULL THEN
            RAISE EXCEPTION 'bemi.restore_tables: table % has no primary key or replica identity index', rel
                USING ERRCODE = 'object_not_in_prerequisite_state', HINT = 'bemi tells rows apart by their key: add a primary key.';
        END IF;
        -- One query: the past rows (as_of_jsonb) and the current rows, matched by key values.
        EXECUTE format($q$
            WITH past AS MATERIALIZED (
                SELECT (SELECT jsonb_agg(a."row" -> k ORDER BY o) FROM unnest($1::text[]) WITH ORDINALITY u(k, o)) AS k,
                       a.primary_key, a."row" AS r, a.fallback
                  FROM bemi.as_of_jsonb($3, $2) a),
            cur AS MATERIALIZED (
                SELECT (SELECT jsonb_agg(to_jsonb(t.*) -> k ORDER BY o) FROM unnest($1::text[]) WITH ORDINALITY u(k, o)) AS k,
                       to_jsonb(t.*) AS r
                  FROM %s t),
            steps AS (
                SELECT 1 AS phase, n.k, jsonb_build_object('action', 'DELETE', 'key', n.r, 'expect', n.r,
                           'primary_key', CASE WHEN cardinality($1::text[]) = 1 THEN n.k->>0 ELSE n.k::text END) AS s
                  FROM cur n WHERE NOT EXISTS (SELECT FROM past p WHERE p.k = n.k)
                UNION ALL
                SELECT 2, n.k, jsonb_build_object('action', 'UPDATE', 'key', n.r, 'expect', n.r,
                           'target', (SELECT jsonb_object_agg(c, coalesce(p.r -> c, 'null')) FROM jsonb_object_keys(n.r) c),
                           'primary_key', p.primary_key)
                  FROM cur n JOIN past p ON p.k = n.k
                 WHERE EXISTS (SELECT FROM jsonb_object_keys(n.r) c WHERE (n.r -> c) IS DISTINCT FROM coalesce(p.r -> c, 'null'))
                UNION ALL
                SELECT 3, p.k, jsonb_build_object('action', 'INSERT', 'key', p.r, 'target', p.r, 'primary_key', p.primary_key)
                  FROM past p WHERE NOT EXISTS (SELECT FROM cur n WHERE n.k = p.k))
            SELECT (SELECT coalesce(jsonb_agg(x.s || jsonb_build_object('rel', $3::oid) ORDER BY x.phase, x.k), '[]') FROM steps x),
                   (SELECT string_agg(p.primary_key, ', ' ORDER BY p.k) FROM past p WHERE p.fallback IS NOT NULL AND p.fallback <> '[]')
            $q$, rel)
           INTO table_steps, bad USING keys, at, rel;
        IF bad IS NOT NULL THEN
            RAISE EXCEPTION 'bemi.restore_tables: rows of % as of % hold values recorded through a fallback (keys %)', rel, at, bad
                USING ERRCODE = 'data_exception',
                      HINT = 'Such values are not exact (docs/record-format.md, "fallback"): restore those rows by hand.';
        END IF;
        steps := steps || table_steps;
    END LOOP;
    RETURN QUERY SELECT * FROM bemi._apply_plan(steps, false, dry_run,
        bemi.get_context() || jsonb_build_object('bemi_restore', jsonb_build_object(
            'tables', (SELECT jsonb_agg(t::text) FROM unnest(tables) t), 'at', to_jsonb(at))),
        'bemi.restore_tables');
END
$$;
COMMENT ON FUNCTION bemi.restore_tables(pg_catalog.regclass[], pg_catalog.timestamptz, pg_catalog.bool) IS
    'Brings tables back (or forward) to their state as of the instant by ordinary DML; dry_run shows the plan';
