#!/usr/bin/env bash
# The Django app driven through Django's test client against this server, as the original
# bemi-django README's todo app: the walk-through's five changes with their request's context
# and statement, Django's own writes, every write path, reading and time travel from the ORM
# (test/django/todo_trail.py); contexts never crossing requests under threads and ASGI, values
# that could break the comment, a failing and a slow context function
# (test/django/todo_isolation.py).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=../lib/cluster.sh
source "$here/../lib/cluster.sh"
# shellcheck source-path=SCRIPTDIR source=../lib/django.sh
source "$here/../lib/django.sh"

DB=django_todo
trap 'bemi_django_drop_db $DB' EXIT
bemi_require_preload "every request's statements must be captured"

bemi_django_drop_db $DB
psql -X -q -c "CREATE DATABASE $DB" >/dev/null
python=$(bemi_django_venv "$BEMI_TEST_TMPDIR/venv") || bemi_fail "installing clients/django into a venv"
export TODO_DATABASE=$DB
"$python" "$here/../django/todo_trail.py" || bemi_fail "todo_trail.py"
"$python" "$here/../django/todo_isolation.py" || bemi_fail "todo_isolation.py"
echo "ok: the Django app's trail"
