#!/usr/bin/env bash
# Retention (docs/time-travel.md, "Retention"): with bemi.retention set, the ingestion worker
# records a horizon H (a partition bound), baselines every table at H, then drops the
# partitions of bemi.changes below H, whole: no DELETE, nothing at or after H lost. Time travel
# answers every instant >= H as it did before the purge, and refuses earlier ones clearly.
#
# The trail here is cut into 5-second partitions made by the test (a superuser may add range
# partitions; the worker's own are a day wide by default), four rounds of changes five
# seconds apart, so that H falls between rounds. Then:
#   1. the worker is held (bemi.test_fault) between recording the horizon and dropping: the
#      state is consistent there (horizon and baselines committed, partitions still present,
#      instants before H refused, later ones exact); it is killed with SIGKILL there, and after
#      the restart nothing is lost or half done;
#   2. a REPEATABLE READ reader holding the trail makes the drop wait (lock_timeout, retried):
#      its answers stay the same, and the partitions go once it commits;
#   3. after the drop: the answers of as_of (both paths), as_of_jsonb (also of a table dropped
#      after the horizon, by its name), versions, history and a
#      revert's dry run equal those computed before the purge for instants >= H; no row of the
#      trail was deleted (n_tup_del 0); instants before H (as_of, versions from before H, a
#      revert window starting before H) are refused with a HINT naming bemi.retention;
#   4. a role without superuser cannot change the setting or purge;
#   5. a REPEATABLE READ reader whose snapshot predates a second horizon, reaching the trail only
#      after its partitions were dropped, is refused before it and never answers wrongly.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=../lib/cluster.sh
source "$here/../lib/cluster.sh"
# shellcheck source-path=SCRIPTDIR source=../lib/worker.sh
source "$here/../lib/worker.sh"

PATH="$(bemi_pg_bindir):$PATH"
export PATH
DB=bemi_retention
TMP=${BEMI_TEST_TMPDIR:-$(mktemp -d /tmp/bemi-retention.XXXXXX)}/retention
READER_PID=
cleanup() {
    [[ -n $READER_PID ]] && kill "$READER_PID" 2>/dev/null || true
    bemi_cluster_stop
}
trap cleanup EXIT
# Its own cluster: it kills the worker (the postmaster then resets every session) and changes
# server-wide settings.
export BEMI_SHARED_PRELOAD=bemi
export BEMI_TEST_EXTRA_CONF="restart_after_crash = on"
bemi_own_cluster_start "$TMP/cluster"
mkdir -p "$TMP" && chmod 777 "$TMP"
# shellcheck source-path=SCRIPTDIR source=../lib/retention.sh
source "$here/../lib/retention.sh"

# Partitions made in the transaction of CREATE EXTENSION, before the worker stores anything:
# [now - 1 day, B0), then [B0 + 5i, B0 + 5(i+1)) for 3 minutes.
psql -X -q -c "CREATE DATABASE $DB" >/dev/null
B0=$(q "SELECT to_timestamp(ceil(extract(epoch FROM now()) / 5) * 5 + 10)")
q "BEGIN;
   CREATE EXTENSION bemi;
   CREATE TABLE bemi.changes_rt_before PARTITION OF bemi.changes
       FOR VALUES FROM ('$B0'::timestamptz - interval '1 day') TO ('$B0');
   DO \$\$ BEGIN FOR i IN 0 .. 35 LOOP
     EXECUTE format('CREATE TABLE bemi.changes_rt%s PARTITION OF bemi.changes FOR VALUES FROM (%L) TO (%L)',
                    i, '$B0'::timestamptz + i * interval '5 s', '$B0'::timestamptz + (i + 1) * interval '5 s');
   END LOOP; END \$\$;
   COMMIT" >/dev/null
[[ $(q "SELECT bemi.sync()") == t ]] || bemi_fail "sync after CREATE EXTENSION: $(q "SELECT state, last_error FROM bemi.status")"
q "CREATE TABLE t (k int PRIMARY KEY, v text NOT NULL);
   CREATE TABLE u (k int PRIMARY KEY, v text NOT NULL, w text);  -- REPLICA IDENTITY DEFAULT
   CREATE TABLE poke (i int);
   CREATE TABLE gone (k int PRIMARY KEY, v text)  -- dropped in round 4: its past is read by name" >/dev/null
