#!/usr/bin/env bash
# Ingestion under a long-open transaction in another database: every change stored exactly
# once, bemi.sync() true within its default timeout, no error in bemi.status.
#
# A transaction in another database takes an id and writes a row before the writes start,
# and stays open throughout: the slot's restart point cannot pass its first WAL record, so
# every batch of today's worker re-decodes everything written since (docs/ingestion.md,
# Limitations). The test asserts that this condition holds while the transaction is open
# (restart_lsn behind it while the confirmed position moves far past it), that nothing is
# lost or stored twice meanwhile, and that after it commits the restart point moves on and
# capture goes on. Speed is not asserted here: bench/ingest_drain_bench.sh measures it.
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=../lib/worker.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/worker.sh"

DB=bemi_long_xact
HOLD=bemi_long_xact_hold
KEYS=1000       # rows of t
PER_TXN=5       # changes per transaction: 200 transactions a round
ROUNDS=6        # round 0 inserts every key, rounds 1..ROUNDS-1 update every key
q() { psql -X -q -A -t -v ON_ERROR_STOP=1 -d "$DB" -c "$1"; }
test_cleanup() { bemi_open_xact_commit; } # at exit, before the databases are dropped

bemi_worker_test_dbs "$DB" "$HOLD"
SLOT=$(q "SELECT slot FROM bemi.status")
q "CREATE TABLE t (k int PRIMARY KEY, v int NOT NULL); CREATE TABLE poke (i int)" >/dev/null
# One round: every key changed once, PER_TXN keys per transaction, each committed on its own.
q "CREATE PROCEDURE churn(r int) LANGUAGE plpgsql AS \$\$
BEGIN
    FOR i IN 0 .. $KEYS / $PER_TXN - 1 LOOP
        IF r = 0 THEN
            INSERT INTO t SELECT k, 0 FROM generate_series(i * $PER_TXN + 1, (i + 1) * $PER_TXN) k;
        ELSE
            UPDATE t SET v = r WHERE k BETWEEN i * $PER_TXN + 1 AND (i + 1) * $PER_TXN;
        END IF;
        COMMIT;
    END LOOP;
END \$\$" >/dev/null
[[ $(q "SELECT bemi.sync()") == t ]] || bemi_fail "sync after the set-up"

# Opened, with an id and a written row, before the writes start.
bemi_open_xact_start "$HOLD" "$BEMI_TEST_TMPDIR" || bemi_fail "could not open the long transaction"
OPEN_LSN=$BEMI_OPEN_XACT_LSN
echo "ok: transaction $BEMI_OPEN_XACT_XID open in $HOLD, its first WAL record before $OPEN_LSN"

slot_pos() { # "restart_lsn confirmed_flush_lsn"
    psql -X -q -A -t -F ' ' -d postgres -c "SELECT restart_lsn, confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = '$SLOT'"
}
lsn_lt() { [[ $(psql -X -q -A -t -d postgres -c "SELECT '$1'::pg_lsn < '$2'::pg_lsn") == t ]]; }
BATCHES0=$(q "SELECT batches FROM bemi._worker_status()")
for ((r = 0; r < ROUNDS; r++)); do
    q "CALL churn($r)" >/dev/null
    # Half the rounds wait for the worker, the others leave it to catch up alone while the
    # next round writes: batches of every size, some ending inside a round.
    if ((r % 2 == 1)); then
        [[ $(q "SELECT bemi.sync()") == t ]] || bemi_fail "sync after round $r: $(q "SELECT state, last_error FROM bemi.status")"
    else
        sleep 0.3
    fi
    read -r restart confirmed <<<"$(slot_pos)"
    lsn_lt "$restart" "$OPEN_LSN" ||
        bemi_fail "round $r: the slot's restart point $restart passed the open transaction ($OPEN_LSN)"
