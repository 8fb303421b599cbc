# shellcheck shell=bash
# The todo scenario that the ActiveRecord and Node recipes' tests drive (drivers in
# test/recipes/), and what it must leave in bemi.changes. Source it after cluster.sh and
# recipes.sh (whose recipe_db makes the database with the todo table); it has no side effects.
#
#   recipe_todo_env                   export the scenario's inputs (RECIPE_*) for a driver
#   recipe_todo_check DB OUT direct   assert the trail and the driver's output OUT; stdin: the
#                                     "SQL" each of changes 1-7 (below) records, one a line
#   recipe_todo_check DB OUT pooled N ... through a pooler with N server connections
#
# A driver, with libpq's PG* variables pointing at the server (or the pooler):
#  1. request A (context RECIPE_CTX_A) creates Sleep, Eat, Repeat (ids 1, 2, 3);
#  2. it reads clock_timestamp() as the instant between the requests;
#  3. request B (RECIPE_CTX_B), on the same pooled connection, completes 1 and 2 in one UPDATE
#     and deletes 3;
#  4. a transaction without context creates Unattributed (id 4) on that same connection and
#     prints "leak check connection: same" if it got the same server backend as B, else
#     "different";
#  5. RECIPE_WORKERS concurrent workers run RECIPE_REQUESTS requests each over a pool of
#     RECIPE_POOL connections: request i of worker w creates the todo "c<w>-<i>" and then
#     completes it, in one transaction with the context {"request_id": "c<w>-<i>", "worker": w},
#     except every third (i % 3 == 2), which sets no context; prints "client connections: N"
#     (connections its pool opened) and "server connections: N" (distinct backends seen);
#  6. after bemi.sync(), prints what the recipe's reading helpers return (see expected below).

recipe_todo_env() {
    # Values that would break a context built by string concatenation or carried in an SQL
    # comment: a comment end, quotes, percent signs, a Bemi marker, non-ASCII.
    RECIPE_CTX_A=$(cat <<'JSON'
{"request_id": "req-a", "user_id": 187234, "endpoint": "/todo", "method": "POST", "note": "*/ it's 100% done; naïve 日本 ✓"}
JSON
)
    RECIPE_CTX_B=$(cat <<'JSON'
{"request_id": "req-b", "user_id": 42, "endpoint": "/todo/batch", "method": "PATCH", "note": "O'Brien said \"50%%\" */ /*Bemi {\"user_id\": 1} Bemi*/ --"}
JSON
)
    export RECIPE_CTX_A RECIPE_CTX_B RECIPE_WORKERS=8 RECIPE_REQUESTS=6 RECIPE_POOL=4
}

