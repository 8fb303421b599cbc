# shellcheck shell=bash
# Helpers for the recipe tests (test/shell/recipe_*.sh): each drives one examples/recipes/
# folder against the test server and asserts exactly what lands in bemi.changes. Source it
# after cluster.sh.
#
#   recipe_db DB                  a fresh capture database with the recipes' todo table
#   recipe_drop_db DB             drops it (for traps; never fails)
#   recipe_python                 the Python that has Debian's python3-* packages
#   recipe_assert_changes DB      compares the database's changes with expected rows on stdin
#   recipe_assert_output NAME FILE   compares FILE with the expected text on stdin

# The recipes' table, as in the README's example. Full replica identity, as the README's
# "Use" section asks for, gives UPDATE and DELETE a complete "before".
RECIPE_SCHEMA="
CREATE TABLE todo (id serial PRIMARY KEY, task text NOT NULL, is_completed boolean NOT NULL DEFAULT false);
SELECT bemi.set_replica_identity_full('public', include_future => true);
"

recipe_db() {
    local db=$1
    recipe_drop_db "$db"
    bemi_new_capture_db "$db"
    psql -X -q -v ON_ERROR_STOP=1 -d "$db" -c "$RECIPE_SCHEMA" >/dev/null || bemi_fail "creating todo in $db"
}

recipe_drop_db() {
    bemi_drop_capture_db "$1" "none"
}

# Debian's python3-sqlalchemy / python3-psycopg / python3-psycopg2 live in /usr/bin/python3's
# path; a python3 earlier in PATH (pyenv, a venv) may not see them.
recipe_python() {
    echo "${BEMI_RECIPE_PYTHON:-/usr/bin/python3}"
}

# recipe_assert_changes DB <<'SQL'
#   ('CREATE', '1', $j${}$j$, $j${"id": 1, ...}$j$, $j${"SQL": "...", "user_id": 1}$j$),
#   ...
# SQL
# Stdin: the rows of a SQL VALUES list, one change each, in commit order: operation,
# primary_key, before, after, context (the whole context: the request's keys and "SQL").
# Waits for capture with bemi.sync(), then compares every change outside schema bemi with
# them, by position and by value (jsonb equality): a change missing, extra, out of order or
# with another value fails the test, showing both sides.
recipe_assert_changes() {
    local db=$1 values report
    values=$(cat)
    [[ $(psql -X -q -A -t -d "$db" -c "SELECT bemi.sync()") == t ]] || bemi_fail "bemi.sync() in $db"
    report=$(psql -X -q -A -t -v ON_ERROR_STOP=1 -d "$db" <<SQL
WITH expected AS (
    SELECT row_number() OVER () AS n, e.op, e.pk, e.b::jsonb AS b, e.a::jsonb AS a, e.c::jsonb AS c
      FROM (VALUES
$values
           ) AS e(op, pk, b, a, c)
), actual AS (
    SELECT row_number() OVER (ORDER BY capture, commit_position, seq) AS n,
           operation AS op, primary_key AS pk, before AS b, after AS a, context AS c, schema, "table"
      FROM bemi.changes WHERE schema <> 'bemi'
)
SELECT format(E'change %s:\n  expected: %s %s %s %s %s\n  actual:   %s %s.%s %s %s %s %s',
              coalesce(e.n, a.n), e.op, e.pk, e.b, e.a, e.c, a.op, a.schema, a."table", a.pk, a.b, a.a, a.c)
  FROM expected e FULL JOIN actual a ON a.n = e.n
 WHERE a.n IS NULL OR e.n IS NULL OR (a.schema, a."table") <> ('public', 'todo')
    OR (e.op, e.pk, e.b, e.a, e.c) IS DISTINCT FROM (a.op, a.pk, a.b, a.a, a.c)
 ORDER BY coalesce(e.n, a.n);
SQL
    ) || bemi_fail "comparing the changes of $db"
    [[ -z $report ]] || bemi_fail "bemi.changes of $db differs from the expected changes:"$'\n'"$report"
}

# recipe_assert_output NAME FILE <<'EOF' ... EOF -- FILE (what a recipe printed) must be
# exactly the text on stdin, but for trailing blanks (psql pads its table headers with them).
recipe_assert_output() {
    local name=$1 file=$2 diffs
    diffs=$(diff -u <(sed 's/ *$//') <(sed 's/ *$//' "$file")) ||
        bemi_fail "$name printed something else (- expected, + printed):"$'\n'"$diffs"
}
