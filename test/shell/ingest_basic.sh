#!/usr/bin/env bash
# The ingestion worker's life cycle against the test server (bemi preloaded):
#   CREATE EXTENSION starts a worker that creates its slot and records the capture start;
#   writes reach bemi.changes exactly once (bemi.sync), rolled-back ones never;
#   bemi.status is sane; the slot keeps moving while the database is idle;
#   a re-delivered batch is a no-op (the origin's progress, then ON CONFLICT);
#   a second database gets its own worker and slot; pg_terminate_backend restarts the worker;
#   DROP EXTENSION drops slot and origin; CREATE EXTENSION again captures again;
#   DROP DATABASE works, drops the origin, and the launcher forgets the database; a worker drops
#   origins of databases that do not exist.
#
# Run by test/run_tests.sh with PGHOST/PGPORT/PGUSER set and shared_preload_libraries = 'bemi'.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=../lib/cluster.sh
source "$here/../lib/cluster.sh"

DB_A=bemi_ingest_a
DB_B=bemi_ingest_b
export PGDATABASE=postgres

q() { # q DB SQL: one value (unaligned, tuples only)
    psql -X -q -A -t -v ON_ERROR_STOP=1 -d "$1" -c "$2"
}

# wait_for DB SQL EXPECTED [SECONDS]: until SQL returns EXPECTED.
wait_for() {
    local db=$1 sql=$2 expected=$3 limit=${4:-15} got=
    local deadline=$((SECONDS + limit))
    while ((SECONDS < deadline)); do
        got=$(q "$db" "$sql" 2>/dev/null || true)
        [[ $got == "$expected" ]] && return 0
        sleep 0.1
    done
    echo "waited ${limit}s for [$sql] = [$expected], last got [$got]" >&2
    return 1
}

check() { # check DESCRIPTION GOT EXPECTED
    if [[ $2 != "$3" ]]; then
        bemi_fail "$1: expected [$3], got [$2]"
    fi
    echo "ok: $1"
}

cleanup() {
    local db
    for db in "$DB_A" "$DB_B"; do
        if [[ $(q postgres "SELECT count(*) FROM pg_database WHERE datname = '$db'" 2>/dev/null) == 1 ]]; then
            q "$db" "DROP EXTENSION IF EXISTS bemi" >/dev/null 2>&1 || true
            for _ in $(seq 1 50); do
                psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 && break
                sleep 0.1
            done
        fi
    done
}
trap cleanup EXIT
cleanup

[[ $(q postgres "SHOW shared_preload_libraries") == *bemi* ]] ||
    bemi_fail "the test server must preload bemi (shared_preload_libraries)"
wait_for postgres "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'bemi launcher'" 1 ||
    bemi_fail "the bemi launcher is not running"

# ------------------------------------------------------------------ create: the worker starts
q postgres "CREATE DATABASE $DB_A" >/dev/null
OID_A=$(q postgres "SELECT oid FROM pg_database WHERE datname = '$DB_A'")
SLOT_A=bemi_$OID_A
ORIGIN_A=bemi_ingest_$OID_A

# sync() in the transaction that creates the extension: its worker starts at commit.
out=$(psql -X -q -d "$DB_A" -c "BEGIN" -c "CREATE EXTENSION bemi" -c "SELECT bemi.sync('1s')" 2>&1 || true)
[[ $out == *"worker starts when the transaction commits"* ]] ||
    bemi_fail "sync() inside CREATE EXTENSION's transaction should refuse, got: $out"
echo "ok: sync() refused inside the creating transaction"

q "$DB_A" "CREATE EXTENSION bemi" >/dev/null
check "sync right after CREATE EXTENSION" "$(q "$DB_A" "SELECT bemi.sync()")" t
check "slot created by the worker" \
    "$(q "$DB_A" "SELECT plugin || ' ' || database FROM pg_replication_slots WHERE slot_name = '$SLOT_A'")" "bemi $DB_A"
check "origin created" "$(q "$DB_A" "SELECT count(*) FROM pg_replication_origin WHERE roname = '$ORIGIN_A'")" 1
check "capture start recorded" \
    "$(q "$DB_A" "SELECT count(*) FROM bemi.capture_history WHERE event = 'capture_started' AND slot_name = '$SLOT_A' AND consistent_point IS NOT NULL")" 1
check "status shows the capture start" \
    "$(q "$DB_A" "SELECT s.capture_start = h.consistent_point FROM bemi.status s, bemi.capture_history h")" t
