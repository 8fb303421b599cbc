#!/usr/bin/env bash
# examples/recipes/sqlalchemy with SQLAlchemy 1.4 and psycopg2, once per way of attaching the
# context (statement comment, bemi_set_context in the transaction): two requests with their own
# contexts (one with */, /*, quotes and % in a value), a multi-row UPDATE and a DELETE, then a write
# outside any request on the same pooled connection. Each change must carry exactly its own
# request's context and statement, the last one none; history and as_of must read it back.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=../lib/cluster.sh
source "$here/../lib/cluster.sh"
# shellcheck source-path=SCRIPTDIR source=../lib/recipes.sh
source "$here/../lib/recipes.sh"

DB=bemi_recipe_sqlalchemy
app=$here/../../examples/recipes/sqlalchemy/app.py
work=${BEMI_TEST_TMPDIR:-$(mktemp -d)}
trap 'recipe_drop_db "$DB"' EXIT

bemi_require_preload "every session must capture from its first statement"

for attach in comment transaction; do
    recipe_db "$DB"
    "$(recipe_python)" "$app" "postgresql+psycopg2:///$DB" "$attach" >"$work/out" 2>&1 ||
        bemi_fail "app.py $attach: $(cat "$work/out")"
    recipe_assert_changes "$DB" <<'SQL'
('CREATE', '1', '{}', '{"id": 1, "task": "Sleep", "is_completed": false}',
 $j${"user_id": 187234, "endpoint": "/todo", "method": "POST", "note": "it's 100% \"done\" */ DROP TABLE todo; /* %s", "SQL": "INSERT INTO todo (task) VALUES ('Sleep'),('Eat'),('Repeat') RETURNING todo.id"}$j$),
('CREATE', '2', '{}', '{"id": 2, "task": "Eat", "is_completed": false}',
 $j${"user_id": 187234, "endpoint": "/todo", "method": "POST", "note": "it's 100% \"done\" */ DROP TABLE todo; /* %s", "SQL": "INSERT INTO todo (task) VALUES ('Sleep'),('Eat'),('Repeat') RETURNING todo.id"}$j$),
('CREATE', '3', '{}', '{"id": 3, "task": "Repeat", "is_completed": false}',
 $j${"user_id": 187234, "endpoint": "/todo", "method": "POST", "note": "it's 100% \"done\" */ DROP TABLE todo; /* %s", "SQL": "INSERT INTO todo (task) VALUES ('Sleep'),('Eat'),('Repeat') RETURNING todo.id"}$j$),
('UPDATE', '1', '{"id": 1, "task": "Sleep", "is_completed": false}', '{"id": 1, "task": "Sleep", "is_completed": true}',
 $j${"user_id": 42, "endpoint": "/todo/bulk", "method": "PATCH", "SQL": "UPDATE todo SET is_completed=true WHERE todo.id IN (1, 2)"}$j$),
('UPDATE', '2', '{"id": 2, "task": "Eat", "is_completed": false}', '{"id": 2, "task": "Eat", "is_completed": true}',
 $j${"user_id": 42, "endpoint": "/todo/bulk", "method": "PATCH", "SQL": "UPDATE todo SET is_completed=true WHERE todo.id IN (1, 2)"}$j$),
('DELETE', '3', '{"id": 3, "task": "Repeat", "is_completed": false}', '{}',
 $j${"user_id": 42, "endpoint": "/todo/bulk", "method": "PATCH", "SQL": "DELETE FROM todo WHERE todo.id = 3"}$j$),
('CREATE', '4', '{}', '{"id": 4, "task": "Code", "is_completed": false}',
 $j${"SQL": "INSERT INTO todo (task) VALUES ('Code') RETURNING todo.id"}$j$)
SQL
    recipe_assert_output "app.py $attach" "$work/out" <<'OUT'
CREATE {"id": [null, 2], "is_completed": [null, false], "task": [null, "Eat"]} 187234
UPDATE {"is_completed": [false, true]} 42
1 Sleep False
2 Eat False
3 Repeat False
OUT
done
