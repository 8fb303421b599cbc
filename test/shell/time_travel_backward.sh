#!/usr/bin/env bash
# The typed bemi.as_of answering backward from the live table (docs/time-travel.md, "Backward
# from the live table") gives the forward rebuild's answer, and falls back when it must:
#   - while a concurrent writer commits inserts, updates that leave a TOASTed column unchanged,
#     key changes, deletes and re-inserts on three tables (int8 key under REPLICA IDENTITY
#     DEFAULT with a bemi.backfill baseline, composite (int, text) key under FULL, uuid key),
#     random instants and stored commit positions are asked twice: backward (the default) and
#     forward (bemi.time_travel_backward = off). Every pair must be equal, and the backward path
#     (bemi._tt_last_path()) must have answered at least 80% of the instants;
#   - each condition that must fall back does, saying why, and answers like the forward path:
#     REPEATABLE READ, a transaction that has written, a partitioned table, a key type outside
#     the list, a schema change, a TRUNCATE, a new baseline, an exclusion change, a value
#     recorded through a fallback, capture not storing within bemi.time_travel_wait, a skipped
#     transaction after the instant.
# Environment: BEMI_TT_BW_SECONDS (how long the writer writes, default 25).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=../lib/cluster.sh
source "$here/../lib/cluster.sh"

DB=bemi_tt_backward
WRITE_SECONDS=${BEMI_TT_BW_SECONDS:-25}
[[ $WRITE_SECONDS =~ ^[0-9]+$ ]] || bemi_fail "BEMI_TT_BW_SECONDS must be a whole number of seconds"

BG=()
cleanup() {
    local p
    for p in "${BG[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    bemi_drop_capture_db "$DB" none
}
trap cleanup EXIT
bemi_require_preload "the ingestion worker fills bemi.changes"
bemi_drop_capture_db "$DB" none
bemi_new_capture_db "$DB"

q() { psql -X -q -A -t -v ON_ERROR_STOP=1 -d "$DB" -c "$1"; }
synced() { [[ $(q "SELECT bemi.sync()") == t ]] || bemi_fail "bemi.sync()"; }

q "$(cat <<'SQL'
CREATE TABLE bw_int (id int8 PRIMARY KEY, v int NOT NULL, note text, big text);
CREATE TABLE bw_comp (region int4, code text, v numeric, ts timestamptz, PRIMARY KEY (region, code));
ALTER TABLE bw_comp REPLICA IDENTITY FULL;
-- a dropped column: the live rows lack it, the row type keeps its place
CREATE TABLE bw_uuid (id uuid PRIMARY KEY, gone int, v int);
ALTER TABLE bw_uuid DROP COLUMN gone;
-- a commit after every instant asked in the fallback checks
CREATE TABLE bw_tick (n int);

-- big: out of line (incompressible enough), left unchanged by most updates
CREATE FUNCTION bw_big(seed text) RETURNS text LANGUAGE sql AS
$$ SELECT string_agg(md5(seed || i), '') FROM generate_series(1, 300) i $$;

INSERT INTO bw_int SELECT g, g, 'n' || g, CASE WHEN g % 10 = 0 THEN bw_big(g::text) END FROM generate_series(1, 1000) g;
INSERT INTO bw_comp SELECT g % 7, 'c' || g, g / 3.0, timestamptz '2026-01-01 00:00+00' + g * interval '1 minute'
  FROM generate_series(1, 500) g;
INSERT INTO bw_uuid SELECT md5(g::text)::uuid, g FROM generate_series(1, 500) g;

-- Random transactions of 1..4 statements until the deadline; each commits.
CREATE PROCEDURE bw_write(secs float8, seed float8) LANGUAGE plpgsql AS $$
DECLARE
    deadline timestamptz := clock_timestamp() + secs * interval '1 second';
    x float8;
    k int8;
    n int := 0;