WORKER_A=$(q "$DB_A" "SELECT worker_pid FROM bemi.status")
check "status names the worker" \
    "$(q "$DB_A" "SELECT backend_type || ' ' || datname FROM pg_stat_activity WHERE pid = $WORKER_A")" \
    "bemi ingest worker $DB_A"

# ------------------------------------------------------------------ writes, exactly once
psql -X -q -v ON_ERROR_STOP=1 -d "$DB_A" >/dev/null <<'SQL'
CREATE TABLE public.items (id int PRIMARY KEY, name text, doc json);
ALTER TABLE public.items REPLICA IDENTITY FULL;
INSERT INTO public.items SELECT g, 'item ' || g FROM generate_series(1, 500) g;
UPDATE public.items SET name = name || '!' WHERE id <= 100;
DELETE FROM public.items WHERE id > 450;
BEGIN;
INSERT INTO public.items VALUES (9001, 'rolled back');
ROLLBACK;
BEGIN;
INSERT INTO public.items VALUES (9002, 'kept');
SAVEPOINT s;
INSERT INTO public.items VALUES (9003, 'rolled back to savepoint');
ROLLBACK TO SAVEPOINT s;
COMMIT;
SELECT bemi_set_context('{"user_id": 42, "endpoint": "/items"}');
UPDATE public.items SET name = 'with context' WHERE id = 1;
SELECT bemi_clear_context();
-- jsonb cannot hold \u0000: the record must still be stored
INSERT INTO public.items VALUES (9004, 'nul escape', '{"a": "x\u0000y"}');
CREATE TABLE public.gone (id int);
INSERT INTO public.gone VALUES (1);
TRUNCATE public.gone;
SQL
check "sync after the writes" "$(q "$DB_A" "SELECT bemi.sync()")" t
check "row changes per operation" \
    "$(q "$DB_A" "SELECT string_agg(operation || '=' || n, ' ' ORDER BY operation) FROM (SELECT operation, count(*) n FROM bemi.changes WHERE schema <> 'bemi' GROUP BY 1) x")" \
    "CREATE=503 DELETE=50 TRUNCATE=1 UPDATE=101"
check "each change once" \
    "$(q "$DB_A" "SELECT count(*) = count(DISTINCT (transaction_id, seq)) FROM bemi.changes")" t
check "nothing from rolled-back work" \
    "$(q "$DB_A" "SELECT count(*) FROM bemi.changes WHERE primary_key IN ('9001', '9003')")" 0
check "context stored" \
    "$(q "$DB_A" "SELECT context->>'user_id' FROM bemi.changes WHERE \"table\" = 'items' AND after->>'name' = 'with context'")" 42
# The plugin writes such a json value as a JSON string of its text, flagged in "fallback".
check "json value with \\u0000 kept as text" \
    "$(q "$DB_A" "SELECT (after->>'doc') || ' ' || (fallback->0->>'reason') FROM bemi.changes WHERE primary_key = '9004'")" \
    '{"a": "x\u0000y"} json_not_jsonb'
check "ids follow commit order" \
    "$(q "$DB_A" "SELECT bool_and(ok) FROM (SELECT (commit_position, seq) >= lag((commit_position, seq)) OVER (ORDER BY id) IS NOT FALSE AS ok FROM bemi.changes) x")" t
# The origin's progress is the end of the last stored transaction's commit record: past its start.
check "origin progress past the last commit" \
    "$(q "$DB_A" "SELECT pg_replication_origin_progress('$ORIGIN_A', true) - '0/0'::pg_lsn > (SELECT max(commit_position) FROM bemi.changes)")" t
check "the worker's own inserts are not captured" \
    "$(q "$DB_A" "SELECT count(*) FROM bemi.changes WHERE schema = 'bemi' AND \"table\" = 'changes'")" 0

# Status: caught up, counters.
check "status after sync" \
    "$(q "$DB_A" "SELECT state IN ('idle', 'ingesting') AND lag_seconds IS NOT NULL AND changes_ingested = 655 + (SELECT count(*) FROM bemi.changes WHERE schema = 'bemi') AND gaps = 0 AND last_error IS NULL FROM bemi.status")" t

# ------------------------------------------------------------------ idle: the slot still moves
before=$(q "$DB_A" "SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = '$SLOT_A'")
q postgres "CREATE TABLE IF NOT EXISTS public.elsewhere (x int); INSERT INTO public.elsewhere VALUES (1); DROP TABLE public.elsewhere" >/dev/null
target=$(q postgres "SELECT pg_current_wal_flush_lsn()")
wait_for "$DB_A" "SELECT confirmed_flush_lsn >= '$target' FROM pg_replication_slots WHERE slot_name = '$SLOT_A'" t 10 ||
    bemi_fail "the idle slot did not move past WAL written by another database ($before -> $target)"
