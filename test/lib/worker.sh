# shellcheck shell=bash
# Helpers around the bemi ingestion worker, shared by test/shell/*.sh and bench/*.sh: find it,
# read its CPU time, stop it while it sleeps, and hold a transaction open in another database.
# Sources test/lib/cluster.sh itself; it has no side effects. Needs psql on PATH and the PG*
# variables of the cluster (bemi_cluster_start exports them).
#
#   bemi_worker_test_dbs DB OTHER    a shell test's two databases on the suite's server:
#                                    bemi_capture_test DB (cluster.sh), and OTHER without the
#                                    extension; at exit the open transaction, if any, is
#                                    committed (bemi_open_xact_*) and both are dropped
#   bemi_worker_pid DB               pid of DB's ingest worker (empty when none is attached)
#   bemi_proc_ticks PID              CPU time of PID so far (utime + stime, clock ticks of
#                                    getconf CLK_TCK); empty when the process is gone
#   bemi_cpu_share TICKS SECONDS     TICKS over SECONDS as % of one CPU ("1.23")
#   bemi_worker_freeze PID           SIGSTOP the worker while it sleeps between turns (it then
#                                    holds no transaction, snapshot, lock or LWLock); sets
#                                    BEMI_STOPPED_PID; fails when it never catches it asleep.
#                                    Reads /proc/PID/syscall: root (or a kernel letting the
#                                    server's owner read it)
#   bemi_worker_thaw                 SIGCONT the process bemi_worker_freeze stopped, if any
#   bemi_open_xact_start DB DIR      a transaction in DB that takes a transaction id and writes
#                                    one row, then stays open (a background psql; DIR holds
#                                    its flag and output). Sets BEMI_OPEN_XACT_PID (the psql),
#                                    BEMI_OPEN_XACT_XID and BEMI_OPEN_XACT_LSN (the WAL insert
#                                    position once its row is written: its first WAL record
#                                    starts before it). Fails if it is not open within 30 s.
#   bemi_open_xact_age               seconds the open transaction has been open ("12.3")
#   bemi_open_xact_commit            commits it and waits for its psql; fails if it did not
#                                    commit cleanly. Idempotent; use it in cleanup traps too.
#
# Why the open transaction writes a row: logical decoding keeps the slot's restart point
# behind the first WAL record of the oldest transaction it has seen (the reorder buffer
# knows a transaction from its first record, in any database). A transaction that only took
# an id (BEGIN; SELECT txid_current();) writes no WAL, so decoding never sees it and the
# restart point moves on (checked: it does); one that has written, as an application's
# long transaction has, holds it back until it ends.

# shellcheck source-path=SCRIPTDIR source=cluster.sh
source "$(dirname "${BASH_SOURCE[0]}")/cluster.sh"

bemi_worker_test_dbs() {
    BEMI_TEST_OTHER_DBS=$2
    bemi_capture_test "$1"
    psql -X -q -d postgres -c "CREATE DATABASE $2" >/dev/null || bemi_fail "CREATE DATABASE $2"
}

bemi_worker_pid() {
    psql -X -q -A -t -d postgres -c "SELECT pid FROM pg_stat_activity
                                      WHERE backend_type = 'bemi ingest worker' AND datname = '$1'"
}

bemi_proc_ticks() {
    [[ -n $1 && -r /proc/$1/stat ]] || return 0
    # Fields after the command name (which may hold spaces): 12 utime, 13 stime.
    awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat" 2>/dev/null || true
}

bemi_cpu_share() {
    awk -v t="$1" -v s="$2" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", (s > 0 ? 100 * t / hz / s : 0) }'
}

BEMI_STOPPED_PID=
bemi_worker_freeze() {
    local pid=$1 sc ok
    case $(uname -m) in
    x86_64) ok=" 232 281 441 " ;; # epoll_wait, epoll_pwait, epoll_pwait2
    aarch64) ok=" 22 441 " ;;     # epoll_pwait, epoll_pwait2
    *)
        echo "bemi_worker_freeze: unknown architecture $(uname -m)" >&2
        return 1
        ;;
    esac
    for _ in $(seq 1 500); do
        kill -STOP "$pid" || return 1
        BEMI_STOPPED_PID=$pid
        sleep 0.005
        sc=$(cut -d' ' -f1 "/proc/$pid/syscall" 2>/dev/null || true)
        [[ $ok == *" $sc "* ]] && return 0
        kill -CONT "$pid"
        BEMI_STOPPED_PID=
        sleep 0.01
    done
    echo "bemi_worker_freeze: never caught worker $pid asleep between turns" >&2
    return 1
}

bemi_worker_thaw() {
    if [[ -n $BEMI_STOPPED_PID ]]; then
        kill -CONT "$BEMI_STOPPED_PID" 2>/dev/null || true
        BEMI_STOPPED_PID=
    fi
}

BEMI_OPEN_XACT_PID=
BEMI_OPEN_XACT_FLAG=
bemi_open_xact_start() {
    local db=$1 dir=$2 row
    BEMI_OPEN_XACT_FLAG=$dir/open_xact.commit
    rm -f "$BEMI_OPEN_XACT_FLAG"
    psql -X -q -v ON_ERROR_STOP=1 -d "$db" -c "CREATE TABLE IF NOT EXISTS bemi_open_xact (opened_at timestamptz)" \
        >/dev/null || return 1
    {
        echo "BEGIN;"
        echo "SELECT txid_current();"
        echo "INSERT INTO bemi_open_xact VALUES (now());"
        while [[ ! -e $BEMI_OPEN_XACT_FLAG ]]; do sleep 0.1; done
        echo "COMMIT;"
    } | PGAPPNAME=bemi_open_xact psql -X -q -A -t -v ON_ERROR_STOP=1 -d "$db" >"$dir/open_xact.out" 2>&1 &
    BEMI_OPEN_XACT_PID=$!
    for _ in $(seq 1 300); do
        row=$(psql -X -q -A -t -d postgres -c "SELECT backend_xid FROM pg_stat_activity
                   WHERE application_name = 'bemi_open_xact' AND state = 'idle in transaction'
                     AND backend_xid IS NOT NULL AND query LIKE 'INSERT INTO bemi_open_xact%'")
        if [[ -n $row ]]; then
            # shellcheck disable=SC2034  # read by the caller
            BEMI_OPEN_XACT_XID=$row
            # shellcheck disable=SC2034  # read by the caller
            BEMI_OPEN_XACT_LSN=$(psql -X -q -A -t -d postgres -c "SELECT pg_current_wal_insert_lsn()")
            return 0
        fi
        kill -0 "$BEMI_OPEN_XACT_PID" 2>/dev/null || break
        sleep 0.1
    done
    echo "bemi_open_xact_start: the transaction did not open: $(cat "$dir/open_xact.out" 2>/dev/null)" >&2
    bemi_open_xact_commit
    return 1
}

bemi_open_xact_age() {
    psql -X -q -A -t -d postgres -c "SELECT round(extract(epoch FROM clock_timestamp() - xact_start)::numeric, 1)
                                       FROM pg_stat_activity WHERE application_name = 'bemi_open_xact'"
}

bemi_open_xact_commit() {
    local pid=$BEMI_OPEN_XACT_PID rc=0
    [[ -n $pid ]] || return 0
    BEMI_OPEN_XACT_PID=
    touch "$BEMI_OPEN_XACT_FLAG"
    for _ in $(seq 1 100); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        kill "$pid" 2>/dev/null || true
        rc=1
    fi
    wait "$pid" 2>/dev/null || rc=1
    return $rc
}