BEGIN
    PERFORM setseed(seed);
    WHILE clock_timestamp() < deadline LOOP
        n := n + 1;
        FOR i IN 1 .. 1 + floor(random() * 4)::int LOOP
            x := random();
            k := 1 + floor(random() * 1200)::int8;
            IF x < 0.30 THEN
                UPDATE bw_int SET v = v + 1, note = 'u' || n WHERE id = k;
            ELSIF x < 0.38 THEN
                UPDATE bw_int SET id = id + 5000 WHERE id = k AND NOT EXISTS (SELECT FROM bw_int WHERE id = k + 5000);
            ELSIF x < 0.46 THEN
                DELETE FROM bw_int WHERE id = k;
            ELSIF x < 0.54 THEN
                INSERT INTO bw_int VALUES (k, n, 'i' || n, CASE WHEN n % 3 = 0 THEN bw_big(n::text) END)
                ON CONFLICT (id) DO UPDATE SET v = excluded.v, note = 'upsert ' || n;
            ELSIF x < 0.66 THEN
                UPDATE bw_comp SET v = v + 1, ts = clock_timestamp() WHERE region = k % 7 AND code = 'c' || (k % 600);
            ELSIF x < 0.72 THEN
                UPDATE bw_comp SET code = code || 'x' WHERE region = k % 7 AND code = 'c' || (k % 600)
                   AND NOT EXISTS (SELECT FROM bw_comp WHERE region = k % 7 AND code = 'c' || (k % 600) || 'x');
            ELSIF x < 0.78 THEN
                DELETE FROM bw_comp WHERE region = k % 7 AND code = 'c' || (k % 600);
            ELSIF x < 0.84 THEN
                INSERT INTO bw_comp VALUES (k % 7, 'c' || (k % 600), n, clock_timestamp()) ON CONFLICT DO NOTHING;
            ELSIF x < 0.92 THEN
                UPDATE bw_uuid SET v = v + 1 WHERE id = md5((k % 600)::text)::uuid;
            ELSIF x < 0.96 THEN
                DELETE FROM bw_uuid WHERE id = md5((k % 600)::text)::uuid;
            ELSE
                INSERT INTO bw_uuid VALUES (md5((k % 600)::text)::uuid, n) ON CONFLICT DO NOTHING;
            END IF;
        END LOOP;
        COMMIT;
        PERFORM pg_sleep(0.01 * random());
    END LOOP;
END $$;

