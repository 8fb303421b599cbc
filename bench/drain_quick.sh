#!/bin/bash
# drain_quick.sh PG_CONFIG [N] [TXNS] -- quick drain measurement of the ingestion worker: a
# backlog of N changes (N/2 INSERT, N/2 UPDATE of a 3-column table) in TXNS transactions,
# written while the worker is stopped (SIGSTOP); then SIGCONT and time bemi.sync(). Prints the
# drain rate and the worker's CPU time per stored change (docs/benchmarks.md, "The worker's C
# fast path"). DROP_INDEXES="name ..." drops those indexes (or constraints) of bemi.changes
# first (bench/index_cost.sh). PERF=1 also records a perf profile of the worker to ${PERF_OUT:-/tmp/drain.perf}.
# Installs nothing: it uses the bemi installed in PG_CONFIG's server.
set -e
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export PG_CONFIG=$1; N=${2:-200000}; T=${3:-2000}
export BEMI_SHARED_PRELOAD=bemi BEMI_TEST_EXTRA_CONF="fsync = off
synchronous_commit = off
logical_decoding_work_mem = 64MB"
# shellcheck source=../test/lib/cluster.sh
source "$here/../test/lib/cluster.sh"
D=/tmp/drainq.$$; bemi_fresh_dir $D; unset BEMI_TEST_PORT
bemi_cluster_init $D >/dev/null && bemi_cluster_start >/dev/null
trap "bemi_cluster_stop_fast >/dev/null 2>&1; rm -rf $D" EXIT
psql -X -q -c "CREATE DATABASE d" && psql -X -q -d d -c "CREATE EXTENSION bemi" -c "SELECT bemi.sync()" >/dev/null
for ix in ${DROP_INDEXES:-}; do
    psql -X -q -d d -c "DROP INDEX bemi.$ix" 2>/dev/null || psql -X -q -d d -c "ALTER TABLE bemi.changes DROP CONSTRAINT $ix"
done
psql -X -q -d d -c "CREATE TABLE t (id int PRIMARY KEY, v text, n int)" -c "SELECT bemi.sync()" >/dev/null
pid=$(psql -X -At -d d -c "SELECT pid FROM pg_stat_activity WHERE backend_type='bemi ingest worker'")
kill -STOP $pid
half=$((N/2)); per=$((half/(T/2)))
psql -X -q -d d -c "DO \$\$ BEGIN FOR i IN 0..$((T/2-1)) LOOP INSERT INTO t SELECT g, 'row ' || g, 0 FROM generate_series(i*$per+1, (i+1)*$per) g; COMMIT; END LOOP; FOR i IN 0..$((T/2-1)) LOOP UPDATE t SET n = n + 1 WHERE id BETWEEN i*$per+1 AND (i+1)*$per; COMMIT; END LOOP; END \$\$"
cpu0=$(awk '{print $14+$15}' /proc/$pid/stat); t0=$(date +%s.%N)
if [ -n "$PERF" ]; then perf record -F 999 -g -p $pid -o "${PERF_OUT:-/tmp/drain.perf}" >/dev/null 2>&1 & perfpid=$!; sleep 0.5; fi
kill -CONT $pid
psql -X -q -At -d d -c "SELECT bemi.sync('300 s')" >/dev/null
[ -n "$PERF" ] && { kill -INT $perfpid; wait $perfpid 2>/dev/null || true; }
t1=$(date +%s.%N); cpu1=$(awk '{print $14+$15}' /proc/$pid/stat)
stored=$(psql -X -At -d d -c "SELECT count(*) FROM bemi.changes WHERE \"table\"='t'")
tck=$(getconf CLK_TCK)
awk -v n=$stored -v w=$(echo "$t1 - $t0" | bc) -v c=$((cpu1-cpu0)) -v k=$tck 'BEGIN{printf "stored %d changes: drain %.1f s = %.0f changes/s; worker CPU %.2f s = %.1f us/change\n", n, w, n/w, c/k, c/k*1e6/n}'
