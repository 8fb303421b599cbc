#!/usr/bin/env bash
# examples/recipes/psycopg with psycopg 3, on a sync and on an async connection: two requests,
# each a transaction that sets its context with bemi_set_context(..., true) (one with */, /*, quotes
# and % in a value), a multi-row UPDATE and a DELETE, then an autocommit write on the same
# connection. Each change must carry exactly its own request's context and statement (with the
# $n placeholders psycopg sends), the last one none; history and as_of must read it back.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=../lib/cluster.sh
source "$here/../lib/cluster.sh"
# shellcheck source-path=SCRIPTDIR source=../lib/recipes.sh
source "$here/../lib/recipes.sh"

DB=bemi_recipe_psycopg
app=$here/../../examples/recipes/psycopg/app.py
work=${BEMI_TEST_TMPDIR:-$(mktemp -d)}
trap 'recipe_drop_db "$DB"' EXIT

bemi_require_preload "every session must capture from its first statement"

for mode in sync async; do
    recipe_db "$DB"
    "$(recipe_python)" "$app" "dbname=$DB" "$mode" >"$work/out" 2>&1 ||
        bemi_fail "app.py $mode: $(cat "$work/out")"
    recipe_assert_changes "$DB" <<'SQL'
('CREATE', '1', '{}', '{"id": 1, "task": "Sleep", "is_completed": false}',
 $j${"user_id": 187234, "endpoint": "/todo", "method": "POST", "note": "it's 100% \"done\" */ DROP TABLE todo; /* %s", "SQL": "INSERT INTO todo (task) VALUES ($1), ($2), ($3)"}$j$),
('CREATE', '2', '{}', '{"id": 2, "task": "Eat", "is_completed": false}',
 $j${"user_id": 187234, "endpoint": "/todo", "method": "POST", "note": "it's 100% \"done\" */ DROP TABLE todo; /* %s", "SQL": "INSERT INTO todo (task) VALUES ($1), ($2), ($3)"}$j$),
('CREATE', '3', '{}', '{"id": 3, "task": "Repeat", "is_completed": false}',
 $j${"user_id": 187234, "endpoint": "/todo", "method": "POST", "note": "it's 100% \"done\" */ DROP TABLE todo; /* %s", "SQL": "INSERT INTO todo (task) VALUES ($1), ($2), ($3)"}$j$),
('UPDATE', '1', '{"id": 1, "task": "Sleep", "is_completed": false}', '{"id": 1, "task": "Sleep", "is_completed": true}',
 $j${"user_id": 42, "endpoint": "/todo/bulk", "method": "PATCH", "SQL": "UPDATE todo SET is_completed = true WHERE id = ANY($1)"}$j$),
('UPDATE', '2', '{"id": 2, "task": "Eat", "is_completed": false}', '{"id": 2, "task": "Eat", "is_completed": true}',
 $j${"user_id": 42, "endpoint": "/todo/bulk", "method": "PATCH", "SQL": "UPDATE todo SET is_completed = true WHERE id = ANY($1)"}$j$),
('DELETE', '3', '{"id": 3, "task": "Repeat", "is_completed": false}', '{}',
 $j${"user_id": 42, "endpoint": "/todo/bulk", "method": "PATCH", "SQL": "DELETE FROM todo WHERE id = $1"}$j$),
('CREATE', '4', '{}', '{"id": 4, "task": "Code", "is_completed": false}',
 $j${"SQL": "INSERT INTO todo (task) VALUES ($1)"}$j$)
SQL
    recipe_assert_output "app.py $mode" "$work/out" <<'OUT'
CREATE {'id': [None, 2], 'task': [None, 'Eat'], 'is_completed': [None, False]} 187234
UPDATE {'is_completed': [False, True]} 42
1 Sleep False
2 Eat False
3 Repeat False
1 UPDATE
2 UPDATE
3 DELETE
OUT
done
