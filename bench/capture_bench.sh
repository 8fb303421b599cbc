#!/usr/bin/env bash
# What capture costs the application: pgbench latency and throughput with bemi fully on,
# against no change tracking at all and a classic trigger-based audit table; and how fast
# and how fresh the ingestion worker fills bemi.changes.
#
#   bench/capture_bench.sh            the whole benchmark (about 8 minutes by default)
#   bench/capture_bench.sh --help     this text
#
# Run as root (the server runs as the `postgres` OS user; perf needs root) or as postgres.
# Starts its own throw-away cluster with the shared test helpers (test/lib/bench.sh, cluster.sh: initdb
# into a mktemp dir, a free port, unix socket in that dir) and stops and removes it on exit.
# Installs nothing.
#
# Server: initdb defaults (fsync, synchronous_commit, full_page_writes and autovacuum on),
# except wal_level=logical, shared_preload_libraries='bemi',
# output_plugin_libraries='pgoutput, test_decoding, wal2json, bemi', max_connections=100,
# shared_buffers=256MB (and the listen address / socket directory).
#
# Three databases, one per mode, each with the table todo (100,000 rows, BENCH_ROWS):
#   untracked  bench_plain: no extension (bemi is preloaded, its hooks do nothing there)
#   bemi       bench_bemi:  CREATE EXTENSION bemi, todo REPLICA IDENTITY FULL
#                           (bemi.set_replica_identity_full), the ingestion worker running;
#                           each transaction sets its context with bemi_set_context(..., true)
#   trigger    bench_audit: an AFTER INSERT OR UPDATE OR DELETE row trigger inserting
#                           to_jsonb(OLD)/to_jsonb(NEW), TG_OP, the table, now() and the context
#                           (current_setting('audit.context')) into audit_log, indexed like
#                           bemi.changes (identity key, (table, key, time), time, GIN jsonb_path_ops on context);
#                           each transaction sets the context with set_config(..., true)
# One pgbench transaction (-M simple): BEGIN; [context]; UPDATE one random row of the 100k;
# INSERT one row; END. -c 8 -j 2 (BENCH_CLIENTS, BENCH_THREADS). The context is
# SELECT bemi_set_context('{"user_id": :uid, "endpoint": "/todo"}', true) (bemi) or
# SELECT set_config('audit.context', '{"user_id": :uid, "endpoint": "/todo"}', true) (trigger).
#
# The bemi worker decodes the WAL of the whole cluster, so it also reads (and skips) the WAL
# the untracked and trigger rounds write: that is bemi's real cost on a shared server, and it
# is part of those rounds. The script reports the worker's CPU time (and batches) in every
# run, and at the end (BENCH_CONTROL=1) runs untracked back to back with the worker and,
# after DROP EXTENSION bemi, with no worker at all.
#
# Phases (modes interleaved round by round, the order rotated each round; a CHECKPOINT and a
# bemi.sync() before every measured run, so every run starts with the worker caught up):
#  (b) saturation: BENCH_ROUNDS x 3 modes x BENCH_SAT_SEC s, no -R. Gives the untracked
#      maximum, from which the fixed rate is derived.
#  (a) fixed rate: BENCH_ROUNDS x 4 modes x BENCH_RATE_SEC s at -R R, R = BENCH_RATE, or by
#      default 5000 (the issue's) when the untracked median maximum is at least 4 x 5000,
#      else a quarter of it. When R is not 5000, one more round at -R 5000
#      (BENCH_ISSUE_RATE_SEC s per mode) shows which modes sustain the issue's rate.
#      A fourth mode (root only), bemi-stalled, runs bemi's database with the worker stopped
#      by SIGSTOP while it sleeps between batches (it drains after the run): what bemi costs
#      inside the transaction (hooks, context messages, full replica identity), without the
#      worker competing for the CPUs.
#      Latency = pgbench's (from each transaction's scheduled start: schedule lag included);
#      p50/p90/p99/max from the per-transaction logs (-l), pooled over the rounds.
#  (c) ingestion:
#      lag: BENCH_LAG_SEC s at -R R in bemi mode. Per stored row, created_at - committed_at
#      (created_at is the start of the worker's storing transaction), p50/p90/p99/max, and
#      first vs last 10 s of the run. Also sampled every 100 ms from another session:
#      clock_timestamp() - max(committed_at) of bemi.changes (how old the newest visible
#      change is: commit-to-visible, as a reader sees it) and bemi.status.lag_seconds.
#      capacity: LOCK TABLE bemi.changes IN EXCLUSIVE MODE stalls the worker (its INSERT
#      waits; it reads nothing meanwhile) while pgbench writes a backlog for BENCH_BACKLOG_SEC
#      s; the lock is released and bemi.sync() times the drain: changes/s the worker sustains
#      alone. perf samples the worker during the drain (BENCH_PERF); the summary gives its CPU per
#      stored change at saturation and in the drain.
#
# CPU accounting, per run: the cluster's processes (the postmaster's own and reaped
# children's time, plus its live children: backends, the worker, checkpointer, ...) from the
# start of the run until bemi.sync() returned after it, the worker alone, pgbench, and the
# rest of the machine ("other": anything else running skews the wall-clock figures).
#
# Environment (defaults in brackets):
#   PG_CONFIG             [/usr/lib/postgresql/15/bin/pg_config]
#   BENCH_ROUNDS          rounds of (a) and (b) [3]
#   BENCH_SAT_SEC         seconds per saturation run [10]
#   BENCH_RATE_SEC        seconds per fixed-rate run [15]
#   BENCH_RATE            fixed rate (tps) for (a) and the lag run [auto, see (a)]
#   BENCH_ISSUE_RATE      the issue's rate [5000]
#   BENCH_ISSUE_RATE_SEC  seconds per mode at BENCH_ISSUE_RATE when R differs; 0 skips [4]
#   BENCH_LAG_SEC         seconds of the lag run [60]
#   BENCH_BACKLOG_SEC     seconds of backlog for the capacity run, < 9 (the worker's
#                         lock_timeout is 10 s) [7]
#   BENCH_ROWS            rows of todo [100000]
#   BENCH_CLIENTS         pgbench -c [8]
#   BENCH_THREADS         pgbench -j [2]
#   BENCH_CONTEXT         how bemi transactions carry their context: function, a
#                         SELECT bemi_set_context(...) of its own (one more round trip, as the
#                         trigger audit's set_config); comment, a /*Bemi {...} Bemi*/ comment in
#                         each statement [function]
#   BENCH_CPU_BOUND=1     fsync=off, synchronous_commit=off: the CPU-bound configuration of
#                         issue 9, where disk waits do not hide what tracking costs [0]
#   BENCH_PROTOCOL        pgbench -M [simple]. With extended or prepared, the context is built
#                         with jsonb_build_object (a variable inside a literal cannot be a
#                         parameter); note that bemi then attributes the INSERT to the
#                         UPDATE's "SQL" (the summary counts such rows)
#   BENCH_CONTROL=0       skip the final control (untracked with the worker, then with the
#                         extension dropped)
#   BENCH_PERF            1: perf the worker during the drain (needs root and perf);
#                         0: no; default: 1 when root and perf are there
#   BENCH_OUT             keep the results (pgbench output and logs, perf reports) in this
#                         directory [not kept]
#   BENCH_PORT            TCP port to use instead of a free random one
#   BENCH_KEEP_TMP=1      keep the temp dir (data directory, server log)
#
# Exit status: 0 on success, 1 on any failure (server error, pgbench error, bemi.changes not
# holding exactly the changes the bemi runs made).

set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=../test/lib/bench.sh
source "$(dirname "${BASH_SOURCE[0]}")/../test/lib/bench.sh"
bemi_bench_start capture_bench "$0" "$@"

