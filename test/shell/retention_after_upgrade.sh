#!/usr/bin/env bash
# Retention (docs/time-travel.md, "Retention") of a trail that began under bemi 0.3: ALTER
# EXTENSION bemi UPDATE attaches the 0.3 table as the partition bemi.changes_0_3, FROM
# (MINVALUE) TO the partition bound after its newest change (sql/0.4/20-layout.sql; the test
# upgrades with bemi.partition_interval = '1 min', so that bound, U, comes within a minute, and
# then cuts [U, U + 3 min) into 5-second partitions in the upgrade's transaction, as
# test/shell/retention.sh does after CREATE EXTENSION).
# History: three phases under 0.3, the upgrade, four phases after U, 5 s apart, in the plain
# table t (a key change, deletes) and the range-partitioned p (a row moved between leaves). After
# each phase the live contents of t and p with an instant (clock_timestamp() after bemi.sync()).
#   1. time travel across the upgrade: as_of(t), as_of(p) equal the live contents at every
#      instant (the 0.3 ones included) before any retention;
#   2. a horizon inside changes_0_3's range does not drop it:
#      a. bemi.retention aimed inside the range (no partition bound there): the worker records no
#         horizon and drops nothing;
#      b. bemi._retention_advance at an instant between two 0.3 phases, then bemi._retention_drop:
#         the horizon is recorded, changes_0_3 stays whole (same rows), every instant >= it is
#         answered exactly, earlier ones are refused;
#   3. bemi.retention aimed at U + 10 s (after the last change stored before the upgrade): the
#      worker records H in {U + 10 s, U + 15 s} and drops changes_0_3 with the partitions below H;
#      every other partition keeps its rows, no row deleted (n_tup_del 0); instants >= H exact,
#      earlier ones (all of 0.3's among them) refused with a HINT naming bemi.retention.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=../lib/cluster.sh
source "$here/../lib/cluster.sh"
# shellcheck source-path=SCRIPTDIR source=../lib/upgrade.sh
source "$here/../lib/upgrade.sh"

# Its own cluster: it changes server-wide settings (bemi.retention).
bemi_own_test_cluster retention_after_upgrade
DB=bemi_retention_upgrade
TMP=$BEMI_TEST_TMPDIR/retention_after_upgrade
mkdir -p "$TMP" && chmod 777 "$TMP"
# shellcheck source-path=SCRIPTDIR source=../lib/retention.sh
source "$here/../lib/retention.sh"
NEW_VERSION=$(sed -n "s/^default_version = '\(.*\)'/\1/p" "$here/../../bemi.control")
[[ -n $NEW_VERSION && $NEW_VERSION != 0.3 ]] || bemi_fail "default_version in bemi.control: '$NEW_VERSION'"

psql -X -q -c "CREATE DATABASE $DB" >/dev/null
bemi_upgrade_db "$DB" 0.3 # t (id, note), p (id, v) by range: p_low (< 1000), p_high
q "CREATE TABLE poke (i int)" >/dev/null
synced "set-up"

