-- Retention (docs/time-travel.md, "Retention"; issue 9 section 4): the ingestion worker removes
-- the oldest history by dropping whole partitions of bemi.changes (range partitions on
-- effective_at, sql/0.4's partitioned layout: bemi._trail_partitions()), never by DELETE.
--
-- The horizon H is a partition bound. Since effective_at never decreases along the order
-- (capture, commit_position, seq), "every change with effective_at < H" is a prefix of the
-- order. Before anything below H is dropped, one transaction materializes, for every table
-- whose history reaches H, a baseline holding its rows as that prefix leaves them, anchored at
-- the prefix's last change (E_H), and records H in bemi.trail_horizon. Time travel then starts
-- from these baselines: exact for every instant >= H, refused before it. Later transactions
-- drop the partitions whose upper bound is <= H, each under a short lock_timeout, retried on a
-- later turn.

-- (a) The horizon ---------------------------------------------------------------------------

CREATE TABLE bemi.trail_horizon (
    horizon         pg_catalog.timestamptz PRIMARY KEY,
    capture         pg_catalog.uuid NOT NULL,
    commit_position pg_catalog.int8 NOT NULL,
    seq             pg_catalog.int4 NOT NULL,
    effective_at    pg_catalog.timestamptz NOT NULL,
    baselines       pg_catalog.int4 NOT NULL,
    skipped         pg_catalog.jsonb NOT NULL DEFAULT '[]',
    recorded_at     pg_catalog.timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp()
);
COMMENT ON TABLE bemi.trail_horizon IS
    'Where the stored history begins after retention (bemi.retention): changes with effective_at < horizon may be dropped; time travel answers instants >= the latest horizon (docs/time-travel.md, "Retention")';
COMMENT ON COLUMN bemi.trail_horizon.horizon IS 'A partition bound of bemi.changes; instants before it are refused';
COMMENT ON COLUMN bemi.trail_horizon.capture IS 'Place of the last change below the horizon (E_H): the anchor of the horizon''s baselines';
COMMENT ON COLUMN bemi.trail_horizon.effective_at IS 'effective_at of that change';
COMMENT ON COLUMN bemi.trail_horizon.baselines IS 'Baselines written at the horizon (one per table whose history reached it)';
COMMENT ON COLUMN bemi.trail_horizon.skipped IS
    'Tables whose history did not reach the horizon unbroken, with the refusal: they got no baseline (instants after it need bemi.backfill, as they did before)';
SELECT pg_catalog.pg_extension_config_dump('bemi.trail_horizon', '');
REVOKE ALL ON TABLE bemi.trail_horizon FROM PUBLIC;
GRANT SELECT ON TABLE bemi.trail_horizon TO bemi_reader;

-- The latest horizon, mirrored outside MVCC: a sequence's value is read as it is now, whatever
-- the reader's snapshot. A REPEATABLE READ transaction whose snapshot predates a horizon, and
-- that touches bemi.changes only after the partitions below it were dropped, still learns the
-- horizon from here (microseconds since 1970; 0: none). Set just before the horizon's
-- transaction commits; should that transaction fail after it, instants below it are refused
-- although still stored until the next turn records it (refused, never wrong).
CREATE SEQUENCE bemi.trail_horizon_mirror MINVALUE 0 START 0 NO CYCLE;
REVOKE ALL ON SEQUENCE bemi.trail_horizon_mirror FROM PUBLIC;

-- Places of lineage entries without a record in bemi.changes: the entries of the horizon's
-- baselines (written by the worker, whose changes are not captured), placed at E_H, and every
-- entry whose record lay below a horizon (copied before its partition is dropped).
CREATE TABLE bemi.lineage_places (
    lineage         pg_catalog.uuid PRIMARY KEY,
    capture         pg_catalog.uuid NOT NULL,
    commit_position pg_catalog.int8 NOT NULL,
    seq             pg_catalog.int4 NOT NULL,
    effective_at    pg_catalog.timestamptz NOT NULL
);
COMMENT ON TABLE bemi.lineage_places IS
    'The place in the order of lineage entries without a record in bemi.changes: the horizon''s baselines, and entries whose records were below a horizon (bemi.trail_horizon)';
SELECT pg_catalog.pg_extension_config_dump('bemi.lineage_places', '');
REVOKE ALL ON TABLE bemi.lineage_places FROM PUBLIC;
GRANT SELECT ON TABLE bemi.lineage_places TO bemi_reader;

-- A lineage entry's place: its recorded place when it has one (a horizon baseline's entry:
-- should it ever be captured too, its record's place is not its meaning), else its CREATE
-- record in bemi.changes (sql/0.3/20-lineage.sql).
CREATE OR REPLACE FUNCTION bemi._place(lineage pg_catalog.uuid, OUT capture pg_catalog.uuid,
                                       OUT commit_position pg_catalog.int8, OUT seq pg_catalog.int4,
                                       OUT effective_at pg_catalog.timestamptz)
    RETURNS record
    LANGUAGE sql STABLE STRICT
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT x.capture, x.commit_position, x.seq, x.effective_at
      FROM (SELECT p.capture, p.commit_position, p.seq, p.effective_at, 0 AS pref
              FROM bemi.lineage_places p WHERE p.lineage = $1
            UNION ALL
            (SELECT c.capture, c.commit_position, c.seq, c.effective_at, 1
               FROM bemi.changes c
              WHERE c.schema = 'bemi' AND c."table" = 'table_lineage' AND c.primary_key = $1::text
                AND c.operation = 'CREATE'
              ORDER BY c.capture, c.commit_position, c.seq
              LIMIT 1)) x
     ORDER BY x.pref
     LIMIT 1
$$;
COMMENT ON FUNCTION bemi._place(pg_catalog.uuid) IS
    'The place (capture, commit_position, seq, effective_at) of a lineage entry in the order: bemi.lineage_places, else its CREATE record in bemi.changes; NULL while not stored';

-- The horizon a reader must respect: the latest recorded in its snapshot, or the mirror's when
-- later. It first takes ACCESS SHARE on bemi.changes (held to the end of the transaction), so
-- no partition can be dropped from under the rest of the reader's transaction: a drop either
-- committed before (and its horizon is in the mirror) or waits.
CREATE FUNCTION bemi._trail_horizon()
    RETURNS pg_catalog.timestamptz
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    h timestamptz;
    m record;
BEGIN
    LOCK TABLE bemi.changes IN ACCESS SHARE MODE;
    SELECT max(t.horizon) INTO h FROM bemi.trail_horizon t;
    SELECT s.last_value, s.is_called INTO m FROM bemi.trail_horizon_mirror s;
    IF m.is_called AND m.last_value > 0 THEN
        h := greatest(h, timestamptz 'epoch' + m.last_value * interval '1 microsecond');
    END IF;
    RETURN h;
END
$$;
COMMENT ON FUNCTION bemi._trail_horizon() IS
    'Time travel: the instant before which history was removed by retention (NULL: none); locks bemi.changes ACCESS SHARE';

-- The one refusal of instants before the horizon. instant '-infinity' with what: a commit
-- position known to lie below it.
CREATE FUNCTION bemi._tt_refuse_before_horizon(instant pg_catalog.timestamptz, what pg_catalog.text DEFAULT NULL)
    RETURNS void
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    h timestamptz := bemi._trail_horizon();
BEGIN
    IF h IS NOT NULL AND instant < h THEN
        RAISE EXCEPTION 'bemi: % is before the horizon of the stored history (%)', coalesce(what, instant::text), h
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = 'Retention (bemi.retention) removed the changes committed before the horizon (bemi.trail_horizon): the past is answered from the horizon on.',
                  HINT = format('Ask for an instant at or after %s. bemi.retention is %s; a superuser may keep history longer from now on (ALTER SYSTEM SET bemi.retention), what was removed stays removed.',
                                h, coalesce(nullif(current_setting('bemi.retention', true), ''), '(not set)'));
    END IF;
END
$$;

-- (b) The two places where time travel finds the end of an instant's prefix (E) and so decides
-- whether history reaches back to it: bemi._tt_context (the chain of as_of by instant or
-- position, versions, the backward path's patch) and bemi._tt_relid_at (which table had a name
-- then). Their 0.3 bodies (sql/0.3/40-as-of.sql) with two changes, marked (0.4): the refusal of
-- instants before the horizon first, and E from bemi._tt_prefix_end, which falls back to the
-- horizon's anchor when every change up to the instant was dropped (an instant >= H before the
-- first change stored after H).

