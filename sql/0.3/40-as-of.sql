-- AS OF: a table's rows at an instant, or right after a stored commit (docs/time-travel.md).
--
-- How an answer is built (contract: "The order and the instant", "Tables and their names over
-- time", "Baselines", "What breaks the chain"):
--   1. stability: a stored commit with effective_at > T must be visible (bemi._tt_await);
--   2. the prefix: every change with effective_at <= T, ending at the change E;
--   3. the relation's lineage: its entries (one incarnation of its relid), each in force from its
--      place in the order to the next one's; the names of the first are used before it;
--   4. the baseline B: the latest whose anchor (its lineage entry's place) is in the prefix;
--   5. the chain from B's anchor to E (and to the first change after the prefix) must be whole:
--      one capture, no skipped transaction, no unstorable marker of the table (or of an unknown
--      table), no exclusion matching it, no lineage entry that breaks history;
--   6. the rows: B's rows, then in order every change of the relation in B's capture that B's
--      snapshot does not see, each record matched by the names in force at its place and renamed
--      to the current column names through the attnums of the lineage; per key the last event
--      wins; a TRUNCATE removes what came before it (only its leaf's rows, for a partition).
-- The work is split into internal functions (bemi._tt_*, none callable by PUBLIC) and SECURITY
-- DEFINER readers (bemi._as_of_*) that accept only a permit token of bemi._past_permit; the
-- public functions are SECURITY INVOKER wrappers.

-- Unstorable markers are rare: a small partial index finds those of a range of the order
-- without scanning every change in it (the chain check of every as_of call looks for them).
CREATE INDEX changes_unstorable_idx ON bemi.changes (capture, commit_position, seq)
    WHERE fallback @> '[{"reason": "unstorable"}]';

-- bemi.time_travel_wait as an interval (the setting is in milliseconds; SHOW prints a unit).
CREATE FUNCTION bemi._tt_wait()
    RETURNS interval
    LANGUAGE sql STABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT coalesce(nullif(current_setting('bemi.time_travel_wait', true), '')::interval, interval '5 seconds')
$$;

-- The relation of a row type (bemi.as_of(NULL::t, ...)).
CREATE FUNCTION bemi._tt_rel_of_type(t regtype)
    RETURNS regclass
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    rel oid;
BEGIN
    SELECT ty.typrelid INTO rel FROM pg_type ty WHERE ty.oid = t;
    IF rel IS NULL OR rel = 0 THEN
        RAISE EXCEPTION 'bemi: type % is not the row type of a table', t
            USING ERRCODE = 'wrong_object_type',
                  HINT = 'Pass a NULL of the table''s row type: bemi.as_of(NULL::my_table, ...).';
    END IF;
    RETURN rel::regclass;
END
$$;

-- Can the past of this relation be told apart row by row? A table (or partitioned table) whose
-- rows are identified by a primary key or a replica identity index, in every leaf; REPLICA
-- IDENTITY NOTHING is refused: its DELETEs carry no key. Reads the catalogs only.
CREATE FUNCTION bemi._tt_check_table(rel regclass)
    RETURNS void
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    kind "char";
    r record;
BEGIN
    SELECT c.relkind INTO kind FROM pg_class c WHERE c.oid = rel;
    IF kind IS NULL THEN
        RAISE EXCEPTION 'relation with OID % does not exist', rel::oid USING ERRCODE = 'undefined_table';
    END IF;
    IF kind <> ALL (ARRAY['r', 'p']::"char"[]) THEN
        RAISE EXCEPTION 'bemi: "%" is not a table', rel
            USING ERRCODE = 'wrong_object_type',
                  HINT = 'Time travel reads the history of tables (ordinary or partitioned); views, sequences, foreign tables and others have none.';
    END IF;
    FOR r IN
        SELECT c.oid, c.relreplident,
               EXISTS (SELECT FROM pg_index i WHERE i.indrelid = c.oid
                          AND CASE c.relreplident WHEN 'i' THEN i.indisreplident ELSE i.indisprimary END) AS has_key
          FROM (SELECT rel::oid AS relid UNION SELECT t.relid FROM pg_partition_tree(rel) t) t
          JOIN pg_class c ON c.oid = t.relid
         WHERE c.relkind = 'r' OR (c.oid = rel AND c.relkind = 'p')
    LOOP
        IF r.relreplident = 'n' THEN
            RAISE EXCEPTION 'bemi: table "%" has REPLICA IDENTITY NOTHING', r.oid::regclass
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      DETAIL = 'Its DELETEs are recorded without a key, so its past rows cannot be told apart.',
                      HINT = 'ALTER TABLE ... REPLICA IDENTITY DEFAULT (with a primary key), USING INDEX or FULL; history from then on needs a new baseline (bemi.backfill).';
        END IF;
        IF NOT r.has_key THEN
            RAISE EXCEPTION 'bemi: table "%" has no primary key or replica identity index', r.oid::regclass
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      DETAIL = 'Its changes are recorded without a key, so its past rows cannot be told apart.',
                      HINT = 'Add a primary key (or REPLICA IDENTITY USING INDEX on a unique index), then take a baseline with bemi.backfill.';
        END IF;
    END LOOP;
END
$$;

-- The latest instant whose answer is settled in the caller's snapshot: just before the latest
-- stored effective_at (NULL when nothing is stored).
CREATE FUNCTION bemi._tt_latest_stored()
    RETURNS timestamptz
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT max(c.effective_at) FROM bemi.changes c
$$;

-- Stability (contract "Stable answers"): returns once the caller's snapshot sees a stored change
-- with effective_at > until_ts. Under READ COMMITTED it waits for capture (bemi.sync()) and
-- looks again with a fresh snapshot (each statement of a VOLATILE function takes one), up to
-- bemi.time_travel_wait; otherwise, or when the wait runs out, an ERROR names the latest
-- answerable instant.
CREATE FUNCTION bemi._tt_await(until_ts timestamptz)
    RETURNS void
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    deadline timestamptz := clock_timestamp() + bemi._tt_wait();
    latest timestamptz;
    synced boolean := false;
BEGIN
    IF until_ts IS NULL OR NOT isfinite(until_ts) THEN
        RAISE EXCEPTION 'bemi: the instant must be a finite timestamp, not %', coalesce(until_ts::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Pass a time such as now() - interval ''1 hour''.';
    END IF;
    LOOP
        IF EXISTS (SELECT FROM bemi.changes c WHERE c.effective_at > until_ts) THEN
            RETURN;
        END IF;
        latest := bemi._tt_latest_stored();
        IF current_setting('transaction_isolation') <> 'read committed' THEN
            RAISE EXCEPTION 'bemi: % is not answerable yet in this transaction''s snapshot', until_ts
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      DETAIL = format('No commit after it is stored in the snapshot of this %s transaction: a commit stored later could still belong before it.',
                                      upper(current_setting('transaction_isolation'))),
                      HINT = format('Answerable now: instants before %s. Call bemi.sync() before the transaction starts, or ask from a READ COMMITTED transaction, which waits.',
                                    coalesce(latest::text, '(nothing stored yet)'));
        END IF;
        IF clock_timestamp() >= deadline THEN
            RAISE EXCEPTION 'bemi: % is not answerable yet: no commit after it is stored', until_ts
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      DETAIL = format('Waited %s (bemi.time_travel_wait) for capture to store a later commit.', bemi._tt_wait()),
                      HINT = format('Answerable now: instants before %s. The answer for an instant is settled once something committed after it is stored.',
                                    coalesce(latest::text, '(nothing stored yet)'));
        END IF;
        IF synced THEN
            PERFORM pg_sleep(0.02);
        END IF;
        -- everything committed before this call gets stored; a later commit, if any, settles T
        PERFORM bemi.sync(greatest(deadline - clock_timestamp(), interval '0'));
        synced := true;
    END LOOP;
END
$$;

-- The current capture: the latest started in this cluster and database.
CREATE FUNCTION bemi._tt_current_capture()
    RETURNS uuid
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT h.capture FROM bemi._own_capture_history h
     WHERE h.event = ANY (ARRAY['capture_started', 'gap'])
     ORDER BY h.id DESC LIMIT 1
$$;

-- The columns of a live relation now: {"attnum": name}.
CREATE FUNCTION bemi._tt_columns_now(rel oid)
    RETURNS jsonb
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT coalesce(jsonb_object_agg(a.attnum::text, a.attname::text), '{}')
      FROM pg_attribute a
     WHERE a.attrelid = rel AND a.attnum > 0 AND NOT a.attisdropped
$$;

-- The chain for one relation's incarnation (lineage entries of relid with lo < id <= hi) up to
-- the end of prefix(until_ts) or the stored commit at until_pos (current capture), as a jsonb
-- context for bemi._tt_changes / bemi._tt_rows. cur: the columns to answer in, {"attnum": name}.
-- live: the relation exists now (its current exclusions apply). Raises every refusal of
-- "What breaks the chain" and "instant before the history begins". until_ts 'infinity': up to
-- the last stored change (versions up to now). base_ts: use the baseline in force at base_ts
-- (the first one when base_ts is before every baseline) instead of the latest in the prefix;
-- base_id: that baseline.
CREATE FUNCTION bemi._tt_context(rel oid, label text, lo uuid, hi uuid, cur jsonb, live boolean,
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
    names jsonb;
    segs jsonb;
    bent jsonb;
    what text := coalesce(until_ts::text, pg_lsn(until_pos::numeric)::text);
    hint_backfill text := format('Take a new baseline: SELECT bemi.backfill(%L); instants from it on are answerable.', label);
BEGIN
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
        SELECT c.capture, c.commit_position, c.seq INTO e_cap, ecp, eseq
          FROM bemi.changes c WHERE c.effective_at <= until_ts
         ORDER BY c.effective_at DESC, c.capture DESC, c.commit_position DESC, c.seq DESC LIMIT 1;
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

-- The map from a lineage entry's column names (columns: [{"attnum", "name", ...}]) to the names
-- now (cur: {"attnum": name}): {"old": "new"} for the attributes that still exist; ident when
-- every old name is its new name and none is gone.
CREATE FUNCTION bemi._tt_map(columns jsonb, cur jsonb, OUT map jsonb, OUT ident boolean)
    LANGUAGE sql IMMUTABLE
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT coalesce(jsonb_object_agg(c->>'name', cur->>(c->>'attnum')) FILTER (WHERE cur ? (c->>'attnum')), '{}'),
           coalesce(bool_and(cur->>(c->>'attnum') IS NOT DISTINCT FROM c->>'name'), true)
      FROM jsonb_array_elements(coalesce(columns, '[]')) c
$$;

-- The changes of the chain described by ctx (bemi._tt_context), in order, renamed to the
-- current column names: the relation's records (own: by its own names; else a partition's, by
-- the root names) in the baseline's capture, after the anchor up to the end of the prefix, plus
-- those before the anchor whose transaction the baseline's snapshot does not see (a backfill),
-- or of the anchor's own transaction (CREATE TABLE AS writes rows before its lineage entry).
-- only_key: only the records of that key (as key or previous key). Unordered: every consumer
-- orders by (commit_position, seq) itself. Kept as the text of a query ($1 = ctx, $2 = only_key)
-- that the rows query embeds: the planner sees through it, and nothing is stored in between.
CREATE FUNCTION bemi._tt_changes_sql()
    RETURNS text
    LANGUAGE sql IMMUTABLE
    SET search_path = pg_catalog, pg_temp
AS $body$
    SELECT $q$
    SELECT c.id AS change_id, c.operation, c.primary_key, c.previous_primary_key, c.own,
           c.schema AS leaf_schema, c."table" AS leaf_table,
           CASE WHEN g.ident THEN c.after
                ELSE (SELECT coalesce(jsonb_object_agg(g.map->>e.key, e.value), '{}')
                        FROM jsonb_each(c.after) e WHERE g.map ? e.key) END AS "row",
           CASE WHEN c.unchanged_toast IS NOT NULL
                THEN ARRAY(SELECT g.map->>u FROM unnest(c.unchanged_toast) u WHERE g.map ? u) END AS unchanged_toast,
           CASE WHEN c.fallback IS NOT NULL
                THEN (SELECT jsonb_agg(f || jsonb_build_object('column', g.map->>(f->>'column')))
                        FROM jsonb_array_elements(c.fallback) f
                       WHERE f->>'image' = 'after' AND g.map ? (f->>'column')) END AS fallback,
           c.commit_position, c.seq, c.committed_at, c.effective_at
      FROM jsonb_to_recordset($1->'segs') AS g(schema text, "table" text, fcp int8, fseq int4, tcp int8, tseq int4,
                                                map jsonb, ident boolean)
     CROSS JOIN LATERAL (
        SELECT c.id, c.operation, c.primary_key, c.previous_primary_key, c.schema, c."table", c.after,
               c.unchanged_toast, c.fallback, c.commit_position, c.seq, c.committed_at, c.effective_at,
               c.transaction_id, true AS own
          FROM bemi.changes c
         WHERE c.schema = g.schema AND c."table" = g."table" AND c.capture = ($1->>'cap')::uuid
           AND (c.commit_position, c.seq) >= (g.fcp, g.fseq) AND (c.commit_position, c.seq) < (g.tcp, g.tseq)
           AND (c.commit_position, c.seq) <= (($1->>'ecp')::int8, ($1->>'eseq')::int4)
        UNION ALL
        SELECT c.id, c.operation, c.primary_key, c.previous_primary_key, c.schema, c."table", c.after,
               c.unchanged_toast, c.fallback, c.commit_position, c.seq, c.committed_at, c.effective_at,
               c.transaction_id, false AS own
          FROM bemi.changes c
         WHERE c.root_schema = g.schema AND c.root_table = g."table" AND c.capture = ($1->>'cap')::uuid
           AND (c.commit_position, c.seq) >= (g.fcp, g.fseq) AND (c.commit_position, c.seq) < (g.tcp, g.tseq)
           AND (c.commit_position, c.seq) <= (($1->>'ecp')::int8, ($1->>'eseq')::int4)
     ) c
     WHERE ((c.commit_position, c.seq) > (($1->>'acp')::int8, ($1->>'aseq')::int4)
            OR ($1->>'snapshot' IS NULL AND c.commit_position = ($1->>'acp')::int8)
            OR ($1->>'snapshot' IS NOT NULL AND c.transaction_id >= ($1->>'xmin')::int8
                AND NOT pg_visible_in_snapshot(c.transaction_id::text::xid8, ($1->>'snapshot')::pg_snapshot)))
       AND c.operation = ANY (ARRAY['CREATE', 'UPDATE', 'DELETE', 'TRUNCATE'])
       AND NOT coalesce(c.fallback @> '[{"reason": "unstorable"}]', false)
       AND ($2 IS NULL OR c.primary_key = $2 OR c.previous_primary_key = $2)
$q$::text
$body$;

-- The same as a function: bemi._tt_changes(ctx, only_key).
CREATE FUNCTION bemi._tt_changes(ctx jsonb, only_key text DEFAULT NULL)
    RETURNS TABLE(change_id int8, operation text, primary_key text, previous_primary_key text,
                  own boolean, leaf_schema text, leaf_table text, "row" jsonb, unchanged_toast text[],
                  fallback jsonb, commit_position int8, seq int4, committed_at timestamptz,
                  effective_at timestamptz)
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
    SET jit = off
    SET work_mem = '64MB'
AS $$
BEGIN
    RETURN QUERY EXECUTE bemi._tt_changes_sql() USING ctx, only_key;
END
$$;

-- A baseline row renamed to the current column names (ctx: bmap, bident).
CREATE FUNCTION bemi._tt_baseline_row(ctx jsonb, r jsonb)
    RETURNS jsonb
    LANGUAGE sql IMMUTABLE
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE WHEN (ctx->>'bident')::boolean THEN r
                ELSE (SELECT coalesce(jsonb_object_agg(ctx->'bmap'->>e.key, e.value), '{}')
                        FROM jsonb_each(r) e WHERE ctx->'bmap' ? e.key) END
$$;

-- The values of unchanged TOAST columns (need: current names) of the version made at (cp, seq)
-- of key (made by a key change from ppk when ppk differs): taken from the versions before it,
-- walking back through key changes, down to the baseline row. Rare: one lookup per step.
CREATE FUNCTION bemi._tt_fill_toast(ctx jsonb, key text, ppk text, cp int8, sq int4, r jsonb, need text[])
    RETURNS jsonb
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    cur_key text := CASE WHEN ppk IS NOT NULL AND ppk <> key THEN ppk ELSE key END;
    prev record;
    col text;
    left_over text[];
    base jsonb;
BEGIN
    LOOP
        SELECT ch.* INTO prev FROM bemi._tt_changes(ctx, cur_key) ch
         WHERE ch.primary_key = cur_key AND ch.operation = ANY (ARRAY['CREATE', 'UPDATE', 'DELETE'])
           AND (ch.commit_position, ch.seq) < (cp, sq)
         ORDER BY ch.commit_position DESC, ch.seq DESC LIMIT 1;
        IF NOT FOUND THEN
            SELECT bemi._tt_baseline_row(ctx, br."row") INTO base FROM bemi.baseline_rows br
             WHERE br.baseline = (ctx->>'baseline')::uuid AND br.primary_key = cur_key;
            left_over := '{}';
            FOREACH col IN ARRAY need LOOP
                IF base ? col THEN
                    r := r || jsonb_build_object(col, base->col);
                ELSE
                    left_over := left_over || col;
                END IF;
            END LOOP;
            need := left_over;
            EXIT;
        END IF;
        EXIT WHEN prev.operation = 'DELETE';
        left_over := '{}';
        FOREACH col IN ARRAY need LOOP
            IF prev."row" ? col AND NOT (col = ANY (coalesce(prev.unchanged_toast, '{}'))) THEN
                r := r || jsonb_build_object(col, prev."row"->col);
            ELSE
                left_over := left_over || col;
            END IF;
        END LOOP;
        need := left_over;
        EXIT WHEN cardinality(need) = 0;
        cp := prev.commit_position;
        sq := prev.seq;
        cur_key := CASE WHEN prev.previous_primary_key IS NOT NULL AND prev.previous_primary_key <> prev.primary_key
                        THEN prev.previous_primary_key ELSE prev.primary_key END;
    END LOOP;
    IF cardinality(need) > 0 THEN
        RAISE EXCEPTION 'bemi: the unchanged TOAST value of column "%" of the row of "%" with key % is not in its history',
                        need[1], ctx->>'label', key
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = 'An UPDATE left it out of the record (unchanged out-of-line value) and no earlier version carries it.',
                  HINT = 'REPLICA IDENTITY FULL records it with every UPDATE; take a new baseline with bemi.backfill.';
    END IF;
    RETURN r;
END
$$;

-- The rows of the state the context describes: per key the last event (a version, or a removal:
-- DELETE, or the old key of a key change), unless a later TRUNCATE removed it (the whole table's,
-- or its leaf's); the baseline's rows no change touched and no TRUNCATE removed. Set-based: the
-- baseline rows pass through a hash anti-join against the keys the changes touched. Kept as the
-- text of a query with $1 = ctx: the readers run it with RETURN QUERY EXECUTE, so that its rows
-- (a whole table's) are stored once, in the reader's result, and the plan sees ctx's values.
CREATE FUNCTION bemi._tt_rows_sql()
    RETURNS text
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
AS $body$
    SELECT replace($q$
    WITH ch AS MATERIALIZED (
        $$CHANGES$$
    ), ev AS MATERIALIZED (
        -- narrow: per key its events; the images stay in ch
        SELECT ch.primary_key AS key, 1 AS sub, true AS is_row, ch.change_id, ch.commit_position, ch.seq,
               ch.own, ch.leaf_schema, ch.leaf_table
          FROM ch WHERE ch.operation = ANY (ARRAY['CREATE', 'UPDATE'])
        UNION ALL
        SELECT ch.previous_primary_key, 0, false, ch.change_id, ch.commit_position, ch.seq,
               ch.own, ch.leaf_schema, ch.leaf_table
          FROM ch WHERE ch.operation = 'UPDATE' AND ch.previous_primary_key IS NOT NULL
                    AND ch.previous_primary_key <> ch.primary_key
        UNION ALL
        SELECT ch.primary_key, 1, false, ch.change_id, ch.commit_position, ch.seq,
               ch.own, ch.leaf_schema, ch.leaf_table
          FROM ch WHERE ch.operation = 'DELETE'
    ), tr AS (
        SELECT ch.own, ch.leaf_schema, ch.leaf_table, ch.commit_position, ch.seq FROM ch
         WHERE ch.operation = 'TRUNCATE'
    ), last AS (
        SELECT DISTINCT ON (ev.key) ev.* FROM ev
         ORDER BY ev.key, ev.commit_position DESC, ev.seq DESC, ev.sub DESC
    )
    SELECT l.key,
           CASE WHEN c.unchanged_toast IS NULL OR cardinality(c.unchanged_toast) = 0 THEN c."row"
                ELSE bemi._tt_fill_toast($1, l.key, c.previous_primary_key, l.commit_position, l.seq,
                                         c."row", c.unchanged_toast) END,
           c.fallback
      FROM last l
      JOIN ch c ON c.change_id = l.change_id
     WHERE l.is_row
       AND CASE WHEN NOT (SELECT EXISTS (SELECT FROM tr)) THEN true  -- once: most chains have no TRUNCATE
                ELSE NOT EXISTS (SELECT FROM tr
                                  WHERE (tr.commit_position, tr.seq) > (l.commit_position, l.seq)
                                    AND (tr.own OR (tr.leaf_schema, tr.leaf_table) = (l.leaf_schema, l.leaf_table))) END
    UNION ALL
    SELECT b.primary_key,
           CASE WHEN ($1->>'bident')::boolean THEN b."row"
                ELSE (SELECT coalesce(jsonb_object_agg($1->'bmap'->>e.key, e.value), '{}')
                        FROM jsonb_each(b."row") e WHERE $1->'bmap' ? e.key) END,
           CASE WHEN b.fallback IS NOT NULL
                THEN (SELECT jsonb_agg(f || jsonb_build_object('column', $1->'bmap'->>(f->>'column')))
                        FROM jsonb_array_elements(b.fallback) f
                       WHERE coalesce(f->>'image', 'after') = 'after' AND $1->'bmap' ? (f->>'column')) END
      FROM bemi.baseline_rows b
     WHERE b.baseline = ($1->>'baseline')::uuid
       AND NOT EXISTS (SELECT FROM ev WHERE ev.key = b.primary_key)
       AND CASE WHEN NOT (SELECT EXISTS (SELECT FROM tr)) THEN true
                ELSE NOT EXISTS (SELECT FROM tr WHERE tr.own OR (tr.leaf_schema, tr.leaf_table) = (b.leaf_schema::text, b.leaf_table::text)) END
$q$, '$$CHANGES$$', replace(bemi._tt_changes_sql(), '$2', 'NULL::text'))
$body$;

-- The same as a function (tests, other readers): bemi._tt_rows(ctx).
CREATE FUNCTION bemi._tt_rows(ctx jsonb)
    RETURNS TABLE(primary_key text, "row" jsonb, fallback jsonb)
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
    SET jit = off
    SET work_mem = '64MB'
AS $$
BEGIN
    RETURN QUERY EXECUTE bemi._tt_rows_sql() USING ctx;
END
$$;

-- The last `dropped` lineage entry of a relid: a live relation's entries are the ones after it
-- (an oid can be reused by a table created after another was dropped).
CREATE FUNCTION bemi._tt_last_drop(rel oid)
    RETURNS uuid
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT e.id FROM bemi.table_lineage e WHERE e.relid = rel AND e.event = 'dropped' ORDER BY e.id DESC LIMIT 1
$$;

-- The context for a live relation at an instant or position.
CREATE FUNCTION bemi._tt_context_live(rel regclass, until_ts timestamptz, until_pos int8)
    RETURNS jsonb
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT bemi._tt_context(rel, rel::text,
                            bemi._tt_last_drop(rel),
                            NULL, bemi._tt_columns_now(rel), true, until_ts, until_pos)
$$;

-- The stored commit at a position of the current capture: waits for capture under READ
-- COMMITTED when it is not stored yet (once, up to bemi.time_travel_wait).
CREATE FUNCTION bemi._tt_await_position(pos pg_lsn)
    RETURNS void
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF pos IS NULL THEN
        RAISE EXCEPTION 'bemi: the position must not be NULL' USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Pass the commit_position of a stored transaction.';
    END IF;
    IF NOT EXISTS (SELECT FROM bemi.changes c
                    WHERE c.capture = bemi._tt_current_capture() AND c.commit_position = (pos - '0/0'::pg_lsn)::int8)
       AND current_setting('transaction_isolation') = 'read committed'
       AND pos <= pg_current_wal_lsn() THEN
        PERFORM bemi.sync(bemi._tt_wait());
    END IF;
END
$$;

-- Reader (SECURITY DEFINER): the rows of rel at an instant (until_pos NULL) or right after the
-- stored commit at until_pos, for the holder of a permit token for rel.
CREATE FUNCTION bemi._as_of_rows(token int8, rel regclass, until_ts timestamptz, until_pos pg_lsn)
    RETURNS TABLE(primary_key text, "row" jsonb, fallback jsonb)
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    -- large set-based plans: JIT compilation costs more than it saves here; sorts and hashes
    -- of a chain's changes fit in memory
    SET jit = off
    SET work_mem = '64MB'
AS $$
DECLARE
    ctx jsonb;
BEGIN
    PERFORM bemi._check_past_permit(token, rel);
    IF until_pos IS NULL THEN
        PERFORM bemi._tt_await(until_ts);
    ELSE
        PERFORM bemi._tt_await_position(until_pos);
    END IF;
    ctx := bemi._tt_context_live(rel, until_ts, (until_pos - '0/0'::pg_lsn)::int8);
    RETURN QUERY EXECUTE bemi._tt_rows_sql() USING ctx;
END
$$;

-- Which relation had the name schema.table at the instant (the end of its prefix): its relid,
-- whether that relation exists now, and the bounds of its incarnation in the lineage (entries
-- lo < id <= hi). Internal: called by the reader below.
CREATE FUNCTION bemi._tt_relid_at(schema_name name, table_name name, instant timestamptz,
                                  OUT relid oid, OUT live boolean, OUT lo uuid, OUT hi uuid)
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    e_cap uuid; ecp int8; eseq int4;
    entry uuid;
BEGIN
    SELECT c.capture, c.commit_position, c.seq INTO e_cap, ecp, eseq
      FROM bemi.changes c WHERE c.effective_at <= instant
     ORDER BY c.effective_at DESC, c.capture DESC, c.commit_position DESC, c.seq DESC LIMIT 1;
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

-- Which table had the name at the instant, and whether it exists now (SECURITY DEFINER: the
-- lineage is not for PUBLIC; this tells no more than a name's owner in pg_class would), so that
-- the caller's wrapper can ask its permit for exactly that table.
CREATE FUNCTION bemi._tt_named(schema_name name, table_name name, instant timestamptz,
                               OUT relid oid, OUT live boolean)
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM bemi._tt_await(instant);
    SELECT r.relid, r.live INTO relid, live FROM bemi._tt_relid_at(schema_name, table_name, instant) r;
END
$$;

-- Reader (SECURITY DEFINER): the rows of the table named schema.table at the instant, in the
-- column names it has now (or had last, when dropped). The token: a permit for bemi.changes
-- (a reader of the whole trail may read any table's past, a dropped one's included), or a permit
-- for the relation that had the name then, when it still exists.
CREATE FUNCTION bemi._as_of_named(token int8, schema_name name, table_name name, instant timestamptz)
    RETURNS TABLE(primary_key text, "row" jsonb, fallback jsonb)
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    -- large set-based plans: JIT compilation costs more than it saves here; sorts and hashes
    -- of a chain's changes fit in memory
    SET jit = off
    SET work_mem = '64MB'
AS $$
DECLARE
    t record;
    ctx jsonb;
    cur jsonb;
BEGIN
    PERFORM bemi._tt_await(instant);
    SELECT * INTO t FROM bemi._tt_relid_at(schema_name, table_name, instant);
    -- The caller's permit must be for the table that had the name (a live one), or for
    -- bemi.changes (a dropped one: its past is for readers of the whole trail).
    IF t.live THEN
        PERFORM bemi._check_past_permit(token, t.relid::regclass);
        PERFORM bemi._tt_check_table(t.relid::regclass);
        cur := bemi._tt_columns_now(t.relid);
    ELSE
        PERFORM bemi._check_past_permit(token, 'bemi.changes'::regclass);
        SELECT coalesce(jsonb_object_agg(c->>'attnum', c->>'name'), '{}') INTO cur
          FROM (SELECT e.columns FROM bemi.table_lineage e
                 WHERE e.relid = t.relid AND (t.lo IS NULL OR e.id > t.lo) AND (t.hi IS NULL OR e.id <= t.hi)
                   AND e.columns IS NOT NULL AND jsonb_array_length(e.columns) > 0
                 ORDER BY e.id DESC LIMIT 1) l
         CROSS JOIN LATERAL jsonb_array_elements(l.columns) c;
    END IF;
    ctx := bemi._tt_context(t.relid, format('%I.%I', schema_name, table_name), t.lo, t.hi, cur, t.live, instant, NULL);
    RETURN QUERY EXECUTE bemi._tt_rows_sql() USING ctx;
END
$$;

-- The typed form refuses a row holding a value recorded through a fallback: it names the first.
CREATE FUNCTION bemi._tt_refuse_fallback(rel regclass, key text, fallback jsonb)
    RETURNS boolean
    LANGUAGE plpgsql IMMUTABLE
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF fallback IS NULL OR jsonb_array_length(fallback) = 0 THEN
        RETURN true;
    END IF;
    RAISE EXCEPTION 'bemi: the row of "%" with key % holds a value recorded through a fallback in column "%" (%)',
                    rel, key, fallback->0->>'column', fallback->0->>'reason'
        USING ERRCODE = 'data_exception',
              DETAIL = 'The record could not carry that value exactly (docs/record-format.md, "fallback"): a typed row would alter it.',
              HINT = format('bemi.as_of_jsonb(%L, ...) returns the row with its fallback entries.', rel::text);
END
$$;

-- Public functions (SECURITY INVOKER): the caller's permit, then the reader.

-- C (src/pg/timetravel/as_of.cpp): the table of the row type (bemi._tt_rel_of_type), its
-- checks (bemi._tt_check_table), the caller's permit, then backward from the live table when
-- provably the same answer (sql/0.3/42-as-of-backward.sql), else every row rebuilt by
-- bemi._as_of_rows and typed with jsonb_populate_record as the caller; a row holding a value
-- recorded through a fallback is refused (bemi._tt_refuse_fallback). Rows go straight into the
-- result.
CREATE FUNCTION bemi.as_of(rowtype anyelement, instant timestamptz)
    RETURNS SETOF anyelement
    LANGUAGE c VOLATILE
    SET search_path = pg_catalog, pg_temp
    SET work_mem = '64MB'  -- a whole table's rows pass through
    AS 'MODULE_PATHNAME', 'bemi_as_of';
COMMENT ON FUNCTION bemi.as_of(anyelement, timestamptz) IS
    'The rows of a table (SELECT * FROM bemi.as_of(NULL::t, instant)) after the longest prefix of the stored commit order whose commit times are <= instant, in its current row type (docs/time-travel.md)';

CREATE FUNCTION bemi.as_of(rowtype anyelement, commit_position pg_lsn)
    RETURNS SETOF anyelement
    LANGUAGE c VOLATILE
    SET search_path = pg_catalog, pg_temp
    SET work_mem = '64MB'  -- a whole table's rows pass through
    AS 'MODULE_PATHNAME', 'bemi_as_of';
COMMENT ON FUNCTION bemi.as_of(anyelement, pg_lsn) IS
    'The rows of a table right after the stored transaction that committed at this position (current capture), in its current row type';

-- An untyped literal (bemi.as_of(NULL::t, '2026-12-01 10:00+00')) matches both forms above, which
-- PostgreSQL cannot choose between: this one takes it as text and reads it as a commit position
-- when it has the form of one (0/1A2B3C), else as an instant (in the session's TimeZone, as
-- the literal would be read).
CREATE FUNCTION bemi.as_of(rowtype anyelement, instant_or_position text)
    RETURNS SETOF anyelement
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF instant_or_position ~ '^\s*[0-9A-Fa-f]{1,8}/[0-9A-Fa-f]{1,8}\s*$' THEN
        RETURN QUERY SELECT * FROM bemi.as_of(rowtype, instant_or_position::pg_lsn);
    ELSE
        RETURN QUERY SELECT * FROM bemi.as_of(rowtype, instant_or_position::timestamptz);
    END IF;
END
$$;
COMMENT ON FUNCTION bemi.as_of(anyelement, text) IS
    'bemi.as_of with an untyped literal: a commit position (0/1A2B3C) or an instant';

CREATE FUNCTION bemi.as_of_jsonb(rel regclass, instant timestamptz)
    RETURNS TABLE(primary_key text, "row" jsonb, fallback jsonb)
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    SET work_mem = '64MB'  -- a whole table's rows pass through
AS $$
BEGIN
    PERFORM bemi._tt_check_table(rel);
    RETURN QUERY SELECT r.primary_key, r."row", r.fallback
                   FROM bemi._as_of_rows(bemi._past_permit(rel), rel, instant, NULL) r;
END
$$;
COMMENT ON FUNCTION bemi.as_of_jsonb(regclass, timestamptz) IS
    'The rows of a table at an instant as jsonb (current column names), with the fallback entries of values recorded in a substitute form';

-- The refusal of a dropped table's past to a role that may not read the whole trail.
CREATE FUNCTION bemi._tt_refuse_dropped(schema_name name, table_name name)
    RETURNS void
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RAISE EXCEPTION 'bemi: permission denied to read the past of "%.%"', schema_name, table_name
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'The past of a table that no longer exists is for readers of bemi.changes (role bemi_reader); for an existing table pass its current name.';
END
$$;

CREATE FUNCTION bemi.as_of_jsonb(schema_name name, table_name name, instant timestamptz)
    RETURNS TABLE(primary_key text, "row" jsonb, fallback jsonb)
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    SET work_mem = '64MB'  -- a whole table's rows pass through
AS $$
DECLARE
    rel_then regclass;
    live boolean;
    token int8;
BEGIN
    -- The past of a table follows the table (docs/time-travel.md, "Reading the past: who may"):
    -- the caller's permit for the table that had the name at the instant, or, when that table
    -- has been dropped since, for bemi.changes (readers of the whole trail). Asked here, as the
    -- caller: a SECURITY DEFINER function calling this one gets its owner's rights, not its
    -- caller's.
    -- A name no table has now: only readers of the whole trail learn which table had it.
    IF to_regclass(format('%I.%I', schema_name, table_name)) IS NULL
       AND NOT has_table_privilege('bemi.changes', 'SELECT') THEN
        PERFORM bemi._tt_refuse_dropped(schema_name, table_name);
    END IF;
    SELECT n.relid, n.live INTO rel_then, live FROM bemi._tt_named(schema_name, table_name, instant) n;
    IF NOT live THEN
        IF NOT has_table_privilege('bemi.changes', 'SELECT') THEN
            PERFORM bemi._tt_refuse_dropped(schema_name, table_name);
        END IF;
        rel_then := 'bemi.changes'::regclass;
    END IF;
    token := bemi._past_permit(rel_then);
    RETURN QUERY SELECT r.primary_key, r."row", r.fallback
                   FROM bemi._as_of_named(token, schema_name, table_name, instant) r;
END
$$;
COMMENT ON FUNCTION bemi.as_of_jsonb(name, name, timestamptz) IS
    'The rows of the table that had this name at the instant (also one dropped since: a reader of bemi.changes may read those), as jsonb in its current (or last) column names';

-- Internal functions: not for PUBLIC. The readers check a permit token themselves; the wrappers
-- call them as the caller, so PUBLIC keeps EXECUTE on them (and on _tt_rel_of_type,
-- _tt_check_table, _tt_refuse_fallback, which read only the catalogs).
REVOKE EXECUTE ON FUNCTION
    bemi._tt_latest_stored(),
    bemi._tt_await(timestamptz),
    bemi._tt_await_position(pg_lsn),
    bemi._tt_current_capture(),
    bemi._tt_columns_now(oid),
    bemi._tt_context(oid, text, uuid, uuid, jsonb, boolean, timestamptz, int8, timestamptz, uuid),
    bemi._tt_map(jsonb, jsonb),
    bemi._tt_changes(jsonb, text),
    bemi._tt_baseline_row(jsonb, jsonb),
    bemi._tt_fill_toast(jsonb, text, text, int8, int4, jsonb, text[]),
    bemi._tt_rows(jsonb),
    bemi._tt_rows_sql(),
    bemi._tt_changes_sql(),
    bemi._tt_context_live(regclass, timestamptz, int8),
    bemi._tt_relid_at(name, name, timestamptz),
    bemi._tt_last_drop(oid)
    FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    bemi._as_of_rows(int8, regclass, timestamptz, pg_lsn),
    bemi._as_of_named(int8, name, name, timestamptz),
    bemi._tt_wait(),
    bemi._tt_rel_of_type(regtype),
    bemi._tt_check_table(regclass),
    bemi._tt_refuse_fallback(regclass, text, jsonb),
    bemi.as_of(anyelement, timestamptz),
    bemi.as_of(anyelement, pg_lsn),
    bemi.as_of(anyelement, text),
    bemi.as_of_jsonb(regclass, timestamptz),
    bemi.as_of_jsonb(name, name, timestamptz)
    TO PUBLIC;