BENCH_ROUNDS=${BENCH_ROUNDS:-3}
BENCH_SAT_SEC=${BENCH_SAT_SEC:-10}
BENCH_RATE_SEC=${BENCH_RATE_SEC:-15}
BENCH_RATE=${BENCH_RATE:-}
BENCH_ISSUE_RATE=${BENCH_ISSUE_RATE:-5000}
BENCH_ISSUE_RATE_SEC=${BENCH_ISSUE_RATE_SEC:-4}
BENCH_LAG_SEC=${BENCH_LAG_SEC:-60}
BENCH_BACKLOG_SEC=${BENCH_BACKLOG_SEC:-7}
BENCH_ROWS=${BENCH_ROWS:-100000}
BENCH_CLIENTS=${BENCH_CLIENTS:-8}
BENCH_THREADS=${BENCH_THREADS:-2}
BENCH_PROTOCOL=${BENCH_PROTOCOL:-simple}
BENCH_CONTROL=${BENCH_CONTROL:-1}
BENCH_OUT=${BENCH_OUT:-}
BENCH_CPU_BOUND=${BENCH_CPU_BOUND:-0}
BENCH_CONTEXT=${BENCH_CONTEXT:-function}
MODES=(untracked bemi trigger)
# (a) also runs bemi with its worker stopped (SIGSTOP, root only): what a transaction pays
# inside itself (hooks, context messages, full replica identity) without the worker
# competing for the CPUs
RATE_MODES=(untracked bemi trigger bemi-stalled)
if ((EUID != 0)); then RATE_MODES=(untracked bemi trigger); fi
declare -A DB=([untracked]=bench_plain [bemi]=bench_bemi [trigger]=bench_audit [bemi-stalled]=bench_bemi)
declare -A SCRIPT=([untracked]=untracked [bemi]=bemi [trigger]=trigger [bemi-stalled]=bemi)

bemi_bench_whole BENCH_ROUNDS BENCH_SAT_SEC BENCH_RATE_SEC BENCH_ISSUE_RATE BENCH_ISSUE_RATE_SEC BENCH_LAG_SEC \
    BENCH_BACKLOG_SEC BENCH_ROWS BENCH_CLIENTS BENCH_THREADS
[[ -z $BENCH_RATE || $BENCH_RATE =~ ^[1-9][0-9]*$ ]] || die "BENCH_RATE must be a positive integer, got '$BENCH_RATE'"
((BENCH_ROUNDS > 0 && BENCH_SAT_SEC > 0 && BENCH_RATE_SEC > 0 && BENCH_ROWS > 0 && BENCH_CLIENTS > 0)) ||
    die "BENCH_ROUNDS, BENCH_SAT_SEC, BENCH_RATE_SEC, BENCH_ROWS and BENCH_CLIENTS must be > 0"
((BENCH_LAG_SEC >= 20)) || die "BENCH_LAG_SEC must be at least 20 (first and last 10 s are compared)"
((BENCH_BACKLOG_SEC >= 1 && BENCH_BACKLOG_SEC <= 8)) ||
    die "BENCH_BACKLOG_SEC must be 1..8 (the worker gives up waiting for a lock after 10 s)"
[[ $BENCH_CPU_BOUND == 0 || $BENCH_CPU_BOUND == 1 ]] || die "BENCH_CPU_BOUND must be 0 or 1"
[[ $BENCH_CONTEXT == function || $BENCH_CONTEXT == comment ]] || die "BENCH_CONTEXT must be function or comment"
[[ $BENCH_CONTEXT == function || $BENCH_PROTOCOL == simple ]] || die "BENCH_CONTEXT=comment needs BENCH_PROTOCOL=simple (a variable in a comment cannot be a parameter)"
case $BENCH_PROTOCOL in simple | extended | prepared) ;; *) die "BENCH_PROTOCOL must be simple, extended or prepared" ;; esac

# ------------------------------------------------------------------ prerequisites

# Which build was measured: BEMI_SO_ID (the installed library; others may reinstall it
# meanwhile: the hash is taken again at the end and a change is reported).
bemi_bench_prereqs initdb pg_ctl psql pgbench
if [[ -z ${BENCH_PERF:-} ]]; then
    BENCH_PERF=0
    if ((EUID == 0)) && command -v perf >/dev/null 2>&1; then BENCH_PERF=1; fi
elif [[ $BENCH_PERF == 1 ]]; then
    command -v perf >/dev/null 2>&1 || die "BENCH_PERF=1 needs perf (Debian: apt-get install linux-perf)"
    ((EUID == 0)) || die "BENCH_PERF=1 needs root (perf attaches to the worker)"
fi

# ------------------------------------------------------------------ cluster

bench_cleanup() { # at exit (test/lib/bench.sh)
    if [[ -n $BENCH_OUT && -d ${RES:-} ]]; then
        mkdir -p "$BENCH_OUT" && cp -r "$RES"/. "$BENCH_OUT"/ && echo "capture_bench: results kept in $BENCH_OUT" >&2
    fi
}
if [[ $BENCH_CPU_BOUND == 1 ]]; then
    bemi_bench_bemi_server $'fsync = off\nsynchronous_commit = off'
    SETTINGS+=", fsync=off, synchronous_commit=off (BENCH_CPU_BOUND=1)"
else
    bemi_bench_bemi_server
fi
bemi_bench_cluster bemi-capture-bench
RES=$TMP/results
mkdir -p "$RES"

# ------------------------------------------------------------------ schema

for m in "${MODES[@]}"; do
    sql "CREATE DATABASE ${DB[$m]}" >/dev/null
    sqldb "${DB[$m]}" "
CREATE TABLE todo (
    id           bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    task         text NOT NULL,
    is_completed boolean NOT NULL DEFAULT false,
    user_id      integer NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz
);
INSERT INTO todo (id, task, is_completed, user_id, created_at)
SELECT n, 'Task ' || n || ': review the quarterly report', n % 3 = 0, n % 1000,
       timestamptz '2024-01-01 00:00:00+00' + make_interval(secs => n)
  FROM generate_series(1, $BENCH_ROWS) n;
ALTER TABLE todo ALTER COLUMN id RESTART WITH $((BENCH_ROWS + 1));" >/dev/null
    sqldb "${DB[$m]}" "VACUUM ANALYZE todo" >/dev/null
done

# Trigger audit: what applications do without logical decoding.
sqldb bench_audit "
CREATE TABLE audit_log (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    schema_name text NOT NULL,
    table_name  text NOT NULL,
    primary_key text,
    operation   text NOT NULL,
    before      jsonb,
    after       jsonb,
    context     jsonb NOT NULL,
    changed_at  timestamptz NOT NULL
);
CREATE INDEX audit_log_history_idx ON audit_log (table_name, primary_key, changed_at);
CREATE INDEX audit_log_changed_at_idx ON audit_log (changed_at);
CREATE INDEX audit_log_context_idx ON audit_log USING gin (context jsonb_path_ops);
CREATE FUNCTION audit_row() RETURNS trigger LANGUAGE plpgsql AS \$\$
DECLARE
    b jsonb := CASE WHEN TG_OP <> 'INSERT' THEN to_jsonb(OLD) END;
    a jsonb := CASE WHEN TG_OP <> 'DELETE' THEN to_jsonb(NEW) END;
BEGIN
    INSERT INTO audit_log (schema_name, table_name, primary_key, operation, before, after, context, changed_at)
    VALUES (TG_TABLE_SCHEMA, TG_TABLE_NAME, coalesce(a, b)->>'id', TG_OP, b, a,
            coalesce(nullif(current_setting('audit.context', true), '')::jsonb, '{}'::jsonb), now());
    RETURN NULL;
END
\$\$;
CREATE TRIGGER todo_audit AFTER INSERT OR UPDATE OR DELETE ON todo
    FOR EACH ROW EXECUTE FUNCTION audit_row();" >/dev/null

# bemi: the extension after loading (capture starts at its slot), full replica identity.
sqldb bench_bemi "CREATE EXTENSION bemi" >/dev/null
sqldb bench_bemi "SELECT bemi.set_replica_identity_full(ARRAY['public.todo'::regclass])" >/dev/null
[[ $(sqldb bench_bemi "SELECT bemi.sync('60 s')") == t ]] || die "bemi.sync() did not return true after CREATE EXTENSION (see $BEMI_TEST_SERVER_LOG)"
BEMI_SLOT=$(sqldb bench_bemi "SELECT slot FROM bemi.status")
log "databases ready: bench_plain bench_bemi bench_audit ($BENCH_ROWS rows each); bemi slot $BEMI_SLOT"

# pgbench scripts
if [[ $BENCH_PROTOCOL == simple ]]; then
    CONTEXT_JSON=\''{"user_id": :uid, "endpoint": "/todo"}'\'
    CONTEXT_TEXT=$CONTEXT_JSON
