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
#                           bemi.changes (identity key, (table, key, time), time, GIN on context);
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
#      alone. perf samples the worker during the drain (BENCH_PERF).
#      split: the worker's slot is copied before the backlog, and the backlog is replayed on
#      the copy step by step, BENCH_SPLIT_REPEAT rounds, best kept, each step timed by the
#      backend's CPU time (/proc/self/schedstat) and wall clock: decode only (the peek),
#      decode + ::jsonb, the batch function (bemi._ingest(slot, origin, upto, this_capture)'s
#      own text, under a fixed capture uuid, with only the target table renamed, the origin
#      and the watermark (bemi._advance_watermark) left alone, the running maximum of
#      effective_at seeded as the worker's was when the backlog began, and no fallback to the
#      record-by-record pass) into a copy of bemi.changes with all its indexes, with the GIN
#      index as jsonb_path_ops, without it, with only the unique indexes, a leaner formulation
#      of the same batch (the same columns, actor, fallback, capture, root_schema, root_table
#      and effective_at included, the same identity (capture, commit_position, seq) and
#      conflict target; checked to store the same rows), the acknowledgement
#      (pg_replication_slot_advance on another copy), and the peek up to the end of the drain
#      (that WAL also holds the worker's own inserts, decoded and skipped). The run fails if
#      any of it reaches bemi.changes or bemi.watermarks, or if bemi._ingest's text no longer
#      matches what the copies replace.
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
#   BENCH_SPLIT_REPEAT    rounds of the split steps (interleaved), best kept [2]
#   BENCH_ROWS            rows of todo [100000]
#   BENCH_CLIENTS         pgbench -c [8]
#   BENCH_THREADS         pgbench -j [2]
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
BENCH_SPLIT_REPEAT=${BENCH_SPLIT_REPEAT:-2}
BENCH_ROWS=${BENCH_ROWS:-100000}
BENCH_CLIENTS=${BENCH_CLIENTS:-8}
BENCH_THREADS=${BENCH_THREADS:-2}
BENCH_PROTOCOL=${BENCH_PROTOCOL:-simple}
BENCH_CONTROL=${BENCH_CONTROL:-1}
BENCH_OUT=${BENCH_OUT:-}
BENCH_CPU_BOUND=${BENCH_CPU_BOUND:-0}
MODES=(untracked bemi trigger)
# (a) also runs bemi with its worker stopped (SIGSTOP, root only): what a transaction pays
# inside itself (hooks, context messages, full replica identity) without the worker
# competing for the CPUs
RATE_MODES=(untracked bemi trigger bemi-stalled)
if ((EUID != 0)); then RATE_MODES=(untracked bemi trigger); fi
declare -A DB=([untracked]=bench_plain [bemi]=bench_bemi [trigger]=bench_audit [bemi-stalled]=bench_bemi)
declare -A SCRIPT=([untracked]=untracked [bemi]=bemi [trigger]=trigger [bemi-stalled]=bemi)

bemi_bench_whole BENCH_ROUNDS BENCH_SAT_SEC BENCH_RATE_SEC BENCH_ISSUE_RATE BENCH_ISSUE_RATE_SEC BENCH_LAG_SEC \
    BENCH_BACKLOG_SEC BENCH_SPLIT_REPEAT BENCH_ROWS BENCH_CLIENTS BENCH_THREADS
[[ -z $BENCH_RATE || $BENCH_RATE =~ ^[1-9][0-9]*$ ]] || die "BENCH_RATE must be a positive integer, got '$BENCH_RATE'"
((BENCH_ROUNDS > 0 && BENCH_SAT_SEC > 0 && BENCH_RATE_SEC > 0 && BENCH_ROWS > 0 && BENCH_CLIENTS > 0)) ||
    die "BENCH_ROUNDS, BENCH_SAT_SEC, BENCH_RATE_SEC, BENCH_ROWS and BENCH_CLIENTS must be > 0"
((BENCH_LAG_SEC >= 20)) || die "BENCH_LAG_SEC must be at least 20 (first and last 10 s are compared)"
((BENCH_BACKLOG_SEC >= 1 && BENCH_BACKLOG_SEC <= 8)) ||
    die "BENCH_BACKLOG_SEC must be 1..8 (the worker gives up waiting for a lock after 10 s)"
