#!/usr/bin/env bash
# DROP DATABASE and CREATE DATABASE ... TEMPLATE of a captured database (docs/ingestion.md,
# "Dropping and copying a captured database"), against the test server (bemi preloaded):
#   1. a clone made while the worker still has changes to store: x's trail holds every change
#      made before and after the clone exactly once; y's copied trail is x's as of the copy,
#      complete; y gets a capture of its own (slot, origin, a gap row naming x) that stores
#      y's new changes once and none of x's; a second clone right after it (--parallel 2) too;
#   2. roles PostgreSQL does not let drop or copy x get PostgreSQL's errors, and x's worker is
#      not even paused;
#   3. a drop that fails (another session is connected) shows the pause while it waits, then
#      capture resumes from its slot with nothing lost;
#   4. the owner renames both clones in one transaction block and they capture on; then drops
#      them, then the original: no slot, origin, worker or shared-memory entry is left;
#   5. DROP DATABASE ... WITH (FORCE) by the owner, with one of its sessions connected.
#
# Run by test/run_tests.sh with PGHOST/PGPORT/PGUSER set and shared_preload_libraries = 'bemi'.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=../lib/cluster.sh
source "$here/../lib/cluster.sh"

X=bemi_dbl_x
Y=bemi_dbl_y
Y2=bemi_dbl_y2
Z=bemi_dbl_z
HOME_DB=bemi_dbl_home # stays captured: bemi._worker_entries() is read from here
OWNER=bemi_dbl_owner
OTHER=bemi_dbl_other
export PGDATABASE=postgres

q() { # q DB SQL: one value (unaligned, tuples only), as PGUSER
    psql -X -q -A -t -v ON_ERROR_STOP=1 -d "$1" -c "$2"
}
as() { # as ROLE DB SQL
    local role=$1
    shift
    PGUSER=$role q "$@"
}

check() { # check DESCRIPTION GOT EXPECTED
    if [[ $2 != "$3" ]]; then
        bemi_fail "$1: expected [$3], got [$2]"
    fi
    echo "ok: $1"
}

holder=
dropper=
cleanup() {
    [[ -n $holder ]] && kill "$holder" 2>/dev/null
    [[ -n $dropper ]] && kill "$dropper" 2>/dev/null
    [[ -n ${drop_out:-} ]] && rm -f "$drop_out"
    wait 2>/dev/null || true
    local db
    for db in "$X" "$Y" "$Y2" "${Y}_r" "${Y2}_r" "$Z" "$HOME_DB"; do
        psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
    done
    psql -X -q -d postgres -c "DROP ROLE IF EXISTS $OWNER" -c "DROP ROLE IF EXISTS $OTHER" >/dev/null 2>&1 || true
}
trap cleanup EXIT
cleanup
bemi_require_preload "the ingestion worker"

# A session connected to DB as ROLE for as long as the test needs it (pid in $holder).
hold_connection() {
    local role=$1 db=$2
    PGUSER=$role psql -X -q -d "$db" -c "SELECT pg_sleep(120)" >/dev/null 2>&1 &
    holder=$!
    for _ in $(seq 1 100); do
        [[ $(q postgres "SELECT count(*) FROM pg_stat_activity WHERE datname = '$db' AND usename = '$role'") == 1 ]] &&
            return 0
        sleep 0.05
    done
    bemi_fail "the session holding $db did not connect"
}
release_connection() { # release_connection DB: ends the session (pg_sleep does not notice its client leave)
    q postgres "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '$1' AND query = 'SELECT pg_sleep(120)'" >/dev/null
    wait "$holder" 2>/dev/null || true
    holder=
    for _ in $(seq 1 100); do
        [[ $(q postgres "SELECT count(*) FROM pg_stat_activity WHERE datname = '$1' AND backend_type = 'client backend'") == 0 ]] &&
            return 0
        sleep 0.05
    done
    bemi_fail "the session holding $1 did not end"
}

worker_pid() { # worker_pid DB: pid of its ingestion worker, empty if none
    q postgres "SELECT pid FROM pg_stat_activity WHERE backend_type = 'bemi ingest worker' AND datname = '$1'"
}