echo "ok: idle slot follows WAL written elsewhere"
check "lag is zero when idle" "$(q "$DB_A" "SELECT bemi.sync() AND (SELECT lag_bytes < 100000 FROM bemi.status)")" t

# ------------------------------------------------------------------ re-delivery is a no-op
# What the worker does after a crash between storing and acknowledging, on a copy of its slot
# taken before a write: with an origin covering the write, nothing is stored again; with an
# origin that does not, ON CONFLICT leaves the stored rows alone. (The copy re-delivers for
# the original slot's capture, which the worker would pass.)
q "$DB_A" "SELECT pg_copy_logical_replication_slot('$SLOT_A', 'bemi_redelivery_copy')" >/dev/null
q "$DB_A" "INSERT INTO public.items VALUES (9100, 'redelivered')" >/dev/null
check "sync" "$(q "$DB_A" "SELECT bemi.sync()")" t
progress=$(q "$DB_A" "SELECT pg_replication_origin_progress('$ORIGIN_A', true)")
out=$(psql -X -q -A -t -v ON_ERROR_STOP=1 -d "$DB_A" <<SQL
SELECT pg_replication_origin_create('bemi_ingest_redelivery_test');
SELECT pg_replication_origin_advance('bemi_ingest_redelivery_test', '$progress');
SELECT pg_replication_origin_session_setup('bemi_ingest_redelivery_test');
BEGIN;
SELECT 'stored=' || i.inserted
  FROM bemi._ingest('bemi_redelivery_copy', 'bemi_ingest_redelivery_test', pg_current_wal_flush_lsn(),
                    bemi._current_capture('$SLOT_A')) i;
COMMIT;
SELECT pg_replication_origin_session_reset();
SELECT pg_replication_origin_advance('bemi_ingest_redelivery_test', '0/1');
SELECT pg_replication_origin_session_setup('bemi_ingest_redelivery_test');
BEGIN;
SELECT 'stored=' || i.inserted
  FROM bemi._ingest('bemi_redelivery_copy', 'bemi_ingest_redelivery_test', pg_current_wal_flush_lsn(),
                    bemi._current_capture('$SLOT_A')) i;
COMMIT;
SELECT pg_replication_origin_session_reset();
SELECT pg_replication_origin_drop('bemi_ingest_redelivery_test');
SELECT pg_drop_replication_slot('bemi_redelivery_copy');
SQL
)
check "re-delivered batch stores nothing (origin progress, then ON CONFLICT)" "$(grep -E "^stored=" <<<"$out" | tr "\n" " ")" "stored=0 stored=0 "
check "the row is there once" "$(q "$DB_A" "SELECT count(*) FROM bemi.changes WHERE primary_key = '9100'")" 1

# ------------------------------------------------------------------ a second database
q postgres "CREATE DATABASE $DB_B" >/dev/null
OID_B=$(q postgres "SELECT oid FROM pg_database WHERE datname = '$DB_B'")
q "$DB_B" "CREATE EXTENSION bemi; CREATE TABLE public.b_only (id int PRIMARY KEY)" >/dev/null
# Capture starts at the slot the worker creates after the commit: sync() waits for it.
check "sync after CREATE EXTENSION in B" "$(q "$DB_B" "SELECT bemi.sync() AND (SELECT capture_start IS NOT NULL FROM bemi.status)")" t
q "$DB_B" "INSERT INTO public.b_only SELECT generate_series(1, 7)" >/dev/null
check "sync in B" "$(q "$DB_B" "SELECT bemi.sync()")" t
check "B has its own slot" "$(q "$DB_B" "SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'bemi_$OID_B'")" 1
WORKER_B=$(q "$DB_B" "SELECT worker_pid FROM bemi.status")
[[ -n $WORKER_B && $WORKER_B != "$WORKER_A" ]] || bemi_fail "B should have its own worker ($WORKER_B vs $WORKER_A)"
echo "ok: B has its own worker"
check "B stores only B's changes" "$(q "$DB_B" "SELECT string_agg(DISTINCT database || '.' || \"table\", ',') FROM bemi.changes")" "$DB_B.b_only"
check "A stores none of B's" "$(q "$DB_A" "SELECT count(*) FROM bemi.changes WHERE \"table\" = 'b_only'")" 0

# ------------------------------------------------------------------ pg_terminate_backend: restarted
q postgres "SELECT pg_terminate_backend($WORKER_B)" >/dev/null
q "$DB_B" "INSERT INTO public.b_only VALUES (100)" >/dev/null
wait_for "$DB_B" "SELECT worker_pid IS NOT NULL AND worker_pid <> $WORKER_B FROM bemi.status" t 20 ||
    bemi_fail "the terminated worker of $DB_B was not restarted"
