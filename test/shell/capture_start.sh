#!/usr/bin/env bash
# Capture that cannot start says so, and the time without capture is a recorded gap. On a
# cluster of its own (it restarts the server with other limits):
#   1. max_worker_processes exhausted: CREATE EXTENSION succeeds with a WARNING naming the
#      setting, bemi.status says why nothing is captured; once the server has room, capture
#      starts and capture_history's capture_started row covers the write made meanwhile
#      (gap_from .. gap_to), which is not in bemi.changes.
#   2. replication-origin states exhausted: bemi.status and bemi.sync() carry the hint
#      (max_replication_slots).
#   3. bemi.sync() in a transaction that holds a transaction id while the slot is being
#      created: an ERROR with a HINT at once, not a wait for the whole timeout; without a
#      transaction id, and once capture runs, it works inside a transaction.
#   4. ALTER DATABASE ... RENAME while the worker is connected: it works, and capture resumes
#      on the same slot with no gap.
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=../lib/cluster.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/cluster.sh"

blocker=
test_cleanup() { [[ -z $blocker ]] || kill "$blocker" 2>/dev/null; }
# bemi's launcher and the logical replication launcher fill both worker slots.
bemi_own_test_cluster start "max_worker_processes = 2"

q() { local db=$1; shift; psql -X -q -A -t -v ON_ERROR_STOP=1 -d "$db" "$@"; }

# ---- 1. no background worker slot
q postgres -c "CREATE DATABASE app" >/dev/null
warning=$(q app -c "CREATE EXTENSION bemi" 2>&1 >/dev/null)
echo "$warning"
[[ $warning == *WARNING*max_worker_processes* ]] ||
    bemi_fail "CREATE EXTENSION gave no WARNING naming max_worker_processes: $warning"
state=
for _ in $(seq 1 50); do
    state=$(q app -c "SELECT state FROM bemi.status")
    [[ $state == "waiting for a worker slot" ]] && break
    sleep 0.2
done
[[ $state == "waiting for a worker slot" ]] || bemi_fail "bemi.status state: $state"
[[ $(q app -c "SELECT last_error FROM bemi.status") == *max_worker_processes* ]] ||
    bemi_fail "bemi.status.last_error does not name max_worker_processes"
q app -c "CREATE TABLE public.t (id int PRIMARY KEY)" >/dev/null
lost_from=$(q app -c "SELECT pg_current_wal_insert_lsn()")
q app -c "INSERT INTO public.t VALUES (1)" >/dev/null   # committed while nothing captures
lost_to=$(q app -c "SELECT pg_current_wal_insert_lsn()")
echo "ok: no worker slot: WARNING at CREATE EXTENSION, bemi.status says so"

bemi_as_pg tee -a "$BEMI_TEST_DATADIR/postgresql.conf" >/dev/null <<'CONF'
max_worker_processes = 8
max_replication_slots = 3
CONF
bemi_as_pg "$(bemi_pg_bindir)/pg_ctl" -D "$BEMI_TEST_DATADIR" -m fast -w -t 60 restart \
    -o "-c port=$PGPORT -c listen_addresses=127.0.0.1" -l "$BEMI_TEST_SERVER_LOG" >/dev/null ||
    bemi_fail "restart"
[[ $(q app -c "SELECT bemi.sync()") == t ]] || bemi_fail "sync once the worker could start"
q app -c "INSERT INTO public.t VALUES (2)" >/dev/null
[[ $(q app -c "SELECT bemi.sync()") == t ]] || bemi_fail "sync"
q app -c "SELECT event, gap_from, gap_to, consistent_point, detail FROM bemi.capture_history ORDER BY id"
[[ $(q app -c "SELECT string_agg(after->>'id', ',' ORDER BY id) FROM bemi.changes WHERE \"table\" = 't'") == 2 ]] ||
    bemi_fail "bemi.changes should hold only the insert made after capture started"