# gone OID: nothing of that (dropped) database is left in the cluster or in bemi's memory.
gone() {
    local oid=$1 what=$2
    check "$what: no slot" "$(q postgres "SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'bemi_$oid'")" 0
    check "$what: no origin" \
        "$(q postgres "SELECT count(*) FROM pg_replication_origin WHERE roname = 'bemi_ingest_$oid'")" 0
    check "$what: no worker" "$(q postgres "SELECT count(*) FROM pg_stat_activity WHERE datid = $oid")" 0
    check "$what: no shared-memory entry" \
        "$(q "$HOME_DB" "SELECT count(*) FROM bemi._worker_entries() WHERE database_oid = $oid")" 0
}

q postgres "CREATE ROLE $OWNER LOGIN CREATEDB" >/dev/null
q postgres "CREATE ROLE $OTHER LOGIN CREATEDB" >/dev/null
bemi_new_capture_db "$HOME_DB"
q postgres "CREATE DATABASE $X OWNER $OWNER" >/dev/null
q "$X" "CREATE EXTENSION bemi" >/dev/null
q "$X" "CREATE TABLE public.t (id int PRIMARY KEY, v text); ALTER TABLE public.t OWNER TO $OWNER" >/dev/null
check "x captures" "$(q "$X" "SELECT bemi.sync()")" t
OID_X=$(q postgres "SELECT oid FROM pg_database WHERE datname = '$X'")

# ------------------------------------------------------------------ 1. clone with writes in flight
# Many small transactions, then one large one: the worker is still storing when the clone
# starts (checked below), so the copy's completeness depends on the worker catching up first.
as "$OWNER" "$X" "DO \$\$ BEGIN FOR i IN 1..2000 LOOP INSERT INTO public.t VALUES (i, 'x'); COMMIT; END LOOP; END \$\$" >/dev/null
as "$OWNER" "$X" "INSERT INTO public.t SELECT i, repeat('x', 100) FROM generate_series(2001, 100000) i" >/dev/null
written=$(q postgres "SELECT pg_current_wal_lsn()")
check "the worker has changes to store when the clone starts" \
    "$(q postgres "SELECT confirmed_flush_lsn < '$written' FROM pg_replication_slots WHERE slot_name = 'bemi_$OID_X'")" t
as "$OWNER" postgres "CREATE DATABASE $Y TEMPLATE $X" >/dev/null
CLONED_AT=$(q postgres "SELECT pg_current_wal_insert_lsn()")
OID_Y=$(q postgres "SELECT oid FROM pg_database WHERE datname = '$Y'")
# A second clone at once, as Django's --parallel 2 makes them: x's worker, just resumed, is
# paused again while it may still be starting.
as "$OWNER" postgres "CREATE DATABASE $Y2 TEMPLATE $X" >/dev/null
OID_Y2=$(q postgres "SELECT oid FROM pg_database WHERE datname = '$Y2'")
check "the second clone captures" "$(q "$Y2" "SELECT bemi.sync()")" t
check "the second clone's capture starts with a gap naming x" \
    "$(q "$Y2" "SELECT event, detail LIKE '%copy of database \"$X\"%' FROM bemi._own_capture_history")" "gap|t"
check "the clone holds every row" "$(q "$Y" "SELECT count(*) FROM public.t")" 100000
check "the clone's copied trail holds every row's change" \
    "$(q "$Y" "SELECT count(*) FROM public.t WHERE NOT EXISTS (SELECT FROM bemi.changes c
               WHERE c.schema = 'public' AND c.\"table\" = 't' AND c.operation = 'CREATE' AND c.primary_key = t.id::text)")" 0

# x resumes from its slot: changes after the clone are stored, those before are not stored twice.
as "$OWNER" "$X" "UPDATE public.t SET v = 'after' WHERE id <= 10" >/dev/null
as "$OWNER" "$X" "INSERT INTO public.t VALUES (200001, 'x after the clone')" >/dev/null
check "x syncs after the clone" "$(q "$X" "SELECT bemi.sync()")" t
check "x: each insert stored once" \
    "$(q "$X" "SELECT count(*) || '/' || count(DISTINCT primary_key) FROM bemi.changes WHERE \"table\" = 't' AND operation = 'CREATE'")" \
    "100001/100001"
check "x: each update stored once" \
    "$(q "$X" "SELECT count(*) FROM bemi.changes WHERE \"table\" = 't' AND operation = 'UPDATE'")" 10
