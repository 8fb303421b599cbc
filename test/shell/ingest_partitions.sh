#!/usr/bin/env bash
# bemi.changes in range partitions (docs/ingestion.md, "Partitions"), with
# bemi.partition_interval = '1 minute' in the test database:
#   A. the worker creates partitions ahead (the current minute and the next ones), named from
#      their lower bound with the time; stored rows are in the range partition that holds
#      their effective_at, none in the default partition; a hand-written row goes to the
#      default partition;
#   B. a batch whose commit times lie beyond the last partition (the ones ahead dropped while
#      the worker was stopped, then the minute passed) is stored in a new range partition;
#   C. the worker killed (kill -9) while it stores a batch that spans two partitions: after the
#      restart every change is stored exactly once, in two partitions;
#   D. reading: bemi.changes reads as before (order, history), bemi_reader reads it but no
#      partition directly, and nobody else reads it.
# In its own cluster: C's kill -9 makes the postmaster reset every session.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=../lib/cluster.sh
source "$here/../lib/cluster.sh"
# shellcheck source-path=SCRIPTDIR source=../lib/worker.sh
source "$here/../lib/worker.sh"

DB=bemi_partitions
READER=bemi_partitions_reader
OTHER=bemi_partitions_other
root=${BEMI_TEST_TMPDIR:-$(mktemp -d)}/partitions
finish() {
    bemi_worker_thaw
    bemi_cluster_stop
}
trap finish EXIT
export BEMI_SHARED_PRELOAD=bemi
export BEMI_TEST_EXTRA_CONF="restart_after_crash = on"
bemi_own_cluster_start "$root"
q() { psql -X -q -A -t -v ON_ERROR_STOP=1 -d "$DB" -c "$1"; }
check() { # label actual expected
    [[ $2 == "$3" ]] || bemi_fail "$1: expected [$3], got [$2]"
    echo "ok: $1"
}
# Rows of the trail not in the range partition that holds their effective_at.
misplaced="SELECT count(*) FROM bemi.changes c
            WHERE c.effective_at IS NOT NULL
              AND NOT EXISTS (SELECT FROM bemi._trail_partitions() p
                               WHERE p.partition = c.tableoid AND c.effective_at >= p.lower AND c.effective_at < p.upper)"
in_default="SELECT count(*) FROM bemi.changes_default WHERE effective_at IS NOT NULL OR capture IS NOT NULL"
# Waits until the wall clock is at second $1 of a minute or later (and before $2).
wait_second() {
    local s
    while :; do
        s=$(date -u +%-S)
        ((s >= $1 && s < $2)) && return 0
        sleep 0.5
    done
}

psql -X -q -c "CREATE DATABASE $DB" -c "ALTER DATABASE $DB SET bemi.partition_interval = '1 minute'" >/dev/null
q "CREATE EXTENSION bemi" >/dev/null
[[ $(q "SELECT bemi.sync()") == t ]] || bemi_fail "sync after CREATE EXTENSION"
q "CREATE TABLE public.t (id int PRIMARY KEY, note text)" >/dev/null

# ------------------------------------------------------------------ A: ahead, placement, default
q "INSERT INTO public.t SELECT g, 'a' FROM generate_series(1, 100) g" >/dev/null
[[ $(q "SELECT bemi.sync()") == t ]] || bemi_fail "A: sync"
check "A: the partitions of this minute and the next exist" \
    "$(q "SELECT count(*) FROM bemi._trail_partitions() p
           WHERE (now() >= p.lower AND now() < p.upper)
              OR (now() + interval '1 minute' >= p.lower AND now() + interval '1 minute' < p.upper)")" 2
check "A: partitions are named from their lower bound, with the time" \
    "$(q "SELECT bool_and(p.partition::text = 'bemi.changes_p' || to_char(p.lower AT TIME ZONE 'UTC', 'YYYYMMDD_HH24MI')
                          AND p.upper - p.lower = interval '1 minute')
            FROM bemi._trail_partitions() p")" t
