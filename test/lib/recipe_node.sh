# shellcheck shell=bash
# The Node recipe (examples/recipes/node) ready to run: a copy of it with its pinned packages
# installed by `npm ci` from its lockfile, so the checkout stays untouched. Source it after
# cluster.sh.
#
#   recipe_node_install WORKDIR     copy + npm ci into WORKDIR/node; exports RECIPE_NODE_DIR
#   recipe_node_run ORM OUT         run test/recipes/node_todo.js with ORM (pg|knex), output to OUT
#   recipe_node_sql ORM             the statements of the scenario's changes 1-7, for recipe_todo_check

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

# What todo-pg.js and todo-knex.js send: one INSERT for several todos, one UPDATE for several.
recipe_node_sql() {
    case $1 in
    pg) cat <<'SQL' ;;
INSERT INTO todo (task) SELECT t FROM unnest($1::text[]) WITH ORDINALITY AS u(t, n) ORDER BY n RETURNING id
INSERT INTO todo (task) SELECT t FROM unnest($1::text[]) WITH ORDINALITY AS u(t, n) ORDER BY n RETURNING id
INSERT INTO todo (task) SELECT t FROM unnest($1::text[]) WITH ORDINALITY AS u(t, n) ORDER BY n RETURNING id
UPDATE todo SET is_completed = true WHERE id = ANY($1::int[])
UPDATE todo SET is_completed = true WHERE id = ANY($1::int[])
DELETE FROM todo WHERE id = $1
INSERT INTO todo (task) SELECT t FROM unnest($1::text[]) WITH ORDINALITY AS u(t, n) ORDER BY n RETURNING id
SQL
    knex) cat <<'SQL' ;;
insert into "todo" ("task") values ($1), ($2), ($3) returning "id"
insert into "todo" ("task") values ($1), ($2), ($3) returning "id"
insert into "todo" ("task") values ($1), ($2), ($3) returning "id"
update "todo" set "is_completed" = $1 where "id" in ($2, $3)
update "todo" set "is_completed" = $1 where "id" in ($2, $3)
delete from "todo" where "id" = $1
insert into "todo" ("task") values ($1) returning "id"
SQL
    *) bemi_fail "recipe_node_sql: unknown ORM $1" ;;
    esac
}
