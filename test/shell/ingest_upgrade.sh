#!/usr/bin/env bash
# pg_upgrade (docs/ingestion.md, "Dump, restore and upgrade"): PostgreSQL 15 does not carry
# replication slots over, so after the documented procedure — bemi.sync(), stop, pg_upgrade
# (with bemi left out of shared_preload_libraries while it runs), start — the worker finds
# bemi.changes and its history from another cluster and no slot: capture resumes with a
# recorded gap, bemi.changes and the old history are intact, and new changes are stored once.
# Two clusters of its own (15 -> 15, which pg_upgrade allows).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=../lib/cluster.sh
source "$here/../lib/cluster.sh"

work=${BEMI_TEST_TMPDIR:-$(mktemp -d)}/upgrade
bindir=$(bemi_pg_bindir)
cleanup() {
    local d
    for d in "$work/old/data" "$work/new/data"; do
        bemi_as_pg "$bindir/pg_ctl" -D "$d" -m immediate -w stop >/dev/null 2>&1 || true
    done
    rm -rf "$work"
}
trap cleanup EXIT
cleanup
mkdir -p "$work/old" "$work/new" "$work/run"
[[ $EUID -ne 0 ]] || chown postgres "$work" "$work/old" "$work/new" "$work/run"

# The old cluster, with a captured database.
oport=$(
    unset BEMI_TEST_PORT
    BEMI_SHARED_PRELOAD=bemi bemi_cluster_init "$work/old" >/dev/null || exit 1
    bemi_cluster_start >/dev/null || exit 1
    echo "$PGPORT"
) && [[ -n $oport ]] || bemi_fail "could not start the old cluster"
po() { PGHOST=$work/old psql -X -q -A -t -v ON_ERROR_STOP=1 -p "$oport" "$@"; }
po -c "CREATE DATABASE app" >/dev/null
po -d app >/dev/null <<'SQL'
CREATE EXTENSION bemi;
SELECT bemi.sync();
CREATE TABLE public.t (id int PRIMARY KEY, note text);
INSERT INTO public.t SELECT g, 'old' FROM generate_series(1, 20) g;
UPDATE public.t SET note = 'older' WHERE id < 5;
SQL
[[ $(po -d app -c "SELECT bemi.sync()") == t ]] || bemi_fail "sync in the old cluster"
changes=$(po -d app -c "SELECT count(*) || ' ' || md5(string_agg(c::text, '|' ORDER BY c.id)) FROM bemi.changes c")
history=$(po -d app -c "SELECT count(*) || ' ' || md5(string_agg(h::text, '|' ORDER BY h.id)) FROM bemi.capture_history h")
old_system=$(po -c "SELECT system_identifier FROM pg_control_system()")
bemi_as_pg "$bindir/pg_ctl" -D "$work/old/data" -m fast -w stop >/dev/null

# The new cluster and the upgrade.
BEMI_SHARED_PRELOAD=bemi bemi_cluster_init "$work/new" >/dev/null
up_old=$(_bemi_pick_port) && up_new=$(_bemi_pick_port) || bemi_fail "no free port for pg_upgrade"
[[ $up_old != "$up_new" ]] || up_new=$((up_new + 1))
if ! runuser -u postgres -- bash -c "cd '$work/run' && '$bindir/pg_upgrade' -b '$bindir' -B '$bindir' \
        -d '$work/old/data' -D '$work/new/data' -p $up_old -P $up_new \
        -o \"-c shared_preload_libraries=''\" -O \"-c shared_preload_libraries=''\"" >"$work/run/upgrade.log" 2>&1; then
    cat "$work/run/upgrade.log" >&2
    bemi_fail "pg_upgrade failed"
fi
nport=$(
    unset BEMI_TEST_PORT
    export BEMI_TEST_DATADIR=$work/new/data BEMI_TEST_SOCKDIR=$work/new BEMI_TEST_SERVER_LOG=$work/new/server.log
    export BEMI_TEST_TMPROOT=$work/new
    bemi_cluster_start >/dev/null || exit 1
    echo "$PGPORT"
) && [[ -n $nport ]] || bemi_fail "could not start the upgraded cluster"
pn() { PGHOST=$work/new psql -X -q -A -t -v ON_ERROR_STOP=1 -p "$nport" "$@"; }
[[ $(pn -c "SELECT system_identifier FROM pg_control_system()") != "$old_system" ]] ||
    bemi_fail "the upgraded cluster kept the system identifier"
[[ $(pn -d app -c "SELECT bemi.sync('60 seconds')") == t ]] || bemi_fail "sync after the upgrade"
[[ $(pn -d app -c "SELECT count(*) || ' ' || md5(string_agg(c::text, '|' ORDER BY c.id)) FROM bemi.changes c") == "$changes" ]] ||
    bemi_fail "bemi.changes changed in the upgrade"
[[ $(pn -d app -c "SELECT count(*) || ' ' || md5(string_agg(h::text, '|' ORDER BY h.id)) FROM bemi.capture_history h
                   WHERE system_identifier = $old_system") == "$history" ]] || bemi_fail "the old history changed"
[[ $(pn -d app -c "SELECT string_agg(event, ',' ORDER BY id) FROM bemi._own_capture_history") == gap ]] ||
    bemi_fail "capture did not resume with a recorded gap: $(pn -d app -c "SELECT event, detail FROM bemi.capture_history ORDER BY id")"
[[ $(pn -d app -c "SELECT gaps >= 1 AND capture_start = (SELECT consistent_point FROM bemi._own_capture_history) FROM bemi.status") == t ]] ||
    bemi_fail "bemi.status does not show the gap and the new capture start"
for i in $(seq 1 10); do pn -d app -c "INSERT INTO public.t VALUES (100 + $i, 'new')" >/dev/null; done
[[ $(pn -d app -c "SELECT bemi.sync('60 seconds')") == t ]] || bemi_fail "sync after new inserts"
[[ $(pn -d app -c "SELECT count(*) || ' ' || count(DISTINCT after->>'id') FROM bemi.changes WHERE after->>'note' = 'new'
                     AND capture = (SELECT capture FROM bemi._own_capture_history)") == "10 10" ]] ||
    bemi_fail "new changes after the upgrade not stored exactly once"
[[ $(pn -d app -c "SELECT count(*) FROM bemi.changes") -eq $(( ${changes%% *} + 10 )) ]] || bemi_fail "extra records after the upgrade"
echo "ok: after bemi.sync(), stop, pg_upgrade and start, capture resumed with a recorded gap; bemi.changes ($changes) and the history are intact; 10 new changes -> 10 records"