recipe_todo_check() {
    local db=$1 out=$2 mode=$3 max_servers=${4:-$RECIPE_POOL} expected actual statements
    statements=$(cat)
    [[ $(psql -X -A -t -d "$db" -c "SELECT bemi.sync()") == t ]] || bemi_fail "bemi.sync() in $db"

    # Steps 1-4, change by change in commit order: each change carries exactly its own
    # request's context (plus "SQL"), the context-free transaction none.
    local q=(psql -X -A -t -F ' | ' -v ON_ERROR_STOP=1 -d "$db" -v a="$RECIPE_CTX_A" -v b="$RECIPE_CTX_B")
    expected=$("${q[@]}" <<'SQL'
SELECT op, pk, bf, af, ctx FROM (VALUES
  (1, 'CREATE', '1', '{}'::jsonb, '{"id": 1, "task": "Sleep", "is_completed": false}'::jsonb, :'a'::jsonb),
  (2, 'CREATE', '2', '{}', '{"id": 2, "task": "Eat", "is_completed": false}', :'a'),
  (3, 'CREATE', '3', '{}', '{"id": 3, "task": "Repeat", "is_completed": false}', :'a'),
  (4, 'UPDATE', '1', '{"id": 1, "task": "Sleep", "is_completed": false}', '{"id": 1, "task": "Sleep", "is_completed": true}', :'b'),
  (5, 'UPDATE', '2', '{"id": 2, "task": "Eat", "is_completed": false}', '{"id": 2, "task": "Eat", "is_completed": true}', :'b'),
  (6, 'DELETE', '3', '{"id": 3, "task": "Repeat", "is_completed": false}', '{}', :'b'),
  (7, 'CREATE', '4', '{}', '{"id": 4, "task": "Unattributed", "is_completed": false}', '{}')
) e(n, op, pk, bf, af, ctx) ORDER BY n;
SQL
)
    actual=$("${q[@]}" <<'SQL'
SELECT operation, primary_key, before, after, context - 'SQL' FROM bemi.changes
 WHERE schema = 'public' AND "table" = 'todo' AND primary_key IN ('1', '2', '3', '4')
 ORDER BY capture, commit_position, seq;
SQL
)
    recipe_assert_output "the changes of requests A and B" <(echo "$actual") <<<"$expected"
    # ... and exactly the statement that made it, as the ORM sent it.
    actual=$(psql -X -A -t -d "$db" -c "SELECT context->>'SQL' FROM bemi.changes
        WHERE schema = 'public' AND \"table\" = 'todo' AND primary_key IN ('1', '2', '3', '4')
        ORDER BY capture, commit_position, seq")
    recipe_assert_output "the statements of changes 1-7" <(echo "$actual") <<<"$statements"
    # Each request is one transaction.
    actual=$(psql -X -A -t -F ' ' -d "$db" -c "SELECT context->>'request_id', count(*), count(DISTINCT transaction_id)
        FROM bemi.changes WHERE \"table\" = 'todo' AND primary_key IN ('1', '2', '3') GROUP BY 1 ORDER BY 1")
    recipe_assert_output "the transactions of requests A and B" <(echo "$actual") <<<$'req-a 3 1\nreq-b 3 1'

    # Step 5: every change of a request with context carries exactly that context, every
    # change of a request without one carries none, nothing else touched the table, and every
    # change has its statement.
    local total=$((RECIPE_WORKERS * RECIPE_REQUESTS)) without=$((RECIPE_WORKERS * (RECIPE_REQUESTS / 3)))
    expected="$((2 * total)) $((2 * (total - without))) $((2 * without)) $((2 * total + 7))"
    actual=$(psql -X -A -t -F ' ' -v ON_ERROR_STOP=1 -d "$db" <<'SQL'
WITH c AS (
  SELECT coalesce(after->>'task', before->>'task') AS task, context FROM bemi.changes
   WHERE schema = 'public' AND "table" = 'todo' AND primary_key NOT IN ('1', '2', '3', '4')
), r AS (
  SELECT task, context - 'SQL' AS ctx, split_part(substr(task, 2), '-', 1)::int AS w,
         split_part(task, '-', 2)::int AS i
    FROM c WHERE task ~ '^c[0-9]+-[0-9]+$'
)
SELECT (SELECT count(*) FROM c),
       count(*) FILTER (WHERE i % 3 <> 2 AND ctx = jsonb_build_object('request_id', task, 'worker', w)),
       count(*) FILTER (WHERE i % 3 = 2 AND ctx = '{}'),
       (SELECT count(*) FROM bemi.changes WHERE schema = 'public' AND "table" = 'todo'
           AND upper(split_part(ltrim(context->>'SQL'), ' ', 1))
               = CASE operation WHEN 'CREATE' THEN 'INSERT' ELSE operation END)
  FROM r;
SQL
)
    recipe_assert_output "the concurrent changes (all, own context, none, with their SQL)" <(echo "$actual") <<<"$expected"

    # The driver's own output: the connections it used and what the reading helpers returned.
    local clients servers
    clients=$(sed -n 's/^client connections: //p' "$out")
    servers=$(sed -n 's/^server connections: //p' "$out")
    echo "concurrent requests: $total over $clients client connections and $servers server connections"
    [[ $servers -ge 1 && $servers -le $max_servers ]] || bemi_fail "$servers server connections (expected 1..$max_servers)"
    if [[ $mode == direct ]]; then
        grep -qx 'leak check connection: same' "$out" ||
            bemi_fail "the context-free transaction did not run on request B's connection: the leak check proves nothing"
    else
        # Through the pooler, the point is that its clients shared fewer server connections.
        [[ $clients -gt $servers ]] || bemi_fail "$clients client connections did not share $servers server connections"
    fi
    grep -E '^(as_of|history|changes of) ' "$out" >"$out.reading" || true
    recipe_assert_output "the reading helpers" "$out.reading" <<'EOF'
as_of between the requests: 1 Sleep false, 2 Eat false, 3 Repeat false
history 1: CREATE req-a id is_completed task, UPDATE req-b is_completed
history 3: CREATE req-a id is_completed task, DELETE req-b id is_completed task
changes of req-b: UPDATE 1, UPDATE 2, DELETE 3
EOF
}
