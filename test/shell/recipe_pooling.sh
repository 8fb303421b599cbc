#!/usr/bin/env bash
# The ActiveRecord and Node (pg, Knex) recipes behind PgBouncer in transaction pooling mode,
# with more client connections than server connections: the todo scenario of
# test/lib/recipe_todo.sh, concurrent requests included, leaves each change exactly its own
# request's context and none to the requests that set none, although every server
# connection serves many clients' transactions and PgBouncer resets nothing between them.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=../lib/cluster.sh
source "$here/../lib/cluster.sh"
# shellcheck source-path=SCRIPTDIR source=../lib/pgbouncer.sh
source "$here/../lib/pgbouncer.sh"
# shellcheck source-path=SCRIPTDIR source=../lib/recipes.sh
source "$here/../lib/recipes.sh"
# shellcheck source-path=SCRIPTDIR source=../lib/recipe_todo.sh
source "$here/../lib/recipe_todo.sh"
# shellcheck source-path=SCRIPTDIR source=../lib/recipe_activerecord.sh
source "$here/../lib/recipe_activerecord.sh"
# shellcheck source-path=SCRIPTDIR source=../lib/recipe_node.sh
source "$here/../lib/recipe_node.sh"

: "${BEMI_TEST_SRCDIR:=$(cd "$here/../.." && pwd)}"
work=${BEMI_TEST_TMPDIR:-$(mktemp -d)}
RECIPES=(activerecord pg knex)
SERVER_CONNECTIONS=2

# The databases go only after their PgBouncers, which keep server connections to them open.
cleanup() {
    for r in "${RECIPES[@]}"; do bemi_pgbouncer_stop "$work/bouncer_$r"; done
    for r in "${RECIPES[@]}"; do recipe_drop_db "bemi_pooled_$r"; done
    rm -rf "$work/node"
}
trap cleanup EXIT

bemi_require_preload "the recipes' connections call bemi_set_context"
recipe_node_install "$work"
recipe_todo_env
for r in "${RECIPES[@]}"; do
    db=bemi_pooled_$r
    recipe_db "$db"
    mkdir -p "$work/bouncer_$r"
    bemi_pgbouncer_start "$work/bouncer_$r" "$db" "$SERVER_CONNECTIONS"
    port=$BEMI_PGBOUNCER_PORT
    # Only the driver goes through PgBouncer; the checks read the server directly.
    if [[ $r == activerecord ]]; then
        PGHOST=127.0.0.1 PGPORT=$port PGDATABASE=$db RECIPE_BEHIND_POOLER=1 recipe_activerecord_run "$work/$r.out"
    else
        PGHOST=127.0.0.1 PGPORT=$port PGDATABASE=$db RECIPE_BEHIND_POOLER=1 recipe_node_run "$r" "$work/$r.out"
    fi
    if [[ $r == activerecord ]]; then recipe_activerecord_sql inline; else recipe_node_sql "$r"; fi |
        recipe_todo_check "$db" "$work/$r.out" pooled "$SERVER_CONNECTIONS"
    echo "ok: $r behind PgBouncer"
done