[[ $(q "SELECT bemi.sync()") == t ]] || bemi_fail "sync after the set-up"

ahead=$(q "SELECT count(*) FROM bemi._trail_partitions() WHERE lower > now()")
((ahead >= 30)) || bemi_fail "partitions ahead: $ahead"
# the worker's own, created ahead (bemi.partition_interval) after the test's
worker_ahead=$(q "SELECT count(*) FROM bemi._trail_partitions() WHERE lower > now() AND partition::text NOT LIKE 'bemi.changes_rt%'")
((worker_ahead >= 1)) || bemi_fail "the worker created no partition ahead: $(q "SELECT string_agg(partition::text, ' ') FROM bemi._trail_partitions()")"
echo "ok: $ahead partitions of bemi.changes ahead of now ($worker_ahead of them the worker's), the test's from $B0"
wait_for 15 "SELECT now() > '$B0'::timestamptz + interval '0.5 s'" || bemi_fail "the clock did not reach $B0"

# Four rounds, one per partition. u keeps REPLICA IDENTITY DEFAULT: its UPDATEs carry no before
# image, so a revert after the purge needs the horizon's baseline for it.
for r in 1 2 3 4; do
    q "INSERT INTO t SELECT g, 'r$r' FROM generate_series($r * 10, $r * 10 + 9) g;
       UPDATE t SET v = v || '+$r' WHERE k % 3 = 0;
       DELETE FROM t WHERE k = $r * 10 - 5;
       INSERT INTO u VALUES ($r, 'r$r', 'w$r') ON CONFLICT (k) DO UPDATE SET v = excluded.v;
       UPDATE u SET v = v || '+$r' WHERE k < $r" >/dev/null
    ((r == 2)) && q "UPDATE t SET k = k + 1000 WHERE k = 12" >/dev/null  # a key change
    # u's key 9: made in round 1, changed again only in round 4 (its before image for a revert
    # of round 4 is below the horizon: from the horizon's baseline)
    ((r == 1)) && q "INSERT INTO u VALUES (9, 'nine', 'w9')" >/dev/null
    ((r == 4)) && q "UPDATE u SET w = 'changed' WHERE k = 9" >/dev/null
    ((r == 1)) && q "INSERT INTO gone SELECT g, 'g' FROM generate_series(1, 5) g" >/dev/null
    ((r == 3)) && q "UPDATE gone SET v = 'g3' WHERE k < 3" >/dev/null
    ((r == 4)) && q "DROP TABLE gone" >/dev/null
    q "SELECT now()" >"$TMP/t$r"
    sleep 5
done
q "INSERT INTO poke VALUES (1)" >/dev/null
[[ $(q "SELECT bemi.sync()") == t ]] || bemi_fail "sync after the rounds"
q "SELECT p.partition, count(c.*) FROM bemi._trail_partitions() p LEFT JOIN bemi.changes c ON c.tableoid = p.partition
    GROUP BY p.partition, p.lower HAVING count(c.*) > 0 ORDER BY p.lower" | tr '\n' ' '
echo

