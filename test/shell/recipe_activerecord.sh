#!/usr/bin/env bash
# The ActiveRecord recipe (examples/recipes/activerecord, ActiveRecord 6.1 from Debian) through
# the todo scenario of test/lib/recipe_todo.sh: requests through the example Rails controller's
# around_action, concurrent requests in threads over AR's connection pool. Each change carries
# exactly its own request's context, nothing leaks into a later transaction on the same
# connection or between threads, and the reading helpers return the past.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=../lib/cluster.sh
source "$here/../lib/cluster.sh"
# shellcheck source-path=SCRIPTDIR source=../lib/recipes.sh
source "$here/../lib/recipes.sh"
# shellcheck source-path=SCRIPTDIR source=../lib/recipe_todo.sh
source "$here/../lib/recipe_todo.sh"
# shellcheck source-path=SCRIPTDIR source=../lib/recipe_activerecord.sh
source "$here/../lib/recipe_activerecord.sh"

: "${BEMI_TEST_SRCDIR:=$(cd "$here/../.." && pwd)}"

DB=bemi_recipe_ar
work=${BEMI_TEST_TMPDIR:-$(mktemp -d)}

cleanup() {
    recipe_drop_db "$DB"
}
trap cleanup EXIT

bemi_require_preload "the recipe's connections call bemi_set_context"
recipe_todo_env
recipe_db "$DB"
PGDATABASE=$DB recipe_activerecord_run "$work/ar.out"
recipe_activerecord_sql bound | recipe_todo_check "$DB" "$work/ar.out" direct
echo "ok: ActiveRecord"
