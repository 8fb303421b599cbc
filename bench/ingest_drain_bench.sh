#!/usr/bin/env bash
# What a long-open transaction and an idle database cost the ingestion worker: how fast it
# drains a backlog, how fresh bemi.changes stays at a fixed rate, and how much CPU the worker
# of a database with no writes uses while another database writes — each measured without
# and with a transaction in another database that has been open for BENCH_OPEN_SEC seconds
# (the issue's 10 minutes by default), side by side in one run.
#
#   bench/ingest_drain_bench.sh          the whole benchmark (about 14 minutes by default, 10
#                                        of them the open transaction's age)
#   bench/ingest_drain_bench.sh --help   this text
#
#   BENCH_OPEN_SEC=120 BENCH_CHANGES=100000 BENCH_IDLE_SEC=30 bench/ingest_drain_bench.sh
#                                        a quick run (about 5 minutes)
#
# Run as root (the server runs as the `postgres` OS user) or as postgres. Starts its own
# throw-away cluster with the shared test helpers (test/lib/bench.sh, cluster.sh, worker.sh)
# and stops and removes it on exit. Installs nothing.
#
# Server: initdb defaults (fsync, synchronous_commit, full_page_writes and autovacuum on),
# except wal_level=logical, shared_preload_libraries='bemi',
# output_plugin_libraries='pgoutput, test_decoding, wal2json, bemi', max_connections=100,
# shared_buffers=256MB; with BENCH_CPU_BOUND=1 also fsync=off and synchronous_commit=off.
#
# Databases:
#   bench_cap    CREATE EXTENSION bemi; table todo (BENCH_ROWS rows, loaded before the
#                extension, default replica identity); the workload below
#   bench_idle   CREATE EXTENSION bemi and nothing else: no writes at all
#   bench_other  no extension: pgbench's tables (-i -s 1), written by the background load
#                (builtin simple-update at -R BENCH_OTHER_RATE, 2 clients: UPDATE of a random
#                pgbench_accounts row, SELECT, INSERT into pgbench_history. Not tpcb-like: its
#                1 branch and 10 teller rows bloat without bound while the open transaction
#                holds back vacuum, and the load then slows itself down to a fraction)
#   bench_hold   no extension: where the long transaction is opened (BEGIN; SELECT
#                txid_current(); INSERT one row; then idle in transaction). It writes a row
#                because decoding only knows a transaction from its first WAL record: one
#                that only took an id does not hold the slots' restart point back.
# The workload in bench_cap, one pgbench transaction: BEGIN; UPDATE one random row of todo;
# INSERT one row; END (2 changes, no context).
#
# Order (each phase once without the open transaction, then once with it):
#   idle   BENCH_IDLE_SEC s with the background load in bench_other and no other writes: CPU
#          time (utime + stime of /proc/<pid>/stat) of bench_idle's worker as % of one CPU;
#          bench_cap's worker (no writes of its own either) is shown too.
#   lag    BENCH_LAG_SEC s of the workload at -R BENCH_LAG_RATE in bench_cap (2 clients),
#          background load still on; per stored row created_at - committed_at (created_at:
#          the start of the worker's storing transaction), p50/p90/p99/max.
#   drain  background load off; both workers stopped (SIGSTOP while they sleep between turns:
#          they hold nothing meanwhile), a backlog of BENCH_CHANGES changes written by pgbench
#          (-c BENCH_CLIENTS); bench_cap's worker resumed and timed until bemi.sync() returns
#          (bench_idle's stays stopped until then, so only one worker decodes): changes/s,
#          and the worker's CPU time per stored change.
# The transaction is opened after the first drain, with the background load on. The second
# idle and lag phases run at the end of its first BENCH_OPEN_SEC seconds (so it is
# BENCH_OPEN_SEC - BENCH_IDLE_SEC - BENCH_LAG_SEC s old when they start; the ages are
# printed), and the second drain starts once it is at least BENCH_OPEN_SEC s old. Then it
# commits and the whole trail is checked: every change of the workload stored exactly once.
#
# Targets printed (issue 9): drain rate with the open transaction >= 0.9 x without; the idle
# worker < 0.5% of one CPU.
#
# Environment (defaults in brackets):
#   PG_CONFIG           [/usr/lib/postgresql/15/bin/pg_config]
#   BENCH_CHANGES       changes in each drain's backlog (2 per transaction) [200000]
#   BENCH_OPEN_SEC      age of the open transaction at the second drain; at least
#                       BENCH_IDLE_SEC + BENCH_LAG_SEC + 10 [600]
#   BENCH_IDLE_SEC      seconds of each idle measurement [60]
#   BENCH_LAG_SEC       seconds of each lag run [30]
#   BENCH_LAG_RATE      pgbench -R of the lag runs in bench_cap [500]
#   BENCH_OTHER_RATE    pgbench -R of the background load in bench_other [500]
#   BENCH_ROWS          rows of todo [100000]
#   BENCH_CLIENTS       pgbench -c of the backlog [8]
#   BENCH_THREADS       pgbench -j of the backlog [2]
#   BENCH_CPU_BOUND=1   fsync=off, synchronous_commit=off
#   BENCH_PORT          TCP port to use instead of a free random one
#   BENCH_KEEP_TMP=1    keep the temp dir (data directory, server log, pgbench output)
#
# Exit status: 0 on success, 1 on any failure (server or pgbench error, a worker that could
# not be stopped, bemi.changes not holding exactly the workload's changes).