((BENCH_SPLIT_REPEAT >= 1)) || die "BENCH_SPLIT_REPEAT must be >= 1"
[[ $BENCH_CPU_BOUND == 0 || $BENCH_CPU_BOUND == 1 ]] || die "BENCH_CPU_BOUND must be 0 or 1"
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
CREATE INDEX audit_log_context_idx ON audit_log USING gin (context);
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
# The split experiment's scratch tables are not captured.
sqldb bench_bemi "INSERT INTO bemi.excluded_tables (pattern, reason) VALUES ('bench_split.*', 'capture_bench scratch tables')" >/dev/null
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
write_script() { # mode, context statement (or nothing)
    {
        echo '\set id random(1, :rows)'
        echo '\set uid random(1, 1000000)'
        echo 'BEGIN;'
        [[ -n $2 ]] && echo "$2"
        echo 'UPDATE todo SET is_completed = NOT is_completed, updated_at = now() WHERE id = :id;'
        echo "INSERT INTO todo (task, user_id) VALUES ('New task from the app', :uid);"
        echo 'END;'
    } >"$TMP/$1.sql"
}
write_script untracked ""
write_script bemi "SELECT bemi_set_context($CONTEXT_JSON, true);"
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

# ------------------------------------------------------------------ (c) capacity and split

log "capacity: worker stalled by a lock on bemi.changes while pgbench writes ${BENCH_BACKLOG_SEC}s of backlog"
sql "CHECKPOINT" >/dev/null
sync_worker >/dev/null
# A running-transactions record decoded up to the slot's confirmed point lets the restart
# point follow it, so the copies below start close to where the backlog starts.
sync_worker >/dev/null
sqldb bench_bemi "SELECT 1 FROM pg_copy_logical_replication_slot('$BEMI_SLOT', 'bench_split_a')" >/dev/null
COPY_GAP=$(sqldb bench_bemi "SELECT pg_wal_lsn_diff(confirmed_flush_lsn, restart_lsn)::bigint FROM pg_replication_slots WHERE slot_name = 'bench_split_a'")
# Where the worker's running maximum of effective_at stood when the copy was made (the split's
# batch functions start from it; a literal, or NULL for an empty trail).
SPLIT_SEED=$(sqldb bench_bemi "SELECT coalesce(quote_literal(bemi._effective_at_seed()), 'NULL')")
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

# Split: replay the backlog on copies of the slot, one step at a time. Each step runs in a
# fresh connection and is timed on the server; bemi.sync() between steps lets the worker
# read (and skip: bench_split.* is excluded) the scratch inserts outside the timed part.
log "split: replaying the backlog on copies of the slot ($BENCH_SPLIT_REPEAT rounds of every step)"
SPLIT_TABLES="all_idx path_ops no_gin uniq_only lean"
# The capture the split's rows are stored under: a fixed one, none of the trail's.
SPLIT_CAPTURE=00000000-0000-4000-8000-00000000b5b1
sqldb bench_bemi "CREATE SCHEMA bench_split; SELECT pg_replication_origin_create('bench_split');" >/dev/null
for t in $SPLIT_TABLES; do
    sqldb bench_bemi "CREATE TABLE bench_split.$t (LIKE bemi.changes INCLUDING ALL) WITH (autovacuum_enabled = false)" >/dev/null
done
for t in path_ops no_gin uniq_only; do
    sqldb bench_bemi "SELECT format('DROP INDEX bench_split.%I', indexname) FROM pg_indexes
                       WHERE schemaname = 'bench_split' AND tablename = '$t'
                         AND (indexdef LIKE '%USING gin%' OR ('$t' = 'uniq_only' AND indexdef NOT LIKE '%UNIQUE%'))" |
        while read -r stmt; do sqldb bench_bemi "$stmt" >/dev/null; done
done
sqldb bench_bemi "CREATE INDEX ON bench_split.path_ops USING gin (context jsonb_path_ops)" >/dev/null
# The batch function's own text, writing into another table and touching neither the origin,
# nor the real trail's watermark, nor (through its record-by-record fallback) bemi.changes.
# The running maximum of effective_at starts from the seed the worker had when the backlog
# began (recorded after the slot copy): a seed taken now would already lie past every commit
# of the backlog and make effective_at one constant, which the lean check below could not
# tell from a wrong running maximum.
sqldb bench_bemi "CREATE FUNCTION bench_split.effective_at_seed() RETURNS timestamptz LANGUAGE sql STABLE
                  AS \$\$ SELECT $SPLIT_SEED::timestamptz \$\$" >/dev/null
