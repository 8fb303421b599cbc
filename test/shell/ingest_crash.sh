#!/usr/bin/env bash
# Exactly once across crashes. On a cluster of its own (it kills server processes), a write
# load runs while we
#   1. kill -9 a client backend (the postmaster resets every session and recovers),
#   2. stop the ingestion worker with pg_terminate_backend (the launcher restarts it),
#   3. kill -9 the ingestion worker, three times (each a reset),
#   4. restart the server cleanly (pg_ctl restart -m fast);
# then bemi.sync() and compare bemi.changes with the load's ground truth: every committed
# change exactly once, none missing, none twice, nothing from rolled-back transactions.
#
# The load keeps the ground truth in plain files: an id goes to committed.* only when psql
# reported its COMMIT succeeded, to aborted.* when its transaction ended in ROLLBACK, and to
# doubt.* when the connection broke (it may or may not have committed: the table decides).
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=../lib/cluster.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/cluster.sh"

load=${BEMI_TEST_TMPDIR:=$(mktemp -d /tmp/bemi-crash.XXXXXX)}/load
rm -rf "$load"
mkdir -p "$load"

WRITERS=3
stop_file=$load/stop
writer_pids=()

stop_load() {
    touch "$stop_file"
    local pid
    for pid in "${writer_pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    writer_pids=()
}
test_cleanup() { stop_load; }

# Our own cluster, with bemi preloaded, on a free port.
bemi_own_test_cluster crash "max_worker_processes = 16
restart_after_crash = on"
echo "crash cluster: port $PGPORT, data $BEMI_TEST_DATADIR, log $BEMI_TEST_SERVER_LOG"

q() { psql -X -q -A -t -v ON_ERROR_STOP=1 -c "$1"; }

wait_ready() {
    local i
    for i in $(seq 1 300); do
        if q "SELECT 1" >/dev/null 2>&1; then return 0; fi
        sleep 0.1
    done
    bemi_fail "server did not come back"
}

worker_pid() { # waits for the ingestion worker of this database
    local i pid
    for i in $(seq 1 300); do
        pid=$(q "SELECT pid FROM pg_stat_activity WHERE backend_type = 'bemi ingest worker' AND datname = current_database()" 2>/dev/null || true)
        if [[ -n $pid ]]; then echo "$pid"; return 0; fi
        sleep 0.1
    done
    bemi_fail "no ingestion worker"
}

q "CREATE EXTENSION bemi" >/dev/null
q "CREATE TABLE public.crash_t (id bigint PRIMARY KEY, writer int NOT NULL, note text)" >/dev/null
q "CREATE TABLE public.crash_counter (writer int PRIMARY KEY, n bigint NOT NULL)" >/dev/null
q "ALTER TABLE public.crash_t REPLICA IDENTITY FULL" >/dev/null
q "INSERT INTO public.crash_counter SELECT g, 0 FROM generate_series(1, $WRITERS) g" >/dev/null
[[ $(q "SELECT bemi.sync()") == t ]] || bemi_fail "initial sync"

# writer W: one psql per transaction; every 7th transaction is rolled back on purpose.
writer() {
    local w=$1 n=0 id
    export PGAPPNAME=crash_load
    while [[ ! -e $stop_file ]]; do
        n=$((n + 1))
        id=$((w * 10000000 + n))
        if ((n % 7 == 0)); then
            psql -X -q -v ON_ERROR_STOP=1 \
                -c "BEGIN; INSERT INTO public.crash_t VALUES ($id, $w, 'rolled back'); UPDATE public.crash_counter SET n = n + 1 WHERE writer = $w; ROLLBACK;" \
                >/dev/null 2>&1 || sleep 0.1
            echo "$id" >>"$load/aborted.$w"
            continue
        fi
        if psql -X -q -v ON_ERROR_STOP=1 \
            -c "BEGIN; SELECT bemi_set_context('{\"writer\": $w, \"n\": $n}', true); INSERT INTO public.crash_t VALUES ($id, $w, 'x'); UPDATE public.crash_counter SET n = n + 1 WHERE writer = $w; COMMIT;" \
            >/dev/null 2>&1; then
            echo "$id" >>"$load/committed.$w"
        else
            echo "$id" >>"$load/doubt.$w"
            sleep 0.1
        fi
    done
}

start_load() {
    rm -f "$stop_file"
    local w
    for w in $(seq 1 $WRITERS); do
        writer "$w" &
        writer_pids+=($!)
    done
}

start_load
sleep 3

echo "--- kill -9 of a client backend"
# The load's backends live one transaction each: retry until a kill lands.
killed=0
for _ in $(seq 1 100); do
    victim=$(q "SELECT pid FROM pg_stat_activity WHERE application_name = 'crash_load' AND backend_type = 'client backend' LIMIT 1" || true)
    if [[ -n $victim ]] && kill -9 "$victim" 2>/dev/null; then killed=1; break; fi
    sleep 0.02
done
((killed)) || bemi_fail "no client backend to kill"
sleep 1
wait_ready
sleep 3

