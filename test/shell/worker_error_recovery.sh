#!/usr/bin/env bash
# An ERROR in the launcher or an ingestion worker while it holds bemi's shared LWLock outside
# a transaction must release that lock (AbortCurrentTransaction does nothing when no
# transaction is open): otherwise the launcher, every bemi.status / bemi.sync() and DROP
# DATABASE's check (ProcessUtility hook) wait on it for ever, uninterruptibly. The fault is
# injected with the superuser-only, test-only setting bemi.test_fault (off by default),
# restored at exit so the tests after this one see a normal server.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=../lib/cluster.sh
source "$here/../lib/cluster.sh"

db=bemi_error_recovery
other=bemi_error_recovery_other
q() { psql -X -q -A -t -v ON_ERROR_STOP=1 "$@"; }
# Everything that could meet the lock runs under a time limit: an LWLock wait ignores
# statement_timeout and cancellation.
tq() { timeout 20 psql -X -q -A -t -v ON_ERROR_STOP=1 "$@"; }
cleanup() {
    q -d postgres -c "ALTER SYSTEM RESET bemi.test_fault" -c "SELECT pg_reload_conf()" >/dev/null 2>&1 || true
    bemi_drop_capture_db $db none
    psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $other" >/dev/null 2>&1 || true
}
trap cleanup EXIT
bemi_drop_capture_db $db none
q -d postgres -c "CREATE DATABASE $db" >/dev/null
q -d $db -c "CREATE EXTENSION bemi" >/dev/null
[[ $(q -d $db -c "SELECT bemi.sync()") == t ]] || bemi_fail "first sync"

log_count() { grep -c "$1" "$BEMI_TEST_SERVER_LOG" || true; }
wait_for_log() { # PATTERN BEFORE: until the server log has more lines matching PATTERN
    for _ in $(seq 1 100); do
        [[ $(log_count "$1") -gt $2 ]] && return 0
        sleep 0.2
    done
    return 1
}
set_fault() {
    q -d postgres -c "ALTER SYSTEM SET bemi.test_fault = '$1'" -c "SELECT pg_reload_conf()" >/dev/null
}

# 1. The launcher fails while holding the lock, at every pass.
before=$(log_count "bemi launcher: test fault")
set_fault launcher_error_holding_lock
wait_for_log "bemi launcher: test fault" "$before" || bemi_fail "the launcher's fault did not fire"
sleep 0.5
tq -d $db -c "SELECT state FROM bemi.status" >/dev/null ||
    bemi_fail "bemi.status hung (or failed) after the launcher's error: the shared lock was not released"
q -d $db -c "CREATE TABLE public.t (id int PRIMARY KEY)" -c "INSERT INTO public.t VALUES (1)" >/dev/null
[[ $(tq -d $db -c "SELECT bemi.sync('10 seconds')") == t ]] || bemi_fail "bemi.sync() after the launcher's error"
q -d postgres -c "CREATE DATABASE $other" >/dev/null
tq -d postgres -c "DROP DATABASE $other" >/dev/null || bemi_fail "DROP DATABASE hung after the launcher's error"
# The launcher is still alive and goes on failing and recovering.
sleep 1
mid=$(log_count "bemi launcher: test fault")
wait_for_log "bemi launcher: test fault" "$mid" || bemi_fail "the launcher stopped passing after its error"
echo "ok: the launcher released the shared lock after an ERROR outside a transaction"

# 2. The worker fails while holding the lock, at every step.
set_fault none
before=$(log_count "bemi: test fault: error while holding")
set_fault worker_error_holding_lock
q -d $db -c "INSERT INTO public.t VALUES (2)" >/dev/null  # gives the worker something to do
wait_for_log "bemi: test fault: error while holding" "$before" || bemi_fail "the worker's fault did not fire"
sleep 0.5
err=$(tq -d $db -c "SELECT last_error FROM bemi.status") ||
    bemi_fail "bemi.status hung (or failed) after the worker's error: the shared lock was not released"
[[ $err == *"test fault"* ]] || bemi_fail "bemi.status does not show the worker's error: $err"
q -d postgres -c "CREATE DATABASE $other" >/dev/null
tq -d postgres -c "DROP DATABASE $other" >/dev/null || bemi_fail "DROP DATABASE hung after the worker's error"
echo "ok: the worker released the shared lock after an ERROR outside a transaction"

# 3. Without the fault, the same worker catches up: nothing was lost.
set_fault none
[[ $(tq -d $db -c "SELECT bemi.sync('30 seconds')") == t ]] || bemi_fail "sync after the faults"
[[ $(q -d $db -c "SELECT count(*) FROM bemi.changes WHERE \"table\" = 't'") == 2 ]] ||
    bemi_fail "changes lost across the errors: $(q -d $db -c "SELECT count(*) FROM bemi.changes")"
echo "ok: capture resumed after the errors with nothing lost"
