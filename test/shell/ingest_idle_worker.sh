#!/usr/bin/env bash
# The worker of a captured database with no writes stays cheap while another database (no
# extension) writes ~500 tps for ~20 s: its CPU time (utime + stime from /proc/<pid>/stat)
# over the run stays below 5% of one CPU.
#
# The target of the ingestion engine (issue 9) is < 0.5% of a CPU; bench/ingest_drain_bench.sh
# measures and prints that figure. This test only guards against regressions such as busy
# polling or re-reading the WAL without bound (the pre-v2 worker measured 2.7% here), with
# a bound loose enough for a loaded 2-core CI machine: CPU time a process did not get is not
# counted against it, and it does not count other processes' work.
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=../lib/worker.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/worker.sh"

DB=bemi_idle_worker
OTHER=bemi_idle_other
RATE=500
SECS=20
BOUND=5 # % of one CPU
# Under test/sanitize.sh (BEMI_SANITIZE=1) bemi.so's code runs several times slower: a wider
# bound, still far below a busy loop.
[[ ${BEMI_SANITIZE:-0} == 1 ]] && BOUND=20
q() { psql -X -q -A -t -v ON_ERROR_STOP=1 -d "$DB" -c "$1"; }

bemi_worker_test_dbs "$DB" "$OTHER"
pgbench -i -q -s 1 "$OTHER" >"$BEMI_TEST_TMPDIR/pgbench-init.out" 2>&1 ||
    bemi_fail "pgbench -i: $(tail -n 5 "$BEMI_TEST_TMPDIR/pgbench-init.out")"
[[ $(q "SELECT bemi.sync()") == t ]] || bemi_fail "sync before the run"
STORED0=$(q "SELECT count(*) FROM bemi.changes")
PID=$(bemi_worker_pid "$DB")
[[ -n $PID ]] || bemi_fail "no ingest worker attached to $DB"

T0=$(date +%s.%N)
TICKS0=$(bemi_proc_ticks "$PID")
pgbench -n -c 2 -j 2 -R "$RATE" -T "$SECS" "$OTHER" >"$BEMI_TEST_TMPDIR/pgbench.out" 2>&1 ||
    bemi_fail "pgbench: $(tail -n 5 "$BEMI_TEST_TMPDIR/pgbench.out")"
TICKS1=$(bemi_proc_ticks "$PID")
T1=$(date +%s.%N)
[[ -n $TICKS0 && -n $TICKS1 && $(bemi_worker_pid "$DB") == "$PID" ]] ||
    bemi_fail "the worker ($PID) did not stay attached through the run"
WALL=$(awk -v a="$T0" -v b="$T1" 'BEGIN { printf "%.2f", b - a }')
TXNS=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$BEMI_TEST_TMPDIR/pgbench.out")
# The load must be there for the figure to mean anything (a quarter of it is enough).
((TXNS >= RATE * SECS / 4)) || bemi_fail "pgbench committed only $TXNS transactions in $SECS s (expected ~$((RATE * SECS)))"
SHARE=$(bemi_cpu_share $((TICKS1 - TICKS0)) "$WALL")
[[ $SHARE =~ ^[0-9]+\.[0-9]+$ ]] || bemi_fail "could not compute the worker's CPU share (got '$SHARE')"
echo "worker $PID: $((TICKS1 - TICKS0)) clock ticks in $WALL s = $SHARE% of one CPU while $OTHER committed $TXNS transactions"

# It still serves its database: nothing of the other database stored, sync answers.
[[ $(q "SELECT bemi.sync()") == t ]] || bemi_fail "sync after the run"
[[ $(q "SELECT count(*) FROM bemi.changes") == "$STORED0" ]] || bemi_fail "changes stored for a database that wrote nothing"
awk -v s="$SHARE" -v b="$BOUND" 'BEGIN { exit !(s < b) }' ||
    bemi_fail "the idle worker used $SHARE% of one CPU (bound $BOUND%; target < 0.5%)"
echo "ok: the idle worker used $SHARE% of one CPU (< $BOUND%)"
