#!/usr/bin/env bash
# Retention (docs/time-travel.md, "Retention") of the history of a user table that is itself
# partitioned: orders, PARTITION BY LIST (region), three leaves, primary key (id, region), every
# leaf REPLICA IDENTITY FULL. Its history is written in six phases, one per 5-second partition
# of bemi.changes (made by the test, as test/shell/retention.sh does): inserts, updates, deletes,
# rows moved between leaves (decoded as a DELETE from one leaf and a CREATE in the other), a key
# change inside a leaf, a TRUNCATE of a leaf after the horizon. After each phase the exact
# contents of the root and of every leaf are read from the live tables, with an instant
# (clock_timestamp() after bemi.sync()). Then
# bemi.retention is aimed so that the horizon H falls between phases (B0 + 10 s, or B0 + 15 s
# when the worker's check comes late), and the test waits until the worker has recorded H and
# dropped the partitions below it. Checked:
#   1. as_of of the root and of each leaf, and as_of_jsonb of the root, at every recorded
#      instant and every partition bound >= H equal the contents read live at that time (also
#      before the purge, for every instant);
#   2. as_of (root, leaf), as_of_jsonb and versions at instants before H raise an ERROR whose
#      HINT names bemi.retention (history takes no instant: after the purge it starts at H);
#   3. history of the rows that moved between leaves (each key they had) and of the row whose key
#      changed, and versions from H,
#      equal what they returned before the purge from H on, and history still shows the moves
#      made after H (the DELETE from the old leaf, the CREATE in the new one);
#   4. whole partitions only: exactly the partitions with upper bound <= H are gone, every other
#      one holds the same rows as before (count and ids), no row of the trail was deleted
#      (n_tup_del 0 in pg_stat_all_tables).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=../lib/cluster.sh
source "$here/../lib/cluster.sh"

# Its own cluster: it changes server-wide settings (bemi.retention).
bemi_own_test_cluster retention_partitioned_table
DB=bemi_retention_pt
TMP=$BEMI_TEST_TMPDIR/retention_partitioned_table
mkdir -p "$TMP" && chmod 777 "$TMP"
# shellcheck source-path=SCRIPTDIR source=../lib/retention.sh
source "$here/../lib/retention.sh"

# The trail in 5-second partitions from B0 (made with the extension, before anything is stored).
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
synced "after CREATE EXTENSION"
q "CREATE TABLE orders (id int NOT NULL, region text NOT NULL, amount int NOT NULL, note text,
                        PRIMARY KEY (id, region)) PARTITION BY LIST (region);
   CREATE TABLE orders_eu PARTITION OF orders FOR VALUES IN ('eu');
   CREATE TABLE orders_us PARTITION OF orders FOR VALUES IN ('us');
   CREATE TABLE orders_asia PARTITION OF orders FOR VALUES IN ('asia');
   ALTER TABLE orders REPLICA IDENTITY FULL;
   ALTER TABLE orders_eu REPLICA IDENTITY FULL;
   ALTER TABLE orders_us REPLICA IDENTITY FULL;
   ALTER TABLE orders_asia REPLICA IDENTITY FULL;
   CREATE TABLE poke (i int)" >/dev/null
synced "after the set-up"
LEAVES=(orders_eu orders_us orders_asia)

# The phases, one per partition [B0 + 5(i-1), B0 + 5i). Rows 1, 2 and 5 move between leaves.
PHASES=(
    "INSERT INTO orders SELECT g, (ARRAY['eu','us','asia'])[g % 3 + 1], 10 * g, 'p1' FROM generate_series(1, 9) g"
    "UPDATE orders SET amount = amount + 1, note = 'p2' WHERE id IN (2, 6, 7);
     UPDATE orders SET region = 'asia' WHERE id = 1;                      -- us -> asia
     DELETE FROM orders WHERE id = 9"
    "UPDATE orders SET region = 'eu', note = 'p3 moved' WHERE id = 2;     -- asia -> eu
     UPDATE orders SET id = 100 WHERE id = 3;                             -- a key change in its leaf
     INSERT INTO orders VALUES (10, 'eu', 100, 'p3'), (11, 'us', 110, 'p3')"
    "UPDATE orders SET region = 'eu', amount = amount * 2 WHERE id = 1;   -- asia -> eu
     UPDATE orders SET note = 'p4' WHERE id = 2;
     DELETE FROM orders WHERE id = 4"
    "BEGIN;
     UPDATE orders SET region = 'us' WHERE id = 5;                        -- asia -> us
     UPDATE orders SET amount = amount + 1000 WHERE region <> 'asia';
     INSERT INTO orders VALUES (12, 'asia', 120, 'p5');
     COMMIT"
    # a leaf emptied after H: its rows in the horizon's baseline (8, unchanged since phase 1)
    # must go with it (they are kept with their leaf)
    "TRUNCATE orders_asia; INSERT INTO orders VALUES (13, 'asia', 130, 'p6')"
)
contents() { # RELATION: its rows now, as jsonb
    q "SELECT coalesce(jsonb_agg(to_jsonb(t) ORDER BY t.id, t.region), '[]') FROM $1 t"
}
as_of() { # RELATION INSTANT: as_of's answer, or the error's first line
    q "SELECT coalesce(jsonb_agg(to_jsonb(t) ORDER BY t.id, t.region), '[]') FROM bemi.as_of(NULL::$1, '$2'::timestamptz) t" 2>&1 | head -1 || true
}
as_of_jsonb() { # INSTANT: the root's rows by as_of_jsonb (rows re-sorted as the live contents)
    q "SELECT coalesce(jsonb_agg(x.\"row\" ORDER BY (x.\"row\"->>'id')::int, x.\"row\"->>'region'), '[]')
         FROM bemi.as_of_jsonb('public', 'orders', '$1'::timestamptz) x" 2>&1 | head -1 || true
}

