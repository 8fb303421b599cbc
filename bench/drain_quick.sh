#!/usr/bin/env bash
# Quick drain measurement of the ingestion worker: a backlog of N changes (N/2 INSERT, N/2
# UPDATE of a 3-column table, no context) in TXNS transactions, written while the worker is
# stopped (SIGSTOP); then SIGCONT and time bemi.sync(). Prints the drain rate and the worker's
# CPU time per stored change (docs/benchmarks.md, "The worker's C fast path").
#
#   bench/drain_quick.sh PG_CONFIG [N] [TXNS]     N defaults to 200000, TXNS to 2000
#
# WORKLOAD=app instead writes capture_bench's transaction TXNS times (N is ignored): a
# context (SELECT bemi_set_context), an UPDATE of one of 100,000 rows of a table with REPLICA
# IDENTITY FULL and an INSERT, with pgbench -c 4: two changes per transaction, each with a
# context and its "SQL", the application-shaped load whose cost per change is dominated by
# what the worker pays per transaction and per row rather than by bulk.
#
# DROP_INDEXES="suffix ..." drops those indexes of bemi.changes first, e.g. history_idx (on a
# partitioned trail, every partition's copy; bench/index_cost.sh). PERF=1 also records a perf
# profile of the worker to ${PERF_OUT:-/tmp/drain.perf}. Server: test/lib/bench.sh's, with
# fsync and synchronous_commit off (CPU-bound). Installs nothing: it uses the bemi installed in
# PG_CONFIG's server.

set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export PG_CONFIG=${1:?usage: bench/drain_quick.sh PG_CONFIG [N] [TXNS]}
N=${2:-200000} T=${3:-2000} WORKLOAD=${WORKLOAD:-bulk}
shift $#
# shellcheck source-path=SCRIPTDIR source=../test/lib/bench.sh
source "$ROOT/test/lib/bench.sh"
bemi_bench_start drain_quick "$0"
bemi_bench_positive N T
[[ $WORKLOAD == bulk || $WORKLOAD == app ]] || die "WORKLOAD must be bulk or app"
bemi_bench_prereqs psql pgbench
bemi_bench_bemi_server "fsync = off
synchronous_commit = off
logical_decoding_work_mem = 64MB"
bemi_bench_cluster bemi-drain-quick

sql "CREATE DATABASE d"
sqldb d "CREATE EXTENSION bemi" >/dev/null
if [[ $WORKLOAD == bulk ]]; then
    sqldb d "CREATE TABLE t (id int PRIMARY KEY, v text, n int)"
else
    sqldb d "CREATE TABLE t (id bigserial PRIMARY KEY, task text NOT NULL, is_completed bool NOT NULL DEFAULT false,
                             user_id int, created_at timestamptz DEFAULT now(), updated_at timestamptz DEFAULT now());
             INSERT INTO t (task, user_id) SELECT 'task ' || g, g FROM generate_series(1, 100000) g;
             ALTER TABLE t REPLICA IDENTITY FULL"
fi
[[ $(sqldb d "SELECT bemi.sync()") == t ]] || die "capture did not start"
# An index is named by its suffix (history_idx, pkey, ...): on a partitioned trail each
# partition has its own copy, <partition>_<suffix>; a constraint's index goes with it. After
# bemi.sync(): by then the worker has created the partitions the run writes into.
for suffix in ${DROP_INDEXES:-}; do
    sqldb d "DO \$\$ DECLARE r record; n int := 0; BEGIN
        FOR r IN SELECT i.indexrelid::regclass AS ix, i.indrelid::regclass AS tbl, c.conname
                   FROM pg_index i JOIN pg_class x ON x.oid = i.indexrelid
                   LEFT JOIN pg_constraint c ON c.conindid = i.indexrelid AND c.conrelid = i.indrelid
                  WHERE i.indrelid IN (SELECT relid FROM pg_partition_tree('bemi.changes') UNION SELECT 'bemi.changes'::regclass)
                    AND right(x.relname, length('$suffix') + 1) = '_$suffix' LOOP
            IF r.conname IS NOT NULL THEN EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', r.tbl, r.conname);
            ELSE EXECUTE format('DROP INDEX %s', r.ix); END IF;
            n := n + 1;
        END LOOP;
        IF n = 0 THEN RAISE EXCEPTION 'no index of bemi.changes is named *_$suffix'; END IF;
    END \$\$"
done
pid=$(bemi_worker_pid d)
bemi_worker_freeze "$pid" || die "could not stop the worker while it sleeps"
before=$(sqldb d "SELECT count(*) FROM bemi.changes WHERE \"table\" = 't'")
if [[ $WORKLOAD == bulk ]]; then
    per=$((N / T))
    expected=$((2 * (T / 2) * per))
    sqldb d "DO \$\$ BEGIN
        FOR i IN 0..$((T / 2 - 1)) LOOP
            INSERT INTO t SELECT g, 'row ' || g, 0 FROM generate_series(i * $per + 1, (i + 1) * $per) g; COMMIT;
        END LOOP;
        FOR i IN 0..$((T / 2 - 1)) LOOP
            UPDATE t SET n = n + 1 WHERE id BETWEEN i * $per + 1 AND (i + 1) * $per; COMMIT;
        END LOOP;
    END \$\$"
else
    ((T % 4 == 0)) || die "TXNS must be a multiple of 4 with WORKLOAD=app (pgbench -c 4)"
    expected=$((2 * T))
    cat >"$TMP/app.sql" <<'SCRIPT'
\set id random(1, 100000)
\set uid random(1, 1000000)
BEGIN;
SELECT bemi_set_context('{"user_id": :uid, "endpoint": "/todo"}', true);
UPDATE t SET is_completed = NOT is_completed, updated_at = now() WHERE id = :id;
INSERT INTO t (task, user_id) VALUES ('New task from the app', :uid);
END;
SCRIPT
    "$BINDIR/pgbench" -n -M simple -c 4 -j 2 -t $((T / 4)) -f "$TMP/app.sql" d >"$TMP/pgbench.out" 2>&1 ||
        { cat "$TMP/pgbench.out" >&2; die "pgbench failed"; }
fi
cpu0=$(bemi_proc_ticks "$pid")
t0=$(now_epoch)
if [[ -n ${PERF:-} ]]; then
    perf record -F 999 -g -p "$pid" -o "${PERF_OUT:-/tmp/drain.perf}" >/dev/null 2>&1 &
    BG_PIDS+=($!)
    sleep 0.5
fi
bemi_worker_thaw
[[ $(sqldb d "SELECT bemi.sync('300 s')") == t ]] || die "the backlog was not stored within 300 s"
if [[ -n ${PERF:-} ]]; then kill -INT "${BG_PIDS[0]}"; wait "${BG_PIDS[0]}" 2>/dev/null || true; BG_PIDS=(); fi
t1=$(now_epoch)
cpu1=$(bemi_proc_ticks "$pid")
stored=$(($(sqldb d "SELECT count(*) FROM bemi.changes WHERE \"table\" = 't'") - before))
[[ $stored == "$expected" ]] || die "$stored changes stored, $expected written"
awk -v n="$stored" -v w="$(fsub "$t1" "$t0")" -v c=$((cpu1 - cpu0)) -v k="$CLK_TCK" 'BEGIN {
    printf "stored %d changes: drain %.1f s = %.0f changes/s; worker CPU %.2f s = %.1f us/change\n", n, w, n / w, c / k, c / k * 1e6 / n }'
