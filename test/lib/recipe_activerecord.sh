# shellcheck shell=bash
# Runs the ActiveRecord recipe's driver (test/recipes/activerecord_todo.rb) through the todo
# scenario of recipe_todo.sh. Source it after cluster.sh.
#
#   recipe_activerecord_run OUT     run it with the PG* variables in force, output to OUT

recipe_activerecord_run() {
    local out=$1
    ruby "$BEMI_TEST_SRCDIR/test/recipes/activerecord_todo.rb" >"$out" 2>&1 || {
        cat "$out" >&2
        bemi_fail "the ActiveRecord driver failed"
    }
    sed 's/^/  activerecord: /' "$out"
}
