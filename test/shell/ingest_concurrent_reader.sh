#!/usr/bin/env bash
# Rows the worker stores stay visible to sessions that read bemi.changes while it stores them.
#
# The worker keeps its replication slot between turns; a process holding a logical slot is
# marked PROC_IN_LOGICAL_DECODING, whose transaction ids every other snapshot leaves out. Were
# the worker's own transactions run with that mark, a session reading the newest rows meanwhile
# (here: max(committed_at), as a dashboard or bench/capture_bench.sh's freshness sampler does)
# would take the worker's running transaction for an aborted one and mark its rows so
# (HEAP_XMIN_INVALID, index entries killed): a seq scan or an index scan of bemi.changes would
# then miss rows the worker counted as stored.
#
# A write load in the captured database while another session reads max(committed_at) and the
# newest rows in a loop; then every change is in bemi.changes exactly once, found alike by a
# seq scan, by the committed_at index and by the primary key, and amcheck finds every heap
# tuple in each btree index.
#
# Run by test/run_tests.sh with PGHOST/PGPORT/PGUSER set and shared_preload_libraries = 'bemi'.
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=../lib/worker.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/worker.sh"

DB=bemi_concurrent_reader
SECS=8
FLAG=$BEMI_TEST_TMPDIR/reading
q() { psql -X -q -A -t -v ON_ERROR_STOP=1 -d "$DB" -c "$1"; }
READER=
stop_reader() {
    rm -f "$FLAG"
    [[ -z $READER ]] || wait "$READER" 2>/dev/null || true
    READER=
}
test_cleanup() { stop_reader; }
bemi_capture_test "$DB"
q "CREATE TABLE t (k bigserial PRIMARY KEY, v int NOT NULL)" >/dev/null
[[ $(q "SELECT bemi.sync()") == t ]] || bemi_fail "sync after the set-up"
T0=$(q "SELECT now()")

touch "$FLAG"
{
    while [[ -e $FLAG ]]; do
        echo "SELECT max(committed_at) FROM bemi.changes;"
        echo "SELECT count(*) FROM (SELECT id FROM bemi.changes ORDER BY id DESC LIMIT 50) x;"
        sleep 0.02
    done
} | psql -X -q -A -t -d "$DB" >/dev/null 2>"$BEMI_TEST_TMPDIR/reader.err" &
READER=$!

cat >"$BEMI_TEST_TMPDIR/write.sql" <<'SQL'
BEGIN;
INSERT INTO t (v) VALUES (1);
UPDATE t SET v = v + 1 WHERE k = (SELECT max(k) FROM t);
END;
SQL
chmod 644 "$BEMI_TEST_TMPDIR/write.sql"
pgbench -n -c 4 -j 2 -T "$SECS" -f "$BEMI_TEST_TMPDIR/write.sql" "$DB" >"$BEMI_TEST_TMPDIR/pgbench.out" 2>&1 ||
    bemi_fail "pgbench: $(tail -n 5 "$BEMI_TEST_TMPDIR/pgbench.out")"
[[ $(q "SELECT bemi.sync()") == t ]] || bemi_fail "sync after the load"
stop_reader
[[ ! -s $BEMI_TEST_TMPDIR/reader.err ]] || bemi_fail "the reader failed: $(head -n 3 "$BEMI_TEST_TMPDIR/reader.err")"

TXNS=$(q "SELECT count(*) FROM t")
((TXNS > 100)) || bemi_fail "the load committed only $TXNS transactions"
EXPECT=$((2 * TXNS))
by() { # by SETTINGS QUERY-CONDITION: rows of t's changes since T0 under those planner settings
    psql -X -q -A -t -v ON_ERROR_STOP=1 -d "$DB" -c "SET $1" \
        -c "SELECT count(*) FROM bemi.changes WHERE $2 AND \"table\" = 't'" | tail -n 1
}
SEQ=$(by "enable_indexscan = off; SET enable_bitmapscan = off; SET enable_indexonlyscan = off" "committed_at >= '$T0'")
IDX=$(by "enable_seqscan = off" "committed_at >= '$T0'")
PK=$(by "enable_seqscan = off; SET enable_bitmapscan = off" "id > (SELECT coalesce(max(id), 0) FROM bemi.changes WHERE committed_at < '$T0')")
echo "$TXNS transactions ($EXPECT changes): seq scan $SEQ, committed_at index $IDX, primary key $PK"
[[ $SEQ == "$EXPECT" ]] || bemi_fail "a seq scan finds $SEQ of the $EXPECT changes: rows stored by the worker are not visible"
[[ $IDX == "$EXPECT" ]] || bemi_fail "the committed_at index finds $IDX of the $EXPECT changes"
[[ $PK == "$EXPECT" ]] || bemi_fail "the primary key finds $PK of the $EXPECT changes"
echo "ok: every change visible, by a seq scan and by the indexes"
[[ $(q "SELECT count(*) FROM (SELECT capture, commit_position, seq FROM bemi.changes GROUP BY 1, 2, 3 HAVING count(*) > 1) d") == 0 ]] ||
    bemi_fail "a change stored twice"
echo "ok: none stored twice"

if q "CREATE EXTENSION IF NOT EXISTS amcheck" >/dev/null 2>&1; then
    for ix in $(q "SELECT c.oid::regclass FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
                   WHERE i.indrelid = 'bemi.changes'::regclass AND c.relam = (SELECT oid FROM pg_am WHERE amname = 'btree')"); do
        out=$(q "SELECT bt_index_check('$ix', true)" 2>&1) || bemi_fail "amcheck: $ix: $out"
    done
    echo "ok: amcheck finds every heap tuple of bemi.changes in each btree index"
else
    echo "(amcheck is not installed: index check skipped)"
fi