wait_for 15 "SELECT clock_timestamp() > '$B0'::timestamptz + interval '0.3 s'" || bemi_fail "the clock did not reach $B0"
INSTANTS=()
i=0
for sql in "${PHASES[@]}"; do
    i=$((i + 1))
    wait_for 15 "SELECT clock_timestamp() > '$B0'::timestamptz + ($i - 1) * interval '5 s' + interval '0.3 s'" ||
        bemi_fail "phase $i: the clock did not reach its partition"
    psql -X -q -v ON_ERROR_STOP=1 -d "$DB" -c "$sql" >/dev/null || bemi_fail "phase $i: $sql"
    synced "phase $i"
    T=$(q "SELECT clock_timestamp()")
    [[ $(q "SELECT '$T'::timestamptz < '$B0'::timestamptz + $i * interval '5 s'") == t ]] ||
        bemi_fail "phase $i took longer than its partition ($T): a busy machine"
    # the instant after the phase and the partition's upper bound (nothing changes in between)
    for at in "$T" "$(q "SELECT '$B0'::timestamptz + $i * interval '5 s'")"; do
        n=${#INSTANTS[@]}
        INSTANTS+=("$at")
        contents orders >"$TMP/exp_${n}_orders"
        for l in "${LEAVES[@]}"; do contents "$l" >"$TMP/exp_${n}_$l"; done
    done
done
wait_for 15 "SELECT clock_timestamp() > '$B0'::timestamptz + $i * interval '5 s' + interval '0.3 s'" || bemi_fail "clock"
q "INSERT INTO poke VALUES (1)" >/dev/null # a commit after the last instant: it is answerable
synced "after the phases"
echo "ok: ${#PHASES[@]} phases from $B0, ${#INSTANTS[@]} instants recorded"
# The moves and the key change happened as meant (the assertions below rely on them).
moves=$(q "SELECT count(*) FROM bemi.changes d JOIN bemi.changes c
             ON c.transaction_id = d.transaction_id AND c.capture = d.capture AND c.seq = d.seq + 1
            WHERE d.root_table = 'orders' AND d.operation = 'DELETE' AND c.operation = 'CREATE'
              AND c.\"table\" <> d.\"table\"")
[[ $moves == 4 ]] || bemi_fail "expected 4 moves between leaves recorded as DELETE + CREATE, found $moves"

# Every instant's answers compared with the contents read live then.
check_instants() { # LABEL H: H empty: every instant answers; else answers >= H, refusals < H
    local n T rel out exp
    for n in "${!INSTANTS[@]}"; do
        T=${INSTANTS[$n]}
        if [[ -n $2 && $(q "SELECT '$T'::timestamptz < '$2'::timestamptz") == t ]]; then
            for rel in orders "${LEAVES[@]}"; do
                out=$(as_of "$rel" "$T")
                [[ $out == *"is before the horizon of the stored history"* ]] ||
                    bemi_fail "$1: as_of($rel) at $T (< H $2) not refused: $out"
            done
            continue
        fi
        for rel in orders "${LEAVES[@]}"; do
            out=$(as_of "$rel" "$T")
            exp=$(cat "$TMP/exp_${n}_$rel")
            [[ $out == "$exp" ]] || bemi_fail "$1: as_of($rel) at $T: $out
    the live contents then: $exp"
        done
        out=$(as_of_jsonb "$T")
        exp=$(cat "$TMP/exp_${n}_orders")
        [[ $out == "$exp" ]] || bemi_fail "$1: as_of_jsonb(orders) at $T: $out
    the live contents then: $exp"
    done
}
check_instants "before the purge" ""
echo "ok: before the purge, as_of (root and leaves) and as_of_jsonb equal the live contents at all ${#INSTANTS[@]} instants"

# History of every key the moved rows had (by the root's name), one line per entry with its
# effective_at as epoch first; versions of the root from each candidate horizon.
# (and of row 3, whose key became 100 in phase 3: history follows that both ways)
KEYS=$(q "SELECT DISTINCT primary_key FROM bemi.changes WHERE root_table = 'orders' AND primary_key ~ '^\[(1|2|5|3|100),'
           ORDER BY 1")
[[ $(wc -l <<<"$KEYS") == 9 ]] || bemi_fail "the moved rows' keys: $KEYS"
history_of() { # KEY
    q "SELECT format('%s|%s|%s|%s|%s|%s', extract(epoch FROM effective_at), id, operation, \"table\", primary_key, diff)
         FROM bemi.history('orders'::regclass, '$1') ORDER BY capture, commit_position, seq"
}
versions_from() { # H: with valid_from clamped to H (a version still valid at H starts, after the
    # purge, at the horizon's anchor: docs/time-travel.md)
    q "SELECT string_agg(format('%s|%s|%s|%s', primary_key, greatest(valid_from, '$1'::timestamptz), valid_to, \"row\"), E'\n'
                         ORDER BY primary_key, valid_from)
         FROM bemi.versions(NULL::orders, '$1'::timestamptz)"
}
k=0
while read -r key; do
    k=$((k + 1))
    echo "$key" >"$TMP/key_$k"
    history_of "$key" >"$TMP/history_$k"
    [[ -s $TMP/history_$k ]] || bemi_fail "no history of $key before the purge"
done <<<"$KEYS"
for c in 10 15 20; do versions_from "$(q "SELECT '$B0'::timestamptz + interval '$c s'")" >"$TMP/versions_$c"; done

# The partitions and their rows before the purge.
partitions() {
    q "SELECT format('%s|%s|%s|%s', p.partition, extract(epoch FROM p.upper), count(c.id), md5(string_agg(c.id::text, ',' ORDER BY c.id)))
         FROM bemi._trail_partitions() p LEFT JOIN bemi.changes c ON c.tableoid = p.partition
        GROUP BY p.partition, p.lower, p.upper ORDER BY p.lower"
}
partitions >"$TMP/partitions_before"
worker_parts=$(q "SELECT count(*) FROM pg_class WHERE relnamespace = 'bemi'::regnamespace AND relname LIKE 'changes\_p%' AND relispartition")

# --- the horizon: now - retention at B0 + 10 s when set -----------------------------------
set_conf bemi.retention "$(q "SELECT floor(extract(epoch FROM now() - ('$B0'::timestamptz + interval '10 s')))")"
wait_for 45 "SELECT EXISTS (SELECT FROM bemi.trail_horizon)
               AND NOT EXISTS (SELECT FROM bemi._trail_partitions() WHERE upper <= (SELECT max(horizon) FROM bemi.trail_horizon))" ||
    bemi_fail "no horizon recorded or its partitions not dropped: $(q "SELECT horizon FROM bemi.trail_horizon") $(q "SELECT state, last_error FROM bemi.status")"
# Pin it: a retention that keeps the target where it is (the worker goes on dropping), then
# wait until whatever horizon is the latest has its partitions dropped.
H=$(q "SELECT max(horizon) FROM bemi.trail_horizon")
set_conf bemi.retention "$(q "SELECT ceil(extract(epoch FROM now() - '$H'::timestamptz)) + 60")"
H=$(q "SELECT max(horizon) FROM bemi.trail_horizon")
wait_for 30 "SELECT NOT EXISTS (SELECT FROM bemi._trail_partitions() WHERE upper <= '$H')" || bemi_fail "partitions below $H left"
c=$(q "SELECT extract(epoch FROM '$H'::timestamptz - '$B0'::timestamptz)::int")
[[ $c == 10 || $c == 15 || $c == 20 ]] || bemi_fail "horizon $H is not between the phases (B0 + $c s)"
echo "ok: horizon $H (B0 + $c s): $(q "SELECT format('%s baselines, skipped %s', baselines, skipped) FROM bemi.trail_horizon WHERE horizon = '$H'")"
[[ $(q "SELECT skipped FROM bemi.trail_horizon WHERE horizon = '$H'") == "[]" ]] || bemi_fail "tables skipped at the horizon"
below=0 above=0
for T in "${INSTANTS[@]}"; do
    if [[ $(q "SELECT '$T'::timestamptz < '$H'::timestamptz") == t ]]; then below=$((below + 1)); else above=$((above + 1)); fi
done
((below > 0 && above > 0)) || bemi_fail "the horizon is not in the middle of the history ($below instants before, $above after)"

# --- 4. whole partitions only, nothing deleted ---------------------------------------------
Hs=$(q "SELECT extract(epoch FROM '$H'::timestamptz)")
partitions >"$TMP/partitions_after"
awk -F'|' -v h="$Hs" '$2 + 0 > h + 0' "$TMP/partitions_before" >"$TMP/partitions_kept"
diff "$TMP/partitions_kept" "$TMP/partitions_after" >&2 ||
    bemi_fail "the partitions after the purge are not exactly those above the horizon, with the same rows"
dropped=$(($(wc -l <"$TMP/partitions_before") - $(wc -l <"$TMP/partitions_after")))
((dropped >= 3)) || bemi_fail "only $dropped partitions dropped"
[[ $(q "SELECT count(*) FROM pg_class WHERE relnamespace = 'bemi'::regnamespace AND relname LIKE 'changes\_p%' AND relispartition") == "$worker_parts" ]] ||
    bemi_fail "the worker's own partitions (all above the horizon) changed"
q "SELECT pg_stat_force_next_flush()" >/dev/null
deleted=$(q "SELECT coalesce(sum(n_tup_del), 0) FROM pg_stat_all_tables WHERE schemaname = 'bemi' AND relname LIKE 'changes%'")
[[ $deleted == 0 ]] || bemi_fail "rows of the trail were deleted: $deleted"
echo "ok: $dropped partitions below the horizon dropped whole, the $(wc -l <"$TMP/partitions_after") others unchanged, n_tup_del 0"

# --- 1. answers >= H exact, 2. earlier instants refused ------------------------------------
check_instants "after the purge" "$H"
echo "ok: after the purge, as_of (root and leaves) and as_of_jsonb equal the live contents at $above instants >= H; $below earlier ones refused"
for what in "as_of(NULL::orders, '$H'::timestamptz - interval '1 ms')" \
            "as_of(NULL::orders_eu, '$H'::timestamptz - interval '1 ms')" \
            "as_of_jsonb('public', 'orders', '$H'::timestamptz - interval '1 ms')" \
            "versions(NULL::orders, '$H'::timestamptz - interval '1 s')" \
            "versions(NULL::orders_us, '$B0'::timestamptz, '$H'::timestamptz + interval '1 s')"; do
    out=$(q "SELECT count(*) FROM bemi.$what" 2>&1) && bemi_fail "bemi.$what before the horizon answered: $out"
    [[ $out == *ERROR:*"is before the horizon"*HINT:*"bemi.retention"* ]] ||
        bemi_fail "bemi.$what: the refusal does not say so with a HINT naming bemi.retention: $out"
done
echo "ok: as_of (root, leaf), as_of_jsonb, versions before the horizon: ERROR with a HINT naming bemi.retention"

# --- 3. history of the moved rows and versions from H --------------------------------------
moves_after=0
for ((j = 1; j <= k; j++)); do
    key=$(cat "$TMP/key_$j")
    expected=$(awk -F'|' -v h="$Hs" '$1 + 0 >= h + 0' "$TMP/history_$j")
    got=$(history_of "$key")
    [[ $got == "$expected" ]] || bemi_fail "history of $key after the purge:
$got
    before the purge, from H on:
$expected"
    moves_after=$((moves_after + $(grep -c '|CREATE|' <<<"$got" || true)))
done
# the moves after H are there: each CREATE of a moved row after H (its first insert was in phase 1)
expected_moves=$(q "SELECT count(*) FROM bemi.changes WHERE root_table = 'orders' AND operation = 'CREATE'
                      AND primary_key ~ '^\[(1|2|5),' AND effective_at >= '$H'")
((expected_moves > 0)) || bemi_fail "no move of a row after the horizon: the test does not test it"
[[ $moves_after == "$expected_moves" ]] || bemi_fail "history after H shows $moves_after moves into a leaf, bemi.changes $expected_moves"
got=$(versions_from "$H")
[[ -n $got && $got == "$(cat "$TMP/versions_$c")" ]] ||
    bemi_fail "versions from H differ: $(diff <(echo "$got") "$TMP/versions_$c" | head -10)"
echo "ok: history of the $k keys of the moved rows and the key-changed one ($expected_moves moves after H) and versions from H unchanged by the purge"
