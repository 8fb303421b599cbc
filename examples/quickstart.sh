#!/usr/bin/env bash
# The quickstart: installs bemi, starts a local PostgreSQL 15 configured for it, makes a few
# changes the way an application would (each request with its context), and prints the
# bemi.changes table that bemi's worker fills.
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
# A cluster made by an earlier version of this script may lack the preload line.
if ! grep -q "^shared_preload_libraries = 'bemi'" "$dir/data/postgresql.conf"; then
    echo "shared_preload_libraries = 'bemi'" >>"$dir/data/postgresql.conf"
    as_postgres "$bin/pg_ctl" -D "$dir/data" stop -m fast >/dev/null 2>&1 || true
fi
if ! as_postgres "$bin/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
    as_postgres "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w start >/dev/null
fi

psql_demo() { as_postgres "$bin/psql" -X -q -v ON_ERROR_STOP=1 -h "$dir" -p "$port" -U postgres "$@"; }

# A previous run's database: bemi must leave it (its worker and slot) before it can be dropped.
if [[ -n $(psql_demo -d postgres -At -c "SELECT 1 FROM pg_database WHERE datname = 'bemi_demo'") ]]; then
    psql_demo -d bemi_demo -c "DROP EXTENSION IF EXISTS bemi"
    for _ in $(seq 1 100); do
        psql_demo -d postgres -c "DROP DATABASE bemi_demo" 2>/dev/null && break
        sleep 0.2
    done
fi
psql_demo -d postgres -c "CREATE DATABASE bemi_demo"
psql_demo -d bemi_demo <<'SQL'
-- bemi captures every change in this database from here on; its worker fills bemi.changes.
CREATE EXTENSION bemi;
-- Capture starts once the worker has created its slot, just after the commit.
SELECT bemi.sync();

-- The application's table; FULL replica identity gives complete "before" images.
CREATE TABLE todo (id serial PRIMARY KEY, task text NOT NULL, is_completed boolean NOT NULL DEFAULT false);
SELECT bemi.set_replica_identity_full(ARRAY['todo'::regclass]);

-- What the Django middleware does for each request: the request's context, then the writes.
BEGIN;
SELECT bemi_set_context('{"user_id": 187234, "endpoint": "/todo", "method": "POST"}', true);
INSERT INTO todo (task) VALUES ('Sleep'), ('Eat'), ('Repeat');
COMMIT;
BEGIN;
SELECT bemi_set_context('{"user_id": 187234, "endpoint": "/todo/2", "method": "PATCH"}', true);
UPDATE todo SET is_completed = true WHERE id = 2;
COMMIT;
-- A change made by hand in psql: no application context, still recorded with its SQL.
DELETE FROM todo WHERE id = 3;

-- Wait until the worker has stored everything written so far.
SELECT bemi.sync();
SQL

# The application's changes; bemi's own bookkeeping (the table lineage that time travel
# follows, under schema bemi) is in the trail too, and left out here.
echo
psql_demo -d bemi_demo -P pager=off -c 'SET TimeZone = UTC' \
    -c 'SELECT "primary_key", "table", "operation", "before", "after", "context", "committed_at" FROM bemi.changes WHERE schema <> '"'bemi'"' ORDER BY id;'

cat <<EOF
PostgreSQL with bemi is running: psql -h $dir -p $port -U postgres bemi_demo
Stop it with: runuser -u postgres -- $bin/pg_ctl -D $dir/data stop
EOF
