#!/usr/bin/env bash
# The extended query protocol: the captured "SQL" is the statement as the client sent it,
# $n placeholders included (pgbench -M extended turns :variables into $n parameters), and the
# comment protocol works on prepared statements too.
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=../lib/cluster.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/cluster.sh"

DB=bemi_protocol
SLOT=protocol_slot
work=${BEMI_TEST_TMPDIR:-$(mktemp -d)}
chmod 777 "$work"

bemi_capture_test "$DB" "$SLOT" "pgbench's sessions call no bemi function"
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" >/dev/null <<'SQL'
CREATE TABLE todo (id int PRIMARY KEY, task text);
CREATE TABLE todo_log (id serial PRIMARY KEY, todo_id int);
INSERT INTO todo SELECT g, 'new' FROM generate_series(1, 10) g;
SQL
psql -X -q -d "$DB" -c "SELECT pg_create_logical_replication_slot('$SLOT', 'bemi')" >/dev/null

cat >"$work/script.sql" <<'EOF2'
\set id random(1, 10)
BEGIN;
UPDATE todo SET task = 'done' WHERE id = :id /*Bemi {"endpoint": "/todo", "via": "pgbench"} Bemi*/;
INSERT INTO todo_log (todo_id) VALUES (:id);
END;
EOF2
chmod 644 "$work/script.sql"
for mode in extended prepared; do
    pgbench -n -M "$mode" -t 5 -f "$work/script.sql" "$DB" >/dev/null 2>"$work/pgbench.err" \
        || { cat "$work/pgbench.err"; bemi_fail "pgbench -M $mode failed"; }
done

psql -X -q -d "$DB" -c "CREATE TABLE records AS SELECT data::jsonb AS r FROM pg_logical_slot_get_changes('$SLOT', NULL, NULL)"
# Each statement of a transaction is its own: the INSERT after the UPDATE carries its own text.
read -r inserts own_sql <<<"$(psql -X -A -t -F ' ' -d "$DB" <<SQL
SELECT count(*), count(*) FILTER (WHERE r->'context'->>'SQL' = 'INSERT INTO todo_log (todo_id) VALUES (\$1)')
FROM records WHERE r->>'table' = 'todo_log';
SQL
)"
echo "inserts=$inserts with_their_own_sql=$own_sql"
[[ $inserts -eq 10 && $own_sql -eq 10 ]] || bemi_fail "only $own_sql of $inserts inserts carry their own statement"
read -r total expected_sql via <<<"$(psql -X -A -t -F ' ' -d "$DB" <<SQL
SELECT count(*),
       count(*) FILTER (WHERE r->'context'->>'SQL' =
                        'UPDATE todo SET task = ''done'' WHERE id = \$1'),
       count(*) FILTER (WHERE r->'context'->>'via' = 'pgbench' AND r->'context'->>'endpoint' = '/todo')
FROM records WHERE r->>'operation' = 'UPDATE';
SQL
)"
echo "updates=$total with_placeholder_sql=$expected_sql with_comment_context=$via"
[[ $total -eq 10 ]] || bemi_fail "expected 10 updates, got $total"
[[ $expected_sql -eq 10 ]] || bemi_fail "only $expected_sql updates carry the statement with \$1 as sent"
[[ $via -eq 10 ]] || bemi_fail "only $via updates carry the comment's context"
echo "ok: extended and prepared protocol statements captured as sent"
