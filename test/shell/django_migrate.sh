#!/usr/bin/env bash
# `python manage.py migrate bemi` (the example project's full migrate): as a superuser on a
# database without the extension (creates it, REPLICA IDENTITY FULL on the project's tables,
# now and for tables created later, or not with BEMI_REPLICA_IDENTITY_FULL = False), twice,
# `migrate bemi zero` (keeps the extension); as an app role (the DBA's SQL, which then
# works); on a server configured without what bemi needs (each setting's SQL, which then works).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=../lib/cluster.sh
source "$here/../lib/cluster.sh"
# shellcheck source-path=SCRIPTDIR source=../lib/django.sh
source "$here/../lib/django.sh"

SU_DB=django_mig_su
OFF_DB=django_mig_off
APP_DB=django_mig_app
ROLE=django_mig_role
bad=$BEMI_TEST_TMPDIR/bad
cleanup() {
    bemi_extra_cluster_stop "$bad"
    for db in $SU_DB $OFF_DB $APP_DB; do bemi_django_drop_db "$db"; done
    psql -X -q -c "DROP ROLE IF EXISTS $ROLE" >/dev/null 2>&1 || true
}
trap cleanup EXIT
bemi_require_preload "migrate bemi waits for capture to start"
cleanup

python=$(bemi_django_venv "$BEMI_TEST_TMPDIR/venv") || bemi_fail "installing clients/django into a venv"
manage() { # DB ARGS... -> output (stdout and stderr); fails as manage.py does
    local db=$1
    shift
    (cd "$(bemi_django_example)" && PYTHONPATH=$here/../django TODO_DATABASE=$db "$python" manage.py "$@" 2>&1)
}
has_line() { # OUTPUT LINE
    grep -qxF -- "$2" <<<"$1" || bemi_fail "expected the line [$2] in:"$'\n'"$1"
}
replica_identities() { # DB -> "table:identity ..." of some project tables and one that is not
    psql -X -A -t -d "$1" -c "SELECT string_agg(relname || ':' || relreplident::text, ' ' ORDER BY relname) FROM pg_class
        WHERE relname IN ('todo', 'auth_user', 'django_session', 'django_content_type', 'django_migrations')"
}
# The version CREATE EXTENSION installs.
version=$(sed -n "s/^default_version = '\(.*\)'$/\1/p" "$here/../../bemi.control")
extension() { psql -X -A -t -d "$1" -c "SELECT coalesce(max(extversion), 'none') FROM pg_extension WHERE extname = 'bemi'"; }

# ---- a superuser, a database without the extension
psql -X -q -c "CREATE DATABASE $SU_DB" >/dev/null
out=$(manage $SU_DB migrate) || bemi_fail "migrate as a superuser: $out"
has_line "$out" "  bemi: extension $version created in database $SU_DB"
has_line "$out" "  bemi: capture is running"
[[ $(extension $SU_DB) == "$version" ]] || bemi_fail "the extension was not created"
got=$(replica_identities $SU_DB)
[[ $got == "auth_user:f django_content_type:f django_migrations:d django_session:f todo:f" ]] ||
    bemi_fail "replica identities after migrate: $got"
out=$(manage $SU_DB migrate) || bemi_fail "the second migrate: $out"
has_line "$out" "  No migrations to apply."
# A table created later (post_migrate): todo dropped and created again.
manage $SU_DB migrate todo zero >/dev/null || bemi_fail "migrate todo zero"
out=$(manage $SU_DB migrate todo) || bemi_fail "migrate todo: $out"
[[ $(replica_identities $SU_DB) == "auth_user:f django_content_type:f django_migrations:d django_session:f todo:f" ]] ||
    bemi_fail "a table created by a later migrate has no full replica identity: $(replica_identities $SU_DB)"
out=$(manage $SU_DB migrate bemi zero) || bemi_fail "migrate bemi zero: $out"
has_line "$out" "  bemi: kept the extension bemi and its audit trail (bemi.changes): dropping it would delete the trail."
has_line "$out" "  bemi: to remove both, a superuser runs: DROP EXTENSION bemi;"
[[ $(extension $SU_DB) == "$version" ]] || bemi_fail "migrate bemi zero dropped the extension"
[[ $(psql -X -A -t -d $SU_DB -c "SELECT count(*) FROM django_migrations WHERE app = 'bemi'") == 0 ]] ||
    bemi_fail "migrate bemi zero did not unapply 0001"
out=$(manage $SU_DB migrate bemi) || bemi_fail "migrate bemi after zero: $out"
has_line "$out" "  bemi: extension $version present in database $SU_DB"
echo "ok: superuser: created, full replica identity now and later, twice, zero keeps the extension"

psql -X -q -c "CREATE DATABASE $OFF_DB" >/dev/null
out=$(manage $OFF_DB migrate --settings=settings_no_replica_identity) || bemi_fail "migrate (replica identity off): $out"
got=$(replica_identities $OFF_DB)
[[ $got == "auth_user:d django_content_type:d django_migrations:d django_session:d todo:d" ]] ||
    bemi_fail "BEMI_REPLICA_IDENTITY_FULL = False still changed replica identities: $got"
echo "ok: BEMI_REPLICA_IDENTITY_FULL = False leaves replica identities alone"

