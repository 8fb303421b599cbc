#!/usr/bin/env bash
# A lost slot is a recorded gap, never a silent one. On a cluster of its own with
# max_slot_wal_keep_size = 1MB: the worker is held up (bemi.changes locked), WAL moves on,
# a checkpoint invalidates the slot; once the lock goes, the worker must record
# capture_stopped and gap rows covering the change it could not read, start again with a new
# slot, and capture what follows.
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=../lib/cluster.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/cluster.sh"

holder=
test_cleanup() { [[ -z $holder ]] || kill "$holder" 2>/dev/null; }
bemi_own_test_cluster gap "max_slot_wal_keep_size = 1MB"

q() { psql -X -q -A -t -v ON_ERROR_STOP=1 -c "$1"; }

q "CREATE EXTENSION bemi" >/dev/null
[[ $(q "SELECT bemi.sync()") == t ]] || bemi_fail "sync"
SLOT=$(q "SELECT slot FROM bemi.status")
q "CREATE TABLE public.g (id int PRIMARY KEY)" >/dev/null
q "INSERT INTO public.g VALUES (1)" >/dev/null
[[ $(q "SELECT bemi.sync()") == t ]] || bemi_fail "sync"

# Hold the worker up: it cannot insert into a locked bemi.changes (its lock_timeout is 10 s).
psql -X -q -c "BEGIN" -c "LOCK TABLE bemi.changes IN ACCESS EXCLUSIVE MODE" -c "SELECT pg_sleep(6)" -c "COMMIT" >/dev/null &
holder=$!
sleep 0.5
before=$(q "SELECT pg_current_wal_insert_lsn()")
q "INSERT INTO public.g VALUES (2)" >/dev/null   # will be lost with the slot
after=$(q "SELECT pg_current_wal_insert_lsn()")
for _ in 1 2 3; do
    q "SELECT pg_switch_wal()" >/dev/null
    q "CREATE TABLE public.filler AS SELECT g FROM generate_series(1, 1000) g; DROP TABLE public.filler" >/dev/null
done
q "CHECKPOINT" >/dev/null
[[ $(q "SELECT wal_status FROM pg_replication_slots WHERE slot_name = '$SLOT'") == lost ]] ||
    bemi_fail "the slot was not invalidated: $(q "SELECT wal_status, restart_lsn FROM pg_replication_slots")"
echo "ok: slot $SLOT invalidated while the worker was held up"
wait "$holder"
holder=

# The worker records the gap and starts over.
for _ in $(seq 1 300); do
    [[ $(q "SELECT gaps FROM bemi.status") == 1 ]] && break
    sleep 0.1
done
q "SELECT event, gap_from, gap_to, consistent_point, detail FROM bemi.capture_history ORDER BY id"
[[ $(q "SELECT gaps FROM bemi.status") == 1 ]] || bemi_fail "no gap recorded"
[[ $(q "SELECT count(*) FROM bemi.capture_history WHERE event = 'capture_stopped'") == 1 ]] ||
    bemi_fail "no capture_stopped event"
[[ $(q "SELECT gap_from <= '$before' AND gap_to >= '$after' FROM bemi.capture_history WHERE event = 'gap'") == t ]] ||
    bemi_fail "the recorded gap does not cover the lost change ($before .. $after)"
echo "ok: the gap covers the lost change"

q "INSERT INTO public.g VALUES (3)" >/dev/null
[[ $(q "SELECT bemi.sync()") == t ]] || bemi_fail "sync after the gap"
got=$(q "SELECT string_agg(primary_key, ',' ORDER BY id) FROM bemi.changes WHERE \"table\" = 'g'")
[[ $got == 1,3 ]] || bemi_fail "expected changes 1,3 around the gap, got $got"
[[ $(q "SELECT capture_start = (SELECT consistent_point FROM bemi.capture_history WHERE event = 'gap') FROM bemi.status") == t ]] ||
    bemi_fail "status should show the new capture start"
grep -q "was invalidated: changes after" "$BEMI_TEST_SERVER_LOG" || bemi_fail "no WARNING about the gap in the log"
echo "ok: capture resumed with a new slot; the gap is in bemi.capture_history, bemi.status and the log"
echo "PASS"