else
    CONTEXT_JSON="jsonb_build_object('user_id', CAST(:uid AS int), 'endpoint', '/todo')"
    CONTEXT_TEXT="$CONTEXT_JSON::text"
fi
write_script() { # mode, context statement (or nothing), comment after each change (or nothing)
    {
        echo '\set id random(1, :rows)'
        echo '\set uid random(1, 1000000)'
        echo 'BEGIN;'
        [[ -n $2 ]] && echo "$2"
        echo "UPDATE todo SET is_completed = NOT is_completed, updated_at = now() WHERE id = :id${3:+ $3};"
        echo "INSERT INTO todo (task, user_id) VALUES ('New task from the app', :uid)${3:+ $3};"
        echo 'END;'
    } >"$TMP/$1.sql"
}
write_script untracked ""
if [[ $BENCH_CONTEXT == comment ]]; then
    # The context in a comment of each statement, as ORM adapters send it: no round trip of
    # its own (pgbench puts the variable's value into the comment too).
    write_script bemi "" '/*Bemi {"user_id": :uid, "endpoint": "/todo"} Bemi*/'
else
    write_script bemi "SELECT bemi_set_context($CONTEXT_JSON, true);"
fi
write_script trigger "SELECT set_config('audit.context', $CONTEXT_TEXT, true);"
chmod 644 "$TMP"/*.sql

# ------------------------------------------------------------------ measuring helpers

NO_BEMI=0 # set once the extension is dropped (control runs)
worker_pid() { if ((NO_BEMI)); then echo 0; else sqldb bench_bemi "SELECT coalesce(worker_pid, 0) FROM bemi.status"; fi; }
worker_changes() { if ((NO_BEMI)); then echo 0; else sqldb bench_bemi "SELECT coalesce(changes, 0) FROM bemi._worker_status()"; fi; }
worker_batches() { if ((NO_BEMI)); then echo 0; else sqldb bench_bemi "SELECT coalesce(batches, 0) FROM bemi._worker_status()"; fi; }
# CPU seconds (user + system) of a process so far; empty when it is gone.
proc_cpu() {
    [[ $1 != 0 && -r /proc/$1/stat ]] || return 0
    awk -v t="$CLK_TCK" '{ sub(/^.*\) /, ""); printf "%.2f\n", ($12 + $13) / t }' "/proc/$1/stat" 2>/dev/null || true
}
# "busy total" jiffies of all CPUs (busy: everything but idle and iowait)
sys_jiffies() { awk '/^cpu /{ busy = $2+$3+$4+$7+$8+$9; print busy, busy + $5 + $6 }' /proc/stat; }
# CPU seconds of this cluster: the postmaster, its live children, and the children it has
# reaped (backends that ended: their time is added to the postmaster's cutime/cstime).
cluster_cpu() {
    local pm
    pm=$(head -n 1 "$BEMI_TEST_DATADIR/postmaster.pid")
    { cat /proc/[0-9]*/stat 2>/dev/null || true; } | awk -v pm="$pm" -v t="$CLK_TCK" '{
        line = $0; pid = $1; sub(/^.*\) /, "", line); split(line, f, " ")
        if (pid == pm) s += f[12] + f[13] + f[14] + f[15]; else if (f[2] == pm) s += f[12] + f[13] }
        END { printf "%.2f\n", s / t }'
}
sync_worker() { # seconds bemi.sync() took; dies if it times out
    local t0 r
    if ((NO_BEMI)); then
        echo 0
        return 0
    fi
    t0=$(now_epoch)
    r=$(sqldb bench_bemi "SELECT bemi.sync('300 s')")
    [[ $r == t ]] || die "bemi.sync() timed out after 300 s ($(sqldb bench_bemi "SELECT state || ' ' || coalesce(last_error, '') FROM bemi.status"))"
    fsub "$(now_epoch)" "$t0"
}

# percentiles FILE (one latency in microseconds per line): "n avg p50 p90 p99 max" in ms
percentiles() {
    sort -n "$1" | awk '{ v[NR] = $1; s += $1 } END {
        if (NR == 0) { print "0 - - - - -"; exit }
        split("0.50 0.90 0.99", q, " ")
        printf "%d %.3f", NR, s / NR / 1000
        for (i = 1; i <= 3; i++) { k = int(q[i] * NR + 0.999999); if (k < 1) k = 1; printf " %.3f", v[k] / 1000 }
        printf " %.3f\n", v[NR] / 1000 }'
}

# run_pgbench TAG MODE SECONDS RATE(0: none) [LOG(1/0)]
# Runs one measured pgbench run, then bemi.sync(); appends a line to $RES/runs.tsv:
#  tag mode secs rate tps lat_avg lat_sd sched_avg sched_max processed failed
#  n avg p50 p90 p99 max (from the -l log, ms) worker_cpu_run worker_cpu_with_drain sys_busy_pct
#  sync_s changes t0 t1
RUNS=$RES/runs.tsv
: >"$RUNS"

# Stalls the worker: a session holds LOCK TABLE bemi.changes IN EXCLUSIVE MODE, so the
# worker's next batch waits for the lock before it reads anything (it holds no LWLock while
# waiting). Its lock_timeout is 10 s: past that it logs an error, backs off 1 s and waits
# again, which costs nothing measurable.
stall_worker() {
    rm -f "$TMP/release"
    {
        echo "BEGIN;"
        echo "LOCK TABLE bemi.changes IN EXCLUSIVE MODE;"
        while [[ ! -e $TMP/release ]]; do sleep 0.02; done
        echo "COMMIT;"
        echo "SELECT extract(epoch FROM clock_timestamp());"
    } | "${PSQL[@]}" -d bench_bemi >"$RES/lock.out" 2>&1 &
    LOCKER=$!
    BG_PIDS+=("$LOCKER")
    for _ in $(seq 1 250); do
        [[ $(sqldb bench_bemi "SELECT count(*) FROM pg_locks WHERE relation = 'bemi.changes'::regclass AND mode = 'ExclusiveLock' AND granted") == 1 ]] && return 0
        sleep 0.02
    done
    die "could not lock bemi.changes to stall the worker"
}
# Stops the worker (SIGSTOP) while it sleeps between batches: then it holds no transaction,
# snapshot, lock or LWLock, so the other sessions run as if it were not there. (Stalling it
# with the lock above instead keeps its transaction's snapshot open, which holds back the
# pruning of the application's tables: measurably slower.) Root only (reads
# /proc/<pid>/syscall of a stopped process).
freeze_worker() { bemi_worker_freeze "$1" || die "could not stop the worker while it sleeps"; }
thaw_worker() { bemi_worker_thaw; }

release_worker() { # sets RELEASED_AT (not in a subshell: it waits for the lock holder)
    touch "$TMP/release"
    wait "$LOCKER" || die "the lock holder failed: $(cat "$RES/lock.out")"
    RELEASED_AT=$(tail -n 1 "$RES/lock.out")
    [[ $RELEASED_AT =~ ^[0-9.]+$ ]] || die "could not read the lock release time: $(cat "$RES/lock.out")"
}

