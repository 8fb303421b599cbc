#!/usr/bin/env bash
# The actor as the ingestion worker stores it, and what only a real server connection shows:
#   bemi.changes.actor holds the server's actor (never the client's keys), also for direct SQL
#   with no context and bemi.capture_sql off;
#   bemi.capture_client_addr adds the client's TCP address, only when a superuser turned it on;
#   the signing key is a 0600 file of the data directory that a non-superuser cannot read;
#   in a database without the extension records carry no actor at all.
#
# Run by test/run_tests.sh with PGHOST/PGPORT/PGUSER set and shared_preload_libraries = 'bemi'.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=../lib/cluster.sh
source "$here/../lib/cluster.sh"

DB=bemi_actor_server
export PGDATABASE=postgres

cleanup() {
    bemi_drop_capture_db "$DB" none
    psql -X -q -c "DROP DATABASE IF EXISTS ${DB}_plain" >/dev/null 2>&1 || true
    psql -X -q -c "DROP ROLE IF EXISTS actor_app" >/dev/null 2>&1 || true
}
trap cleanup EXIT

bemi_require_preload "the ingestion worker stores the actor"

q() { # q SQL: one value, in $DB
    psql -X -q -A -t -v ON_ERROR_STOP=1 -d "$DB" -c "$1"
}

cleanup
psql -X -q -c "CREATE DATABASE $DB" >/dev/null
psql -X -q -c "CREATE ROLE actor_app LOGIN" >/dev/null
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" >/dev/null <<'SQL'
CREATE EXTENSION bemi;
CREATE TABLE notes (id int PRIMARY KEY, body text);
GRANT ALL ON notes TO actor_app;
SQL
[[ $(q "SELECT bemi.sync()") == t ]] || bemi_fail "capture did not start"

# 1: Unix socket, application role, client keys in context and comment, capture_sql off.
PGAPPNAME=notes-web psql -X -q -v ON_ERROR_STOP=1 -U actor_app -d "$DB" >/dev/null <<'SQL'
SELECT bemi_set_context('{"session_user": "postgres", "actor": {"session_user": "postgres"}}');
INSERT INTO notes VALUES (1, 'from the app') /*Bemi {"current_user": "postgres"} Bemi*/;
SQL
# 2: direct SQL by a superuser, no context, no "SQL" (capture_sql off for this session).
PGAPPNAME=console PGOPTIONS="-c bemi.capture_sql=off" psql -X -q -v ON_ERROR_STOP=1 -d "$DB" \
    -c "INSERT INTO notes VALUES (2, 'direct')" >/dev/null
# 3: over TCP with capture_client_addr off (the default): no address.
PGAPPNAME=tcp-off psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -U actor_app -d "$DB" \
    -c "INSERT INTO notes VALUES (3, 'tcp, off')" >/dev/null
# 4: over TCP, the superuser turned it on for the application role.
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" -c "ALTER ROLE actor_app IN DATABASE $DB SET bemi.capture_client_addr = on" >/dev/null
PGAPPNAME=tcp-on psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -U actor_app -d "$DB" \
    -c "INSERT INTO notes VALUES (4, 'tcp, on')" >/dev/null
# 5: the application role cannot turn it off for itself (nor on: see sql/actor.sql).
out=$(psql -X -q -h 127.0.0.1 -U actor_app -d "$DB" -c "SET bemi.capture_client_addr = off" 2>&1 || true)
[[ $out == *"permission denied to set parameter"* ]] || bemi_fail "an application role changed bemi.capture_client_addr: $out"
[[ $(q "SELECT bemi.sync()") == t ]] || bemi_fail "bemi.sync() failed"

got=$(q "SELECT string_agg(primary_key || ' ' || coalesce(actor::text, 'NULL') || ' ' || (context - 'SQL')::text, E'\n' ORDER BY primary_key)
         FROM bemi.changes WHERE \"table\" = 'notes'")
expected='1 {"session_user": "actor_app", "application_name": "notes-web"} {"actor": {"session_user": "postgres"}, "current_user": "postgres", "session_user": "postgres"}
2 {"session_user": "postgres", "application_name": "console"} {}
3 {"session_user": "actor_app", "application_name": "tcp-off"} {}
4 {"client_addr": "127.0.0.1", "session_user": "actor_app", "application_name": "tcp-on"} {}'
echo "$got"
[[ $got == "$expected" ]] || bemi_fail "bemi.changes.actor is not the server's actor; expected:
$expected"

# The key: a regular 0600 file of 16 bytes owned by the server's user, unreadable from SQL
# for a role that is not a superuser.
if [[ -n ${BEMI_TEST_DATADIR:-} ]]; then
    perms=$(stat -c '%a %s %U' "$BEMI_TEST_DATADIR/bemi_actor.key")
    [[ $perms == "600 16 postgres" || $perms == "600 16 $(id -un)" ]] || bemi_fail "key file: $perms"
fi
out=$(psql -X -q -U actor_app -d "$DB" -c "SELECT pg_read_binary_file('bemi_actor.key')" 2>&1 || true)
[[ $out == *"permission denied"* ]] || bemi_fail "a non-superuser read the key: $out"
# Without the extension in the database the hooks say nothing: the plugin's records have no
# actor, even for a session that sends one of its own.
psql -X -q -c "DROP DATABASE IF EXISTS ${DB}_plain" >/dev/null 2>&1
psql -X -q -c "CREATE DATABASE ${DB}_plain" >/dev/null
plain=$(psql -X -q -A -t -v ON_ERROR_STOP=1 -d "${DB}_plain" <<'SQL'
CREATE TABLE t (id int PRIMARY KEY);
SELECT 'init' FROM pg_create_logical_replication_slot('actor_plain', 'bemi');
INSERT INTO t VALUES (1);
BEGIN;
SELECT pg_logical_emit_message(true, '_bemi', '{"actor": {"session_user": "root"}}') IS NOT NULL;
INSERT INTO t VALUES (2);
COMMIT;
SELECT string_agg(coalesce(data::jsonb->>'actor', 'none') || ' ' || (data::jsonb->'context')::text, ',')
  FROM pg_logical_slot_get_changes('actor_plain', NULL, NULL);
SELECT pg_drop_replication_slot('actor_plain') IS NOT NULL;
SQL
)
psql -X -q -c "DROP DATABASE ${DB}_plain" >/dev/null
echo "without the extension: $(tr '\n' ' ' <<<"$plain")"
[[ $plain == *'none {},none {"actor": {"session_user": "root"}}'* ]] || bemi_fail "records without the extension: $plain"
echo "ok: bemi.changes.actor is the server's, client_addr only when a superuser enabled it, key protected"