-- A table's rows at an instant or position (text: bemi.as_of reads either), as one digest.
CREATE FUNCTION bw_digest(tbl text, at text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    d text;
BEGIN
    EXECUTE format('SELECT count(*) || '' '' || md5(coalesce(string_agg(x::text, ''|'' ORDER BY x::text), ''''))
                      FROM bemi.as_of(NULL::%I, %L::text) x', tbl, at) INTO d;
    RETURN d;
END $$;

-- Asked backward (the default), then forward: the path the first took, and both answers.
CREATE FUNCTION bw_compare(tbl text, at text, OUT path text, OUT same boolean, OUT back text, OUT fwd text,
                           OUT fwd_path text)
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM set_config('bemi.time_travel_backward', 'on', false);
    back := bw_digest(tbl, at);
    path := bemi._tt_last_path();
    PERFORM set_config('bemi.time_travel_backward', 'off', false);
    fwd := bw_digest(tbl, at);
    fwd_path := bemi._tt_last_path();
    PERFORM set_config('bemi.time_travel_backward', 'on', false);
    same := back = fwd;
END $$;

CREATE TABLE bw_results (tbl text, at text, kind text, path text, same boolean, back text, fwd text);
SQL
)"
synced
q "SELECT bemi.backfill('bw_int')" >/dev/null
synced
T0=$(q "SELECT clock_timestamp()")
q "INSERT INTO bw_tick VALUES (0)"
synced

# One round: for each table an instant between T0 and the latest stored commit and a stored commit
# position of it,
# each compared. A plain SELECT, whose transaction writes nothing (a transaction that has
# written is one of the fallbacks); the lines go to a file, loaded into bw_results at the end.
RESULTS=$BEMI_TEST_TMPDIR/bw_results.txt
: >"$RESULTS"
round() {
    psql -X -q -A -t -F $'\t' -v ON_ERROR_STOP=1 -d "$DB" >>"$RESULTS" <<SQL || bemi_fail "a round of comparisons failed"
SELECT t.tbl, a.at, a.kind, c.path, c.same, c.back, c.fwd
  FROM unnest(ARRAY['bw_int', 'bw_comp', 'bw_uuid']) t(tbl)
 CROSS JOIN LATERAL (
       -- before the latest stored commit: answerable, also once the writer has stopped
       SELECT (s.latest - random() * (s.latest - '$T0'::timestamptz))::text AS at, 'instant' AS kind
         FROM (SELECT max(effective_at) AS latest FROM bemi.changes) s
       UNION ALL
       (SELECT pg_lsn(ch.commit_position::numeric)::text, 'position' FROM bemi.changes ch
         WHERE ch."table" = t.tbl AND ch.capture = (SELECT capture FROM bemi.changes ORDER BY id DESC LIMIT 1)
           AND ch.effective_at > '$T0'::timestamptz
         ORDER BY random() LIMIT 1)) a
 CROSS JOIN LATERAL bw_compare(t.tbl, a.at) c;
SQL
}

psql -X -q -v ON_ERROR_STOP=1 -d "$DB" -c "CALL bw_write($WRITE_SECONDS, 0.42)" >"$BEMI_TEST_TMPDIR/bw_writer.log" 2>&1 &
BG+=($!)
writer=$!
rounds=0
while kill -0 "$writer" 2>/dev/null; do
    round
    rounds=$((rounds + 1))
done
wait "$writer" || bemi_fail "the writer failed: $(cat "$BEMI_TEST_TMPDIR/bw_writer.log")"
synced
round
round
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" -c "\\copy bw_results FROM '$RESULTS'" || bemi_fail "loading the results"

summary=$(q "SELECT count(*) || ' compared, ' || count(*) FILTER (WHERE NOT same) || ' different, '
                    || count(*) FILTER (WHERE kind = 'instant') || ' instants of which '
                    || count(*) FILTER (WHERE kind = 'instant' AND path = 'backward') || ' backward, '
                    || count(*) FILTER (WHERE kind = 'position') || ' positions of which '
                    || count(*) FILTER (WHERE kind = 'position' AND path = 'backward') || ' backward'
               FROM bw_results")
echo "time_travel_backward: $rounds rounds under the writer; $summary"
diff=$(q "SELECT tbl || ' at ' || at || ' (' || path || '): backward ' || back || ', forward ' || fwd FROM bw_results WHERE NOT same")
[[ -z $diff ]] || bemi_fail "backward and forward answers differ:"$'\n'"$diff"
(( $(q "SELECT count(*) FROM bw_results WHERE kind = 'instant'") >= 30 )) || bemi_fail "fewer than 30 instants compared"
paths=$(q "SELECT path || ': ' || count(*) FROM bw_results GROUP BY path ORDER BY path")
(( $(q "SELECT (count(*) FILTER (WHERE path = 'backward') * 100 >= count(*) * 80)::int FROM bw_results") == 1 )) ||
    bemi_fail "the backward path answered fewer than 80% of the comparisons:"$'\n'"$paths"
(( $(q "SELECT count(*) FROM bw_results WHERE path = 'backward' AND kind = 'position'") > 0 )) ||
    bemi_fail "no commit position was answered backward:"$'\n'"$paths"

# Called in a select list rather than FROM: the same rows.
at=$(q "SELECT max(effective_at) - interval '1 second' FROM bemi.changes")
got=$(q "SELECT (SELECT count(*) FROM (SELECT bemi.as_of(NULL::bw_uuid, '$at'::timestamptz)) s) || ' ' || bemi._tt_last_path()
            || ' ' || (SELECT count(*) FROM bemi.as_of(NULL::bw_uuid, '$at'::timestamptz))")
[[ $got =~ ^([0-9]+)\ backward\ ([0-9]+)$ && ${BASH_REMATCH[1]} == "${BASH_REMATCH[2]}" ]] ||
    bemi_fail "as_of in a select list: got '$got'"

# ------------------------------------------------------------------ each fallback condition

# fallback WHAT SQL-BEFORE TABLE EXPECTED-PATH [SESSION-SQL-PREFIX SESSION-SQL-SUFFIX]: takes an
# instant, runs SQL-BEFORE (the condition, committed after the instant), commits a tick so that
# the instant is answerable, then compares TABLE at the instant inside the prefix/suffix.
fallback() {
    local what=$1 change=$2 tbl=$3 want=$4 pre=${5:-} post=${6:-} at got
    at=$(q "SELECT clock_timestamp()")
    [[ -z $change ]] || q "$change" >/dev/null
    q "INSERT INTO bw_tick VALUES (1)"
    synced
    got=$(psql -X -q -A -t -F ' ' -v ON_ERROR_STOP=1 -d "$DB" \
        -c "$pre" -c "SELECT same, path, fwd_path FROM bw_compare('$tbl', '$at')" -c "$post" | grep -E '^(t|f) ' || true)
    [[ $got == "t $want forward: bemi.time_travel_backward is off" ]] ||
        bemi_fail "$what: expected the same answer and path '$want', got: '$got'"
    echo "time_travel_backward: $what -> $want"
}

q "CREATE TABLE bw_part (grp int, id int, v int, PRIMARY KEY (grp, id)) PARTITION BY LIST (grp);
   CREATE TABLE bw_part_1 PARTITION OF bw_part FOR VALUES IN (1);
   CREATE TABLE bw_part_2 PARTITION OF bw_part FOR VALUES IN (2);
   INSERT INTO bw_part SELECT 1 + g % 2, g, g FROM generate_series(1, 20) g;
   CREATE TABLE bw_num (id numeric PRIMARY KEY, v int);
   INSERT INTO bw_num SELECT g / 2.0, g FROM generate_series(1, 20) g;
   CREATE TABLE bw_ddl (id int PRIMARY KEY, v int);
   INSERT INTO bw_ddl SELECT g, g FROM generate_series(1, 20) g;
   CREATE TABLE bw_tr (id int PRIMARY KEY, v int);
   INSERT INTO bw_tr SELECT g, g FROM generate_series(1, 20) g;
   CREATE TABLE bw_fb (id int PRIMARY KEY, doc json);
   INSERT INTO bw_fb VALUES (1, '{\"a\": 1}')"
synced

fallback "REPEATABLE READ" "UPDATE bw_uuid SET v = v + 1" bw_uuid "forward: not READ COMMITTED" \
    "BEGIN ISOLATION LEVEL REPEATABLE READ" "COMMIT"
fallback "a transaction that has written" "UPDATE bw_uuid SET v = v + 1" bw_uuid "forward: the transaction has written" \
    "BEGIN; INSERT INTO bw_tick VALUES (2)" "ROLLBACK"
fallback "a partitioned table" "UPDATE bw_part SET v = v + 1 WHERE id < 5" bw_part "forward: not an ordinary table"
fallback "a numeric key" "UPDATE bw_num SET v = v + 1 WHERE v < 5" bw_num "forward: key type"
fallback "a column added after the instant" "ALTER TABLE bw_ddl ADD COLUMN w int; UPDATE bw_ddl SET w = 1 WHERE id = 1" \
    bw_ddl "forward: a schema change or baseline after the instant"
fallback "a TRUNCATE after the instant" "TRUNCATE bw_tr; INSERT INTO bw_tr VALUES (1, 100)" bw_tr \
    "forward: a TRUNCATE or a record without a key after the instant"
fallback "a baseline after the instant" "UPDATE bw_tr SET v = 7; SELECT bemi.backfill('bw_tr')" bw_tr \
    "forward: a schema change or baseline after the instant"
fallback "an exclusion added after the instant" "INSERT INTO bemi.excluded_tables (pattern) VALUES ('public.bw_unrelated')" \
    bw_uuid "forward: exclusions changed after the instant"
fallback "a value recorded through a fallback" "INSERT INTO bw_fb VALUES (2, '{\"a\": \"\\u0000\"}')" bw_fb \
    "forward: a value recorded through a fallback"

# Capture cannot store (the worker's insert waits for a lock on bemi.changes): the wait for L
# runs out and the forward path answers from what is stored.
psql -X -q -d "$DB" -c "BEGIN; LOCK TABLE bemi.changes IN EXCLUSIVE MODE; SELECT pg_sleep(6); COMMIT" >/dev/null 2>&1 &
BG+=($!)
locker=$!
for _ in $(seq 1 100); do
    [[ $(q "SELECT count(*) FROM pg_locks WHERE relation = 'bemi.changes'::regclass AND mode = 'ExclusiveLock' AND granted") == 1 ]] && break
    sleep 0.05
done
[[ $(q "SELECT count(*) FROM pg_locks WHERE relation = 'bemi.changes'::regclass AND mode = 'ExclusiveLock' AND granted") == 1 ]] ||
    bemi_fail "the lock on bemi.changes was not taken"
at=$(q "SELECT max(effective_at) - interval '1 microsecond' FROM bemi.changes")
q "UPDATE bw_uuid SET v = v + 1"
got=$(psql -X -q -A -t -F ' ' -v ON_ERROR_STOP=1 -d "$DB" -c "SET bemi.time_travel_wait = 500" \
    -c "SELECT same, path FROM bw_compare('bw_uuid', '$at')")
[[ $got == "t forward: capture did not store what the live table shows within bemi.time_travel_wait" ]] ||
    bemi_fail "capture not storing in time: got '$got'"
echo "time_travel_backward: capture not storing in time -> forward"
wait "$locker" || true
synced

# A skipped transaction after the instant (the row bemi.skip_transaction() records), after the
# first commit that follows it: the forward path's chain ends before it and still answers.
at=$(q "SELECT clock_timestamp()")
q "UPDATE bw_uuid SET v = v + 1"
synced
q "INSERT INTO bemi.capture_history (event, capture, slot_name, gap_from, detail, system_identifier, database_oid, database)
   SELECT 'transaction_skipped', h.capture, h.slot_name, pg_current_wal_lsn(), 'time_travel_backward.sh',
          h.system_identifier, h.database_oid, h.database
     FROM bemi.capture_history h WHERE h.event IN ('capture_started', 'gap') ORDER BY h.id DESC LIMIT 1"
q "INSERT INTO bw_tick VALUES (3)"
synced
got=$(q "SELECT same || ' ' || path FROM bw_compare('bw_uuid', '$at')")
[[ $got == "true forward: capture stopped or skipped a transaction after the instant" ]] ||
    bemi_fail "a skipped transaction after the instant: got '$got'"
echo "time_travel_backward: a skipped transaction after the instant -> forward"

echo "time_travel_backward: ok"