run_pgbench() {
    local tag=$1 mode=$2 secs=$3 rate=$4 dolog=${5:-1}
    local db=${DB[$mode]} out=$RES/$tag.out opts=() pid c0 c1 c2 s0 s1 s2 w0 b0 j0 j1 ch0 ch1 t0 t1 sync_s rc=0
    sql "CHECKPOINT" >/dev/null
    sync_worker >/dev/null
    ((rate > 0)) && opts+=(-R "$rate")
    ((dolog)) && opts+=(-l --log-prefix="$RES/$tag")
    pid=$(worker_pid)
    if [[ $mode == bemi-stalled ]]; then freeze_worker "$pid"; fi
    ch0=$(worker_changes)
    b0=$(worker_batches)
    t0=$(sqldb "$db" "SELECT now()")
    w0=$(sql "SELECT pg_current_wal_lsn()")
    c0=$(proc_cpu "$pid")
    s0=$(cluster_cpu)
    read -r j0 <<<"$(sys_jiffies | tr ' ' ',')"
    local TIMEFORMAT='%U %S' cli
    cli=$({ time (cd "$RES" && "$BINDIR/pgbench" -n -M "$BENCH_PROTOCOL" -c "$BENCH_CLIENTS" -j "$BENCH_THREADS" -T "$secs" \
        -D rows="$BENCH_ROWS" -f "$TMP/${SCRIPT[$mode]}.sql" "${opts[@]}" "$db" >"$out" 2>&1 || echo "rc=$?" >"$out.rc"); } 2>&1)
    [[ -f $out.rc ]] && rc=1
    read -r j1 <<<"$(sys_jiffies | tr ' ' ',')"
    sleep 0.05 # let the postmaster reap the backends
    s1=$(cluster_cpu)
    c1=$(proc_cpu "$pid")
    t1=$(sqldb "$db" "SELECT now()")
    ((rc == 0)) || {
        tail -n 20 "$out" >&2
        die "pgbench $tag failed (exit $rc)"
    }
    if [[ $mode == bemi-stalled ]]; then thaw_worker; fi
    sync_s=$(sync_worker)
    c2=$(proc_cpu "$pid")
    s2=$(cluster_cpu)
    local batches=$(($(worker_batches) - b0))
    local wal
    wal=$(sql "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '$w0')::bigint")
    ch1=$(worker_changes)
    [[ $(worker_pid) == "$pid" ]] || { c1=; c2=; }
    local tps lat sd sa sm proc failed busy
    tps=$(sed -n 's/^tps = \([0-9.]*\) (without initial connection time)/\1/p' "$out")
    lat=$(sed -n 's/^latency average = \([0-9.]*\) ms/\1/p' "$out")
    sd=$(sed -n 's/^latency stddev = \([0-9.]*\) ms/\1/p' "$out")
    sa=$(sed -n 's/^rate limit schedule lag: avg \([0-9.]*\) (max \([0-9.]*\)) ms/\1/p' "$out")
    sm=$(sed -n 's/^rate limit schedule lag: avg \([0-9.]*\) (max \([0-9.]*\)) ms/\2/p' "$out")
    proc=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$out")
    failed=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$out")
    [[ -n $tps && -n $lat && -n $proc ]] || {
        cat "$out" >&2
        die "could not read pgbench's output for $tag"
    }
    busy=$(awk -v a="$j0" -v b="$j1" 'BEGIN{split(a, x, ","); split(b, y, ","); printf "%.1f", 100 * (y[1]-x[1]) / ((y[2]-x[2]) > 0 ? (y[2]-x[2]) : 1)}')
    # CPU seconds: the cluster during the run and until bemi.sync() returned, pgbench, and
    # everything else on the machine during the run (other work skews the figures)
    local srv_run srv_all cli_s other
    srv_run=$(fsub "$s1" "$s0")
    srv_all=$(fsub "$s2" "$s0")
    cli_s=$(awk '{printf "%.2f", $1 + $2}' <<<"$cli")
    other=$(awk -v a="$j0" -v b="$j1" -v t="$CLK_TCK" -v s="$srv_run" -v c="$cli_s" 'BEGIN{split(a, x, ","); split(b, y, ","); o = (y[1]-x[1]) / t - s - c; printf "%.2f", o < 0 ? 0 : o}')
    local pct="0 - - - - -"
    if ((dolog)); then
        cat "$RES/$tag".[0-9]* | awk '{ print $3 }' >"$RES/$tag.lat"
        rm -f "$RES/$tag".[0-9]*
        pct=$(percentiles "$RES/$tag.lat")
    fi
    local wc_run=- wc_all=-
    [[ -n $c0 && -n $c1 ]] && wc_run=$(fsub "$c1" "$c0")
    [[ -n $c0 && -n $c2 ]] && wc_all=$(fsub "$c2" "$c0")
    local changes=$((ch1 - ch0))
    # bemi.changes must hold exactly the run's changes: 2 per transaction (UPDATE + INSERT).
    if ((NO_BEMI)); then
        :
    elif [[ $db == bench_bemi ]]; then
        local expect=$((2 * proc))
        local stored
        stored=$(sqldb bench_bemi "SELECT count(*) FROM bemi.changes WHERE \"table\" = 'todo' AND committed_at >= '$t0' AND committed_at <= '$t1'")
        ((changes == expect && stored == expect)) ||
            die "$tag: pgbench committed $proc transactions ($expect changes) but the worker ingested $changes and bemi.changes holds $stored for the run"
    elif ((changes != 0)); then
        die "$tag: the worker ingested $changes changes during a $mode run (expected 0)"
    fi
    local -a row=("$tag" "$mode" "$secs" "$rate" "$tps" "$lat" "${sd:--}" "${sa:--}" "${sm:--}" "$proc" "${failed:-0}")
    read -r -a pcts <<<"$pct"
    row+=("${pcts[@]}" "$wc_run" "$wc_all" "$busy" "$sync_s" "$changes" "$t0" "$t1" "$srv_run" "$srv_all" "$cli_s" "$other" "$wal" "$batches")
    (IFS=$'\t'; echo "${row[*]}") >>"$RUNS"
    log "$(printf '%-12s %-9s' "$tag" "$mode") tps $(printf '%9.1f' "$tps")  lat avg $(printf '%8.3f' "$lat") ms  p99 $(awk '{print $5}' <<<"$pct") ms  sched lag ${sa:--} ms  CPU s: cluster $srv_all (worker ${wc_all}) pgbench $cli_s other $other  sync ${sync_s}s"
}
# runs.tsv is tab-separated (the timestamps contain a space): 1 tag, 2 mode, 3 secs, 4 rate,
# 5 tps, 6 lat avg, 7 lat stddev, 8/9 schedule lag avg/max, 10 processed, 11 failed, 12-17 log
# n/avg/p50/p90/p99/max, 18 worker CPU, 19 with drain, 20 CPU busy %, 21 sync s, 22 changes,
# 23 t0, 24 t1, 25/26 cluster CPU s during the run / until synced, 27 pgbench CPU s,
# 28 other CPU s on the machine during the run, 29 WAL bytes from the start of the run until
# synced (the bemi worker's own inserts included), 30 the worker's batches (peek + advance)
field() { awk -F'\t' -v t="$1" -v f="$2" '$1 == t { print $f }' "$RUNS"; }

