# shellcheck shell=bash
# Runs the ActiveRecord recipe's driver (test/recipes/activerecord_todo.rb) through the todo
# scenario of recipe_todo.sh. Source it after cluster.sh.
#
#   recipe_activerecord_run OUT     run it with the PG* variables in force, output to OUT
#   recipe_activerecord_sql bound|inline   the statements of the scenario's changes 1-7, for
#                                   recipe_todo_check (inline: prepared_statements off)

recipe_activerecord_run() {
    local out=$1
    ruby "$BEMI_TEST_SRCDIR/test/recipes/activerecord_todo.rb" >"$out" 2>&1 || {
        cat "$out" >&2
        bemi_fail "the ActiveRecord driver failed"
    }
    sed 's/^/  activerecord: /' "$out"
}

# One INSERT per create!, update_all's and destroy_all's statements; with prepared statements
# (AR's default) their values are bound parameters, without them ("inline", as behind
# PgBouncer) AR writes the values into the statement itself.
recipe_activerecord_sql() {
    if [[ $1 == inline ]]; then
        cat <<'SQL'
INSERT INTO "todo" ("task") VALUES ('Sleep') RETURNING "id"
INSERT INTO "todo" ("task") VALUES ('Eat') RETURNING "id"
INSERT INTO "todo" ("task") VALUES ('Repeat') RETURNING "id"
UPDATE "todo" SET "is_completed" = TRUE WHERE "todo"."id" IN (1, 2)
UPDATE "todo" SET "is_completed" = TRUE WHERE "todo"."id" IN (1, 2)
DELETE FROM "todo" WHERE "todo"."id" = 3
INSERT INTO "todo" ("task") VALUES ('Unattributed') RETURNING "id"
SQL
        return
    fi
    cat <<'SQL'
INSERT INTO "todo" ("task") VALUES ($1) RETURNING "id"
INSERT INTO "todo" ("task") VALUES ($1) RETURNING "id"
INSERT INTO "todo" ("task") VALUES ($1) RETURNING "id"
UPDATE "todo" SET "is_completed" = $1 WHERE "todo"."id" IN ($2, $3)
UPDATE "todo" SET "is_completed" = $1 WHERE "todo"."id" IN ($2, $3)
DELETE FROM "todo" WHERE "todo"."id" = $1
INSERT INTO "todo" ("task") VALUES ($1) RETURNING "id"
SQL
}