-- The end of prefix(until_ts): the last stored change with effective_at <= until_ts, or the
-- anchor of the latest horizon <= until_ts when that is later (its changes were dropped).
CREATE FUNCTION bemi._tt_prefix_end(until_ts timestamptz, OUT capture uuid, OUT commit_position int8, OUT seq int4)
    RETURNS record
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT x.capture, x.commit_position, x.seq
      FROM ((SELECT c.capture, c.commit_position, c.seq, c.effective_at FROM bemi.changes c
              WHERE c.effective_at <= until_ts
              ORDER BY c.effective_at DESC, c.capture DESC, c.commit_position DESC, c.seq DESC LIMIT 1)
            UNION ALL
            (SELECT h.capture, h.commit_position, h.seq, h.effective_at FROM bemi.trail_horizon h
              WHERE h.horizon <= until_ts ORDER BY h.horizon DESC LIMIT 1)) x
     ORDER BY x.effective_at DESC, x.capture DESC NULLS LAST, x.commit_position DESC, x.seq DESC
     LIMIT 1
$$;

CREATE OR REPLACE FUNCTION bemi._tt_context(rel oid, label text, lo uuid, hi uuid, cur jsonb, live boolean,
                                 until_ts timestamptz, until_pos int8, base_ts timestamptz DEFAULT NULL,
                                 base_id uuid DEFAULT NULL)
    RETURNS jsonb
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    ents jsonb;
    e_cap uuid; ecp int8; eseq int4;
    n_cap uuid; ncp int8;
    b record;
    x record;
    hz record;
    newer timestamptz;
    names jsonb;
    segs jsonb;
    bent jsonb;
    what text := coalesce(until_ts::text, pg_lsn(until_pos::numeric)::text);
    hint_backfill text := format('Take a new baseline: SELECT bemi.backfill(%L); instants from it on are answerable.', label);