# The instants compared: every partition bound of the rounds and the rounds' own instants.
INSTANTS=()
for i in 1 2 3 4; do INSTANTS+=("$(q "SELECT '$B0'::timestamptz + $i * interval '5 s'")" "$(cat "$TMP/t$i")"); done
answers() { # FILE: every answer, one per line ("instant|what|answer"); errors as ERROR lines
    local T out
    : >"$1"
    for T in "${INSTANTS[@]}"; do
        for path in on off; do
            out=$(q "SET bemi.time_travel_backward = $path;
                     SELECT string_agg(format('%s=%s', k, v), ',' ORDER BY k) FROM bemi.as_of(NULL::t, '$T'::timestamptz)" 2>&1 |
                  head -1) || true
            echo "$T|as_of t $path|$out" >>"$1"
        done
        out=$(q "SELECT string_agg(format('%s=%s', primary_key, \"row\"), ',' ORDER BY primary_key)
                   FROM bemi.as_of_jsonb('public', 'u', '$T'::timestamptz)" 2>&1 | head -1) || true
        echo "$T|as_of_jsonb u|$out" >>"$1"
        out=$(q "SELECT string_agg(format('%s=%s', primary_key, \"row\"), ',' ORDER BY primary_key)
                   FROM bemi.as_of_jsonb('public', 'gone', '$T'::timestamptz)" 2>&1 | head -1) || true
        [[ $out == *"no table \"public.gone\" is recorded at"* ]] && out="(no table then)"
        echo "$T|as_of_jsonb gone (dropped)|$out" >>"$1"
    done
}
# versions from H on, with valid_from clamped to H: a version made before the horizon and
# still valid at it starts, after the purge, at the last commit before H (docs).
versions() { # H
    q "SELECT string_agg(format('%s|%s|%s|%s', primary_key, greatest(valid_from, '$1'::timestamptz), valid_to, \"row\"), E'\n'
                         ORDER BY primary_key, valid_from)
         FROM bemi.versions(NULL::t, '$1'::timestamptz)"
}
history() { # H: record 18 (changed in every round) from H on; its diffs need the values before
    # each change, which REPLICA IDENTITY DEFAULT does not record: after the purge the first
    # one after H is NULL (docs), so they are left out here
    q "SELECT string_agg(format('%s %s %s %s', id, operation, primary_key, after), E'\n' ORDER BY capture, commit_position, seq)
         FROM bemi.history('t'::regclass, '18') WHERE effective_at >= '$1'::timestamptz"
}
revert_plan() { # the dry run of reverting round 4 (u: before images from history or a baseline)
    q "SELECT string_agg(format('%s %s %s %s %s', change_id, \"table\", primary_key, action, conflict), E'\n'
                         ORDER BY change_id)
         FROM bemi.revert(transaction_ids => ARRAY(SELECT DISTINCT transaction_id FROM bemi.changes
                                                    WHERE \"table\" = 'u' AND primary_key = '9' AND operation = 'UPDATE'),
                          dry_run => true)" 2>&1
}
answers "$TMP/before"
grep -q ERROR "$TMP/before" && bemi_fail "an answer before the purge failed: $(grep ERROR "$TMP/before" | head -3)"
REVERT_BEFORE=$(revert_plan)
[[ $REVERT_BEFORE == *"u 9 "* && $REVERT_BEFORE != *ERROR* ]] || bemi_fail "revert plan before the purge: $REVERT_BEFORE"
# The horizon is B0 + 10 s or B0 + 15 s (when the worker's check falls): both candidates.
for c in 10 15; do
    HC=$(q "SELECT '$B0'::timestamptz + interval '$c s'")
    versions "$HC" >"$TMP/versions_$c"
    history "$HC" >"$TMP/history_$c"
done
echo "ok: $(wc -l <"$TMP/before") answers before the purge"

# --- 1. held between the horizon and the drop, then killed there --------------------------
set_conf bemi.test_fault retention_pause_after_horizon
# A retention that puts now - retention at B0 + 10 s when it is set: the horizon is B0 + 10 s
# (B0 + 15 s if the worker's check comes 5 s late). A fixed retention would let a check delayed
# by a busy machine reach B0 + 20 s, past round 4, which the checks below revert.
set_conf bemi.retention "$(q "SELECT floor(extract(epoch FROM now() - ('$B0'::timestamptz + interval '10 s')))")"
wait_for 40 "SELECT EXISTS (SELECT FROM bemi.trail_horizon)" || bemi_fail "no horizon recorded: $(q "SELECT state, last_error FROM bemi.status")"
set_conf bemi.retention 0
H=$(q "SELECT max(horizon) FROM bemi.trail_horizon")
echo "ok: horizon $H recorded: $(q "SELECT baselines, skipped FROM bemi.trail_horizon")"
[[ $(q "SELECT '$H'::timestamptz >= '$B0'::timestamptz + interval '10 s' AND '$H'::timestamptz <= '$B0'::timestamptz + interval '15 s'") == t ]] ||
    bemi_fail "horizon $H is not between the rounds"
below=$(q "SELECT count(*) FROM bemi._trail_partitions() WHERE upper <= '$H'")
((below > 0)) || bemi_fail "the partitions below the horizon are gone while the worker is held"
[[ $(q "SELECT count(*) FROM bemi.changes WHERE effective_at < '$H'") -gt 0 ]] || bemi_fail "rows below the horizon already gone"

check_after() { # LABEL: answers at instants >= H unchanged, earlier ones refused
    local T what out expected
    answers "$TMP/after"
    while IFS='|' read -r T what out; do
        expected=$(grep -F "$T|$what|" "$TMP/before" | cut -d'|' -f3-)
        if [[ $(q "SELECT '$T'::timestamptz >= '$H'::timestamptz") == t ]]; then
            [[ $out == "$expected" ]] || bemi_fail "$1: $what at $T: '$out', before the purge '$expected'"
        else
            [[ $out == *"is before the horizon of the stored history"* ]] || bemi_fail "$1: $what at $T (< H) not refused: $out"
        fi
    done <"$TMP/after"
}
check_after "held before the drop"
echo "ok: held before the drop, answers >= H unchanged and instants < H refused"

pid=$(bemi_worker_pid "$DB")
[[ -n $pid ]] || bemi_fail "no worker"
# Killed while still held (the fault is lifted only after the restart: lifted before, the
# worker could resume first; with bemi.retention at 0 it must then drop nothing either).
kill -9 "$pid"
for _ in $(seq 1 150); do
    sleep 0.2
    pg_isready -q && q "SELECT 1" >/dev/null 2>&1 && break
done
set_conf bemi.test_fault none
[[ $(q "SELECT bemi.sync()") == t ]] || bemi_fail "sync after the kill"
[[ $(q "SELECT max(horizon) = '$H' FROM bemi.trail_horizon") == t ]] || bemi_fail "horizon lost or moved by the kill"
[[ $(q "SELECT count(*) FROM bemi._trail_partitions() WHERE upper <= '$H'") == "$below" ]] ||
    bemi_fail "partitions dropped although bemi.retention is 0"
check_after "after SIGKILL of the worker between horizon and drop"
echo "ok: SIGKILL between the horizon and the drop: horizon kept, partitions still there, answers consistent"

# --- 2. a REPEATABLE READ reader holding the trail makes the drop wait ---------------------
T4=$(cat "$TMP/t4")  # after H (H <= B0 + 15 s)
cat >"$TMP/reader.sql" <<SQL
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT 'first:' || coalesce(string_agg(format('%s=%s', k, v), ',' ORDER BY k), '') FROM bemi.as_of(NULL::t, '$T4'::timestamptz);
SELECT pg_sleep(12);
SELECT 'second:' || coalesce(string_agg(format('%s=%s', k, v), ',' ORDER BY k), '') FROM bemi.as_of(NULL::t, '$T4'::timestamptz);
COMMIT;
SQL
psql -X -q -A -t -d "$DB" -f "$TMP/reader.sql" >"$TMP/reader.out" 2>&1 &
READER_PID=$!
wait_for 20 "SELECT EXISTS (SELECT FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(12)%')" || bemi_fail "the reader did not start"
# retention wide enough that the horizon does not move: only the drop is left to do
set_conf bemi.retention "$(q "SELECT ceil(extract(epoch FROM now() - '$H'::timestamptz)) + 30")"
sleep 8
[[ $(q "SELECT count(*) FROM bemi._trail_partitions() WHERE upper <= '$H'") == "$below" ]] ||
    bemi_fail "a partition was dropped under a reader holding bemi.changes"
grep -q "retention could not lock .* within lock_timeout" "$BEMI_TEST_SERVER_LOG" ||
    bemi_fail "the worker did not try to drop (and time out) while the reader held the trail"
wait "$READER_PID" || bemi_fail "the reader failed: $(cat "$TMP/reader.out")"
READER_PID=
first=$(grep '^first:' "$TMP/reader.out" | cut -d: -f2-)
second=$(grep '^second:' "$TMP/reader.out" | cut -d: -f2-)
[[ -n $first && $first == "$second" ]] || bemi_fail "the reader's answers differ: '$first' / '$second'"
wait_for 30 "SELECT NOT EXISTS (SELECT FROM bemi._trail_partitions() WHERE upper <= '$H')" ||
    bemi_fail "the partitions below the horizon were not dropped after the reader ended"
set_conf bemi.retention 0
echo "ok: the drop waited for a REPEATABLE READ reader (same answer twice), then dropped $below partitions"

# --- 3. after the drop ---------------------------------------------------------------------
[[ $(q "SELECT count(*) FROM bemi.changes WHERE effective_at < '$H' AND tableoid <> 'bemi.changes_default'::regclass") == 0 ]] ||
    bemi_fail "rows below the horizon left in range partitions"
deleted=$(q "SELECT coalesce(sum(n_tup_del), 0) FROM pg_stat_user_tables WHERE schemaname = 'bemi' AND relname LIKE 'changes%'")
[[ $deleted == 0 ]] || bemi_fail "rows of the trail were deleted: $deleted"
check_after "after the drop"
c=$(q "SELECT extract(epoch FROM '$H'::timestamptz - '$B0'::timestamptz)::int")
[[ $(versions "$H") == "$(cat "$TMP/versions_$c")" ]] ||
    bemi_fail "versions from H differ: $(diff <(versions "$H") "$TMP/versions_$c" | head -10)"
[[ -s $TMP/versions_$c ]] || bemi_fail "no versions"
[[ $(history "$H") == "$(cat "$TMP/history_$c")" ]] ||
    bemi_fail "history from H differs: $(diff <(history "$H") "$TMP/history_$c" | head -10)"
[[ $(revert_plan) == "$REVERT_BEFORE" ]] || bemi_fail "revert plan differs: $(revert_plan) / before: $REVERT_BEFORE"
out=$(q "SELECT count(*) FROM bemi.versions(NULL::t, '$H'::timestamptz - interval '1 s')" 2>&1) || true
[[ $out == *"is before the horizon"*"bemi.retention"* ]] || bemi_fail "versions from before H not refused: $out"
out=$(q "SELECT count(*) FROM bemi.revert(from_time => '$H'::timestamptz - interval '1 s', dry_run => true)" 2>&1) || true
[[ $out == *"the start of the revert window"*"is before the horizon"* ]] || bemi_fail "revert from before H not refused: $out"
out=$(q "SELECT count(*) FROM bemi.as_of(NULL::t, '$H'::timestamptz - interval '1 ms')" 2>&1) || true
[[ $out == *"HINT:"*"bemi.retention"* ]] || bemi_fail "the refusal's HINT does not name bemi.retention: $out"
echo "ok: after the drop, every answer >= H unchanged (as_of both paths, as_of_jsonb, versions, history, revert plan),"
echo "    every instant < H refused, n_tup_del 0"

# --- 5. a REPEATABLE READ reader whose snapshot predates the next horizon -------------------
# It takes its snapshot, waits (outside the trail) until the partitions below the next horizon
# H2 are dropped, then asks: at an instant in [H, H2) it must refuse (its snapshot does not see
# H2's row: the mirror tells it), and at H2 refuse or answer what was answered before the purge.
H2_PART=$(q "SELECT partition FROM bemi._trail_partitions() p
              WHERE p.upper <= (SELECT max(effective_at) FROM bemi.changes) ORDER BY p.upper DESC LIMIT 1")
H2=$(q "SELECT upper FROM bemi._trail_partitions() WHERE partition = '$H2_PART'::regclass")
OLD_T=
for T in "${INSTANTS[@]}"; do
    [[ $(q "SELECT '$T'::timestamptz >= '$H' AND '$T'::timestamptz < '$H2'") == t ]] && OLD_T=$T
done
cat >"$TMP/reader2.sql" <<SQL
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT 'snapshot:' || count(*) FROM poke;
DO \$\$ BEGIN FOR i IN 1 .. 600 LOOP EXIT WHEN to_regclass('$H2_PART') IS NULL; PERFORM pg_sleep(0.1); END LOOP; END \$\$;
SELECT 'dropped:' || (to_regclass('$H2_PART') IS NULL);
SAVEPOINT a;
SELECT 'old:' || coalesce(string_agg(format('%s=%s', k, v), ',' ORDER BY k), '') FROM bemi.as_of(NULL::t, '${OLD_T:-$H2}'::timestamptz);
ROLLBACK TO SAVEPOINT a;
SELECT 'new:' || coalesce(string_agg(format('%s=%s', k, v), ',' ORDER BY k), '') FROM bemi.as_of(NULL::t, '$H2'::timestamptz);
ROLLBACK;
SQL
psql -X -q -A -t -d "$DB" -f "$TMP/reader2.sql" >"$TMP/reader2.out" 2>&1 &
READER_PID=$!
wait_for 20 "SELECT EXISTS (SELECT FROM pg_stat_activity WHERE query LIKE 'DO %to_regclass%')" || bemi_fail "the second reader did not start"
set_conf bemi.retention 30  # the horizon moves to H2: the last bound below the newest change
wait "$READER_PID" || true
READER_PID=
set_conf bemi.retention 0
[[ $(q "SELECT max(horizon) FROM bemi.trail_horizon") == "$H2" ]] || bemi_fail "the horizon did not move to $H2"
grep -q '^dropped:t' "$TMP/reader2.out" || bemi_fail "the partition below H2 was not dropped: $(cat "$TMP/reader2.out")"
if [[ -n $OLD_T ]]; then
    grep -q 'is before the horizon of the stored history' "$TMP/reader2.out" ||
        bemi_fail "a reader whose snapshot predates H2 was not refused at $OLD_T: $(cat "$TMP/reader2.out")"
fi
new=$(grep '^new:' "$TMP/reader2.out" | cut -d: -f2- || true)
expected=$(grep -F "$H2|as_of t on|" "$TMP/before" | cut -d'|' -f3-)
[[ -z $new || $new == "$expected" ]] || bemi_fail "the old snapshot's answer at H2 is wrong: '$new', before the purge '$expected'"
echo "ok: a REPEATABLE READ snapshot older than horizon $H2: refused before it${OLD_T:+ (at $OLD_T)}, at it $( [[ -n $new ]] && echo "the right answer" || echo "refused")"
H=$H2
check_after "after the second horizon"
echo "ok: after the second horizon, answers >= $H2 unchanged, earlier instants refused"

# --- 4. who may ----------------------------------------------------------------------------
psql -X -q -c "CREATE ROLE retention_plain LOGIN" >/dev/null
out=$(psql -X -q -U retention_plain -d "$DB" -c "SET bemi.retention = '1h'" 2>&1) || true
[[ $out == *"cannot be changed now"* || $out == *"permission denied"* ]] || bemi_fail "a plain role set bemi.retention: $out"
out=$(psql -X -q -U retention_plain -d "$DB" -c "ALTER SYSTEM SET bemi.retention = '1h'" 2>&1) || true
[[ $out == *"permission denied"* || $out == *"must be superuser"* ]] || bemi_fail "a plain role ran ALTER SYSTEM: $out"
out=$(psql -X -q -U retention_plain -d "$DB" -c "SELECT bemi._retention_drop()" 2>&1) || true
[[ $out == *"permission denied"* ]] || bemi_fail "a plain role called the purge: $out"
out=$(psql -X -q -d "$DB" -c "SET bemi.retention = '1h'" 2>&1) || true
[[ $out == *"cannot be changed now"* ]] || bemi_fail "bemi.retention is settable in a session: $out"
echo "ok: bemi.retention is server-wide and superuser-only; the purge functions refuse other roles"
