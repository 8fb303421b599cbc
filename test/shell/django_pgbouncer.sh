#!/usr/bin/env bash
# The Django app behind PgBouncer in transaction pooling mode: several Django processes, each
# logged in as its own user, make requests at once over two server connections. Every change
# carries its own request's context (user and request_id), none another's: the context
# travels inside each statement, nothing is left on a server connection.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=../lib/cluster.sh
source "$here/../lib/cluster.sh"
# shellcheck source-path=SCRIPTDIR source=../lib/django.sh
source "$here/../lib/django.sh"
# shellcheck source-path=SCRIPTDIR source=../lib/pgbouncer.sh
source "$here/../lib/pgbouncer.sh"

DB=django_pooled
PROCESSES=4
REQUESTS=15
work=$BEMI_TEST_TMPDIR
cleanup() {
    bemi_pgbouncer_stop "$work"
    bemi_django_drop_db $DB
}
trap cleanup EXIT
bemi_require_preload "every server connection must capture from its first statement"
cleanup

python=$(bemi_django_venv "$work/venv") || bemi_fail "installing clients/django into a venv"
psql -X -q -c "CREATE DATABASE $DB" >/dev/null
(cd "$(bemi_django_example)" && TODO_DATABASE=$DB "$python" manage.py migrate -v 0) >/dev/null || bemi_fail "migrate"
psql -X -q -d $DB -c "CREATE TABLE pooled (task text PRIMARY KEY, server_pid int NOT NULL)" >/dev/null
bemi_pgbouncer_start "$work" $DB 2

pids=()
for p in $(seq 1 $PROCESSES); do
    PGHOST=127.0.0.1 PGPORT=$BEMI_PGBOUNCER_PORT TODO_DATABASE=$DB TODO_PGBOUNCER=1 \
        "$python" "$here/../django/pooled_requests.py" "$p" $REQUESTS &
    pids+=($!)
done
for pid in "${pids[@]}"; do
    wait "$pid" || bemi_fail "a Django process failed"
done

# The point of the test: the processes really shared server connections.
read -r servers shared <<<"$(psql -X -A -t -F ' ' -d $DB -c "SELECT count(DISTINCT server_pid),
    count(*) FILTER (WHERE processes > 1) FROM (SELECT server_pid, count(DISTINCT split_part(task, '-', 1)) AS processes
    FROM pooled GROUP BY server_pid) s")"
echo "server connections used: $servers, serving several processes: $shared"
[[ $servers -le 2 && $shared -ge 1 ]] || bemi_fail "PgBouncer did not pool: $servers server connections"

[[ $(psql -X -A -t -d $DB -c "SELECT bemi.sync()") == t ]] || bemi_fail "bemi.sync()"
result=$(psql -X -A -t -F ' ' -d $DB <<'SQL'
WITH c AS (
    SELECT "table", after->>'task' AS task, context FROM bemi.changes
     WHERE "table" IN ('todo', 'pooled') AND operation = 'CREATE'
), owner AS (
    SELECT c.*, u.id AS expected_user
      FROM c JOIN auth_user u ON u.username = 'pool' || substr(split_part(c.task, '-', 1), 2)
)
SELECT count(*),
       count(*) FILTER (WHERE (context->>'user_id')::int = expected_user AND context->>'path' = '/pooled'
                        AND context->>'method' = 'GET'),
       count(DISTINCT context->>'request_id'),
       (SELECT count(*) FROM owner t JOIN owner p ON p.task = t.task AND p."table" = 'pooled'
         WHERE t."table" = 'todo' AND p.context->>'request_id' = t.context->>'request_id'),
       (SELECT count(*) FROM owner o1 JOIN owner o2 ON o1.context->>'request_id' = o2.context->>'request_id'
         WHERE o1.task <> o2.task)
  FROM owner;
SQL
)
read -r total own requests paired crossed <<<"$result"
expected=$((PROCESSES * REQUESTS))
echo "changes=$total with_own_user=$own request_ids=$requests paired=$paired crossed=$crossed (expected $((2 * expected)), $((2 * expected)), $expected, $expected, 0)"
[[ $total -eq $((2 * expected)) ]] || bemi_fail "expected $((2 * expected)) changes, got $total"
[[ $own -eq $total ]] || bemi_fail "only $own of $total changes carry their own process's user"
[[ $requests -eq $expected ]] || bemi_fail "$requests request ids for $expected requests"
[[ $paired -eq $expected && $crossed -eq 0 ]] || bemi_fail "a request's two writes carry different request ids, or two requests one"
echo "ok: $PROCESSES Django processes behind PgBouncer transaction pooling, no context leaked"