check "sync after the restart" "$(q "$DB_B" "SELECT bemi.sync()")" t
check "the write made while the worker was down is stored once" \
    "$(q "$DB_B" "SELECT count(*) FROM bemi.changes WHERE primary_key = '100'")" 1

# ------------------------------------------------------------------ DROP EXTENSION
q "$DB_A" "DROP EXTENSION bemi" >/dev/null
wait_for postgres "SELECT count(*) FROM pg_replication_slots WHERE slot_name = '$SLOT_A'" 0 5 ||
    bemi_fail "slot $SLOT_A still exists after DROP EXTENSION"
wait_for postgres "SELECT count(*) FROM pg_replication_origin WHERE roname = '$ORIGIN_A'" 0 5 ||
    bemi_fail "origin $ORIGIN_A still exists after DROP EXTENSION"
wait_for postgres "SELECT count(*) FROM pg_stat_activity WHERE datname = '$DB_A' AND backend_type = 'bemi ingest worker'" 0 5 ||
    bemi_fail "the worker of $DB_A did not exit after DROP EXTENSION"
echo "ok: DROP EXTENSION stops the worker and drops slot and origin"
check "B is unaffected" "$(q "$DB_B" "SELECT worker_pid IS NOT NULL AND state IN ('idle', 'ingesting') FROM bemi.status")" t

# Re-create: capture starts again, from a new consistent point.
q "$DB_A" "CREATE EXTENSION bemi" >/dev/null
check "sync after re-create" "$(q "$DB_A" "SELECT bemi.sync()")" t
q "$DB_A" "INSERT INTO public.items VALUES (9200, 'after re-create')" >/dev/null
check "sync after the write" "$(q "$DB_A" "SELECT bemi.sync()")" t
check "re-created extension captures" "$(q "$DB_A" "SELECT string_agg(primary_key, ',') FROM bemi.changes")" 9200
check "new capture start" "$(q "$DB_A" "SELECT count(*) FROM bemi.capture_history WHERE event = 'capture_started'")" 1

# ------------------------------------------------------------------ DROP DATABASE
# A plain DROP DATABASE works: bemi stops the worker for it (src/pg/ingest/database_commands.cpp); the
# slot goes with the database and the origin with the drop; the launcher must then forget the
# database, not restart a worker against it forever.
log_offset=$(stat -c %s "${BEMI_TEST_SERVER_LOG:-/dev/null}" 2>/dev/null || echo 0)
q postgres "DROP DATABASE $DB_A" >/dev/null
echo "ok: DROP DATABASE of a captured database"
check "its origin is dropped with it" \
    "$(q postgres "SELECT count(*) FROM pg_replication_origin WHERE roname = '$ORIGIN_A'")" 0
sleep 8 # longer than the launcher's restart delay
check "no worker for the dropped database" \
    "$(q postgres "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'bemi ingest worker' AND datid = $OID_A")" 0
check "its slot is gone" "$(q postgres "SELECT count(*) FROM pg_replication_slots WHERE slot_name = '$SLOT_A'")" 0
if [[ -n ${BEMI_TEST_SERVER_LOG:-} && -r $BEMI_TEST_SERVER_LOG ]]; then
    restarts=$(tail -c "+$((log_offset + 1))" "$BEMI_TEST_SERVER_LOG" | grep -c "database $OID_A does not exist" || true)
    check "the launcher started no worker for the dropped database" "$restarts" 0
fi
# An origin of a database that no longer exists (a drop while bemi was not preloaded, say) is
# dropped by a worker's periodic clean-up (within a minute) or at a worker's start: B's worker
# is restarted here to see it happen to one made up.
ORPHAN=bemi_ingest_4294967000
q postgres "SELECT pg_replication_origin_create('$ORPHAN')" >/dev/null
q postgres "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE backend_type = 'bemi ingest worker' AND datname = '$DB_B'" >/dev/null
wait_for postgres "SELECT count(*) FROM pg_replication_origin WHERE roname = '$ORPHAN'" 0 20 ||
    bemi_fail "origin $ORPHAN of a database that does not exist was not cleaned up"
echo "ok: the origin of a database that does not exist is cleaned up"

q "$DB_B" "DROP EXTENSION bemi" >/dev/null
wait_for postgres "SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'bemi_$OID_B'" 0 5 ||
    bemi_fail "slot bemi_$OID_B left behind"
echo "PASS"