BEGIN
    -- (0.4) before the horizon of the stored history: refused (retention)
    IF until_pos IS NOT NULL THEN
        SELECT min(c.effective_at) INTO x FROM bemi.changes c
         WHERE c.capture = bemi._tt_current_capture() AND c.commit_position = until_pos;
        IF x.min IS NOT NULL THEN
            PERFORM bemi._tt_refuse_before_horizon(x.min, format('the commit at %s (%s)', pg_lsn(until_pos::numeric), x.min));
        ELSIF EXISTS (SELECT FROM bemi.trail_horizon h
                       WHERE h.capture = bemi._tt_current_capture() AND h.commit_position >= until_pos) THEN
            PERFORM bemi._tt_refuse_before_horizon('-infinity', format('the commit at %s', pg_lsn(until_pos::numeric)));
        END IF;
    ELSIF isfinite(until_ts) THEN
        PERFORM bemi._tt_refuse_before_horizon(until_ts);
    END IF;
    -- versions: a finite start before the horizon is refused ('-infinity' starts at the earliest
    -- baseline still anchored in the trail: the horizon's, once there is one)
    IF base_ts IS NOT NULL AND isfinite(base_ts) THEN
        PERFORM bemi._tt_refuse_before_horizon(base_ts, format('the start of the interval (%s)', base_ts));
    END IF;
    -- (1) the lineage entries of this incarnation that are stored, in order, with their places
    SELECT coalesce(jsonb_agg(to_jsonb(q) ORDER BY q.capture, q.commit_position, q.seq), '[]') INTO ents
      FROM (SELECT e.id, e.event, e.schema::text AS schema, e."table"::text AS "table", e.columns,
                   e.breaks_history, e.detail, p.capture, p.commit_position, p.seq, p.effective_at
              FROM bemi.table_lineage e
             CROSS JOIN LATERAL bemi._place(e.id) p
             WHERE e.relid = rel AND (lo IS NULL OR e.id > lo) AND (hi IS NULL OR e.id <= hi)
               AND p.capture IS NOT NULL) q;

    -- (2) the end of the prefix (E), and for an instant the first change after it (N)
    IF until_pos IS NULL AND until_ts = 'infinity' THEN
        SELECT c.capture, c.commit_position, c.seq INTO e_cap, ecp, eseq
          FROM bemi.changes c WHERE c.capture IS NOT NULL
         ORDER BY c.capture DESC, c.commit_position DESC, c.seq DESC LIMIT 1;
        ncp := 9223372036854775807;
    ELSIF until_pos IS NULL THEN
        SELECT p.capture, p.commit_position, p.seq INTO e_cap, ecp, eseq FROM bemi._tt_prefix_end(until_ts) p;
        SELECT c.capture, c.commit_position INTO n_cap, ncp
          FROM bemi.changes c WHERE c.effective_at > until_ts
         ORDER BY c.effective_at, c.capture, c.commit_position, c.seq LIMIT 1;
        IF n_cap IS NULL THEN
            RAISE EXCEPTION 'bemi: % is not answerable yet: no commit after it is stored', until_ts
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      HINT = 'Retry once capture has stored a later commit (bemi.sync()).';
        END IF;
    ELSE
        e_cap := bemi._tt_current_capture();
        SELECT c.commit_position, max(c.seq) INTO ecp, eseq
          FROM bemi.changes c WHERE c.capture = e_cap AND c.commit_position = until_pos
         GROUP BY c.commit_position;
        IF ecp IS NULL THEN
            RAISE EXCEPTION 'bemi: no stored commit at position %', pg_lsn(until_pos::numeric)
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'Pass the commit_position of a transaction stored by the current capture: SELECT DISTINCT pg_lsn(commit_position::numeric) FROM bemi.changes (call bemi.sync() first if it committed just now).';
        END IF;
    END IF;

    -- (3) the baseline: the latest whose anchor is in the prefix
    -- (0.4) and not before the horizon's anchor: a chain from an older one would cross changes
    -- that retention dropped (stray rows below the horizon, in the default partition, do not
    -- make it whole)
    SELECT h.horizon, h.capture, h.commit_position, h.seq INTO hz FROM bemi.trail_horizon h ORDER BY h.horizon DESC LIMIT 1;
    -- A later horizon than this snapshot shows (the mirror: a purge committed after the snapshot
    -- was taken) has a baseline this snapshot cannot see, and the changes below it may be gone:
    -- then only baselines anchored at or after it will do.
    newer := bemi._trail_horizon();
    IF newer IS NOT DISTINCT FROM hz.horizon THEN
        newer := NULL;
    END IF;
    SELECT bl.id, bl.snapshot, a.capture, a.commit_position AS acp, a.seq AS aseq, a.effective_at,
           a.columns, a.id AS entry
      INTO b
      FROM bemi.baselines bl
      JOIN jsonb_to_recordset(ents) AS a(id uuid, capture uuid, commit_position int8, seq int4,
                                         effective_at timestamptz, columns jsonb)
        ON a.id = bl.lineage
     WHERE e_cap IS NOT NULL AND (a.capture, a.commit_position, a.seq) <= (e_cap, ecp, eseq)
       AND (base_ts IS NULL OR a.effective_at <= base_ts)
       AND (base_id IS NULL OR bl.id = base_id)
       AND (hz.capture IS NULL OR (a.capture, a.commit_position, a.seq) >= (hz.capture, hz.commit_position, hz.seq))  -- (0.4)
       AND (newer IS NULL OR a.effective_at >= newer)
     ORDER BY a.capture DESC, a.commit_position DESC, a.seq DESC LIMIT 1;
    IF b.id IS NULL AND base_ts IS NOT NULL THEN
        SELECT bl.id, bl.snapshot, a.capture, a.commit_position AS acp, a.seq AS aseq, a.effective_at,
               a.columns, a.id AS entry
          INTO b
          FROM bemi.baselines bl
          JOIN jsonb_to_recordset(ents) AS a(id uuid, capture uuid, commit_position int8, seq int4,
                                             effective_at timestamptz, columns jsonb)
            ON a.id = bl.lineage
         WHERE e_cap IS NOT NULL AND (a.capture, a.commit_position, a.seq) <= (e_cap, ecp, eseq)
           AND (base_id IS NULL OR bl.id = base_id)
           AND (hz.capture IS NULL OR (a.capture, a.commit_position, a.seq) >= (hz.capture, hz.commit_position, hz.seq))  -- (0.4)
           AND (newer IS NULL OR a.effective_at >= newer)
         ORDER BY a.capture, a.commit_position, a.seq LIMIT 1;
    END IF;
    IF b.id IS NULL THEN
        RAISE EXCEPTION 'bemi: the history of "%" does not reach back to %', label, what
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = 'No baseline of the table is stored at or before that instant: its rows then are not known.',
                  HINT = format('Instants from a baseline on are answerable: SELECT bemi.backfill(%L) takes one now (a table created while capture runs has one from its creation).', label);
    END IF;

    -- (4) what breaks the chain between the anchor and the end of the prefix
    IF e_cap <> b.capture OR (n_cap IS NOT NULL AND n_cap <> b.capture)
       OR (until_ts = 'infinity' AND (bemi._tt_current_capture() IS DISTINCT FROM b.capture
                                      OR EXISTS (SELECT FROM bemi.capture_history h
                                                  WHERE h.capture = b.capture AND h.event = 'capture_stopped'))) THEN
        RAISE EXCEPTION 'bemi: the history of "%" has a capture gap between its baseline (%) and %', label, b.effective_at, what
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = 'Capture restarted in between (a lost replication slot, a restore or an upgrade: see bemi.capture_history): changes may be missing.',
                  HINT = hint_backfill;
    END IF;
    SELECT h.gap_from, h.recorded_at INTO x
      FROM bemi.capture_history h
     WHERE h.capture = b.capture AND h.event = 'transaction_skipped'
       AND (h.gap_from - '0/0'::pg_lsn) > b.acp
       AND (h.gap_from - '0/0'::pg_lsn) < coalesce(ncp, ecp + 1)
     ORDER BY h.gap_from LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'bemi: the history of "%" misses a skipped transaction (committed at %) before %', label, x.gap_from, what
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = 'bemi.skip_transaction() skipped it (bemi.capture_history): its changes are unknown.',
                  HINT = hint_backfill;
    END IF;

    -- every name the relation had in this incarnation, and (for partitions) the names of its
    -- leaves and of its root now: records and exclusions may name any of them
    SELECT jsonb_agg(DISTINCT jsonb_build_array(n.s, n.t)) INTO names
      FROM (SELECT a.schema AS s, a."table" AS t FROM jsonb_to_recordset(ents) AS a(schema text, "table" text)
            UNION
            SELECT ns.nspname::text, c.relname::text
              FROM pg_partition_tree(rel) pt
              JOIN pg_class c ON c.oid = pt.relid JOIN pg_namespace ns ON ns.oid = c.relnamespace
             WHERE live
            UNION
            SELECT ns.nspname::text, c.relname::text
              FROM pg_class c JOIN pg_namespace ns ON ns.oid = c.relnamespace
             WHERE live AND c.oid = pg_partition_root(rel)) n;
    names := coalesce(names, '[]');

    SELECT c.schema, c."table", c.committed_at INTO x
      FROM bemi.changes c
     WHERE c.fallback @> '[{"reason": "unstorable"}]'
       AND c.capture = b.capture AND (c.commit_position, c.seq) <= (ecp, eseq)
       AND ((c.commit_position, c.seq) > (b.acp, b.aseq)
            -- before the anchor: a transaction the baseline's snapshot does not see
            OR (b.snapshot IS NOT NULL AND c.transaction_id >= pg_snapshot_xmin(b.snapshot)::text::int8
                AND NOT pg_visible_in_snapshot(c.transaction_id::text::xid8, b.snapshot)))
       AND (c."table" = '' OR names @> jsonb_build_array(jsonb_build_array(c.schema, c."table"))
            OR names @> jsonb_build_array(jsonb_build_array(c.root_schema, c.root_table)))
     ORDER BY c.commit_position, c.seq LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'bemi: the history of "%" has a record that could not be stored (committed at %) before %', label, x.committed_at, what
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = CASE WHEN x."table" = '' THEN 'A marker row of an unknown table (fallback reason "unstorable") stands in for it: it may have been a change of this table.'
                                ELSE 'A marker row (fallback reason "unstorable") stands in for it in bemi.changes.' END,
                  HINT = hint_backfill;
    END IF;

    -- exclusions: a pattern matching one of the names that was in force at the anchor, or was
    -- added, changed or removed in the chain, or (for a live table) is in force now
    SELECT p.pattern INTO x
      FROM (SELECT ev.pattern, ev.place_after_anchor, ev.added, ev.truncated, ev.commit_position, ev.seq
              FROM (SELECT u.pattern, (c.commit_position, c.seq) > (b.acp, b.aseq) AS place_after_anchor,
                           u.added, c.operation = 'TRUNCATE' AS truncated, c.commit_position, c.seq
                      FROM bemi.changes c
                     CROSS JOIN LATERAL (VALUES (c.before->>'pattern', false), (c.after->>'pattern', true)) AS u(pattern, added)
                     WHERE c.schema = 'bemi' AND c."table" = 'excluded_tables' AND c.capture = b.capture
                       AND (c.commit_position, c.seq) <= (ecp, eseq)
                       AND (u.pattern IS NOT NULL OR c.operation = 'TRUNCATE')) ev) p
     WHERE EXISTS (SELECT FROM jsonb_array_elements(names) nm
                    WHERE bemi._pattern_matches(p.pattern, nm->>0, nm->>1))
       AND (p.place_after_anchor
            OR (p.added AND NOT EXISTS (  -- in force at the anchor: added, not removed before it
                   SELECT FROM bemi.changes c2
                    WHERE c2.schema = 'bemi' AND c2."table" = 'excluded_tables' AND c2.capture = b.capture
                      AND (c2.commit_position, c2.seq) > (p.commit_position, p.seq)
                      AND (c2.commit_position, c2.seq) <= (b.acp, b.aseq)
                      AND (c2.operation = 'TRUNCATE' OR c2.before->>'pattern' = p.pattern))))
     LIMIT 1;
    IF NOT FOUND AND live THEN
        SELECT t.pattern INTO x FROM bemi.excluded_tables t
         WHERE EXISTS (SELECT FROM jsonb_array_elements(names) nm
                        WHERE bemi._pattern_matches(t.pattern, nm->>0, nm->>1))
         LIMIT 1;
    END IF;
    IF x.pattern IS NOT NULL THEN
        RAISE EXCEPTION 'bemi: "%" was excluded from capture (pattern %) between its baseline and %', label, x.pattern, what
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = 'While a table is excluded (bemi.excluded_tables) its changes are not recorded.',
                  HINT = 'Remove the exclusion (DELETE FROM bemi.excluded_tables ...), then take a new baseline with bemi.backfill; instants from it on are answerable.';
    END IF;

    SELECT a.detail, a.effective_at INTO x
      FROM jsonb_to_recordset(ents) AS a(breaks_history boolean, detail text, capture uuid, commit_position int8,
                                         seq int4, effective_at timestamptz)
     WHERE a.breaks_history AND (a.capture, a.commit_position, a.seq) > (b.capture, b.acp, b.aseq)
       AND (a.capture, a.commit_position, a.seq) <= (e_cap, ecp, eseq)
     ORDER BY a.capture, a.commit_position, a.seq LIMIT 1;
    IF NOT FOUND THEN
        -- partitions attached, detached or moved under this table
        SELECT e.detail, p.effective_at INTO x
          FROM bemi.table_lineage e CROSS JOIN LATERAL bemi._place(e.id) p
         WHERE e.parent = rel AND e.relid <> rel AND e.breaks_history
           AND p.capture = b.capture
           AND (p.commit_position, p.seq) > (b.acp, b.aseq) AND (p.commit_position, p.seq) <= (ecp, eseq)
         ORDER BY p.commit_position, p.seq LIMIT 1;
    END IF;
    IF x.effective_at IS NOT NULL THEN
        RAISE EXCEPTION 'bemi: a schema change at % changed the rows of "%" without recorded row changes', x.effective_at, label
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = coalesce(x.detail, 'bemi.table_lineage: breaks_history'),
                  HINT = hint_backfill;
    END IF;

    -- (5) the segments: each entry's names from its place to the next entry's, within the
    -- baseline's capture; each with its map from the names then to the names now
    SELECT coalesce(jsonb_agg(jsonb_build_object(
               'schema', s.schema, 'table', s."table",
               'fcp', s.fcp, 'fseq', s.fseq, 'tcp', s.tcp, 'tseq', s.tseq,
               'map', s.map, 'ident', s.ident) ORDER BY s.n), '[]')
      INTO segs
      FROM (SELECT a.n, a.schema, a."table",
                   CASE WHEN a.n = 1 OR a.capture < b.capture THEN -1 ELSE a.commit_position END AS fcp,
                   CASE WHEN a.n = 1 OR a.capture < b.capture THEN -1 ELSE a.seq END AS fseq,
                   CASE WHEN a.next_capture IS NULL OR a.next_capture > b.capture THEN 9223372036854775807
                        ELSE a.next_commit_position END AS tcp,
                   CASE WHEN a.next_capture IS NULL OR a.next_capture > b.capture THEN 2147483647
                        ELSE a.next_seq END AS tseq,
                   m.map, m.ident
              FROM (SELECT q.*, row_number() OVER w AS n,
                           lead(q.capture) OVER w AS next_capture,
                           lead(q.commit_position) OVER w AS next_commit_position,
                           lead(q.seq) OVER w AS next_seq
                      FROM jsonb_to_recordset(ents) AS q(schema text, "table" text, columns jsonb, capture uuid,
                                                         commit_position int8, seq int4)
                    WINDOW w AS (ORDER BY q.capture, q.commit_position, q.seq)) a
             CROSS JOIN LATERAL bemi._tt_map(a.columns, cur) m
             WHERE (a.n = 1 OR a.capture <= b.capture)
               AND (a.next_capture IS NULL OR a.next_capture >= b.capture)) s;

    SELECT to_jsonb(m) INTO bent FROM bemi._tt_map(b.columns, cur) m;

    RETURN jsonb_build_object(
        'rel', rel, 'label', label,
        'cap', b.capture, 'baseline', b.id, 'snapshot', b.snapshot::text,
        'xmin', CASE WHEN b.snapshot IS NOT NULL THEN pg_snapshot_xmin(b.snapshot)::text::int8 END,
        'acp', b.acp, 'aseq', b.aseq, 'anchor_at', b.effective_at,
        'ecp', ecp, 'eseq', eseq,
        'segs', segs, 'bmap', bent->'map', 'bident', bent->'ident');
END
$$;

CREATE OR REPLACE FUNCTION bemi._tt_relid_at(schema_name name, table_name name, instant timestamptz,
                                  OUT relid oid, OUT live boolean, OUT lo uuid, OUT hi uuid)
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    e_cap uuid; ecp int8; eseq int4;
    entry uuid;
BEGIN
    PERFORM bemi._tt_refuse_before_horizon(instant);  -- (0.4) retention
    SELECT p.capture, p.commit_position, p.seq INTO e_cap, ecp, eseq FROM bemi._tt_prefix_end(instant) p;
    IF e_cap IS NOT NULL THEN
        WITH cand AS (
            SELECT DISTINCT e.relid AS rid FROM bemi.table_lineage e
             WHERE e.schema = schema_name AND e."table" = table_name
        ), ents AS (
            SELECT e.id, e.relid AS rid, e.event, e.schema, e."table", p.capture, p.commit_position, p.seq
              FROM bemi.table_lineage e JOIN cand ON cand.rid = e.relid
             CROSS JOIN LATERAL bemi._place(e.id) p
             WHERE p.capture IS NOT NULL AND (p.capture, p.commit_position, p.seq) <= (e_cap, ecp, eseq)
        ), latest AS (
            SELECT DISTINCT ON (ents.rid) ents.* FROM ents
             ORDER BY ents.rid, ents.capture DESC, ents.commit_position DESC, ents.seq DESC
        )
        SELECT l.rid, l.id INTO relid, entry FROM latest l
         WHERE l.schema = schema_name AND l."table" = table_name AND l.event <> 'dropped'
         ORDER BY l.capture DESC, l.commit_position DESC, l.seq DESC LIMIT 1;
    END IF;
    IF relid IS NULL THEN
        RAISE EXCEPTION 'bemi: no table "%.%" is recorded at %', schema_name, table_name, instant
            USING ERRCODE = 'undefined_table',
                  HINT = 'bemi.table_lineage lists the names each table had since capture began; a table''s history starts at its baseline (bemi.backfill).';
    END IF;
    SELECT e.id INTO lo FROM bemi.table_lineage e
     WHERE e.relid = _tt_relid_at.relid AND e.event = 'dropped' AND e.id < entry ORDER BY e.id DESC LIMIT 1;
    SELECT e.id INTO hi FROM bemi.table_lineage e
     WHERE e.relid = _tt_relid_at.relid AND e.event = 'dropped' AND e.id > entry ORDER BY e.id LIMIT 1;
    live := hi IS NULL AND EXISTS (SELECT FROM pg_class c WHERE c.oid = _tt_relid_at.relid
                                                         AND c.relkind = ANY (ARRAY['r', 'p']::"char"[]));
END
$$;

-- (c) Materializing the horizon --------------------------------------------------------------

-- A uuid right after id in uuid order (id + 1 on its low 64 bits): a horizon baseline's lineage
-- entry sorts right after the entry it copies, inside the same incarnation of the relid
-- (incarnations are bounded by the ids of `dropped` entries).
CREATE FUNCTION bemi._uuid_after(id pg_catalog.uuid)
    RETURNS pg_catalog.uuid
    LANGUAGE sql IMMUTABLE STRICT
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT (substr(h, 1, 16) || lpad(to_hex(CASE WHEN lo = 9223372036854775807 THEN -9223372036854775808
                                                  ELSE lo + 1 END), 16, '0'))::uuid
      FROM (SELECT replace(id::text, '-', '') AS h) x,
           LATERAL (SELECT ('x' || substr(x.h, 17, 16))::bit(64)::int8 AS lo) y
     WHERE substr(x.h, 17, 16) <> 'ffffffffffffffff'
$$;

-- Records the horizon new_horizon (superuser; the ingestion worker calls it, in a transaction of
-- its own): for every relation whose latest lineage entry at E_H (the last change with
-- effective_at < new_horizon) is not a drop, the chain as as_of(new_horizon - 1 microsecond)
-- builds it; when it is whole, a `baseline` lineage entry placed at E_H (bemi.lineage_places)
-- with the names in force there, and a baseline of the rows at that instant, whose snapshot
-- sees every transaction (none before the anchor is replayed on top of it); a relation the
-- chain refuses is listed in skipped. Then the horizon's row and its mirror. Returns the number
-- of baselines, or NULL when there is nothing to do: new_horizon not after the latest horizon,
-- no stored change below it, or none at or after it (the prefix is not closed yet: a commit
-- still to be stored could belong to it).
CREATE FUNCTION bemi._retention_advance(new_horizon pg_catalog.timestamptz)
    RETURNS pg_catalog.int4
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    SET jit = off
    SET work_mem = '64MB'
AS $$
DECLARE
    e record;
    r record;
    ctx jsonb;
    entry uuid;
    bid uuid;
    n int8;
    made int4 := 0;
    skipped jsonb := '[]';
    snap pg_snapshot;
    rows_sql text;
    message text;
BEGIN
    IF NOT (SELECT ro.rolsuper FROM pg_roles ro WHERE ro.rolname = current_user) THEN
        RAISE EXCEPTION 'permission denied to move the horizon of the stored history'
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'Retention is the ingestion worker''s (bemi.retention, superuser only).';
    END IF;
    IF new_horizon IS NULL OR NOT isfinite(new_horizon) THEN
        RAISE EXCEPTION 'bemi: the horizon must be a finite timestamp' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- one at a time
    LOCK TABLE bemi.trail_horizon IN SHARE ROW EXCLUSIVE MODE;
    IF new_horizon <= (SELECT max(t.horizon) FROM bemi.trail_horizon t) THEN
        RETURN NULL;
    END IF;
    -- A mirror ahead of the recorded horizon is a failed attempt's: back to the recorded one
    -- (nothing was dropped past it), or the chains below would look cut at it.
    PERFORM setval('bemi.trail_horizon_mirror',
                   coalesce((SELECT (extract(epoch FROM max(t.horizon)) * 1000000)::int8 FROM bemi.trail_horizon t), 0), true);
    SELECT c.capture, c.commit_position, c.seq, c.effective_at INTO e
      FROM bemi.changes c WHERE c.effective_at < new_horizon AND c.capture IS NOT NULL
     ORDER BY c.effective_at DESC, c.capture DESC, c.commit_position DESC, c.seq DESC LIMIT 1;
    IF NOT FOUND OR NOT EXISTS (SELECT FROM bemi.changes c WHERE c.effective_at >= new_horizon) THEN
        RETURN NULL;
    END IF;

    -- Every transaction of the prefix committed before now: a snapshot of now sees them all.
    snap := format('%1$s:%1$s:', pg_snapshot_xmax(pg_current_snapshot()))::pg_snapshot;
    -- The rows query of as_of, with each row's leaf (a TRUNCATE of a partition after the
    -- horizon removes that leaf's rows).
    rows_sql := bemi._tt_rows_sql();
    IF strpos(rows_sql, 'SELECT l.key,') = 0 OR strpos(rows_sql, 'SELECT b.primary_key,') = 0 THEN
        RAISE EXCEPTION 'bemi: the rows query of as_of is not the one retention knows (bemi._tt_rows_sql)';
    END IF;
    rows_sql := replace(replace(rows_sql, 'SELECT l.key,', 'SELECT l.leaf_schema, l.leaf_table, l.key,'),
                        'SELECT b.primary_key,', 'SELECT b.leaf_schema::text, b.leaf_table::text, b.primary_key,');

    -- Every lineage entry below the horizon keeps its place (its record is about to be
    -- dropped): which table had a name, and until when, stays known (a drop before the horizon
    -- stays a drop). No chain starts from a baseline anchored before the horizon's anchor.
    INSERT INTO bemi.lineage_places (lineage, capture, commit_position, seq, effective_at)
    SELECT l.id, p.capture, p.commit_position, p.seq, p.effective_at
      FROM bemi.table_lineage l CROSS JOIN LATERAL bemi._place(l.id) p
     WHERE p.capture IS NOT NULL
       AND (p.capture, p.commit_position, p.seq) <= (e.capture, e.commit_position, e.seq)
    ON CONFLICT (lineage) DO NOTHING;

    FOR r IN
        WITH ents AS (
            SELECT l.*, p.capture AS pcap, p.commit_position AS pcp, p.seq AS pseq
              FROM bemi.table_lineage l CROSS JOIN LATERAL bemi._place(l.id) p
             WHERE p.capture IS NOT NULL
               AND (p.capture, p.commit_position, p.seq) <= (e.capture, e.commit_position, e.seq)
        )
        SELECT DISTINCT ON (ents.relid) ents.*
          FROM ents
         ORDER BY ents.relid, ents.pcap DESC, ents.pcp DESC, ents.pseq DESC
    LOOP
        CONTINUE WHEN r.event = 'dropped';
        BEGIN
            ctx := bemi._tt_context(
                r.relid, format('%I.%I', r.schema, r."table"),
                (SELECT d.id FROM bemi.table_lineage d WHERE d.relid = r.relid AND d.event = 'dropped' AND d.id < r.id
                  ORDER BY d.id DESC LIMIT 1),
                (SELECT d.id FROM bemi.table_lineage d WHERE d.relid = r.relid AND d.event = 'dropped' AND d.id > r.id
                  ORDER BY d.id LIMIT 1),
                (SELECT coalesce(jsonb_object_agg(c->>'attnum', c->>'name'), '{}')
                   FROM jsonb_array_elements(coalesce(r.columns, '[]')) c),
                NOT EXISTS (SELECT FROM bemi.table_lineage d WHERE d.relid = r.relid AND d.event = 'dropped' AND d.id > r.id)
                    AND EXISTS (SELECT FROM pg_class k WHERE k.oid = r.relid AND k.relkind = ANY (ARRAY['r', 'p']::"char"[])),
                new_horizon - interval '1 microsecond', NULL);
            entry := bemi._uuid_after(r.id);
            IF entry IS NULL OR EXISTS (SELECT FROM bemi.table_lineage x WHERE x.id = entry) THEN
                RAISE EXCEPTION 'no free lineage id after %', r.id USING ERRCODE = 'object_not_in_prerequisite_state';
            END IF;
            INSERT INTO bemi.table_lineage (id, relid, event, schema, "table", columns, key, parent, breaks_history, detail)
            VALUES (entry, r.relid, 'baseline', r.schema, r."table", r.columns, r.key, r.parent, false,
                    format('horizon %s: the rows as the changes before it left them (retention)', new_horizon));
            INSERT INTO bemi.lineage_places (lineage, capture, commit_position, seq, effective_at)
            VALUES (entry, e.capture, e.commit_position, e.seq, e.effective_at);
            bid := bemi._time_ordered_uuid();
            EXECUTE format('INSERT INTO bemi.baseline_rows (baseline, primary_key, leaf_schema, leaf_table, "row", fallback)
                            SELECT $2, x.key, coalesce(x.leaf_schema, $3), coalesce(x.leaf_table, $4), x.r, x.f
                              FROM (%s) x(leaf_schema, leaf_table, key, r, f)', rows_sql)
                USING ctx, bid, r.schema::text, r."table"::text;
            GET DIAGNOSTICS n = ROW_COUNT;
            INSERT INTO bemi.baselines (id, relid, schema, "table", snapshot, lineage, row_count)
            VALUES (bid, r.relid, r.schema, r."table", snap, entry, n);
            made := made + 1;
        EXCEPTION WHEN object_not_in_prerequisite_state THEN
            GET STACKED DIAGNOSTICS message = MESSAGE_TEXT;
            skipped := skipped || jsonb_build_object('relid', r.relid, 'table', format('%I.%I', r.schema, r."table"),
                                                     'reason', message);
        END;
    END LOOP;

    INSERT INTO bemi.trail_horizon (horizon, capture, commit_position, seq, effective_at, baselines, skipped)
    VALUES (new_horizon, e.capture, e.commit_position, e.seq, e.effective_at, made, skipped);
    PERFORM setval('bemi.trail_horizon_mirror',
                   greatest((extract(epoch FROM new_horizon) * 1000000)::int8, 1), true);
    RETURN made;
END
$$;
COMMENT ON FUNCTION bemi._retention_advance(pg_catalog.timestamptz) IS
    'Retention (ingestion worker): baselines of every table at the new horizon and its record in bemi.trail_horizon; NULL when not possible yet';

-- The horizon retention asks for now: the largest partition upper bound <= now() - retention
-- (NULL when the trail is not partitioned, or no partition ends that early) ...
CREATE FUNCTION bemi._retention_target(retention pg_catalog.interval)
    RETURNS pg_catalog.timestamptz
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    h timestamptz;
BEGIN
    IF retention IS NULL OR retention <= interval '0' OR to_regprocedure('bemi._trail_partitions()') IS NULL THEN
        RETURN NULL;
    END IF;
    -- ... and not after the latest stored change: the prefix below it is then closed (a commit
    -- still to be stored cannot belong to it), and a quiet database's horizon still moves
    EXECUTE 'SELECT max(p.upper) FROM bemi._trail_partitions() p
              WHERE p.upper <= $1 AND p.upper <= (SELECT max(c.effective_at) FROM bemi.changes c)'
       INTO h USING now() - retention;
    RETURN h;
END
$$;

-- Drops the partitions of bemi.changes entirely below the recorded horizon (upper bound <= it),
-- oldest first, each under lock_timeout 100 ms (DROP of a partition takes ACCESS EXCLUSIVE on it
-- and on bemi.changes: a reader holding the trail makes it wait, the wait blocks the others,
-- so it is kept short); stops at the first that times out (retried on a later turn). Returns
-- how many were dropped. Never a DELETE: nothing at or after the horizon is in those partitions.
CREATE FUNCTION bemi._retention_drop()
    RETURNS pg_catalog.int4
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    SET lock_timeout = '100ms'
AS $$
DECLARE
    h timestamptz;
    p record;
    dropped int4 := 0;
BEGIN
    IF NOT (SELECT ro.rolsuper FROM pg_roles ro WHERE ro.rolname = current_user) THEN
        RAISE EXCEPTION 'permission denied to drop partitions of bemi.changes'
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'Retention is the ingestion worker''s (bemi.retention, superuser only).';
    END IF;
    SELECT max(t.horizon) INTO h FROM bemi.trail_horizon t;
    IF h IS NULL OR to_regprocedure('bemi._trail_partitions()') IS NULL THEN
        RETURN 0;
    END IF;
    FOR p IN EXECUTE 'SELECT p.partition, p.lower, p.upper FROM bemi._trail_partitions() p
                       WHERE p.upper <= $1 ORDER BY p.lower' USING h
    LOOP
        BEGIN
            IF EXISTS (SELECT FROM pg_depend d
                        WHERE d.classid = 'pg_class'::regclass AND d.objid = p.partition
                          AND d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e') THEN
                EXECUTE format('ALTER EXTENSION bemi DROP TABLE %s', p.partition);
            END IF;
            EXECUTE format('DROP TABLE %s', p.partition);
            dropped := dropped + 1;
        EXCEPTION WHEN lock_not_available THEN
            RAISE LOG 'bemi: retention could not lock % within lock_timeout; retried later', p.partition;
            EXIT;
        END;
    END LOOP;
    RETURN dropped;
END
$$;
COMMENT ON FUNCTION bemi._retention_drop() IS
    'Retention (ingestion worker): drops the partitions of bemi.changes below the recorded horizon, each under a short lock_timeout';

-- (d) revert: a window reaching before the horizon is refused. bemi.revert asks
-- bemi._revert_tables (sql/0.3/60-revert.sql) for the tables first; its 0.3 query, after the
-- check. Selections without a window select the stored changes: a transaction is never split by
-- the horizon (its rows share one effective_at), a context spanning it is reverted from it on.
CREATE OR REPLACE FUNCTION bemi._revert_tables(transaction_ids pg_catalog.int8[], context pg_catalog.jsonb,
                                               from_time pg_catalog.timestamptz, to_time pg_catalog.timestamptz)
    RETURNS TABLE(schema pg_catalog.text, "table" pg_catalog.text, relid pg_catalog.oid, captures pg_catalog.int8)
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF from_time IS NOT NULL AND isfinite(from_time) THEN
        PERFORM bemi._tt_refuse_before_horizon(from_time, format('the start of the revert window (%s)', from_time));
    END IF;
    IF to_time IS NOT NULL AND isfinite(to_time) THEN
        PERFORM bemi._tt_refuse_before_horizon(to_time, format('the end of the revert window (%s)', to_time));
    END IF;
    RETURN QUERY
        SELECT min(s.schema), min(s."table"), s.relid, count(DISTINCT s.capture)
          FROM bemi._revert_selected(_revert_tables.transaction_ids, _revert_tables.context,
                                     _revert_tables.from_time, _revert_tables.to_time) s
         GROUP BY s.relid, CASE WHEN s.relid IS NULL THEN s.schema || '.' || s."table" END
         ORDER BY 1, 2;
END
$$;

REVOKE EXECUTE ON FUNCTION
    bemi._trail_horizon(),
    bemi._tt_refuse_before_horizon(pg_catalog.timestamptz, pg_catalog.text),
    bemi._tt_prefix_end(timestamptz),
    bemi._uuid_after(pg_catalog.uuid),
    bemi._retention_advance(pg_catalog.timestamptz),
    bemi._retention_target(pg_catalog.interval),
    bemi._retention_drop()
    FROM PUBLIC;