rotate() { # round, modes...: the modes in that round's order
    local r=$1 i out=()
    shift
    for ((i = 0; i < $#; i++)); do out+=("${@:$(((i + r - 1) % $# + 1)):1}"); done
    echo "${out[@]}"
}
median() { sort -g | awk '{a[NR]=$1} END {if (NR == 0) print "-"; else if (NR%2) print a[(NR+1)/2]; else printf "%.3f\n", (a[NR/2]+a[NR/2+1])/2}'; }

# ------------------------------------------------------------------ (b) saturation

T_START=$(now_epoch)
for ((r = 1; r <= BENCH_ROUNDS; r++)); do
    for m in $(rotate "$r" "${MODES[@]}"); do
        run_pgbench "sat-$m-$r" "$m" "$BENCH_SAT_SEC" 0 0
    done
done
declare -A SAT_MED
for m in "${MODES[@]}"; do
    SAT_MED[$m]=$(for ((r = 1; r <= BENCH_ROUNDS; r++)); do field "sat-$m-$r" 5; done | median)
done
UNTRACKED_MAX=${SAT_MED[untracked]}
if [[ -n $BENCH_RATE ]]; then
    RATE=$BENCH_RATE
    RATE_WHY="BENCH_RATE"
elif awk -v m="$UNTRACKED_MAX" -v r="$BENCH_ISSUE_RATE" 'BEGIN{exit !(m >= 4 * r)}'; then
    RATE=$BENCH_ISSUE_RATE
    RATE_WHY="the issue's rate (untracked max $UNTRACKED_MAX tps >= 4 x $BENCH_ISSUE_RATE)"
else
    RATE=$(awk -v m="$UNTRACKED_MAX" 'BEGIN{printf "%d", m / 4}')
    RATE_WHY="a quarter of the untracked median max ($UNTRACKED_MAX tps); the issue's $BENCH_ISSUE_RATE is above that here"
fi
((RATE > 0)) || die "fixed rate came out as $RATE"
log "fixed rate R = $RATE tps: $RATE_WHY"

# ------------------------------------------------------------------ (a) fixed rate

for ((r = 1; r <= BENCH_ROUNDS; r++)); do
    for m in $(rotate "$r" "${RATE_MODES[@]}"); do
        run_pgbench "rate-$m-$r" "$m" "$BENCH_RATE_SEC" "$RATE"
    done
done
ISSUE_RUN=0
if ((RATE != BENCH_ISSUE_RATE && BENCH_ISSUE_RATE_SEC > 0)); then
    ISSUE_RUN=1
    for m in "${MODES[@]}"; do
        run_pgbench "issue-$m" "$m" "$BENCH_ISSUE_RATE_SEC" "$BENCH_ISSUE_RATE"
    done
fi

# ------------------------------------------------------------------ (c) lag at the fixed rate

log "lag run: $BENCH_LAG_SEC s at -R $RATE in bemi mode, sampling freshness every 100 ms"
SAMPLES=$RES/lag.samples
SAMPLE_FLAG=$TMP/sampling
touch "$SAMPLE_FLAG"
{
    while [[ -e $SAMPLE_FLAG ]]; do
        echo "SELECT extract(epoch FROM clock_timestamp()), extract(epoch FROM clock_timestamp() - (SELECT max(committed_at) FROM bemi.changes)), (SELECT lag_seconds FROM bemi.status);"
        sleep 0.1
    done
} | "${PSQL[@]}" -F ' ' -d bench_bemi >"$SAMPLES" 2>"$RES/lag.samples.err" &
SAMPLER=$!
BG_PIDS+=("$SAMPLER")
sleep 1
run_pgbench "lag-bemi" bemi "$BENCH_LAG_SEC" "$RATE"
rm -f "$SAMPLE_FLAG"
wait "$SAMPLER" || true
LAG_T0=$(field lag-bemi 23)
LAG_T1=$(field lag-bemi 24)
# Per stored row: created_at (start of the worker's storing transaction) - committed_at.
lag_rows() { # $1: extra condition
    sqldb bench_bemi "
WITH r AS (
    SELECT extract(epoch FROM created_at - committed_at) AS lag
      FROM bemi.changes
     WHERE \"table\" = 'todo' AND committed_at >= '$LAG_T0' AND committed_at <= '$LAG_T1' $1)
SELECT count(*),
       round(percentile_cont(0.5) WITHIN GROUP (ORDER BY lag)::numeric, 3),
       round(percentile_cont(0.9) WITHIN GROUP (ORDER BY lag)::numeric, 3),
       round(percentile_cont(0.99) WITHIN GROUP (ORDER BY lag)::numeric, 3),
       round(max(lag)::numeric, 3)
  FROM r" | tr '|' ' '
}
LAG_ALL=$(lag_rows "")
LAG_FIRST=$(lag_rows "AND committed_at < timestamptz '$LAG_T0' + interval '10 s'")
LAG_LAST=$(lag_rows "AND committed_at >= timestamptz '$LAG_T1' - interval '10 s'")
# Freshness samples within the run (from 1 s after its start).
S0=$(sqldb bench_bemi "SELECT extract(epoch FROM timestamptz '$LAG_T0')")
S1=$(sqldb bench_bemi "SELECT extract(epoch FROM timestamptz '$LAG_T1')")
fresh_stats() { # $1 $2: window (epoch seconds); $3: column (2 age of newest change, 3 lag_seconds)
    awk -v a="$1" -v b="$2" -v c="$3" 'NF >= 3 && $1 >= a && $1 <= b && $c != "" { print $c }' "$SAMPLES" |
        sort -g | awk '{ v[NR] = $1 } END {
            if (NR == 0) { print "0 - - - -"; exit }
            printf "%d %.3f %.3f %.3f %.3f\n", NR, v[int(0.5*NR+0.999999)], v[int(0.9*NR+0.999999)], v[int(0.99*NR+0.999999)], v[NR] }'
}
FRESH_ALL=$(fresh_stats "$(fsub "$S0" -1)" "$S1" 2)
FRESH_FIRST=$(fresh_stats "$(fsub "$S0" -1)" "$(fsub "$S0" -11)" 2)
FRESH_LAST=$(fresh_stats "$(fsub "$S1" 10)" "$S1" 2)
STATUS_LAG=$(fresh_stats "$(fsub "$S0" -1)" "$S1" 3)

# ------------------------------------------------------------------ (c) capacity

log "capacity: worker stalled by a lock on bemi.changes while pgbench writes ${BENCH_BACKLOG_SEC}s of backlog"
sql "CHECKPOINT" >/dev/null
sync_worker >/dev/null
LSN0=$(sql "SELECT pg_current_wal_lsn()")
CAP_PID=$(worker_pid)
CH0=$(worker_changes)
stall_worker
(cd "$RES" && "$BINDIR/pgbench" -n -M "$BENCH_PROTOCOL" -c "$BENCH_CLIENTS" -j "$BENCH_THREADS" -T "$BENCH_BACKLOG_SEC" \
    -D rows="$BENCH_ROWS" -f "$TMP/bemi.sql" bench_bemi) >"$RES/backlog.out" 2>&1 || {
    cat "$RES/backlog.out" >&2
    die "backlog pgbench failed"
}
LSN1=$(sql "SELECT pg_current_wal_lsn()")
BACKLOG_TXNS=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$RES/backlog.out")
BACKLOG_TPS=$(sed -n 's/^tps = \([0-9.]*\) (without initial connection time)/\1/p' "$RES/backlog.out")
CH_MID=$(worker_changes)
((CH_MID == CH0)) || log "warning: the worker stored $((CH_MID - CH0)) changes while it should have been stalled"
PERF_PID=
if [[ $BENCH_PERF == 1 && $CAP_PID != 0 ]]; then
    perf record -F 2999 -p "$CAP_PID" -o "$RES/perf.data" >"$RES/perf-record.log" 2>&1 &
    PERF_PID=$!
    BG_PIDS+=("$PERF_PID")
fi
CPU0=$(proc_cpu "$CAP_PID")
release_worker
RELEASED=$RELEASED_AT
DRAINED=$(sqldb bench_bemi "SELECT bemi.sync('300 s'), extract(epoch FROM clock_timestamp())")
[[ ${DRAINED%%|*} == t ]] || die "bemi.sync() timed out after the backlog"
DRAINED=${DRAINED#*|}
CPU1=$(proc_cpu "$CAP_PID")
if [[ -n $PERF_PID ]]; then
    kill -INT "$PERF_PID" 2>/dev/null || true
    wait "$PERF_PID" 2>/dev/null || true
fi
CH1=$(worker_changes)
LSN2=$(sql "SELECT pg_current_wal_lsn()")
DRAIN_CHANGES=$((CH1 - CH0))
((DRAIN_CHANGES == 2 * BACKLOG_TXNS)) || die "backlog: $BACKLOG_TXNS transactions but $DRAIN_CHANGES changes ingested"
DRAIN_S=$(fsub "$DRAINED" "$RELEASED")
DRAIN_RATE=$(awk -v c="$DRAIN_CHANGES" -v s="$DRAIN_S" 'BEGIN{printf "%.0f", c/s}')
DRAIN_CPU=-
[[ -n $CPU0 && -n $CPU1 ]] && DRAIN_CPU=$(fsub "$CPU1" "$CPU0")
BACKLOG_MB=$(sql "SELECT round(pg_wal_lsn_diff('$LSN1', '$LSN0') / 1048576.0, 1)")
OWN_MB=$(sql "SELECT round(pg_wal_lsn_diff('$LSN2', '$LSN1') / 1048576.0, 1)")
log "drained $DRAIN_CHANGES changes ($BACKLOG_MB MiB of WAL) in $DRAIN_S s: $DRAIN_RATE changes/s, worker CPU $DRAIN_CPU s"


# Rows of the bemi runs whose "SQL" is not their own statement's (see BENCH_PROTOCOL).
MISATTRIBUTED=$(sqldb bench_bemi "
    SELECT count(*) FILTER (WHERE operation = 'CREATE' AND context->>'SQL' NOT LIKE 'INSERT%')
         + count(*) FILTER (WHERE operation = 'UPDATE' AND context->>'SQL' NOT LIKE 'UPDATE%')
      FROM bemi.changes WHERE \"table\" = 'todo'")

# ------------------------------------------------------------------ control: no bemi at all

if [[ $BENCH_CONTROL == 1 ]]; then
    log "control: untracked with the worker, then DROP EXTENSION bemi (no worker, no slot) and untracked again"
    run_pgbench ctl-with-sat untracked "$BENCH_SAT_SEC" 0 0
    run_pgbench ctl-with-rate untracked "$BENCH_RATE_SEC" "$RATE"
    sqldb bench_bemi "DROP EXTENSION bemi" >/dev/null
    for _ in $(seq 1 100); do
        [[ $(sql "SELECT count(*) FROM pg_replication_slots") == 0 &&
            $(sql "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'bemi ingest worker'") == 0 ]] && break
        sleep 0.1
    done
    [[ $(sql "SELECT count(*) FROM pg_replication_slots") == 0 ]] || die "the bemi slot is still there after DROP EXTENSION"
    NO_BEMI=1
    run_pgbench ctl-sat untracked "$BENCH_SAT_SEC" 0 0
    run_pgbench ctl-rate untracked "$BENCH_RATE_SEC" "$RATE"
    CTL_SAT_TPS=$(field ctl-sat 5)
    CTL_RATE_TPS=$(field ctl-rate 5)
    CTL_RATE_LAT=$(field ctl-rate 6)
    log "control: saturation $CTL_SAT_TPS tps; at -R $RATE: $CTL_RATE_TPS tps, latency avg $CTL_RATE_LAT ms"
fi
T_END=$(now_epoch)

# ------------------------------------------------------------------ perf report

if [[ -n $PERF_PID && -s $RES/perf.data ]]; then
    # No call graphs: the server is built without frame pointers. Static functions of the stripped postgres binary show as addresses.
    tidy='/^#/d; /^$/d; s/[[:space:]]*-[[:space:]]*-[[:space:]]*$//; s/[[:space:]]*$//'
    perf report -i "$RES/perf.data" --no-children --sort dso,symbol --stdio --percent-limit 0.5 2>/dev/null |
        sed "$tidy" >"$RES/perf-self.txt" || true
    perf report -i "$RES/perf.data" --no-children --sort dso --stdio 2>/dev/null | sed "$tidy" >"$RES/perf-dso.txt" || true
    PERF_SAMPLES=$(perf report -i "$RES/perf.data" --stdio 2>/dev/null | sed -n 's/^# Samples: \([0-9.]*[KM]*\).*/\1/p' | head -n 1)
fi

# ------------------------------------------------------------------ summary

so_now=$(bemi_bench_so_id)
us() { awk -v c="$1" -v n="$2" 'BEGIN{ if (c == "-" || n == 0) print "-"; else printf "%.0f", 1e6 * c / n }'; }
echo
echo "== bemi capture benchmark: $PG_VERSION_STR, $(nproc) CPUs, $(uname -m), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
echo "== bemi.so: $BEMI_SO_ID"
[[ $so_now == "$BEMI_SO_ID" ]] || echo "== WARNING: bemi.so was reinstalled during the run (now $so_now): the server kept the one it loaded at start"
echo "== server: initdb defaults (fsync, synchronous_commit, full_page_writes, autovacuum on) except $SETTINGS"
echo "== pgbench -M $BENCH_PROTOCOL -c $BENCH_CLIENTS -j $BENCH_THREADS; per transaction: BEGIN; [context]; UPDATE 1 random row of $BENCH_ROWS; INSERT 1 row; END; bemi's context: $BENCH_CONTEXT"
echo "== modes: untracked (no extension in its database) | bemi (extension, REPLICA IDENTITY FULL, bemi_set_context(.., true), worker on the same cores) | trigger (row trigger -> audit_log with 4 indexes incl. GIN)"
echo "== the bemi worker decodes the whole cluster's WAL: its CPU during untracked and trigger runs is bemi's cost to them (column 'worker')"
echo "== load average before: $LOAD_BEFORE; after: $(cut -d' ' -f1-3 /proc/loadavg); $(awk -v a="$T_START" -v b="$T_END" 'BEGIN{printf "%.0f", b-a}') s of measuring"
echo "   CPU columns, microseconds per transaction: cluster = every server process (backends, the worker, checkpointer, ...) from"
echo "   the start of the run until bemi.sync() returned after it; worker = the bemi worker's share; pgbench = the client."
echo "   'other' = CPU seconds used by everything else on the machine during the run (other work skews the figures)."
echo "   sync = seconds bemi.sync() took after the run (how far behind the worker was)."

echo
echo "-- (b) saturation: no -R, $BENCH_SAT_SEC s per run, $BENCH_ROUNDS rounds, modes interleaved (order rotated)"
printf '%-18s %9s %9s %9s %8s %8s %9s %7s %7s\n' run tps "lat avg" cluster worker pgbench "WAL B" other sync
awk -F'\t' 'index($1, "sat-") == 1 {
    printf "%-18s %9.1f %9.3f %9.0f %8.0f %8.0f %9.0f %7.2f %7.3f\n", $1, $5, $6, 1e6*$26/$10, ($19 == "-" ? 0 : 1e6*$19/$10), 1e6*$27/$10, $29/$10, $28, $21 }' "$RUNS"
declare -A SAT_CPU SAT_WAL
for m in "${MODES[@]}"; do
    SAT_CPU[$m]=$(awk -F'\t' -v m="$m" 'index($1, "sat-") == 1 && $2 == m { c += $26; w += ($19 == "-" ? 0 : $19); n += $10 } END { printf "%.0f %.0f", 1e6*c/n, 1e6*w/n }' "$RUNS")
    SAT_WAL[$m]=$(awk -F'\t' -v m="$m" 'index($1, "sat-") == 1 && $2 == m { w += $29; n += $10 } END { printf "%.0f", w/n }' "$RUNS")
    printf 'median %-9s %12s tps   vs untracked %s   all rounds: cluster CPU %s us/txn (worker %s), WAL %s B/txn\n' "$m" "${SAT_MED[$m]}" \
        "$(awk -v a="${SAT_MED[$m]}" -v b="$UNTRACKED_MAX" 'BEGIN{printf "%.3f (%+.1f%%)", a/b, 100*(a/b-1)}')" "${SAT_CPU[$m]% *}" "${SAT_CPU[$m]#* }" "${SAT_WAL[$m]}"
done
SAT_VERDICT=$(awk -v b="${SAT_MED[bemi]}" -v t="${SAT_MED[trigger]}" 'BEGIN{ if (b >= t) printf "MET (bemi %.3f x trigger)", b/t; else printf "NOT MET (bemi %.3f x trigger)", b/t }')
echo "target: bemi ahead of the trigger audit at saturation: $SAT_VERDICT"

print_runs() { # prefix
    printf '%-18s %9s %9s %8s %8s %8s %8s %9s %8s %7s %7s %7s %7s\n' run tps "lat avg" p50 p90 p99 max "sch. lag" cluster worker "WAL B" other sync
    awk -F'\t' -v p="$1" 'index($1, p) == 1 {
        printf "%-18s %9.1f %9.3f %8s %8s %8s %8s %9s %8.0f %7.0f %7.0f %7.2f %7.3f\n", $1, $5, $6, $14, $15, $16, $17, $8,
               1e6*$26/$10, ($19 == "-" ? 0 : 1e6*$19/$10), $29/$10, $28, $21 }' "$RUNS"
}

echo
echo "-- (a) fixed rate: -R $RATE ($RATE_WHY), $BENCH_RATE_SEC s per run, $BENCH_ROUNDS rounds; latency in ms from each transaction's scheduled start"
print_runs "rate-"
declare -A POOL RATE_CPU
for m in "${RATE_MODES[@]}"; do
    cat "$RES"/rate-"$m"-[0-9]*.lat >"$RES/pool-$m.lat"
    POOL[$m]=$(percentiles "$RES/pool-$m.lat")
    RATE_CPU[$m]=$(awk -F'\t' -v m="$m" 'index($1, "rate-") == 1 && $2 == m { c += $26; w += ($19 == "-" ? 0 : $19); n += $10 } END { printf "%.0f %.0f", 1e6*c/n, 1e6*w/n }' "$RES/runs.tsv")
done
read -r _ UA _ _ UP99 _ <<<"${POOL[untracked]}"
printf '%-22s %8s %9s %8s %8s %8s %8s %10s %10s %12s\n' "pooled over rounds" txns "lat avg" p50 p90 p99 max "avg ratio" "p99 ratio" "cluster us/txn"
for m in "${RATE_MODES[@]}"; do
    read -r n a p50 p90 p99 mx <<<"${POOL[$m]}"
    printf '%-22s %8s %9s %8s %8s %8s %8s %10s %10s %12s\n' "$m" "$n" "$a" "$p50" "$p90" "$p99" "$mx" \
        "$(awk -v a="$a" -v b="$UA" 'BEGIN{printf "%.3f", a/b}')" "$(awk -v a="$p99" -v b="$UP99" 'BEGIN{printf "%.3f", a/b}')" \
        "$(cut -d' ' -f1 <<<"${RATE_CPU[$m]}") (worker $(cut -d' ' -f2 <<<"${RATE_CPU[$m]}"))"
done
awk -F'\t' 'index($1, "rate-") == 1 && $2 != "bemi-stalled" { b[$2] += $30; c[$2] += $19; s[$2] += $3 }
    END { for (m in b) if (b[m] > 0) printf "worker in %s runs: %.1f batches/s, %.1f ms of CPU per batch (%.1f%% of one CPU)\n", m, b[m]/s[m], 1000*c[m]/b[m], 100*c[m]/s[m] }' "$RUNS" | sort
for m in "${RATE_MODES[@]}"; do
    echo "$m: median of the per-run 'latency average' $(for ((r = 1; r <= BENCH_ROUNDS; r++)); do field "rate-$m-$r" 6; done | median) ms (runs: $(for ((r = 1; r <= BENCH_ROUNDS; r++)); do field "rate-$m-$r" 6; done | tr '\n' ' ')), tps $(for ((r = 1; r <= BENCH_ROUNDS; r++)); do field "rate-$m-$r" 5; done | median)"
done
read -r _ BA _ _ _ _ <<<"${POOL[bemi]}"
read -r _ TA _ _ _ _ <<<"${POOL[trigger]}"
RATE_RATIO=$(awk -v a="$BA" -v b="$UA" 'BEGIN{printf "%.3f", a/b}')
TRIG_RATIO=$(awk -v a="$TA" -v b="$UA" 'BEGIN{printf "%.3f", a/b}')
RATE_VERDICT="$(awk -v r="$RATE_RATIO" 'BEGIN{ print (r <= 1.2 ? "MET" : "NOT MET") }') ($RATE_RATIO x; trigger $TRIG_RATIO x)"
# Paired within each round (the runs of a round are minutes apart at most): slow changes in
# the machine's other load cancel out better than in the pooled figure.
paired() { # mode -> "r1 r2 ... | median"
    local r list=() v
    for ((r = 1; r <= BENCH_ROUNDS; r++)); do
        v=$(awk -v a="$(field "rate-$1-$r" 6)" -v b="$(field "rate-untracked-$r" 6)" 'BEGIN{printf "%.3f", a/b}')
        list+=("$v")
    done
    echo "${list[*]} | median $(printf '%s\n' "${list[@]}" | median)"
}
PAIRED_BEMI=$(paired bemi)
PAIRED_TRIG=$(paired trigger)
echo "per-round ratios of pgbench's latency average to the same round's untracked run: bemi ${PAIRED_BEMI}; trigger ${PAIRED_TRIG}"
HAVE_STALL=0
[[ " ${RATE_MODES[*]} " == *" bemi-stalled "* ]] && HAVE_STALL=1
if ((HAVE_STALL)); then
PAIRED_STALL=$(paired bemi-stalled)
read -r _ SA _ _ _ _ <<<"${POOL[bemi-stalled]}"
STALL_RATIO=$(awk -v a="$SA" -v b="$UA" 'BEGIN{printf "%.3f", a/b}')
echo "per-round ratios for bemi with its worker stopped: ${PAIRED_STALL}"
echo "bemi's extra average latency, pooled: $(awk -v a="$BA" -v b="$UA" 'BEGIN{printf "%+.3f", a-b}') ms = in the transaction itself (worker stopped) $(awk -v a="$SA" -v b="$UA" 'BEGIN{printf "%+.3f", a-b}') ms + the worker competing for the CPUs $(awk -v a="$BA" -v b="$SA" 'BEGIN{printf "%+.3f", a-b}') ms"
fi
echo "target (issue 9): bemi <= 1.2 x untracked average latency: $RATE_VERDICT"
if ((ISSUE_RUN)); then
    echo
    echo "-- (a') the issue's rate: -R $BENCH_ISSUE_RATE, $BENCH_ISSUE_RATE_SEC s per mode (one round)"
    print_runs "issue-"
    awk -F'\t' -v r="$BENCH_ISSUE_RATE" 'index($1, "issue-") == 1 {
        printf "%s: %s (%.1f of %d tps; schedule lag avg %s ms)\n", $2, ($5 >= 0.97 * r && $8 < 50 ? "sustained" : "NOT sustained: above this machine'"'"'s capacity for this mode"), $5, r, $8 }' "$RUNS"
fi
if [[ $BENCH_CONTROL == 1 ]]; then
    echo
    echo "-- control, back to back after the rounds: untracked with the bemi worker running (it reads this WAL), then"
    echo "   DROP EXTENSION bemi (no worker, no slot in the cluster) and untracked again"
    printf '%-18s %9s %9s %8s %8s %8s %8s %8s %7s %7s\n' run tps "lat avg" p50 p99 cluster worker batches "WAL B" other
    awk -F'\t' 'index($1, "ctl-") == 1 {
        printf "%-18s %9.1f %9.3f %8s %8s %8.0f %8.0f %8s %7.0f %7.2f\n", $1, $5, $6, $14, $16, 1e6*$26/$10,
               ($19 == "-" ? 0 : 1e6*$19/$10), $30, $29/$10, $28 }' "$RUNS"
    echo "without bemi vs with its worker: saturation $(awk -v a="$(field ctl-sat 5)" -v b="$(field ctl-with-sat 5)" 'BEGIN{printf "%+.1f%%", 100*(a/b-1)}') tps, cluster CPU $(awk -v a="$(field ctl-sat 26)" -v an="$(field ctl-sat 10)" -v b="$(field ctl-with-sat 26)" -v bn="$(field ctl-with-sat 10)" 'BEGIN{printf "%+.0f", 1e6*(a/an - b/bn)}') us/txn; -R $RATE latency avg $(awk -v a="$(field ctl-rate 6)" -v b="$(field ctl-with-rate 6)" 'BEGIN{printf "%+.3f ms (%+.1f%%)", a-b, 100*(a/b-1)}')"
    echo "bemi pooled avg latency / the control's without bemi: $(awk -v a="$BA" -v b="$CTL_RATE_LAT" 'BEGIN{printf "%.3f", a/b}') (not interleaved)"
fi

echo
echo "-- (c) ingestion"
read -r n p50 p90 p99 mx <<<"$LAG_ALL"
read -r n1 f50 f90 f99 fmx <<<"$LAG_FIRST"
read -r n2 l50 l90 l99 lmx <<<"$LAG_LAST"
echo "lag run: -R $RATE for $BENCH_LAG_SEC s in bemi mode: $(field lag-bemi 5) tps, latency avg $(field lag-bemi 6) ms, p99 $(field lag-bemi 16) ms; bemi.sync() after it: $(field lag-bemi 21) s"
printf '%-46s %8s %8s %8s %8s %8s\n' "created_at - committed_at per row (s)" rows p50 p90 p99 max
printf '%-46s %8s %8s %8s %8s %8s\n' "  whole run" "$n" "$p50" "$p90" "$p99" "$mx"
printf '%-46s %8s %8s %8s %8s %8s\n' "  first 10 s" "$n1" "$f50" "$f90" "$f99" "$fmx"
printf '%-46s %8s %8s %8s %8s %8s\n' "  last 10 s" "$n2" "$l50" "$l90" "$l99" "$lmx"
printf '%-46s %8s %8s %8s %8s %8s\n' "age of the newest visible change (s)" samples p50 p90 p99 max
read -r n p50 p90 p99 mx <<<"$FRESH_ALL"
printf '%-46s %8s %8s %8s %8s %8s\n' "  whole run (every ~100 ms)" "$n" "$p50" "$p90" "$p99" "$mx"
read -r n p50 p90 p99 mx <<<"$FRESH_FIRST"
printf '%-46s %8s %8s %8s %8s %8s\n' "  first 10 s" "$n" "$p50" "$p90" "$p99" "$mx"
read -r n p50 p90 p99 mx <<<"$FRESH_LAST"
printf '%-46s %8s %8s %8s %8s %8s\n' "  last 10 s" "$n" "$p50" "$p90" "$p99" "$mx"
read -r n p50 p90 p99 mx <<<"$STATUS_LAG"
printf '%-46s %8s %8s %8s %8s %8s\n' "bemi.status.lag_seconds, whole run" "$n" "$p50" "$p90" "$p99" "$mx"
LAG_VERDICT=$(awk -v p="$(awk '{print $2}' <<<"$LAG_ALL")" -v f="$f99" -v l="$l99" 'BEGIN{
    ok = (p < 1) && (l <= 1.5 * f + 0.1)
    printf "%s (p50 %.3f s; p99 first 10 s %.3f s, last 10 s %.3f s; criterion: p50 < 1 s and last p99 <= 1.5 x first p99 + 0.1 s)", ok ? "MET" : "NOT MET", p, f, l }')
echo "target: lag bounded over the run, p50 under 1 s: $LAG_VERDICT"
LAG_P99_VERDICT=$(awk -v p="$(awk '{print $4}' <<<"$LAG_ALL")" 'BEGIN{ printf "%s (p99 %.3f s)", (p < 0.5 ? "MET" : "NOT MET"), p }')
echo "target (issue 9): ingestion lag p99 < 0.5 s: $LAG_P99_VERDICT"
echo "capacity: a backlog of $BACKLOG_TXNS transactions ($DRAIN_CHANGES changes, $BACKLOG_MB MiB of WAL, written at $BACKLOG_TPS tps with the worker stalled)"
echo "          drained in $DRAIN_S s once the lock was released: $DRAIN_RATE changes/s; worker CPU $DRAIN_CPU s ($(us "$DRAIN_CPU" "$DRAIN_CHANGES") us per change)"
echo "          the worker's own inserts of it: $OWN_MB MiB of WAL ($(awk -v a="$OWN_MB" -v b="$BACKLOG_MB" 'BEGIN{printf "%.1f", a/b}') x the application's WAL it records)"
echo "          for comparison, bemi mode at saturation produced $(awk -v t="${SAT_MED[bemi]}" 'BEGIN{printf "%.0f", 2*t}') changes/s (median)"
if [[ $MISATTRIBUTED != - ]]; then
    echo "attribution: $MISATTRIBUTED rows of bemi.changes carry another statement's \"SQL\" (expected 0)"
fi

echo
if [[ -s $RES/perf-self.txt ]]; then
    echo
    echo "-- perf: the worker during the drain, ${PERF_SAMPLES:-?} samples at 2999 Hz, self time by library"
    head -n 8 "$RES/perf-dso.txt"
    echo "-- top symbols (addresses: static functions of the stripped postgres binary)"
    head -n 25 "$RES/perf-self.txt"
fi

echo
echo "-- summary (bemi.so $(cut -d' ' -f1 <<<"$BEMI_SO_ID"); load average before $LOAD_BEFORE)"
printf '%-38s %12s %12s %12s  %s\n' "" untracked bemi trigger "target"
printf '%-38s %12.1f %12.1f %12.1f  %s\n' "saturation tps (median)" "${SAT_MED[untracked]}" "${SAT_MED[bemi]}" "${SAT_MED[trigger]}" "bemi >= trigger: $SAT_VERDICT"
printf '%-38s %12s %12s %12s\n' "saturation cluster CPU us/txn" "${SAT_CPU[untracked]% *}" "${SAT_CPU[bemi]% *}" "${SAT_CPU[trigger]% *}"
printf '%-38s %12s %12s %12s\n' "  of which the bemi worker" "${SAT_CPU[untracked]#* }" "${SAT_CPU[bemi]#* }" "${SAT_CPU[trigger]#* }"
printf '%-38s %12s %12s %12s\n' "saturation WAL bytes/txn" "${SAT_WAL[untracked]}" "${SAT_WAL[bemi]}" "${SAT_WAL[trigger]}"
printf '%-38s %12s %12s %12s  %s\n' "-R $RATE latency avg ms (pooled)" "$UA" "$BA" "$TA" "bemi <= 1.2 x untracked: $RATE_VERDICT"
printf '%-38s %12s %12s %12s\n' "-R $RATE latency p50 ms" "$(awk '{print $3}' <<<"${POOL[untracked]}")" "$(awk '{print $3}' <<<"${POOL[bemi]}")" "$(awk '{print $3}' <<<"${POOL[trigger]}")"
printf '%-38s %12s %12s %12s\n' "-R $RATE latency p99 ms" "$UP99" "$(awk '{print $5}' <<<"${POOL[bemi]}")" "$(awk '{print $5}' <<<"${POOL[trigger]}")"
printf '%-38s %12s %12s %12s\n' "-R $RATE avg latency / untracked" 1.000 "$RATE_RATIO" "$TRIG_RATIO"
printf '%-38s %12s %12s %12s\n' "  median of per-round ratios" 1.000 "${PAIRED_BEMI##* }" "${PAIRED_TRIG##* }"
if ((HAVE_STALL)); then
    printf '%-38s %12s %12s %12s\n' "  bemi, worker stopped (pooled, median)" "" "$STALL_RATIO (${PAIRED_STALL##* })" ""
    printf '%-38s %12s %12s %12s\n' "-R $RATE latency avg ms, worker stopped" "" "$SA" ""
fi
printf '%-38s %12s %12s %12s\n' "-R $RATE cluster CPU us/txn" "$(cut -d' ' -f1 <<<"${RATE_CPU[untracked]}")" "$(cut -d' ' -f1 <<<"${RATE_CPU[bemi]}")" "$(cut -d' ' -f1 <<<"${RATE_CPU[trigger]}")"
if ((ISSUE_RUN)); then
    printf '%-38s %12.1f %12.1f %12.1f\n' "-R $BENCH_ISSUE_RATE: tps reached" "$(field issue-untracked 5)" "$(field issue-bemi 5)" "$(field issue-trigger 5)"
fi
if [[ $BENCH_CONTROL == 1 ]]; then
    printf '%-38s %s\n' "control untracked, worker on -> none" "saturation $(field ctl-with-sat 5) -> $CTL_SAT_TPS tps; -R $RATE latency avg $(field ctl-with-rate 6) -> $CTL_RATE_LAT ms"
fi
printf '%-38s %s\n' "lag created_at - committed_at" "p50 $(awk '{print $2}' <<<"$LAG_ALL") s, p99 $(awk '{print $4}' <<<"$LAG_ALL") s, max $(awk '{print $5}' <<<"$LAG_ALL") s"
printf '%-38s %s\n' "" "bounded, p50 < 1 s: $(cut -d' ' -f1 <<<"$LAG_VERDICT") (p99 first 10 s $f99 s, last 10 s $l99 s)"
printf '%-38s %s\n' "age of the newest visible change" "p50 $(awk '{print $2}' <<<"$FRESH_ALL") s, p99 $(awk '{print $4}' <<<"$FRESH_ALL") s"
printf '%-38s %s\n' "ingestion lag p99 < 0.5 s" "$LAG_P99_VERDICT"
printf '%-38s %s\n' "worker capacity (drain)" "$DRAIN_RATE changes/s ($DRAIN_CHANGES changes in $DRAIN_S s)"
# Each bemi transaction stores two changes (the UPDATE and the INSERT).
WORKER_US_SAT=$(awk -v u="${SAT_CPU[bemi]#* }" 'BEGIN{printf "%.1f", u / 2}')
WORKER_US_DRAIN=$(awk -v c="$DRAIN_CPU" -v n="$DRAIN_CHANGES" 'BEGIN{ if (c == "-" || n == 0) print "-"; else printf "%.1f", 1e6 * c / n }')
printf '%-38s %s\n' "worker CPU per stored change" "saturation $WORKER_US_SAT us, drain $WORKER_US_DRAIN us; <= 15 us (issue 9): $(awk -v a="$WORKER_US_SAT" -v b="$WORKER_US_DRAIN" 'BEGIN{ print (a <= 15 && (b == "-" || b <= 15)) ? "MET" : "NOT MET" }')"
