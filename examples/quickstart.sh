#!/usr/bin/env bash
# The quickstart: installs bemi, starts a local PostgreSQL 15 configured for it, makes a few
# changes the way an application would (each statement with its context), and prints the
# changes table built from the bemi slot.
#
#   sudo bash examples/quickstart.sh          # as root on Debian 12
#   BEMI_DEMO_PORT=5433 BEMI_DEMO_DIR=/var/lib/bemi-demo   (defaults)
#
# The server keeps running afterwards; the script prints how to connect and how to stop it.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin=/usr/lib/postgresql/15/bin
port=${BEMI_DEMO_PORT:-5433}
dir=${BEMI_DEMO_DIR:-/var/lib/bemi-demo}

if [[ $(id -u) -ne 0 ]]; then
    echo "quickstart: run as root (sudo bash examples/quickstart.sh): it installs packages and runs PostgreSQL as the postgres user" >&2
    exit 1
fi

"$root/docker/install.sh"

as_postgres() { runuser -u postgres -- "$@"; }

if [[ ! -f "$dir/data/PG_VERSION" ]]; then
    mkdir -p "$dir"
    chown postgres: "$dir"
    as_postgres "$bin/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
    "$root/docker/configure-sample.sh" "$dir/data/postgresql.conf"
    cat >>"$dir/data/postgresql.conf" <<EOF
port = $port
listen_addresses = 'localhost'
unix_socket_directories = '$dir'
EOF
fi
if ! as_postgres "$bin/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
    as_postgres "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w start >/dev/null
fi

psql_demo() { as_postgres "$bin/psql" -X -q -v ON_ERROR_STOP=1 -h "$dir" -p "$port" -U postgres "$@"; }

psql_demo -d postgres -c "DROP DATABASE IF EXISTS bemi_demo" -c "CREATE DATABASE bemi_demo"
psql_demo -d bemi_demo <<'SQL'
-- The application's table; FULL replica identity gives complete "before" images.
CREATE TABLE todo (id serial PRIMARY KEY, task text NOT NULL, is_completed boolean NOT NULL DEFAULT false);
ALTER TABLE todo REPLICA IDENTITY FULL;

-- A slot using the bemi output plugin; it captures every change from now on.
SELECT 'slot created' FROM pg_create_logical_replication_slot('bemi_demo', 'bemi');

-- What the Django middleware does for a request: the request's context, then the write.
BEGIN;
SELECT 'ctx' FROM pg_logical_emit_message(true, '_bemi',
  '{"user_id": 187234, "endpoint": "/todo", "method": "POST", "SQL": "INSERT INTO todo (task) VALUES (''Sleep''), (''Eat''), (''Repeat'')"}');
INSERT INTO todo (task) VALUES ('Sleep'), ('Eat'), ('Repeat');
COMMIT;
BEGIN;
SELECT 'ctx' FROM pg_logical_emit_message(true, '_bemi',
  '{"user_id": 187234, "endpoint": "/todo/2", "method": "PATCH", "SQL": "UPDATE todo SET is_completed = true WHERE id = 2"}');
UPDATE todo SET is_completed = true WHERE id = 2;
COMMIT;
-- A change made by hand in psql: no application context, still recorded.
DELETE FROM todo WHERE id = 3;

-- The changes table, filled from the slot's JSON records.
CREATE TABLE changes AS
SELECT r->>'primary_key' AS primary_key, r->>'table' AS "table", r->>'operation' AS operation,
       r->'before' AS before, r->'after' AS after, r->'context' AS context,
       (r->>'committed_at')::timestamptz AS committed_at
FROM (SELECT data::jsonb AS r FROM pg_logical_slot_get_changes('bemi_demo', NULL, NULL)) records;
SELECT 'slot dropped' FROM pg_drop_replication_slot('bemi_demo');
SQL

echo
psql_demo -d bemi_demo -P pager=off -c 'SET TimeZone = UTC' \
    -c 'SELECT "primary_key", "table", "operation", "before", "after", "context", "committed_at" FROM changes;'

cat <<EOF
PostgreSQL with bemi is running: psql -h $dir -p $port -U postgres bemi_demo
Stop it with: runuser -u postgres -- $bin/pg_ctl -D $dir/data stop
EOF