set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=../test/lib/bench.sh
source "$(dirname "${BASH_SOURCE[0]}")/../test/lib/bench.sh"
bemi_bench_start ingest_drain_bench "$0" "$@"

BENCH_CHANGES=${BENCH_CHANGES:-200000}
BENCH_OPEN_SEC=${BENCH_OPEN_SEC:-600}
BENCH_IDLE_SEC=${BENCH_IDLE_SEC:-60}
BENCH_LAG_SEC=${BENCH_LAG_SEC:-30}
BENCH_LAG_RATE=${BENCH_LAG_RATE:-500}
BENCH_OTHER_RATE=${BENCH_OTHER_RATE:-500}
BENCH_ROWS=${BENCH_ROWS:-100000}
BENCH_CLIENTS=${BENCH_CLIENTS:-8}
BENCH_THREADS=${BENCH_THREADS:-2}
BENCH_CPU_BOUND=${BENCH_CPU_BOUND:-0}

bemi_bench_positive BENCH_CHANGES BENCH_OPEN_SEC BENCH_IDLE_SEC BENCH_LAG_SEC BENCH_LAG_RATE BENCH_OTHER_RATE BENCH_ROWS \
    BENCH_CLIENTS BENCH_THREADS
((BENCH_OPEN_SEC >= BENCH_IDLE_SEC + BENCH_LAG_SEC + 10)) ||
    die "BENCH_OPEN_SEC ($BENCH_OPEN_SEC) must be at least BENCH_IDLE_SEC + BENCH_LAG_SEC + 10"
((BENCH_CHANGES >= 2 * BENCH_CLIENTS)) || die "BENCH_CHANGES must be at least 2 x BENCH_CLIENTS"
[[ $BENCH_CPU_BOUND == 0 || $BENCH_CPU_BOUND == 1 ]] || die "BENCH_CPU_BOUND must be 0 or 1"

# ------------------------------------------------------------------ prerequisites

bemi_bench_prereqs initdb pg_ctl psql pgbench

# ------------------------------------------------------------------ cluster

bench_cleanup() { # at exit (test/lib/bench.sh)
    [[ -z ${IDLE_FROZEN:-} ]] || kill -CONT "$IDLE_FROZEN" 2>/dev/null || true
    bemi_open_xact_commit 2>/dev/null || true
}
if [[ $BENCH_CPU_BOUND == 1 ]]; then
    bemi_bench_bemi_server $'fsync = off\nsynchronous_commit = off'
    SETTINGS+=", fsync=off, synchronous_commit=off (BENCH_CPU_BOUND=1)"
else
    bemi_bench_bemi_server
fi
bemi_bench_cluster bemi-drain-bench

# ------------------------------------------------------------------ databases

for db in bench_cap bench_idle bench_other bench_hold; do sql "CREATE DATABASE $db" >/dev/null; done
sqldb bench_cap "CREATE TABLE todo (id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, task text NOT NULL,
                                    is_completed boolean NOT NULL DEFAULT false, user_id int NOT NULL, updated_at timestamptz);
                 INSERT INTO todo (id, task, is_completed, user_id)
                      SELECT n, 'Task ' || n, n % 3 = 0, n % 1000 FROM generate_series(1, $BENCH_ROWS) n;
                 ALTER TABLE todo ALTER COLUMN id RESTART WITH $((BENCH_ROWS + 1));" >/dev/null