# ---- an app role that is no superuser: the DBA's SQL, run as printed, then migrate again
psql -X -q -c "CREATE ROLE $ROLE LOGIN" -c "CREATE DATABASE $APP_DB OWNER $ROLE" >/dev/null
out=$(PGUSER=$ROLE manage $APP_DB migrate) && bemi_fail "migrate as an app role succeeded without the extension: $out"
grep -qF "BemiNotReady: bemi cannot capture changes in database \"$APP_DB\" yet." <<<"$out" || bemi_fail "no BemiNotReady: $out"
has_line "$out" "1. the extension bemi is not in database \"$APP_DB\" and role \"$ROLE\" may not create it (only superusers can):"
has_line "$out" "       \\c \"$APP_DB\""
has_line "$out" "       CREATE EXTENSION bemi;"
has_line "$out" "2. role \"$ROLE\" may not read the audit trail (bemi.changes):"
has_line "$out" "       GRANT bemi_reader TO \"$ROLE\";"
[[ $(extension $APP_DB) == none ]] || bemi_fail "the app role created the extension"
grep -E '^       ' <<<"$out" | sed 's/^       //' | psql -X -q -v ON_ERROR_STOP=1 >/dev/null ||
    bemi_fail "the printed DBA SQL failed"
# A project table the app role does not own: its DBA line.
psql -X -q -d $APP_DB -c "ALTER TABLE auth_user OWNER TO postgres" >/dev/null
out=$(PGUSER=$ROLE manage $APP_DB migrate) || bemi_fail "migrate as an app role after the DBA's SQL: $out"
has_line "$out" "  bemi: extension $version present in database $APP_DB"
has_line "$out" "      ALTER TABLE public.auth_user REPLICA IDENTITY FULL;"
got=$(replica_identities $APP_DB)
[[ $got == "auth_user:d django_content_type:f django_migrations:d django_session:f todo:f" ]] ||
    bemi_fail "replica identities as an app role: $got"
out=$(PGUSER=$ROLE manage $APP_DB shell -c "from bemi.testing import wait_for_changes; from bemi.models import Change
wait_for_changes(); print(Change.objects.filter(table='todo', operation='CREATE').count())") ||
    bemi_fail "the app role cannot read the trail: $out"
echo "ok: app role: the DBA's SQL as printed, then migrate; a table it does not own gets its DBA line"

# ---- a server without what bemi needs
bad_port=$(BEMI_SHARED_PRELOAD='' BEMI_TEST_EXTRA_CONF=$'wal_level = replica\noutput_plugin_libraries = \'pgoutput\'' \
    bemi_extra_cluster_start "$bad") && [[ -n $bad_port ]] || bemi_fail "could not start the misconfigured cluster"
on_bad() { PGHOST=$bad PGPORT=$bad_port "$@"; }
on_bad psql -X -q -c "CREATE DATABASE app" -c "CREATE ROLE $ROLE LOGIN" -c "CREATE DATABASE app2 OWNER $ROLE" >/dev/null
out=$(PGHOST=$bad PGPORT=$bad_port PGUSER=$ROLE manage app2 migrate bemi) &&
    bemi_fail "migrate as an app role on the misconfigured server succeeded: $out"
has_line "$out" "       ALTER SYSTEM SET wal_level = logical;  -- then restart PostgreSQL"
has_line "$out" "       ALTER SYSTEM SET shared_preload_libraries = <each library SHOW shared_preload_libraries shows, quoted>, 'bemi';  -- then restart PostgreSQL"
has_line "$out" "       CREATE EXTENSION bemi;"
out=$(PGHOST=$bad PGPORT=$bad_port manage app migrate bemi) &&
    bemi_fail "migrate on the misconfigured server succeeded: $out"
[[ $(grep -c '^[0-9]\. ' <<<"$out") == 3 ]] || bemi_fail "expected exactly 3 problems: $out"
has_line "$out" "1. wal_level is replica, bemi reads the WAL's logical records:"
has_line "$out" "       ALTER SYSTEM SET wal_level = logical;  -- then restart PostgreSQL"
has_line "$out" "2. bemi is not in shared_preload_libraries (its hooks and workers start with the server):"
has_line "$out" "       ALTER SYSTEM SET shared_preload_libraries = 'bemi';  -- then restart PostgreSQL"
has_line "$out" "3. bemi is not in output_plugin_libraries (this server lets only listed libraries decode):"
has_line "$out" "       ALTER SYSTEM SET output_plugin_libraries = 'pgoutput', 'bemi';  -- then restart PostgreSQL"
[[ $(on_bad psql -X -A -t -d app -c "SELECT count(*) FROM pg_extension WHERE extname = 'bemi'") == 0 ]] ||
    bemi_fail "the extension was created on a misconfigured server"
grep -E '^       ALTER SYSTEM' <<<"$out" | sed 's/^       //' | on_bad psql -X -q -v ON_ERROR_STOP=1 >/dev/null ||
    bemi_fail "the printed ALTER SYSTEM statements failed"
bemi_extra_cluster_restart "$bad" "$bad_port" || bemi_fail "restarting the fixed cluster"
out=$(PGHOST=$bad PGPORT=$bad_port manage app migrate bemi) ||
    bemi_fail "migrate after the DBA's fix: $out"
has_line "$out" "  bemi: extension $version created in database app"
echo "ok: misconfigured server: each missing setting with its SQL; after running it, migrate works"
