#!/usr/bin/env bash
# examples/recipes/psql: two requests with their own contexts (one with */, /*, quotes and % in a
# value), a multi-row UPDATE and a DELETE, then a write on the same connection with no context.
# Each change must carry exactly its own request's context and statement, the last one none;
# the recipe's history and time-travel queries must print what happened.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=../lib/cluster.sh
source "$here/../lib/cluster.sh"
# shellcheck source-path=SCRIPTDIR source=../lib/recipes.sh
source "$here/../lib/recipes.sh"

DB=bemi_recipe_psql
recipe=$here/../../examples/recipes/psql/recipe.sql
work=${BEMI_TEST_TMPDIR:-$(mktemp -d)}
trap 'recipe_drop_db "$DB"' EXIT

bemi_require_preload "every session must capture from its first statement"
recipe_db "$DB"

psql -X -q -v ON_ERROR_STOP=1 -d "$DB" -f "$recipe" >"$work/out" 2>&1 || bemi_fail "recipe.sql: $(cat "$work/out")"

recipe_assert_changes "$DB" <<'SQL'
('CREATE', '1', '{}', '{"id": 1, "task": "Sleep", "is_completed": false}',
 $j${"user_id": 187234, "endpoint": "/todo", "method": "POST", "note": "it's 100% \"done\" */ DROP TABLE todo; /* %s", "SQL": "INSERT INTO todo (task) VALUES ('Sleep'), ('Eat'), ('Repeat')"}$j$),
('CREATE', '2', '{}', '{"id": 2, "task": "Eat", "is_completed": false}',
 $j${"user_id": 187234, "endpoint": "/todo", "method": "POST", "note": "it's 100% \"done\" */ DROP TABLE todo; /* %s", "SQL": "INSERT INTO todo (task) VALUES ('Sleep'), ('Eat'), ('Repeat')"}$j$),
('CREATE', '3', '{}', '{"id": 3, "task": "Repeat", "is_completed": false}',
 $j${"user_id": 187234, "endpoint": "/todo", "method": "POST", "note": "it's 100% \"done\" */ DROP TABLE todo; /* %s", "SQL": "INSERT INTO todo (task) VALUES ('Sleep'), ('Eat'), ('Repeat')"}$j$),
('UPDATE', '1', '{"id": 1, "task": "Sleep", "is_completed": false}', '{"id": 1, "task": "Sleep", "is_completed": true}',
 $j${"user_id": 42, "endpoint": "/todo/bulk", "method": "PATCH", "SQL": "UPDATE todo SET is_completed = true WHERE id IN (1, 2)"}$j$),
('UPDATE', '2', '{"id": 2, "task": "Eat", "is_completed": false}', '{"id": 2, "task": "Eat", "is_completed": true}',
 $j${"user_id": 42, "endpoint": "/todo/bulk", "method": "PATCH", "SQL": "UPDATE todo SET is_completed = true WHERE id IN (1, 2)"}$j$),
('DELETE', '3', '{"id": 3, "task": "Repeat", "is_completed": false}', '{}',
 $j${"user_id": 42, "endpoint": "/todo/bulk", "method": "PATCH", "SQL": "DELETE FROM todo WHERE id = 3"}$j$),
('CREATE', '4', '{}', '{"id": 4, "task": "Code", "is_completed": false}',
 $j${"SQL": "INSERT INTO todo (task) VALUES ('Code')"}$j$)
SQL

recipe_assert_output recipe.sql "$work/out" <<'OUT'
 bemi_set_context
------------------

(1 row)

 bemi_set_context
------------------

(1 row)

 sync
------
 t
(1 row)

 operation |                                  diff                                   | user_id |                              sql
-----------+-------------------------------------------------------------------------+---------+---------------------------------------------------------------
 CREATE    | {"id": [null, 2], "task": [null, "Eat"], "is_completed": [null, false]} | 187234  | INSERT INTO todo (task) VALUES ('Sleep'), ('Eat'), ('Repeat')
 UPDATE    | {"is_completed": [false, true]}                                         | 42      | UPDATE todo SET is_completed = true WHERE id IN (1, 2)
(2 rows)

 id |  task  | is_completed
----+--------+--------------
  1 | Sleep  | f
  2 | Eat    | f
  3 | Repeat | f
(3 rows)

 table | primary_key | operation
-------+-------------+-----------
 todo  | 1           | UPDATE
 todo  | 2           | UPDATE
 todo  | 3           | DELETE
(3 rows)

OUT