check "A: 100 inserts stored" "$(q "SELECT count(*) FROM bemi.changes WHERE \"table\" = 't'")" 100
check "A: every stored row in the range partition of its effective_at" "$(q "$misplaced")" 0
check "A: no stored row in the default partition" "$(q "$in_default")" 0
q "INSERT INTO bemi.changes (before, after, context, database, schema, \"table\", operation, committed_at,
                             transaction_id, seq, position, commit_position)
   VALUES ('{}', '{\"by\": \"hand\"}', '{}', current_database(), 'public', 'by_hand', 'CREATE', now(), 0, 0, 0, 0)" >/dev/null
check "A: a hand-written row goes to the default partition" \
    "$(q "SELECT tableoid::regclass FROM bemi.changes WHERE \"table\" = 'by_hand'")" bemi.changes_default
check "A: a row with an effective_at no partition holds is refused, not put in the default partition" \
    "$(q "DO \$\$ BEGIN
            INSERT INTO bemi.changes (before, after, context, database, schema, \"table\", operation,
                                      committed_at, transaction_id, seq, position, commit_position, effective_at)
            VALUES ('{}', '{}', '{}', 'x', 'x', 'x', 'CREATE', now(), 0, 1, 0, 0, '1900-01-01');
            RAISE NOTICE 'inserted';
          EXCEPTION WHEN check_violation THEN RAISE NOTICE 'refused';
          END \$\$" 2>&1 | sed 's/^NOTICE: *//')" refused
check "A: partitions are not extension members" \
    "$(q "SELECT count(*) FROM bemi._trail_partitions() p JOIN pg_depend d ON d.objid = p.partition AND d.deptype = 'e'")" 0

# ------------------------------------------------------------------ B: beyond the last partition
pid=$(bemi_worker_pid "$DB")
[[ -n $pid ]] || bemi_fail "B: no worker"
# Early in a minute, so that the next minute is still ahead when the worker stops.
wait_second 2 40
bemi_worker_freeze "$pid"
q "DO \$\$ DECLARE p regclass; BEGIN
       FOR p IN SELECT x.partition FROM bemi._trail_partitions() x WHERE x.lower > now() LOOP
           EXECUTE 'DROP TABLE ' || p;
       END LOOP;
   END \$\$" >/dev/null
last=$(q "SELECT max(upper) FROM bemi._trail_partitions()")
# Commit times after the last partition's end.
while [[ $(q "SELECT now() >= '$last'") != t ]]; do sleep 0.5; done
q "INSERT INTO public.t SELECT g, 'b' FROM generate_series(101, 200) g" >/dev/null
bemi_worker_thaw
[[ $(q "SELECT bemi.sync('60 seconds')") == t ]] || bemi_fail "B: sync"
check "B: the batch beyond the last partition is stored" "$(q "SELECT count(*) FROM bemi.changes WHERE after->>'note' = 'b'")" 100
check "B: in a new range partition after the old last one" \
    "$(q "SELECT count(*) FROM bemi.changes c JOIN bemi._trail_partitions() p ON p.partition = c.tableoid
           WHERE c.after->>'note' = 'b' AND p.lower >= '$last'")" 100
check "B: every stored row in the range partition of its effective_at" "$(q "$misplaced")" 0
check "B: no stored row in the default partition" "$(q "$in_default")" 0

# ------------------------------------------------------------------ C: kill -9 mid-batch, two partitions
N_TXN=40
PER_TXN=500
pid=$(bemi_worker_pid "$DB")
wait_second 50 55
bemi_worker_freeze "$pid"
# 40 transactions over about 12 s: the minute changes in between.
q "CREATE TABLE public.c (id int PRIMARY KEY, at timestamptz NOT NULL DEFAULT clock_timestamp())" >/dev/null
q "DO \$\$ BEGIN
       FOR i IN 0 .. $N_TXN - 1 LOOP
           INSERT INTO public.c (id) SELECT i * $PER_TXN + g FROM generate_series(1, $PER_TXN) g;
           COMMIT;
           PERFORM pg_sleep(0.3);
       END LOOP;
   END \$\$" >/dev/null
check "C: the commits span two minutes" "$(q "SELECT count(DISTINCT date_trunc('minute', at)) FROM public.c")" 2
bemi_worker_thaw
# Let the worker decode and start storing the batch, then kill it.
for _ in $(seq 1 100); do
    [[ $(q "SELECT state FROM bemi.status") == ingesting ]] && break
    sleep 0.02