FUNCDEF=$(sqldb bench_bemi "SELECT pg_get_functiondef('bemi._ingest(name,text,pg_lsn,uuid)'::regprocedure)")
for t in all_idx path_ops no_gin uniq_only; do
    def=${FUNCDEF/FUNCTION bemi._ingest(/FUNCTION bench_split.ingest_$t(}
    def=${def/INSERT INTO bemi.changes /INSERT INTO bench_split.$t }
    def=${def/PERFORM pg_replication_origin_xact_setup(last_end, last_committed_at);/NULL;}
    def=${def/PERFORM bemi._advance_watermark(this_capture, last_end, last_commit_position, last_effective_at);/NULL;}
    def=${def/seed timestamptz := bemi._effective_at_seed();/seed timestamptz := bench_split.effective_at_seed();}
    # Any failed insert raises instead of falling back to bemi._ingest_by_record (which
    # writes bemi.changes and the watermark): the step then dies loudly.
    def=${def/IF bemi._retry_later(state) THEN/IF true THEN}
    # Every reference to a bemi object left outside strings and comments must be harmless:
    # a new one (another write, another read of the trail) means the text changed.
    refs=$(sed -e "s/'[^']*'//g" -e 's/--.*$//' <<<"$def" | grep -o 'bemi\.[A-Za-z_]*' | sort -u | tr '\n' ' ')
    [[ $def == *"FUNCTION bench_split.ingest_$t("* && $def == *"INSERT INTO bench_split.$t "* &&
        $def == *"bench_split.effective_at_seed()"* && $def == *"IF true THEN"* &&
        $def == *"ON CONFLICT (capture, commit_position, seq) DO NOTHING"* &&
        $refs == "bemi._ingest_by_record bemi._record_jsonb " ]] ||
        die "bemi._ingest's text changed: the split experiment needs updating (see $0); bemi objects left: $refs"
    printf '%s;\n' "$def" >"$TMP/ingest_$t.sql"
    "${PSQL[@]}" -d bench_bemi -f "$TMP/ingest_$t.sql" >/dev/null
done
# A leaner formulation of the same batch, for comparison: one jsonb_to_record per record
# instead of a ->> per column, and no ORDER BY (an external sort of the whole records); only
# the COMMIT records are sorted, for the running maximum of effective_at, and joined back by
# commit_position (a hash join). A transaction is already stored iff its commit record STARTS
# before the origin's progress (the END of the last stored commit record), and every record
# carries its commit_position (the start of its commit record) and committed_at. It stores
# the same columns as bemi._ingest, under the same identity and conflict target.
"${PSQL[@]}" -d bench_bemi >/dev/null <<'SQL'
CREATE FUNCTION bench_split.ingest_lean(slot name, origin text, upto pg_lsn, this_capture uuid) RETURNS int8
    LANGUAGE plpgsql VOLATILE STRICT
    SET search_path = pg_catalog, pg_temp
    SET standard_conforming_strings = on
AS $$
DECLARE
    stored_upto int8 := coalesce(pg_replication_origin_progress(origin, true), '0/0'::pg_lsn) - '0/0'::pg_lsn;
    seed timestamptz := bench_split.effective_at_seed();
    inserted int8;
    last_end pg_lsn;
    last_committed_at timestamptz;
    last_commit_position int8;
    last_effective_at timestamptz;
BEGIN
    WITH d AS (
        SELECT c.lsn, x.*
          FROM pg_logical_slot_peek_changes(slot, upto, NULL, 'include-transaction', 'on') c,
               jsonb_to_record(CASE WHEN strpos(c.data, '\u0000') = 0 THEN c.data::jsonb
                                    ELSE bemi._record_jsonb(c.data) END)
                 AS x(primary_key text, before jsonb, after jsonb, context jsonb, database text, schema text,
                      "table" text, operation text, committed_at timestamptz, transaction_id int8, seq int4,
                      position int8, commit_position int8, previous_primary_key text, unchanged_toast text[],
                      actor jsonb, fallback jsonb, root_schema text, root_table text)
         WHERE x.commit_position >= stored_upto
    ), commits AS (
        SELECT d.lsn AS commit_end, d.committed_at, d.commit_position,
               greatest(seed, max(d.committed_at) OVER (ORDER BY d.commit_position
                                                        ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW))
                   AS effective_at
          FROM d
         WHERE d.operation = 'COMMIT'
    ), stored AS (
        INSERT INTO bench_split.lean (primary_key, before, after, context, database, schema, "table", operation,
                                      committed_at, transaction_id, seq, position, commit_position,
                                      previous_primary_key, unchanged_toast, actor, fallback, capture,
                                      root_schema, root_table, effective_at)
        SELECT d.primary_key, d.before, d.after, d.context, d.database, d.schema, d."table", d.operation,
               d.committed_at, d.transaction_id, d.seq, d.position, d.commit_position,
               d.previous_primary_key, d.unchanged_toast, d.actor, d.fallback, this_capture,
               d.root_schema, d.root_table, c.effective_at
          FROM d
          JOIN commits c ON c.commit_position = d.commit_position
         WHERE d.operation NOT IN ('BEGIN', 'COMMIT')
        ON CONFLICT (capture, commit_position, seq) DO NOTHING
        RETURNING 1
    )
    SELECT (SELECT count(*) FROM stored), l.commit_end, l.committed_at, l.commit_position, l.effective_at
      INTO inserted, last_end, last_committed_at, last_commit_position, last_effective_at
      FROM (SELECT) AS one
      LEFT JOIN LATERAL (SELECT c.commit_end, c.committed_at, c.commit_position, c.effective_at FROM commits c
                          ORDER BY c.commit_end DESC LIMIT 1) l ON true;
    RETURN inserted;
END
$$;
SQL
sqldb bench_bemi "SELECT count(*) FROM pg_logical_slot_peek_changes('bench_split_a', '$LSN1', NULL, 'include-transaction', 'on')" >/dev/null # warm the WAL cache
# SQL -> "cpu_seconds wall_seconds", timed on the server in a fresh connection. CPU: the
# backend's time on a CPU (/proc/self/schedstat), which waiting for a CPU that other work
# holds does not inflate.
timed() {
    local out
    out=$(sqldb bench_bemi "DO \$\$ DECLARE
            c0 bigint := split_part(pg_read_file('/proc/self/schedstat'), ' ', 1)::bigint;
            t0 timestamptz := clock_timestamp();
        BEGIN
            $1;
            RAISE NOTICE 'BENCH % %', round((split_part(pg_read_file('/proc/self/schedstat'), ' ', 1)::bigint - c0) / 1e9, 6),
                                      round(extract(epoch FROM clock_timestamp() - t0), 6);
        END \$\$" 2>&1) ||
        die "split step failed: $1: $out"
    sed -n 's/^NOTICE:  BENCH //p' <<<"$out"
}
truncate_split() { sqldb bench_bemi "TRUNCATE $(for t in $SPLIT_TABLES; do printf 'bench_split.%s, ' "$t"; done | sed 's/, $//')" >/dev/null; }
declare -A SPLIT SPLIT_WALL
SPLIT_STEPS="peek peek_jsonb ingest_all ingest_path_ops ingest_no_gin ingest_uniq ingest_lean advance peek_own"
for ((i = 1; i <= BENCH_SPLIT_REPEAT; i++)); do
    for step in $SPLIT_STEPS; do
        case $step in
        peek) q="PERFORM count(*) FROM pg_logical_slot_peek_changes('bench_split_a', '$LSN1', NULL, 'include-transaction', 'on')" ;;
        peek_jsonb) q="PERFORM count(c.data::jsonb) FROM pg_logical_slot_peek_changes('bench_split_a', '$LSN1', NULL, 'include-transaction', 'on') c" ;;
        ingest_all) q="PERFORM bench_split.ingest_all_idx('bench_split_a', 'bench_split', '$LSN1', '$SPLIT_CAPTURE')" ;;
        ingest_path_ops) q="PERFORM bench_split.ingest_path_ops('bench_split_a', 'bench_split', '$LSN1', '$SPLIT_CAPTURE')" ;;
        ingest_no_gin) q="PERFORM bench_split.ingest_no_gin('bench_split_a', 'bench_split', '$LSN1', '$SPLIT_CAPTURE')" ;;
        ingest_uniq) q="PERFORM bench_split.ingest_uniq_only('bench_split_a', 'bench_split', '$LSN1', '$SPLIT_CAPTURE')" ;;
        ingest_lean) q="PERFORM bench_split.ingest_lean('bench_split_a', 'bench_split', '$LSN1', '$SPLIT_CAPTURE')" ;;
        advance) q="PERFORM pg_replication_slot_advance('bench_split_b', '$LSN1')" ;;
        peek_own) q="PERFORM count(*) FROM pg_logical_slot_peek_changes('bench_split_a', '$LSN2', NULL, 'include-transaction', 'on')" ;;
        esac
        truncate_split
        if [[ $step == advance ]]; then
            sqldb bench_bemi "SELECT 1 FROM pg_copy_logical_replication_slot('bench_split_a', 'bench_split_b')" >/dev/null
        fi
        sql "CHECKPOINT" >/dev/null
        sync_worker >/dev/null
        read -r s wall <<<"$(timed "$q")"
        [[ -n $s && -n $wall ]] || die "split step $step gave no time"
        if [[ $step == advance ]]; then
            sqldb bench_bemi "SELECT pg_drop_replication_slot('bench_split_b')" >/dev/null
        fi
        if [[ $step == ingest_* ]]; then
            n=$(sqldb bench_bemi "SELECT $(for t in $SPLIT_TABLES; do printf '(SELECT count(*) FROM bench_split.%s) + ' "$t"; done) 0")
            ((n == DRAIN_CHANGES)) || die "split step $step stored $n rows, expected $DRAIN_CHANGES"
        fi
        if [[ -z ${SPLIT[$step]:-} ]] || awk -v a="$s" -v b="${SPLIT[$step]}" 'BEGIN{exit !(a < b)}'; then SPLIT[$step]=$s; fi
        if [[ -z ${SPLIT_WALL[$step]:-} ]] || awk -v a="$wall" -v b="${SPLIT_WALL[$step]}" 'BEGIN{exit !(a < b)}'; then SPLIT_WALL[$step]=$wall; fi
        echo "$i $step $s $wall" >>"$RES/split.txt"
        log "split round $i $step: CPU $s s, wall $wall s"
    done