check "x: still its first capture, no gap" \
    "$(q "$X" "SELECT string_agg(event, ',') FROM bemi.capture_history")" capture_started

# y: its own capture, recorded as starting after a copy of x's trail.
check "y captures" "$(q "$Y" "SELECT bemi.sync()")" t
trail_digest="SELECT md5(string_agg(concat_ws('|', capture, commit_position, seq, \"table\", operation, primary_key,
                                              before::text, after::text, context::text, committed_at),
                                    ',' ORDER BY capture, commit_position, seq)) FROM bemi.changes"
check "y's copied trail is x's as of the copy" \
    "$(q "$Y" "$trail_digest WHERE capture <> bemi._current_capture('bemi_$OID_Y')")" \
    "$(q "$X" "$trail_digest WHERE commit_position < ('$CLONED_AT'::pg_lsn - '0/0')::int8")"
check "y's capture starts with a gap after the copied trail" \
    "$(q "$Y" "SELECT event, detail LIKE '%copy of database \"$X\"%', gap_from IS NOT NULL AND gap_from <= gap_to
               FROM bemi._own_capture_history")" "gap|t|t"
as "$OWNER" "$Y" "INSERT INTO public.t VALUES (300001, 'y')" >/dev/null
as "$OWNER" "$Y" "UPDATE public.t SET v = 'y' WHERE id = 1" >/dev/null
check "y syncs" "$(q "$Y" "SELECT bemi.sync()")" t
check "y: its new changes stored once, under its own capture" \
    "$(q "$Y" "SELECT string_agg(operation || ':' || primary_key, ',' ORDER BY commit_position, seq) FROM bemi.changes
               WHERE capture = bemi._current_capture('bemi_$OID_Y') AND \"table\" = 't'")" "CREATE:300001,UPDATE:1"
check "y: none of x's changes after the clone" \
    "$(q "$Y" "SELECT count(*) FROM bemi.changes WHERE primary_key = '200001' OR after->>'v' = 'after'")" 0
check "x: none of y's changes" "$(q "$X" "SELECT count(*) FROM bemi.changes WHERE primary_key = '300001'")" 0
check "x and y have a slot and an origin each" \
    "$(q postgres "SELECT (SELECT count(*) FROM pg_replication_slots WHERE slot_name IN ('bemi_$OID_X', 'bemi_$OID_Y')) || '/' ||
                          (SELECT count(*) FROM pg_replication_origin WHERE roname IN ('bemi_ingest_$OID_X', 'bemi_ingest_$OID_Y'))")" \
    "2/2"

# ------------------------------------------------------------------ 2. roles without the right
pid_before=$(worker_pid "$X")
[[ -n $pid_before ]] || bemi_fail "x has no worker"
out=$(as "$OTHER" postgres "DROP DATABASE $X" 2>&1 || true)
[[ $out == *"must be owner of database $X"* ]] || bemi_fail "a non-owner's DROP DATABASE: $out"
echo "ok: a non-owner gets PostgreSQL's error: $out"
out=$(as "$OTHER" postgres "CREATE DATABASE $Z TEMPLATE $X" 2>&1 || true)
[[ $out == *"permission denied to copy database"* ]] || bemi_fail "a non-owner's copy: $out"
echo "ok: a non-owner's copy gets PostgreSQL's error: $out"
check "x's worker was not stopped for them" "$(worker_pid "$X")" "$pid_before"
check "x's worker is capturing" "$(q "$X" "SELECT state IN ('idle', 'ingesting') FROM bemi.status")" t

# ------------------------------------------------------------------ 3. a drop that fails
hold_connection "$OWNER" "$X"
# Committed while the other session is connected: stored before or after the pause, once.
as "$OWNER" "$X" "DO \$\$ BEGIN FOR i IN 400001..400500 LOOP INSERT INTO public.t VALUES (i, 'x'); COMMIT; END LOOP; END \$\$" >/dev/null
drop_out=$(mktemp "${BEMI_TEST_TMPDIR:-/tmp}/database_lifecycle.XXXXXX")
(PGUSER=$OWNER psql -X -q -d postgres -c "DROP DATABASE $X" >"$drop_out" 2>&1 || true) &
dropper=$!
paused=
for _ in $(seq 1 100); do
    paused=$(q "$HOME_DB" "SELECT state || '|' || pauses || '|' || (worker_pid IS NULL) FROM bemi._worker_entries() WHERE database_oid = $OID_X")
    [[ $paused == "paused: database being dropped, copied or renamed|1|true" ]] && break
    sleep 0.05