done
sleep 0.2
stored_before=$(q "SELECT count(*) FROM bemi.changes WHERE \"table\" = 'c'")
kill -9 "$pid"
echo "C: worker $pid killed with $stored_before of $((N_TXN * PER_TXN)) rows of the batch committed"
# The postmaster restarts every process after a crash; wait for the server to answer again.
for _ in $(seq 1 150); do
    psql -X -q -A -t -d "$DB" -c "SELECT 1" >/dev/null 2>&1 && break
    sleep 0.2
done
[[ $(q "SELECT bemi.sync('120 seconds')") == t ]] || bemi_fail "C: sync after the restart"
read -r total distinct parts <<<"$(psql -X -A -t -F ' ' -d "$DB" -c \
    "SELECT count(*), count(DISTINCT after->>'id'), count(DISTINCT tableoid) FROM bemi.changes WHERE \"table\" = 'c'")"
[[ "$total $distinct" == "$((N_TXN * PER_TXN)) $((N_TXN * PER_TXN))" ]] ||
    q "SELECT c.id, c.operation, c.after->>'id', c.fallback, c.tableoid::regclass, c.capture, c.commit_position, c.seq
         FROM bemi.changes c
        WHERE c.\"table\" = 'c' AND (c.after->>'id' IS NULL
              OR c.after->>'id' IN (SELECT after->>'id' FROM bemi.changes WHERE \"table\" = 'c' GROUP BY 1 HAVING count(*) > 1))" >&2
check "C: every change stored once after kill -9" "$total $distinct" "$((N_TXN * PER_TXN)) $((N_TXN * PER_TXN))"
check "C: the batch's rows are in two partitions" "$parts" 2
check "C: every stored row in the range partition of its effective_at" "$(q "$misplaced")" 0
check "C: no stored row in the default partition" "$(q "$in_default")" 0

# ------------------------------------------------------------------ D: reading and privileges
check "D: the order (capture, commit_position, seq) reads across partitions" \
    "$(q "SELECT bool_and(ok) FROM (SELECT (effective_at >= lag(effective_at) OVER w) IS NOT FALSE AS ok
                                     FROM bemi.changes WHERE capture IS NOT NULL
                                   WINDOW w AS (ORDER BY capture, commit_position, seq)) x")" t
check "D: a record's history reads as before" \
    "$(q "SELECT string_agg(operation || ':' || (after->>'note'), ',' ORDER BY committed_at)
            FROM bemi.changes WHERE schema = 'public' AND \"table\" = 't' AND primary_key = '150'")" "CREATE:b"
psql -X -q -c "CREATE ROLE $READER IN ROLE bemi_reader" -c "CREATE ROLE $OTHER" >/dev/null
part=$(q "SELECT partition FROM bemi._trail_partitions() ORDER BY lower DESC LIMIT 1")
as_role() { psql -X -q -A -t -d "$DB" -c "SET ROLE $1" -c "$2" 2>&1 | tail -1; }
check "D: bemi_reader reads bemi.changes" \
    "$(as_role "$READER" "SELECT count(*) > 0 FROM bemi.changes")" t
check "D: bemi_reader cannot read a partition directly" \
    "$(as_role "$READER" "SELECT count(*) FROM $part" | grep -c 'permission denied')" 1
check "D: bemi_reader cannot read the default partition directly" \
    "$(as_role "$READER" "SELECT count(*) FROM bemi.changes_default" | grep -c 'permission denied')" 1
check "D: another role reads neither" \
    "$(as_role "$OTHER" "SELECT count(*) FROM bemi.changes" | grep -c 'permission denied')$(as_role "$OTHER" "SELECT count(*) FROM $part" | grep -c 'permission denied')" 11
check "D: PUBLIC has no privilege on any partition" \
    "$(q "SELECT count(*) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid, aclexplode(coalesce(c.relacl, acldefault('r', c.relowner))) a
           WHERE i.inhparent = 'bemi.changes'::regclass AND a.grantee = 0")" 0
check "D: the worker's inserts into partitions are not recorded as changes" \
    "$(q "SELECT count(*) FROM bemi.changes WHERE schema = 'bemi' AND \"table\" LIKE 'changes\\_%' AND \"table\" <> 'changes_default'")" 0
check "D: no worker error" "$(q "SELECT coalesce(last_error, 'none') FROM bemi.status")" none