sqldb bench_cap "VACUUM ANALYZE todo" >/dev/null
"$BINDIR/pgbench" -i -q -s 1 bench_other >"$TMP/pgbench-init.out" 2>&1 || die "pgbench -i: $(tail -n 5 "$TMP/pgbench-init.out")"
for db in bench_cap bench_idle; do
    sqldb "$db" "CREATE EXTENSION bemi" >/dev/null
    [[ $(sqldb "$db" "SELECT bemi.sync('60 s')") == t ]] || die "bemi.sync() in $db did not return true after CREATE EXTENSION"
done
cat >"$TMP/workload.sql" <<'EOF'
\set id random(1, :rows)
BEGIN;
UPDATE todo SET is_completed = NOT is_completed, updated_at = now() WHERE id = :id;
INSERT INTO todo (task, user_id) VALUES ('New task', :id);
END;
EOF
chmod 644 "$TMP/workload.sql"
WORKLOAD_TXNS=0 # transactions of the workload committed in bench_cap: the trail must hold 2 x
log "databases ready: bench_cap ($BENCH_ROWS rows), bench_idle, bench_other (pgbench -s 1), bench_hold"

# ------------------------------------------------------------------ helpers

processed() { sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$1"; }
worker_stat() { sqldb bench_cap "SELECT $1 FROM bemi._worker_status()"; } # changes, batches
# WAL (bytes) from a slot's restart point to the current position: what each of its peeks
# decodes before reaching anything new.
held_back() { sql "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint FROM pg_replication_slots WHERE slot_name = (SELECT 'bemi_' || oid FROM pg_database WHERE datname = '$1')"; }
# nanoseconds PID has spent runnable but waiting for a CPU (/proc/<pid>/schedstat, field 2)
run_delay() { cut -d' ' -f2 "/proc/$1/schedstat" 2>/dev/null || echo 0; }
mib() { awk -v b="$1" 'BEGIN{printf "%.1f", b / 1048576}'; }
age() { if [[ -n $BEMI_OPEN_XACT_PID ]]; then bemi_open_xact_age; else echo -; fi; }

OTHER_PID=
other_load_start() {
    (cd "$TMP" && exec "$BINDIR/pgbench" -n -b simple-update -c 2 -j 2 -R "$BENCH_OTHER_RATE" -T 100000 bench_other) >"$TMP/other-$1.out" 2>&1 &
    OTHER_PID=$!
    BG_PIDS+=("$OTHER_PID")
    sleep 1
    kill -0 "$OTHER_PID" 2>/dev/null || die "background pgbench failed: $(tail -n 5 "$TMP/other-$1.out")"
}
other_load_stop() {
    # TERM, not INT: a script's background jobs start with SIGINT ignored (no job control).
    kill -TERM "$OTHER_PID" 2>/dev/null || true
    wait "$OTHER_PID" 2>/dev/null || true
    OTHER_PID=
}
# tps the background load reached between two server timestamps (one pgbench_history row a
# transaction)
other_tps() { sqldb bench_other "SELECT round(count(*) / extract(epoch FROM timestamptz '$2' - timestamptz '$1'), 1) FROM pgbench_history WHERE mtime >= '$1' AND mtime < '$2'"; }

declare -A R # results: R[<phase>-<what>-<without|with>]

# idle TAG: the background load must be running
measure_idle() {
    local tag=$1 pi pc i0 i1 c0 c1 t0 t1 w0 w1 wall
    pi=$(bemi_worker_pid bench_idle)
    pc=$(bemi_worker_pid bench_cap)
    [[ -n $pi && -n $pc ]] || die "a worker is missing (bench_idle: '$pi', bench_cap: '$pc')"
    R[idle-age-$tag]=$(age)
    log "idle ($tag): ${BENCH_IDLE_SEC}s, background load at -R $BENCH_OTHER_RATE; open transaction's age ${R[idle-age-$tag]} s"
    t0=$(sql "SELECT clock_timestamp()")
    w0=$(now_epoch)
    i0=$(bemi_proc_ticks "$pi")
    c0=$(bemi_proc_ticks "$pc")
    sleep "$BENCH_IDLE_SEC"
    i1=$(bemi_proc_ticks "$pi")
    c1=$(bemi_proc_ticks "$pc")
    w1=$(now_epoch)
    t1=$(sql "SELECT clock_timestamp()")
    [[ -n $i1 && -n $c1 && $(bemi_worker_pid bench_idle) == "$pi" && $(bemi_worker_pid bench_cap) == "$pc" ]] ||
        die "a worker restarted during the idle measurement"
    wall=$(fsub "$w1" "$w0")
    R[idle-share-$tag]=$(bemi_cpu_share $((i1 - i0)) "$wall")
    R[idle-cap-$tag]=$(bemi_cpu_share $((c1 - c0)) "$wall")
    R[idle-tps-$tag]=$(other_tps "$t0" "$t1")
    R[idle-held-$tag]=$(mib "$(held_back bench_idle)")
    log "idle ($tag): bench_idle's worker ${R[idle-share-$tag]}% of one CPU, bench_cap's ${R[idle-cap-$tag]}%; background ${R[idle-tps-$tag]} tps; restart point ${R[idle-held-$tag]} MiB back"
}

# lag TAG: the background load keeps running
measure_lag() {
    local tag=$1 t0 t1 n s0 row
    R[lag-age-$tag]=$(age)
    log "lag ($tag): ${BENCH_LAG_SEC}s at -R $BENCH_LAG_RATE in bench_cap; open transaction's age ${R[lag-age-$tag]} s"
    t0=$(sql "SELECT clock_timestamp()")
    (cd "$TMP" && "$BINDIR/pgbench" -n -c 2 -j 2 -R "$BENCH_LAG_RATE" -T "$BENCH_LAG_SEC" -D rows="$BENCH_ROWS" \
        -f "$TMP/workload.sql" bench_cap) >"$TMP/lag-$tag.out" 2>&1 || die "lag pgbench: $(tail -n 5 "$TMP/lag-$tag.out")"
    t1=$(sql "SELECT clock_timestamp()")
    n=$(processed "$TMP/lag-$tag.out")
    WORKLOAD_TXNS=$((WORKLOAD_TXNS + n))
    s0=$(now_epoch)
    [[ $(sqldb bench_cap "SELECT bemi.sync('600 s')") == t ]] || die "bemi.sync() timed out after the lag run"
    R[lag-sync-$tag]=$(fsub "$(now_epoch)" "$s0")
    R[lag-tps-$tag]=$(awk -v n="$n" -v s="$BENCH_LAG_SEC" 'BEGIN{printf "%.1f", n / s}')
    R[lag-other-$tag]=$(other_tps "$t0" "$t1")
    row=$(sqldb bench_cap "
        SELECT count(*), p[1], p[2], p[3], round(max(l), 3)
          FROM (SELECT extract(epoch FROM created_at - committed_at)::numeric AS l
                  FROM bemi.changes WHERE \"table\" = 'todo' AND committed_at >= '$t0' AND committed_at < '$t1') x,
               LATERAL (SELECT array_agg(round(v::numeric, 3)) AS p
                          FROM unnest((SELECT percentile_cont(ARRAY[0.5, 0.9, 0.99]) WITHIN GROUP (ORDER BY extract(epoch FROM created_at - committed_at))
                                         FROM bemi.changes WHERE \"table\" = 'todo' AND committed_at >= '$t0' AND committed_at < '$t1')) v) q
         GROUP BY p" | tr '|' ' ')
    local rows p50 p90 p99 max
    read -r rows p50 p90 p99 max <<<"$row"
    R[lag-rows-$tag]=$rows R[lag-p50-$tag]=$p50 R[lag-p90-$tag]=$p90 R[lag-p99-$tag]=$p99 R[lag-max-$tag]=$max
    ((R[lag-rows-$tag] == 2 * n)) || die "lag ($tag): $n transactions committed but ${R[lag-rows-$tag]} changes stored"
    log "lag ($tag): ${R[lag-tps-$tag]} tps, ${R[lag-rows-$tag]} rows, created_at - committed_at p50 ${R[lag-p50-$tag]} s, p99 ${R[lag-p99-$tag]} s, max ${R[lag-max-$tag]} s; sync after it ${R[lag-sync-$tag]} s"
}

# drain TAG: the background load must be stopped
IDLE_FROZEN=
measure_drain() {
    local tag=$1 pc pi ch0 b0 c0 c1 q0 q1 r0 fin n out
    [[ $(sqldb bench_cap "SELECT bemi.sync('600 s')") == t ]] || die "bemi.sync() timed out before the drain"
    [[ $(sqldb bench_idle "SELECT bemi.sync('600 s')") == t ]] || die "bemi.sync() in bench_idle timed out before the drain"
    sql "CHECKPOINT" >/dev/null
    pc=$(bemi_worker_pid bench_cap)
    pi=$(bemi_worker_pid bench_idle)
    # Only bench_cap's worker decodes during the drain: bench_idle's (which would decode the
    # same WAL) stays stopped until it ends.
    bemi_worker_freeze "$pi" || die "could not stop bench_idle's worker while it sleeps (root needed)"
    IDLE_FROZEN=$pi
    BEMI_STOPPED_PID=
    bemi_worker_freeze "$pc" || die "could not stop bench_cap's worker while it sleeps (root needed)"
    ch0=$(worker_stat changes)
    b0=$(worker_stat batches)
    out=$TMP/drain-$tag.out
    log "drain ($tag): both workers stopped, writing $BENCH_CHANGES changes with pgbench -c $BENCH_CLIENTS"
    (cd "$TMP" && "$BINDIR/pgbench" -n -c "$BENCH_CLIENTS" -j "$BENCH_THREADS" -t $((BENCH_CHANGES / 2 / BENCH_CLIENTS)) \
        -D rows="$BENCH_ROWS" -f "$TMP/workload.sql" bench_cap) >"$out" 2>&1 || die "backlog pgbench: $(tail -n 5 "$out")"
    n=$(processed "$out")
    WORKLOAD_TXNS=$((WORKLOAD_TXNS + n))
    R[drain-changes-$tag]=$((2 * n))
    R[drain-write-tps-$tag]=$(sed -n 's/^tps = \([0-9.]*\) (without initial connection time)/\1/p' "$out" | awk '{printf "%.0f", $1}')
    R[drain-age-$tag]=$(age)
    R[drain-held-$tag]=$(mib "$(held_back bench_cap)")
    log "drain ($tag): ${R[drain-changes-$tag]} changes written at ${R[drain-write-tps-$tag]} tps; ${R[drain-held-$tag]} MiB of WAL from the restart point to its end (each peek decodes it); open transaction's age ${R[drain-age-$tag]} s"
    c0=$(bemi_proc_ticks "$pc")
    q0=$(run_delay "$pc")
    r0=$(sql "SELECT extract(epoch FROM clock_timestamp())")
    bemi_worker_thaw
    fin=$(sqldb bench_cap "SELECT bemi.sync('900 s'), extract(epoch FROM clock_timestamp())")
    [[ ${fin%%|*} == t ]] || die "bemi.sync() timed out after the backlog"
    c1=$(bemi_proc_ticks "$pc")
    q1=$(run_delay "$pc")
    [[ -n $c1 && $(bemi_worker_pid bench_cap) == "$pc" ]] || die "bench_cap's worker restarted during the drain"
    R[drain-runq-$tag]=$(awk -v a="$q0" -v b="$q1" 'BEGIN{printf "%.2f", (b - a) / 1e9}')
    kill -CONT "$pi"
    IDLE_FROZEN=
    R[drain-batches-$tag]=$(($(worker_stat batches) - b0))
    local stored=$(($(worker_stat changes) - ch0))
    ((stored == R[drain-changes-$tag])) || die "drain ($tag): ${R[drain-changes-$tag]} changes written but $stored stored"
    R[drain-s-$tag]=$(fsub "${fin#*|}" "$r0")
    R[drain-rate-$tag]=$(awk -v c="$stored" -v s="${R[drain-s-$tag]}" 'BEGIN{printf "%.0f", c / s}')
    R[drain-cpu-$tag]=$(awk -v t=$((c1 - c0)) -v hz="$CLK_TCK" 'BEGIN{printf "%.2f", t / hz}')
    # The worker's CPU over the drain's wall time: well below 100% means it waited (for a CPU
    # other work held, or for I/O), and the wall-clock rate then says more about the machine.
    R[drain-busy-$tag]=$(awk -v t=$((c1 - c0)) -v hz="$CLK_TCK" -v s="${R[drain-s-$tag]}" 'BEGIN{printf "%.0f", 100 * t / hz / s}')
    R[drain-us-$tag]=$(awk -v t=$((c1 - c0)) -v hz="$CLK_TCK" -v c="$stored" 'BEGIN{printf "%.1f", 1e6 * t / hz / c}')
    log "drain ($tag): $stored changes in ${R[drain-s-$tag]} s = ${R[drain-rate-$tag]} changes/s; worker CPU ${R[drain-cpu-$tag]} s = ${R[drain-us-$tag]} us/change, ${R[drain-runq-$tag]} s waiting for a CPU; ${R[drain-batches-$tag]} batches"
    [[ $(sqldb bench_idle "SELECT bemi.sync('900 s')") == t ]] || die "bemi.sync() in bench_idle timed out after the drain"
}

# ------------------------------------------------------------------ without

T_START=$(now_epoch)
other_load_start without
measure_idle without
measure_lag without
other_load_stop
measure_drain without

# ------------------------------------------------------------------ with the open transaction

other_load_start with
bemi_open_xact_start bench_hold "$TMP" || die "could not open the long transaction"
log "transaction $BEMI_OPEN_XACT_XID open in bench_hold (its first record before $BEMI_OPEN_XACT_LSN); background load on"
AGING=$((BENCH_OPEN_SEC - BENCH_IDLE_SEC - BENCH_LAG_SEC))
PI=$(bemi_worker_pid bench_idle)
while :; do
    a=$(age)
    [[ $a =~ ^[0-9.]+$ ]] || die "the open transaction is gone: $(cat "$TMP/open_xact.out")"
    awk -v a="$a" -v t="$AGING" 'BEGIN{exit !(a >= t)}' && break
    t0=$(bemi_proc_ticks "$PI")
    w0=$(now_epoch)
    sleep "$(awk -v a="$a" -v t="$AGING" 'BEGIN{d = t - a; print (d > 60 ? 60 : d)}')"
    log "aging: open for $(age) s; restart points $(mib "$(held_back bench_cap)") MiB (bench_cap), $(mib "$(held_back bench_idle)") MiB (bench_idle) back; bench_idle's worker $(bemi_cpu_share $(($(bemi_proc_ticks "$PI") - t0)) "$(fsub "$(now_epoch)" "$w0")")% of one CPU"
done
measure_idle with
measure_lag with
other_load_stop
while awk -v a="$(age)" -v t="$BENCH_OPEN_SEC" 'BEGIN{exit !(a < t)}'; do sleep 1; done
measure_drain with
R[restart-held]=$(sql "SELECT pg_wal_lsn_diff(confirmed_flush_lsn, restart_lsn)::bigint FROM pg_replication_slots WHERE slot_name = (SELECT 'bemi_' || oid FROM pg_database WHERE datname = 'bench_cap')")
bemi_open_xact_commit || die "the long transaction did not commit cleanly: $(cat "$TMP/open_xact.out")"
T_END=$(now_epoch)

# ------------------------------------------------------------------ the trail

[[ $(sqldb bench_cap "SELECT bemi.sync('600 s')") == t ]] || die "final bemi.sync() timed out"
read -r STORED DISTINCT <<<"$(sqldb bench_cap "SELECT count(*), count(DISTINCT (capture, commit_position, seq)) FROM bemi.changes WHERE \"table\" = 'todo'" | tr '|' ' ')"
((STORED == 2 * WORKLOAD_TXNS && DISTINCT == STORED)) ||
    die "bemi.changes holds $STORED changes of todo ($DISTINCT distinct), the workload committed $((2 * WORKLOAD_TXNS))"
[[ $(sqldb bench_idle "SELECT count(*) FROM bemi.changes") == 0 ]] || die "bench_idle's trail is not empty"
ERRORS=$(sqldb bench_cap "SELECT coalesce(last_error, 'none') FROM bemi.status")

# ------------------------------------------------------------------ report

ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (b + 0 == 0) print "-"; else printf "%.2f", a / b }'; }
row() { printf '%-46s %14s %14s %8s  %s\n' "$@"; }
DRAIN_RATIO=$(ratio "${R[drain-rate-with]}" "${R[drain-rate-without]}")
echo
echo "== bemi ingest drain benchmark: $PG_VERSION_STR, $(nproc) CPUs, $(uname -m), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
echo "== bemi.so: $BEMI_SO_ID"
echo "== server: initdb defaults except $SETTINGS"
echo "== workload in bench_cap: BEGIN; UPDATE 1 random row of $BENCH_ROWS; INSERT 1 row; END (2 changes, no context, default replica identity)"
echo "== background load: pgbench simple-update -R $BENCH_OTHER_RATE -c 2 in bench_other (no extension); open transaction: bench_hold (no extension)"
echo "== load average before: $LOAD_BEFORE; after: $(cut -d' ' -f1-3 /proc/loadavg); $(awk -v a="$T_START" -v b="$T_END" 'BEGIN{printf "%.0f", b-a}') s of measuring"
echo
row "" "without" "with" "ratio" "target"
row "age of the open transaction (s), drain" "-" "${R[drain-age-with]}" "" ""
row "drain: changes in the backlog" "${R[drain-changes-without]}" "${R[drain-changes-with]}" "" ""
row "  written at (tps, workers stopped)" "${R[drain-write-tps-without]}" "${R[drain-write-tps-with]}" "" ""
row "  WAL from the restart point to its end (MiB)" "${R[drain-held-without]}" "${R[drain-held-with]}" "" ""
row "  seconds until bemi.sync() returned" "${R[drain-s-without]}" "${R[drain-s-with]}" "" ""
row "  changes/s" "${R[drain-rate-without]}" "${R[drain-rate-with]}" "$DRAIN_RATIO" \
    "with >= 0.9 x without: $(awk -v r="$DRAIN_RATIO" 'BEGIN{print ((r != "-" && r >= 0.9) ? "MET" : "NOT MET")}')"
row "  worker CPU us per stored change" "${R[drain-us-without]}" "${R[drain-us-with]}" "$(ratio "${R[drain-us-with]}" "${R[drain-us-without]}")" ""
row "  worker CPU / wall time of the drain (%)" "${R[drain-busy-without]}" "${R[drain-busy-with]}" "" \
    "well below 100: the worker waited (other load, I/O)"
row "  time runnable, waiting for a CPU (s)" "${R[drain-runq-without]}" "${R[drain-runq-with]}" "" "(other work on the machine)"
row "  worker batches" "${R[drain-batches-without]}" "${R[drain-batches-with]}" "" ""
row "age of the open transaction (s), lag" "-" "${R[lag-age-with]}" "" ""
row "lag at -R $BENCH_LAG_RATE (tps reached)" "${R[lag-tps-without]}" "${R[lag-tps-with]}" "" ""
row "  rows" "${R[lag-rows-without]}" "${R[lag-rows-with]}" "" ""
row "  created_at - committed_at p50 (s)" "${R[lag-p50-without]}" "${R[lag-p50-with]}" "$(ratio "${R[lag-p50-with]}" "${R[lag-p50-without]}")" "unchanged by the open transaction"
row "  p90 (s)" "${R[lag-p90-without]}" "${R[lag-p90-with]}" "$(ratio "${R[lag-p90-with]}" "${R[lag-p90-without]}")" ""
row "  p99 (s)" "${R[lag-p99-without]}" "${R[lag-p99-with]}" "$(ratio "${R[lag-p99-with]}" "${R[lag-p99-without]}")" ""
row "  max (s)" "${R[lag-max-without]}" "${R[lag-max-with]}" "" ""
row "  bemi.sync() after the run (s)" "${R[lag-sync-without]}" "${R[lag-sync-with]}" "" ""
row "  background load meanwhile (tps)" "${R[lag-other-without]}" "${R[lag-other-with]}" "" ""
row "age of the open transaction (s), idle" "-" "${R[idle-age-with]}" "" ""
row "idle: bench_idle's worker, % of one CPU" "${R[idle-share-without]}" "${R[idle-share-with]}" "" \
    "< 0.5%: without $(awk -v s="${R[idle-share-without]}" 'BEGIN{print ((s < 0.5) ? "MET" : "NOT MET")}'), with $(awk -v s="${R[idle-share-with]}" 'BEGIN{print ((s < 0.5) ? "MET" : "NOT MET")}')"
row "  bench_cap's worker (no writes either), %" "${R[idle-cap-without]}" "${R[idle-cap-with]}" "" ""
row "  background load reached (tps)" "${R[idle-tps-without]}" "${R[idle-tps-with]}" "" ""
row "  bench_idle's restart point behind (MiB)" "${R[idle-held-without]}" "${R[idle-held-with]}" "" ""
echo
echo "trail: $STORED changes of todo stored, each once ($((2 * WORKLOAD_TXNS)) committed); bench_cap's last_error: $ERRORS"
echo "bench_cap's slot, just before the open transaction committed: restart point $(mib "${R[restart-held]}") MiB behind its confirmed position"