echo "--- pg_terminate_backend of the ingestion worker"
pid=$(worker_pid)
q "SELECT pg_terminate_backend($pid)" >/dev/null
sleep 3

for round in 1 2 3; do
    echo "--- kill -9 of the ingestion worker ($round)"
    pid=$(worker_pid)
    sleep 0.$((RANDOM % 9 + 1))
    kill -9 "$pid" 2>/dev/null || true
    sleep 1
    wait_ready
    sleep 2
done

echo "--- clean restart"
bemi_as_pg pg_ctl -D "$BEMI_TEST_DATADIR" -l "$BEMI_TEST_SERVER_LOG" -w -t 60 restart -m fast >/dev/null ||
    bemi_fail "pg_ctl restart"
wait_ready
sleep 3

stop_load
echo "--- load stopped; syncing"
[[ $(q "SELECT bemi.sync('120 seconds')") == t ]] || bemi_fail "bemi.sync() did not catch up"

# ------------------------------------------------------------------ compare
cat "$load"/committed.* 2>/dev/null | sort -n >"$load/committed"
cat "$load"/aborted.* 2>/dev/null | sort -n >"$load/aborted"
cat "$load"/doubt.* 2>/dev/null | sort -n >"$load/doubt"
q "SELECT id FROM public.crash_t ORDER BY 1" | sort -n >"$load/table"
q "SELECT primary_key FROM bemi.changes WHERE \"table\" = 'crash_t' AND operation = 'CREATE'" | sort -n >"$load/captured"

n_committed=$(wc -l <"$load/committed")
n_aborted=$(wc -l <"$load/aborted")
n_doubt=$(wc -l <"$load/doubt")
n_table=$(wc -l <"$load/table")
n_captured=$(wc -l <"$load/captured")
echo "committed (acknowledged): $n_committed, rolled back: $n_aborted, in doubt: $n_doubt, in the table: $n_table, in bemi.changes: $n_captured"
((n_committed > 100)) || bemi_fail "the load committed too little to mean anything ($n_committed)"

# The ground truth itself: acknowledged commits are in the table, rolled-back ones are not.
missing_in_table=$(comm -23 "$load/committed" "$load/table" | wc -l)
((missing_in_table == 0)) || bemi_fail "$missing_in_table acknowledged commits are not in the table (ground truth broken)"
unexplained=$(comm -13 <(sort -n "$load/committed" "$load/doubt") "$load/table" | wc -l)
((unexplained == 0)) || bemi_fail "$unexplained rows in the table were never attempted"

dupes=$(uniq -d "$load/captured" | wc -l)
((dupes == 0)) || bemi_fail "$dupes changes stored twice: $(uniq -d "$load/captured" | head -5 | tr '\n' ' ')"
missing=$(comm -23 "$load/table" "$load/captured")
[[ -z $missing ]] || bemi_fail "$(wc -l <<<"$missing") committed changes missing from bemi.changes: $(head -5 <<<"$missing" | tr '\n' ' ')"
extra=$(comm -13 "$load/table" "$load/captured")
[[ -z $extra ]] || bemi_fail "$(wc -l <<<"$extra") changes in bemi.changes that did not commit: $(head -5 <<<"$extra" | tr '\n' ' ')"
from_aborted=$(comm -12 "$load/aborted" "$load/captured" | wc -l)
((from_aborted == 0)) || bemi_fail "$from_aborted changes of rolled-back transactions stored"
echo "ok: bemi.changes holds exactly the committed inserts ($n_captured), each once"

# Updates: the counter of each writer was incremented once per committed transaction.
got=$(q "SELECT string_agg(c.writer || '=' || c.n || '/' || coalesce(u.n, 0), ' ' ORDER BY c.writer)
           FROM public.crash_counter c
           LEFT JOIN (SELECT (after->>'writer')::int AS writer, count(*) AS n FROM bemi.changes
                       WHERE \"table\" = 'crash_counter' AND operation = 'UPDATE' GROUP BY 1) u USING (writer)")
for pair in $got; do
    value=${pair#*=}
    [[ ${value%/*} == "${value#*/}" ]] || bemi_fail "counter updates: table/captured per writer: $got"
done
echo "ok: every committed update captured once ($got)"
check_context=$(q "SELECT count(*) FROM bemi.changes WHERE \"table\" = 'crash_t' AND (context->>'n')::bigint <> primary_key::bigint % 10000000")
[[ $check_context == 0 ]] || bemi_fail "$check_context changes carry another transaction's context"
echo "ok: each change carries its own transaction's context"

[[ $(q "SELECT count(*) = count(DISTINCT (transaction_id, seq)) FROM bemi.changes") == t ]] || bemi_fail "duplicate (transaction_id, seq)"
[[ $(q "SELECT gaps FROM bemi.status") == 0 ]] || bemi_fail "a gap was recorded"
if grep -E 'terminated by signal (11|6)|PANIC' "$BEMI_TEST_SERVER_LOG"; then
    bemi_fail "a server process crashed by itself (see above)"
fi
echo "worker restarts: $(grep -c 'bemi ingest worker' "$BEMI_TEST_SERVER_LOG" || true) log lines mention the worker"
echo "PASS"
