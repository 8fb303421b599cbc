#!/usr/bin/env bash
# The Node.js recipes (examples/recipes/node: pg and Knex, packages pinned by its lockfile)
# through the todo scenario of test/lib/recipe_todo.sh: each change carries exactly its own
# request's context, nothing leaks into a later transaction on the same pooled connection or
# between concurrent requests (Promise.all over the pool), and the reading helpers return the
# past.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=../lib/cluster.sh
source "$here/../lib/cluster.sh"
# shellcheck source-path=SCRIPTDIR source=../lib/recipes.sh
source "$here/../lib/recipes.sh"
# shellcheck source-path=SCRIPTDIR source=../lib/recipe_todo.sh
source "$here/../lib/recipe_todo.sh"
# shellcheck source-path=SCRIPTDIR source=../lib/recipe_node.sh
source "$here/../lib/recipe_node.sh"

: "${BEMI_TEST_SRCDIR:=$(cd "$here/../.." && pwd)}"
work=${BEMI_TEST_TMPDIR:-$(mktemp -d)}
ORMS=(pg knex)

cleanup() {
    for orm in "${ORMS[@]}"; do recipe_drop_db "bemi_recipe_$orm"; done
    rm -rf "$work/node"
}
trap cleanup EXIT

bemi_require_preload "the recipes' connections call bemi_set_context"
recipe_node_install "$work"
recipe_todo_env
for orm in "${ORMS[@]}"; do
    db=bemi_recipe_$orm
    recipe_db "$db"
    PGDATABASE=$db recipe_node_run "$orm" "$work/$orm.out"
    recipe_node_sql "$orm" | recipe_todo_check "$db" "$work/$orm.out" direct
    recipe_drop_db "$db"
    echo "ok: $orm"
done
