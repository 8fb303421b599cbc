# shellcheck shell=bash
# The Node recipe (examples/recipes/node) ready to run: a copy of it with its pinned packages
# installed by `npm ci` from its lockfile, so the checkout stays untouched. Source it after
# cluster.sh.
#
#   recipe_node_install WORKDIR     copy + npm ci into WORKDIR/node; exports RECIPE_NODE_DIR
#   recipe_node_run ORM OUT         run test/recipes/node_todo.js with ORM (pg|knex), output to OUT

recipe_node_install() {
    local src=$BEMI_TEST_SRCDIR/examples/recipes/node dir=$1/node
    rm -rf "$dir"
    mkdir -p "$dir"
    cp "$src"/package.json "$src"/package-lock.json "$src"/*.js "$dir"/
    (cd "$dir" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error) >"$1/npm.log" 2>&1 || {
        cat "$1/npm.log" >&2
        bemi_fail "npm ci in $dir"
    }
    export RECIPE_NODE_DIR=$dir
}

recipe_node_run() {
    local orm=$1 out=$2
    node "$BEMI_TEST_SRCDIR/test/recipes/node_todo.js" "$orm" >"$out" 2>&1 || {
        cat "$out" >&2
        bemi_fail "the $orm driver failed"
    }
    sed "s/^/  $orm: /" "$out"
}
