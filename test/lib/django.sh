# shellcheck shell=bash
# Helpers for the Django tests (test/shell/django_*.sh): the bemi Django app installed the way
# its README says (a venv over Debian's Django, pip offline), and the example project.
# Source after cluster.sh.
#
#   bemi_django_venv DIR          venv in DIR with clients/django installed; prints its python
#   bemi_django_example           the example project's directory
#   bemi_django_drop_db DB        drops a database that may have the extension; never fails

bemi_django_example() {
    echo "$BEMI_TEST_SRCDIR/examples/django_todo"
}

bemi_django_venv() {
    local dir=$1 log=$1.log
    # Debian's python, not whatever python3 comes first in PATH: Django and psycopg2 are
    # Debian's packages. pip builds outside the checkout so that no build/ is left in it.
    /usr/bin/python3 -m venv --system-site-packages "$dir" >"$log" 2>&1 || { cat "$log" >&2; return 1; }
    rm -rf "$dir.src"
    cp -r "$BEMI_TEST_SRCDIR/clients/django" "$dir.src"
    (cd "$dir" && "$dir/bin/pip" install --no-build-isolation --no-index --disable-pip-version-check "$dir.src") \
        >>"$log" 2>&1 || { cat "$log" >&2; return 1; }
    echo "$dir/bin/python"
}

bemi_django_drop_db() {
    bemi_drop_capture_db "$1" no_such_slot
}