INSTANTS=()
record() { # the live contents now, at the instant after the last stored change
    local n=${#INSTANTS[@]}
    synced "record $n"
    INSTANTS+=("$(q "SELECT clock_timestamp()")")
    q "SELECT coalesce(jsonb_agg(to_jsonb(x) ORDER BY x.id), '[]') FROM t x" >"$TMP/exp_${n}_t"
    q "SELECT coalesce(jsonb_agg(to_jsonb(x) ORDER BY x.id), '[]') FROM p x" >"$TMP/exp_${n}_p"
}
as_of() { # TABLE INSTANT: as_of's answer, or the error's first line
    q "SELECT coalesce(jsonb_agg(to_jsonb(x) ORDER BY x.id), '[]') FROM bemi.as_of(NULL::$1, '$2'::timestamptz) x" 2>&1 |
        head -1 || true
}
check_instants() { # LABEL [H]: every instant >= H (all without H) answered as read live, earlier ones refused
    local n T rel out
    for n in "${!INSTANTS[@]}"; do
        T=${INSTANTS[$n]}
        for rel in t p; do
            out=$(as_of "$rel" "$T")
            if [[ -n ${2:-} && $(q "SELECT '$T'::timestamptz < '$2'::timestamptz") == t ]]; then
                [[ $out == *"is before the horizon of the stored history"* ]] ||
                    bemi_fail "$1: as_of($rel) at $T (< H $2) not refused: $out"
            else
                [[ $out == "$(cat "$TMP/exp_${n}_$rel")" ]] ||
                    bemi_fail "$1: as_of($rel) at $T: $out
    the live contents then: $(cat "$TMP/exp_${n}_$rel")"
            fi
        done
    done
}
partitions() { # every range partition: name|upper (epoch)|rows|digest of their ids, of the rows
    # stored before $MAXID was read (bemi._retention_advance called by the test, not the worker,
    # is captured: its lineage rows come after)
    q "SELECT format('%s|%s|%s|%s', p.partition, extract(epoch FROM p.upper), count(c.id), md5(string_agg(c.id::text, ',' ORDER BY c.id)))
         FROM bemi._trail_partitions() p LEFT JOIN bemi.changes c ON c.tableoid = p.partition AND c.id <= $MAXID
        GROUP BY p.partition, p.lower, p.upper ORDER BY p.lower"
}

# --- under 0.3: three phases, a second apart, early in a minute: U, the next minute, must come
# after the upgrade, and far enough after the last 0.3 change for step 2a's aim (which moves on
# with the clock while it waits) to stay below it ------------------------------------------
wait_for 60 "SELECT extract(second FROM clock_timestamp()) < 30" || bemi_fail "clock"
PHASES_03=(
    "INSERT INTO t SELECT g, 'a' || g FROM generate_series(1, 8) g;
     INSERT INTO p VALUES (1, 1), (2, 2), (1001, 3), (1002, 4)"
    "UPDATE t SET note = 'b' WHERE id % 2 = 0; DELETE FROM t WHERE id = 7;
     UPDATE p SET id = 1500 WHERE id = 1;   -- p_low -> p_high
     UPDATE t SET id = 80 WHERE id = 8      -- a key change"
    "INSERT INTO t VALUES (9, 'c'); UPDATE p SET v = v * 10 WHERE id > 1000; DELETE FROM p WHERE id = 2"
)
for sql in "${PHASES_03[@]}"; do
    psql -X -q -v ON_ERROR_STOP=1 -d "$DB" -c "$sql" >/dev/null || bemi_fail "0.3: $sql"
    record
    sleep 1
done
n_03=${#INSTANTS[@]}
last_03=$(q "SELECT max(effective_at) FROM bemi.changes WHERE effective_at IS NOT NULL")
rows_03=$(q "SELECT count(*) FROM bemi.changes")

# --- the upgrade, and 5-second partitions from U ----------------------------------------------
q "BEGIN;
   SET LOCAL bemi.partition_interval = '1 min';
   ALTER EXTENSION bemi UPDATE TO '$NEW_VERSION';
   DO \$\$
   DECLARE u timestamptz := (SELECT upper FROM bemi._trail_partitions() WHERE partition = 'bemi.changes_0_3'::regclass);
   BEGIN FOR i IN 0 .. 35 LOOP
     EXECUTE format('CREATE TABLE bemi.changes_rt%s PARTITION OF bemi.changes FOR VALUES FROM (%L) TO (%L)',
                    i, u + i * interval '5 s', u + (i + 1) * interval '5 s');
   END LOOP; END \$\$;
   COMMIT" >/dev/null || bemi_fail "ALTER EXTENSION bemi UPDATE TO '$NEW_VERSION' and the partitions after it"
[[ $(q "SELECT extversion FROM pg_extension WHERE extname = 'bemi'") == "$NEW_VERSION" ]] || bemi_fail "not at $NEW_VERSION"
U=$(q "SELECT upper FROM bemi._trail_partitions() WHERE partition = 'bemi.changes_0_3'::regclass")
[[ -n $U ]] || bemi_fail "no partition bemi.changes_0_3: $(q "SELECT string_agg(partition::text, ' ') FROM bemi._trail_partitions()")"
[[ $(q "SELECT lower = '-infinity' AND upper > '$last_03' AND upper <= '$last_03'::timestamptz + interval '1 min'
          FROM bemi._trail_partitions() WHERE partition = 'bemi.changes_0_3'::regclass") == t ]] ||
    bemi_fail "changes_0_3's range: $(q "SELECT lower, upper FROM bemi._trail_partitions() WHERE partition = 'bemi.changes_0_3'::regclass"), the newest 0.3 change $last_03"
[[ $(q "SELECT clock_timestamp() < '$U'") == t ]] || bemi_fail "the upgrade ended after $U: a busy machine"
synced "after the upgrade"
[[ $(q "SELECT count(*) FROM bemi.changes_0_3") == "$rows_03" ]] || bemi_fail "changes_0_3 does not hold the 0.3 trail"
echo "ok: 0.3 -> $NEW_VERSION, changes_0_3 [MINVALUE, $U) holds the $rows_03 rows stored by 0.3"

# --- after U: four phases, one per 5-second partition -------------------------------------------
PHASES_04=(
    "INSERT INTO t VALUES (10, 'd'), (11, 'd'); UPDATE t SET note = 'd' WHERE id = 1"
    "UPDATE p SET id = 3 WHERE id = 1002;   -- p_high -> p_low
     DELETE FROM t WHERE id = 3; UPDATE t SET id = 81 WHERE id = 80"
    "BEGIN; UPDATE t SET note = note || '+e'; INSERT INTO p VALUES (4, 40); COMMIT"
    "DELETE FROM t WHERE id IN (1, 10); UPDATE p SET v = -v"
)
i=0
for sql in "${PHASES_04[@]}"; do
    wait_for 75 "SELECT clock_timestamp() > '$U'::timestamptz + $i * interval '5 s' + interval '0.3 s'" ||
        bemi_fail "the clock did not reach U + $((5 * i)) s"
    psql -X -q -v ON_ERROR_STOP=1 -d "$DB" -c "$sql" >/dev/null || bemi_fail "after the upgrade: $sql"
    record
    [[ $(q "SELECT '${INSTANTS[-1]}'::timestamptz < '$U'::timestamptz + ($i + 1) * interval '5 s'") == t ]] ||
        bemi_fail "phase $i after U took longer than its partition: a busy machine"
    i=$((i + 1))
done
wait_for 15 "SELECT clock_timestamp() > '$U'::timestamptz + $i * interval '5 s' + interval '0.3 s'" || bemi_fail "clock"
q "INSERT INTO poke VALUES (1)" >/dev/null # a commit after the last instant: it is answerable
synced "after the phases"
[[ $(q "SELECT count(*) FROM bemi.changes WHERE tableoid = 'bemi.changes_0_3'::regclass") == "$rows_03" ]] ||
    bemi_fail "changes after the upgrade went into changes_0_3"
echo "ok: ${#PHASES_03[@]} phases under 0.3, ${#PHASES_04[@]} after $U"

check_instants "before any horizon"
echo "ok: as_of(t), as_of(p) equal the live contents at all ${#INSTANTS[@]} instants, across the upgrade"

# --- 2a. retention aimed inside changes_0_3's range: no bound there, nothing happens -----------
MAXID=$(q "SELECT max(id) FROM bemi.changes")
partitions >"$TMP/partitions_0"
set_conf bemi.retention "$(q "SELECT floor(extract(epoch FROM now() - ('$last_03'::timestamptz + interval '1 ms')))")"
since=$(q "SELECT clock_timestamp()")
wait_for 30 "SELECT clock_timestamp() > '$since'::timestamptz + interval '11 s'" || bemi_fail "clock"
# (the check really ran: now - retention was still inside the range during it)
[[ $(q "SELECT now() - current_setting('bemi.retention')::interval < '$U'") == t ]] ||
    bemi_fail "the aim moved past $U while waiting: a busy machine"
set_conf bemi.retention 0
[[ $(q "SELECT count(*) FROM bemi.trail_horizon") == 0 ]] ||
    bemi_fail "a horizon inside changes_0_3's range was recorded: $(q "SELECT horizon FROM bemi.trail_horizon")"
partitions | diff "$TMP/partitions_0" - >&2 || bemi_fail "partitions changed with the aim inside changes_0_3's range"
echo "ok: bemi.retention aimed inside changes_0_3's range: no horizon, nothing dropped"

# --- 2b. a horizon recorded inside changes_0_3's range ---------------------------------------
H1=$(q "SELECT '${INSTANTS[0]}'::timestamptz + ('${INSTANTS[1]}'::timestamptz - '${INSTANTS[0]}'::timestamptz) / 2")
made=$(q "SELECT bemi._retention_advance('$H1')")
[[ -n $made && $made -ge 2 ]] || bemi_fail "_retention_advance($H1) inside changes_0_3: '$made' baselines"
dropped=$(q "SELECT bemi._retention_drop()")
[[ $dropped == 0 ]] || bemi_fail "_retention_drop dropped $dropped partitions under a horizon inside changes_0_3"
partitions | diff "$TMP/partitions_0" - >&2 || bemi_fail "partitions changed under a horizon inside changes_0_3's range"
check_instants "horizon $H1 inside changes_0_3" "$H1"
echo "ok: horizon $H1 inside changes_0_3's range ($made baselines): nothing dropped, instants >= it exact, earlier refused"

# --- 3. the horizon after the last 0.3 change: changes_0_3 goes ------------------------------
set_conf bemi.retention "$(q "SELECT floor(extract(epoch FROM now() - ('$U'::timestamptz + interval '10 s')))")"
wait_for 45 "SELECT max(horizon) > '$H1' FROM bemi.trail_horizon" ||
    bemi_fail "no horizon after $H1 recorded: $(q "SELECT state, last_error FROM bemi.status")"
# Pin it (the worker goes on dropping), then wait for the drop below the latest horizon.
H=$(q "SELECT max(horizon) FROM bemi.trail_horizon")
set_conf bemi.retention "$(q "SELECT ceil(extract(epoch FROM now() - '$H'::timestamptz)) + 60")"
H=$(q "SELECT max(horizon) FROM bemi.trail_horizon")
wait_for 30 "SELECT NOT EXISTS (SELECT FROM bemi._trail_partitions() WHERE upper <= '$H')" ||
    bemi_fail "partitions below $H left: $(q "SELECT string_agg(partition::text, ' ') FROM bemi._trail_partitions() WHERE upper <= '$H'")"
c=$(q "SELECT extract(epoch FROM '$H'::timestamptz - '$U'::timestamptz)::int")
[[ $c == 10 || $c == 15 ]] || bemi_fail "horizon $H is not U + 10 s or U + 15 s (U + $c s)"
[[ $(q "SELECT '$H'::timestamptz > '$last_03'") == t ]] || bemi_fail "horizon $H not after the last 0.3 change"
[[ -z $(q "SELECT to_regclass('bemi.changes_0_3')") ]] || bemi_fail "changes_0_3 was not dropped under horizon $H"
[[ $(q "SELECT skipped FROM bemi.trail_horizon WHERE horizon = '$H'") == "[]" ]] || bemi_fail "tables skipped at $H"
Hs=$(q "SELECT extract(epoch FROM '$H'::timestamptz)")
partitions >"$TMP/partitions_after"
awk -F'|' -v h="$Hs" '$2 + 0 > h + 0' "$TMP/partitions_0" | diff - "$TMP/partitions_after" >&2 ||
    bemi_fail "the partitions after the purge are not exactly those above the horizon, with the same rows"
deleted=$(q "SELECT coalesce(sum(n_tup_del), 0) FROM pg_stat_all_tables WHERE schemaname = 'bemi' AND relname LIKE 'changes%'")
[[ $deleted == 0 ]] || bemi_fail "rows of the trail were deleted: $deleted"
echo "ok: horizon $H (U + $c s): changes_0_3 and $(($(wc -l <"$TMP/partitions_0") - $(wc -l <"$TMP/partitions_after") - 1)) other partitions dropped whole, the rest unchanged, n_tup_del 0"

check_instants "horizon $H" "$H"
above=0
for T in "${INSTANTS[@]}"; do [[ $(q "SELECT '$T'::timestamptz >= '$H'") == t ]] && above=$((above + 1)); done
((above > 0 && above < ${#INSTANTS[@]} - n_03)) || bemi_fail "the horizon is not inside the history after the upgrade ($above instants after it)"
for what in "as_of(NULL::t, '$H'::timestamptz - interval '1 ms')" \
            "as_of(NULL::p, '${INSTANTS[0]}')" \
            "as_of_jsonb('public', 'p', '$last_03')" \
            "versions(NULL::t, '$H'::timestamptz - interval '1 s')"; do
    out=$(q "SELECT count(*) FROM bemi.$what" 2>&1) && bemi_fail "bemi.$what before the horizon answered: $out"
    [[ $out == *ERROR:*"is before the horizon"*HINT:*"bemi.retention"* ]] ||
        bemi_fail "bemi.$what: the refusal does not say so with a HINT naming bemi.retention: $out"
done
echo "ok: after the purge, as_of equals the live contents at the $above instants >= H; earlier ones (0.3's too) refused with a HINT naming bemi.retention"