done
# The lean formulation stores exactly what bemi._ingest stores.
truncate_split
sqldb bench_bemi "SELECT bench_split.ingest_all_idx('bench_split_a', 'bench_split', '$LSN1', '$SPLIT_CAPTURE'), bench_split.ingest_lean('bench_split_a', 'bench_split', '$LSN1', '$SPLIT_CAPTURE')" >/dev/null
cols="primary_key, before, after, context, database, schema, \"table\", operation, committed_at, transaction_id, seq, position, commit_position, previous_primary_key, unchanged_toast, actor, fallback, capture, root_schema, root_table, effective_at"
LEAN_DIFF=$(sqldb bench_bemi "SELECT (SELECT count(*) FROM (SELECT $cols FROM bench_split.all_idx EXCEPT ALL SELECT $cols FROM bench_split.lean) a)
                                   + (SELECT count(*) FROM (SELECT $cols FROM bench_split.lean EXCEPT ALL SELECT $cols FROM bench_split.all_idx) b)")
LEAN_ROWS=$(sqldb bench_bemi "SELECT count(*) FROM bench_split.lean")
# The distinct effective_at values the check covered: about one per transaction of the
# backlog; one alone would mean the seed lay past every commit and hid the running maximum.
LEAN_EFFECTIVE=$(sqldb bench_bemi "SELECT count(DISTINCT effective_at) FROM bench_split.all_idx")
# None of the split's work reached the real trail or its watermarks.
LEAKED=$(sqldb bench_bemi "SELECT (SELECT count(*) FROM bemi.changes WHERE capture = '$SPLIT_CAPTURE')
                                + (SELECT count(*) FROM bemi.watermarks WHERE capture = '$SPLIT_CAPTURE')")
((LEAKED == 0)) || die "the split's batch functions wrote $LEAKED rows into bemi.changes or bemi.watermarks"
# Index counts for the summary: the copies have what bemi.changes has.
read -r IDX_ALL IDX_UNIQ IDX_PARTIAL <<<"$(sqldb bench_bemi "SELECT count(*), count(*) FILTER (WHERE indexdef LIKE 'CREATE UNIQUE %'),
                                                                   count(*) FILTER (WHERE indexdef LIKE '% WHERE %')
                                                              FROM pg_indexes WHERE schemaname = 'bench_split' AND tablename = 'all_idx'" | tr '|' ' ')"
IDX_BTREE=$((IDX_ALL - IDX_UNIQ - 1))
truncate_split
sqldb bench_bemi "SELECT pg_drop_replication_slot('bench_split_a')" >/dev/null

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
    # No call graphs: the server is built without frame pointers; the split above is the
    # inclusive view. Static functions of the stripped postgres binary show as addresses.
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
echo "== pgbench -M $BENCH_PROTOCOL -c $BENCH_CLIENTS -j $BENCH_THREADS; per transaction: BEGIN; [context]; UPDATE 1 random row of $BENCH_ROWS; INSERT 1 row; END"
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
SAT_VERDICT=$(awk -v b="${SAT_MED[bemi]}" -v t="${SAT_MED[trigger]}" 'BEGIN{ if (b > t) printf "MET (bemi %.3f x trigger)", b/t; else printf "NOT MET (bemi %.3f x trigger)", b/t }')
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
RATE_VERDICT="$(awk -v r="$RATE_RATIO" 'BEGIN{ print (r <= 1.5 ? "MET" : "NOT MET") }') ($RATE_RATIO x; trigger $TRIG_RATIO x)"
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
echo "target: bemi <= 1.5 x untracked average latency: $RATE_VERDICT"
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
echo "capacity: a backlog of $BACKLOG_TXNS transactions ($DRAIN_CHANGES changes, $BACKLOG_MB MiB of WAL, written at $BACKLOG_TPS tps with the worker stalled)"
echo "          drained in $DRAIN_S s once the lock was released: $DRAIN_RATE changes/s; worker CPU $DRAIN_CPU s ($(us "$DRAIN_CPU" "$DRAIN_CHANGES") us per change)"
echo "          the worker's own inserts of it: $OWN_MB MiB of WAL ($(awk -v a="$OWN_MB" -v b="$BACKLOG_MB" 'BEGIN{printf "%.1f", a/b}') x the application's WAL it records)"
echo "          for comparison, bemi mode at saturation produced $(awk -v t="${SAT_MED[bemi]}" 'BEGIN{printf "%.0f", 2*t}') changes/s (median)"
if [[ $MISATTRIBUTED != - ]]; then
    echo "attribution: $MISATTRIBUTED rows of bemi.changes carry another statement's \"SQL\" (expected 0)"
fi

echo
echo "-- where the worker's time goes: the backlog ($DRAIN_CHANGES changes) replayed on a copy of the slot, best of $BENCH_SPLIT_REPEAT rounds"
echo "   (CPU time of the backend doing it; wall clock in the last column; every round in split.txt)"
echo "   (the copy's restart point was $COPY_GAP bytes before its confirmed position)"
sp() { awk -v s="${SPLIT[$1]}" -v w="${SPLIT_WALL[$1]}" -v n="$DRAIN_CHANGES" 'BEGIN{printf "%8.3f s %9.0f changes/s %7.1f us/change   wall %.3f s", s, n/s, 1e6*s/n, w}'; }
BATCH=$(awk -v t="${SPLIT[ingest_all]}" -v a="${SPLIT[advance]}" 'BEGIN{print t + a}')
part() { # seconds -> "s  us/change  % of a batch"
    awk -v a="$1" -v n="$DRAIN_CHANGES" -v t="$BATCH" 'BEGIN{printf "%8.3f s %7.1f us/change %6.1f%% of a batch", a, 1e6*a/n, 100*a/t}'
}
dif() { awk -v a="${SPLIT[$1]}" -v b="${SPLIT[$2]}" 'BEGIN{print a - b}'; }
echo "steps, each timed on the server:"
printf '  %-52s %s\n' "decode: peek, count(*)" "$(sp peek)"
printf '  %-52s %s\n' "decode + ::jsonb" "$(sp peek_jsonb)"
printf '  %-52s %s\n' "bemi._ingest as it is (all $IDX_ALL indexes)" "$(sp ingest_all)"
printf '  %-52s %s\n' "  the same with GIN jsonb_path_ops on context" "$(sp ingest_path_ops)"
printf '  %-52s %s\n' "  the same without the GIN index" "$(sp ingest_no_gin)"
printf '  %-52s %s\n' "  the same with only the $IDX_UNIQ unique indexes" "$(sp ingest_uniq)"
printf '  %-52s %s\n' "  leaner SQL: jsonb_to_record, no sort" "$(sp ingest_lean)"
printf '  %-52s %s\n' "acknowledge: pg_replication_slot_advance" "$(sp advance)"
printf '  %-52s %s\n' "decode up to the end of the drain (+ own inserts)" "$(sp peek_own)"
echo "a batch = bemi._ingest + acknowledge = $(awk -v t="$BATCH" -v n="$DRAIN_CHANGES" 'BEGIN{printf "%.3f s, %.0f changes/s", t, n/t}') (the worker's measured drain: $DRAIN_RATE changes/s):"
printf '  %-52s %s\n' "decode, bemi's formatting, peek tuplestore" "$(part "${SPLIT[peek]}")"
printf '  %-52s %s\n' "text -> jsonb" "$(part "$(dif peek_jsonb peek)")"
printf '  %-52s %s\n' "field access, join, sort, heap, $IDX_UNIQ unique indexes" "$(part "$(dif ingest_uniq peek_jsonb)")"
printf '  %-52s %s\n' "the other $IDX_BTREE btree indexes ($IDX_PARTIAL partial)" "$(part "$(dif ingest_no_gin ingest_uniq)")"
printf '  %-52s %s\n' "GIN (jsonb_ops) on context" "$(part "$(dif ingest_all ingest_no_gin)")"
printf '  %-52s %s\n' "acknowledge (reads the WAL again)" "$(part "${SPLIT[advance]}")"
echo "and outside the batch's own WAL:"
printf '  %-52s %s\n' "decoding the worker's own previous inserts" "$(part "$(dif peek_own peek)")"
echo "leaner SQL stores the same rows: $LEAN_ROWS rows, $LEAN_DIFF differing (EXCEPT ALL both ways; $LEAN_EFFECTIVE distinct effective_at)"
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
printf '%-38s %12.1f %12.1f %12.1f  %s\n' "saturation tps (median)" "${SAT_MED[untracked]}" "${SAT_MED[bemi]}" "${SAT_MED[trigger]}" "bemi > trigger: $SAT_VERDICT"
printf '%-38s %12s %12s %12s\n' "saturation cluster CPU us/txn" "${SAT_CPU[untracked]% *}" "${SAT_CPU[bemi]% *}" "${SAT_CPU[trigger]% *}"
printf '%-38s %12s %12s %12s\n' "  of which the bemi worker" "${SAT_CPU[untracked]#* }" "${SAT_CPU[bemi]#* }" "${SAT_CPU[trigger]#* }"
printf '%-38s %12s %12s %12s\n' "saturation WAL bytes/txn" "${SAT_WAL[untracked]}" "${SAT_WAL[bemi]}" "${SAT_WAL[trigger]}"
printf '%-38s %12s %12s %12s  %s\n' "-R $RATE latency avg ms (pooled)" "$UA" "$BA" "$TA" "bemi <= 1.5 x untracked: $RATE_VERDICT"
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
printf '%-38s %s\n' "worker capacity (drain)" "$DRAIN_RATE changes/s ($DRAIN_CHANGES changes in $DRAIN_S s)"
printf '%-38s %s\n' "batch split (us/change)" "decode $(awk -v s="${SPLIT[peek]}" -v n="$DRAIN_CHANGES" 'BEGIN{printf "%.1f", 1e6*s/n}'), jsonb $(awk -v s="$(dif peek_jsonb peek)" -v n="$DRAIN_CHANGES" 'BEGIN{printf "%.1f", 1e6*s/n}'), insert w/o GIN $(awk -v s="$(dif ingest_no_gin peek_jsonb)" -v n="$DRAIN_CHANGES" 'BEGIN{printf "%.1f", 1e6*s/n}'), GIN $(awk -v s="$(dif ingest_all ingest_no_gin)" -v n="$DRAIN_CHANGES" 'BEGIN{printf "%.1f", 1e6*s/n}'), ack $(awk -v s="${SPLIT[advance]}" -v n="$DRAIN_CHANGES" 'BEGIN{printf "%.1f", 1e6*s/n}'); leaner SQL $(awk -v a="${SPLIT[ingest_lean]}" -v b="${SPLIT[ingest_all]}" 'BEGIN{printf "%+.1f%%", 100*(a/b-1)}')"