done
[[ $(q "SELECT bemi.sync()") == t ]] || bemi_fail "bemi.sync() did not return true within its default timeout"
read -r restart confirmed <<<"$(slot_pos)"
lsn_lt "$restart" "$OPEN_LSN" || bemi_fail "the restart point $restart passed the open transaction ($OPEN_LSN)"
held=$(psql -X -q -A -t -d postgres -c "SELECT pg_wal_lsn_diff('$confirmed', '$restart')::bigint")
((held > 1024 * 1024)) || bemi_fail "the open transaction held back only $held bytes: the test does not show the condition"
BATCHES=$(($(q "SELECT batches FROM bemi._worker_status()") - BATCHES0))
((BATCHES >= ROUNDS / 2)) || bemi_fail "only $BATCHES worker batches for $ROUNDS rounds"
echo "ok: while it is open, restart_lsn $restart stays behind it; confirmed $confirmed ($held bytes re-decoded by each batch); $BATCHES batches"

# check_changes N: every key has exactly N changes: one CREATE with v = 0, then one UPDATE per
# round with v = 1 .. N-1 in commit order, each (capture, commit_position, seq) once.
check_changes() {
    local n=$1 bad total
    total=$(q "SELECT count(*) FROM bemi.changes WHERE \"table\" = 't'")
    ((total == KEYS * n)) || bemi_fail "$total changes of t stored, expected $((KEYS * n))"
    bad=$(q "SELECT count(*) FROM (
               SELECT primary_key
                 FROM bemi.changes WHERE \"table\" = 't'
                GROUP BY primary_key
               HAVING count(*) <> $n
                   OR count(DISTINCT (capture, commit_position, seq)) <> $n
                   OR count(*) FILTER (WHERE operation = 'CREATE' AND (after->>'v')::int = 0) <> 1
                   OR array_agg((after->>'v')::int ORDER BY commit_position, seq)
                      <> ARRAY(SELECT generate_series(0, $n - 1))) x")
    ((bad == 0)) || bemi_fail "$bad keys without exactly their $n changes in order"
    [[ $(q "SELECT count(DISTINCT primary_key) FROM bemi.changes WHERE \"table\" = 't'") == "$KEYS" ]] ||
        bemi_fail "not every key of t has changes"
    [[ $(q "SELECT count(*) FROM bemi.changes GROUP BY capture, commit_position, seq HAVING count(*) > 1") == "" ]] ||
        bemi_fail "duplicate records in bemi.changes"
}
check_status() {
    local st
    st=$(q "SELECT coalesce(last_error, '-') || ' | ' || coalesce(stalled_at::text, '-') || ' | ' || gaps FROM bemi.status")
    [[ $st == "- | - | 0" ]] || bemi_fail "bemi.status shows a problem (last_error | stalled_at | gaps): $st"
}
check_changes "$ROUNDS"
check_status
echo "ok: $((KEYS * ROUNDS)) changes in $((ROUNDS * KEYS / PER_TXN)) transactions stored exactly once, in order; no error in bemi.status"

# The transaction commits: the restart point moves past it, and capture goes on.
bemi_open_xact_commit || bemi_fail "the long transaction did not commit cleanly: $(cat "$BEMI_TEST_TMPDIR/open_xact.out")"
moved=0
for ((i = 0; i < 30; i++)); do
    q "INSERT INTO poke VALUES ($i)" >/dev/null # a change for the next batch (not in t)
    [[ $(q "SELECT bemi.sync()") == t ]] || bemi_fail "sync after the commit"
    read -r restart confirmed <<<"$(slot_pos)"
    if ! lsn_lt "$restart" "$OPEN_LSN"; then moved=1; break; fi
    sleep 0.5
done
((moved)) || bemi_fail "the restart point stayed at $restart after the long transaction committed"
q "CALL churn($ROUNDS)" >/dev/null
[[ $(q "SELECT bemi.sync()") == t ]] || bemi_fail "sync after the round after the commit"
check_changes $((ROUNDS + 1))
check_status
echo "ok: after the commit the restart point moved on ($restart) and another $KEYS changes were stored exactly once"
