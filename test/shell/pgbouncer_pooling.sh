#!/usr/bin/env bash
# Context behind PgBouncer in transaction pooling mode: several clients share two server
# connections, each setting its own context with is_local => true in every transaction. Every
# change must carry its own client's context, and a transaction that sets none must carry
# none, whatever the server connection ran before. Each client also has its own
# application_name, which PgBouncer sets on the server connection it lends: every change's
# actor must name its own client's.
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=../lib/cluster.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/cluster.sh"
# shellcheck source-path=SCRIPTDIR source=../lib/pgbouncer.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/pgbouncer.sh"

DB=bemi_pooling
SLOT=pooling_slot
CLIENTS=${BEMI_POOL_CLIENTS:-6}
TXNS=${BEMI_POOL_TXNS:-60}
work=${BEMI_TEST_TMPDIR:-$(mktemp -d)}

test_cleanup() { bemi_pgbouncer_stop "$work"; }
bemi_capture_test "$DB" "$SLOT" "every server connection must capture from its first statement"
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" >/dev/null <<'SQL'
CREATE TABLE items (id serial PRIMARY KEY, client int NOT NULL, n int NOT NULL, server_pid int NOT NULL DEFAULT pg_backend_pid());
SQL
psql -X -q -d "$DB" -c "SELECT pg_create_logical_replication_slot('$SLOT', 'bemi')" >/dev/null

# PgBouncer: two server connections for all clients.
bemi_pgbouncer_start "$work" "$DB" 2
port=$BEMI_PGBOUNCER_PORT

# Each client: most transactions set a local context; every fifth sets none.
client() {
    local c=$1 i
    for i in $(seq 1 "$TXNS"); do
        if ((i % 5 == 0)); then
            echo "BEGIN; INSERT INTO items (client, n) VALUES ($c, $i); COMMIT;"
        else
            echo "BEGIN; SELECT bemi_set_context('{\"client\": $c, \"n\": $i}', true); INSERT INTO items (client, n) VALUES ($c, $i); COMMIT;"
        fi
    done | PGAPPNAME="pool_client_$c" psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -d "$DB" >/dev/null
}
pids=()
for c in $(seq 1 "$CLIENTS"); do
    client "$c" &
    pids+=($!)
done
for p in "${pids[@]}"; do
    wait "$p" || bemi_fail "client $p failed"
done

# The point of the test: clients really shared server connections.
read -r servers shared <<<"$(psql -X -A -t -F ' ' -d "$DB" -c "SELECT count(DISTINCT server_pid), count(*) FILTER (WHERE clients > 1) FROM (SELECT server_pid, count(DISTINCT client) AS clients FROM items GROUP BY server_pid) s")"
echo "server connections used: $servers, serving several clients: $shared"
[[ $servers -le 2 && $shared -ge 1 ]] || bemi_fail "PgBouncer did not pool: $servers server connections"
psql -X -q -d "$DB" -c "CREATE TABLE records AS SELECT data::jsonb AS r FROM pg_logical_slot_get_changes('$SLOT', NULL, NULL)"
result=$(psql -X -A -t -F ' ' -d "$DB" <<SQL
WITH r AS (
  SELECT r FROM records
), c AS (
  SELECT (r->'after'->>'client')::int AS client, (r->'after'->>'n')::int AS n, r->'context' AS ctx, r->'actor' AS actor FROM r
  WHERE r->>'table' = 'items'
)
SELECT count(*),
       count(*) FILTER (WHERE n % 5 <> 0 AND (ctx->>'client')::int = client AND (ctx->>'n')::int = n),
       count(*) FILTER (WHERE n % 5 = 0 AND ctx - 'SQL' = '{}'::jsonb),
       count(*) FILTER (WHERE ctx->>'SQL' LIKE 'INSERT INTO items%'),
       count(*) FILTER (WHERE actor = jsonb_build_object('session_user', 'postgres', 'application_name', 'pool_client_' || client))
FROM c;
SQL
)
read -r total own none with_sql own_actor <<<"$result"
expected=$((CLIENTS * TXNS))
expected_none=$((CLIENTS * (TXNS / 5)))
echo "changes=$total with_own_context=$own without_context=$none with_sql=$with_sql (expected $expected, $((expected - expected_none)), $expected_none)"
[[ $total -eq $expected ]] || bemi_fail "expected $expected changes, got $total"
[[ $own -eq $((expected - expected_none)) ]] || bemi_fail "only $own changes carry their own client's context"
[[ $none -eq $expected_none ]] || bemi_fail "only $none of $expected_none context-free transactions carried no context (a leak)"
[[ $with_sql -eq $expected ]] || bemi_fail "only $with_sql changes carry their statement"
echo "changes whose actor names their own client's application_name: $own_actor"
[[ $own_actor -eq $expected ]] || bemi_fail "only $own_actor of $expected changes name their own client in actor"
echo "ok: $CLIENTS clients over PgBouncer transaction pooling, no context leaked"
