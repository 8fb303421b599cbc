#!/usr/bin/env bash
# A project's own test suite keeps working with bemi installed: the example project's
# `manage.py test`, serial and with --parallel 2 (test databases cloned from a template that
# has the extension), passes, and leaves no test database behind.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=../lib/cluster.sh
source "$here/../lib/cluster.sh"
# shellcheck source-path=SCRIPTDIR source=../lib/django.sh
source "$here/../lib/django.sh"

DB=django_manage
test_dbs() {
    psql -X -A -t -c "SELECT string_agg(datname, ' ' ORDER BY datname) FROM pg_database WHERE datname LIKE 'test_${DB}%'"
}
cleanup() {
    local db
    for db in $(test_dbs); do bemi_django_drop_db "$db"; done
}
trap cleanup EXIT
bemi_require_preload "the suite's TransactionTestCase reads the trail"
cleanup

python=$(bemi_django_venv "$BEMI_TEST_TMPDIR/venv") || bemi_fail "installing clients/django into a venv"
for args in "" "--parallel 2"; do
    # shellcheck disable=SC2086  # $args is zero or two words
    out=$(cd "$(bemi_django_example)" && TODO_DATABASE=$DB "$python" manage.py test --noinput -v 1 $args 2>&1) ||
        bemi_fail "manage.py test $args failed:"$'\n'"$out"
    { grep -qx "Ran 3 tests in .*" <<<"$out" && grep -qx "OK" <<<"$out"; } ||
        bemi_fail "manage.py test $args did not run the 3 tests:"$'\n'"$out"
    left=$(test_dbs)
    [[ -z $left ]] || bemi_fail "manage.py test $args left test databases behind: $left"
    echo "ok: manage.py test $args"
done