[[ $(q app -c "SELECT count(*) FROM bemi.capture_history WHERE event = 'capture_started'
       AND gap_from <= '$lost_from' AND gap_to >= '$lost_to' AND consistent_point = gap_to") == 1 ]] ||
    bemi_fail "capture_history does not record the time without capture as a gap"
[[ $(q app -c "SELECT capture_start = (SELECT gap_to FROM bemi.capture_history WHERE event = 'capture_started') FROM bemi.status") == t ]] ||
    bemi_fail "bemi.status.capture_start is not the recorded consistent point"
echo "ok: capture started once there was room; the time without it is recorded in bemi.capture_history"

# ---- 2. replication origin states exhausted (max_replication_slots = 3: app's worker holds one)
q postgres -c "SELECT pg_replication_origin_create('test_origin_' || g), pg_replication_origin_advance('test_origin_' || g, '0/1') FROM generate_series(1, 2) g" >/dev/null
q postgres -c "CREATE DATABASE other" >/dev/null
q other -c "CREATE EXTENSION bemi" >/dev/null
err=
for _ in $(seq 1 50); do
    err=$(q other -c "SELECT coalesce(last_error, '') FROM bemi.status")
    [[ -n $err ]] && break
    sleep 0.2
done
echo "bemi.status.last_error: $err"
[[ $err == *"could not find free replication state"*max_replication_slots* ]] ||
    bemi_fail "bemi.status does not carry the origin error with its hint: $err"
out=$(q other -c "SELECT bemi.sync('5 seconds')" 2>&1) && bemi_fail "bemi.sync() succeeded without an origin: $out"
echo "$out"
[[ $out == *HINT*max_replication_slots* ]] || bemi_fail "bemi.sync()'s error has no hint naming max_replication_slots"
q postgres -c "SELECT pg_replication_origin_drop('test_origin_' || g) FROM generate_series(1, 2) g" >/dev/null
# The worker retries with a backoff (bemi.sync() fails while it has never captured).
synced=
for _ in $(seq 1 60); do
    [[ $(q other -c "SELECT bemi.sync('5 seconds')" 2>/dev/null) == t ]] && { synced=1; break; }
    sleep 1
done
[[ -n $synced ]] || bemi_fail "capture did not start once origins were free"
echo "ok: exhausted replication origins: hint in bemi.status and bemi.sync()"

# ---- 3. bemi.sync() in a transaction while the slot is being created
q postgres -c "CREATE DATABASE third" >/dev/null
q third -c "CREATE TABLE public.busy (id int)" -c "CREATE TABLE public.mine (id int)" >/dev/null
# A transaction holding an xid keeps the slot's creation waiting.
psql -X -q -d third -c "BEGIN" -c "INSERT INTO public.busy VALUES (1)" -c "SELECT pg_sleep(8)" -c "COMMIT" >/dev/null &
blocker=$!
sleep 0.5
q third -c "CREATE EXTENSION bemi" >/dev/null
state=
for _ in $(seq 1 50); do
    state=$(q third -c "SELECT state FROM bemi.status")
    [[ $state == "creating slot" ]] && break
    sleep 0.1
done
[[ $state == "creating slot" ]] || bemi_fail "the worker is not creating its slot: $state"
start=$(date +%s)
out=$(q third -c "BEGIN" -c "INSERT INTO public.mine VALUES (1)" -c "SELECT bemi.sync('20 seconds')" -c "COMMIT" 2>&1) &&
    bemi_fail "bemi.sync() in a transaction that wrote, during slot creation, did not fail: $out"
elapsed=$(( $(date +%s) - start ))
echo "$out"
[[ $out == *ERROR*HINT* ]] || bemi_fail "no ERROR with a HINT: $out"
[[ $elapsed -lt 5 ]] || bemi_fail "bemi.sync() waited ${elapsed}s before failing"
# Without a transaction id it waits, inside a transaction, until capture has started.
[[ $(q third -c "BEGIN" -c "SELECT bemi.sync('30 seconds')" -c "COMMIT") == t ]] ||
    bemi_fail "bemi.sync() in a transaction without a transaction id"
wait "$blocker"
blocker=
# Once capture runs, a transaction that wrote may wait too.
[[ $(q third -c "BEGIN" -c "INSERT INTO public.mine VALUES (2)" -c "SELECT bemi.sync('30 seconds')" -c "COMMIT") == t ]] ||
    bemi_fail "bemi.sync() in a transaction that wrote, after capture started"
echo "ok: bemi.sync() fails at once with a hint on its own transaction, and works inside transactions otherwise"

# ---- 4. ALTER DATABASE ... RENAME while the worker is connected
# bemi pauses the worker for the rename (src/pg/ingest/database_commands.cpp); it resumes on the
# same slot, the database being the same oid.
q postgres -c "ALTER DATABASE app RENAME TO app_renamed" >/dev/null || bemi_fail "rename of a captured database"
q app_renamed -c "INSERT INTO public.t VALUES (3)" >/dev/null
[[ $(q app_renamed -c "SELECT bemi.sync('60 seconds')") == t ]] || bemi_fail "sync after the rename"
[[ $(q app_renamed -c "SELECT string_agg(after->>'id', ',' ORDER BY id) FROM bemi.changes WHERE \"table\" = 't'") == 2,3 ]] ||
    bemi_fail "capture did not resume after the rename"
[[ $(q app_renamed -c "SELECT gaps FROM bemi.status") == 0 ]] || bemi_fail "the rename made a gap"
echo "ok: a captured database can be renamed, and capture goes on with no gap"