done
check "the drop's pause is visible while PostgreSQL waits for the other session" "$paused" \
    "paused: database being dropped, copied or renamed|1|true"
wait "$dropper" || true
dropper=
[[ $(cat "$drop_out") == *"is being accessed by other users"* ]] ||
    bemi_fail "the drop with a session connected: $(cat "$drop_out")"
echo "ok: the drop failed with PostgreSQL's error: $(head -n 1 "$drop_out")"
release_connection "$X"
as "$OWNER" "$X" "INSERT INTO public.t VALUES (400501, 'x after the failed drop')" >/dev/null
check "x syncs after the failed drop" "$(q "$X" "SELECT bemi.sync()")" t
check "x: nothing lost or doubled around the failed drop" \
    "$(q "$X" "SELECT count(*) || '/' || count(DISTINCT primary_key) FROM bemi.changes
               WHERE \"table\" = 't' AND operation = 'CREATE' AND primary_key::int BETWEEN 400001 AND 400501")" "501/501"
check "x: still one capture, no gap" "$(q "$X" "SELECT string_agg(event, ',') FROM bemi.capture_history")" capture_started
check "x's shared entry is no longer paused" \
    "$(q "$HOME_DB" "SELECT pauses FROM bemi._worker_entries() WHERE database_oid = $OID_X")" 0

# ------------------------------------------------------------------ renames in one transaction block
as "$OWNER" postgres "BEGIN; ALTER DATABASE $Y RENAME TO ${Y}_r; ALTER DATABASE $Y2 RENAME TO ${Y2}_r; COMMIT" >/dev/null
Y=${Y}_r
Y2=${Y2}_r
as "$OWNER" "$Y" "INSERT INTO public.t VALUES (500001, 'y renamed')" >/dev/null
as "$OWNER" "$Y2" "INSERT INTO public.t VALUES (500002, 'y2 renamed')" >/dev/null
check "the renamed clones capture on" \
    "$(q "$Y" "SELECT bemi.sync()")$(q "$Y2" "SELECT bemi.sync()")" tt
check "each renamed clone stored its change once, with no new gap" \
    "$(q "$Y" "SELECT count(*) FROM bemi.changes WHERE primary_key = '500001'")/$(q "$Y" "SELECT count(*) FROM bemi._own_capture_history")/$(q "$Y2" "SELECT count(*) FROM bemi.changes WHERE primary_key = '500002'")/$(q "$Y2" "SELECT count(*) FROM bemi._own_capture_history")" \
    "1/1/1/1"

# ------------------------------------------------------------------ 4. the owner drops both
as "$OWNER" postgres "DROP DATABASE $Y" >/dev/null
gone "$OID_Y" "the dropped clone"
as "$OWNER" postgres "DROP DATABASE $Y2" >/dev/null
gone "$OID_Y2" "the dropped second clone"
as "$OWNER" postgres "DROP DATABASE $X" >/dev/null
gone "$OID_X" "the dropped original"
sleep 2 # the launcher must not start anything for them meanwhile
check "no worker for either after a while" \
    "$(q postgres "SELECT count(*) FROM pg_stat_activity WHERE datid IN ($OID_X, $OID_Y, $OID_Y2)")" 0
check "the other database keeps capturing" "$(q "$HOME_DB" "SELECT bemi.sync()")" t

# ------------------------------------------------------------------ 5. WITH (FORCE)
q postgres "CREATE DATABASE $Z OWNER $OWNER" >/dev/null
q "$Z" "CREATE EXTENSION bemi" >/dev/null
check "z captures" "$(q "$Z" "SELECT bemi.sync()")" t
OID_Z=$(q postgres "SELECT oid FROM pg_database WHERE datname = '$Z'")
hold_connection "$OWNER" "$Z"
as "$OWNER" postgres "DROP DATABASE $Z WITH (FORCE)" >/dev/null
wait "$holder" 2>/dev/null || true
holder=
gone "$OID_Z" "the force-dropped database"
