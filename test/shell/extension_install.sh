#!/usr/bin/env bash
# What CREATE EXTENSION leaves behind, and what it costs every later DDL:
#   - the role bemi_reader carries its comment on a fresh install (the role was created by an
#     earlier part of the script than the one that commented it, so the comment never ran);
#   - DDL in a database that records no replica-identity schema takes no lock on
#     bemi.replica_identity_schemas (the end-of-DDL event trigger read it in every DDL
#     transaction), while recording a schema still gives its new tables REPLICA IDENTITY FULL.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=../lib/cluster.sh
source "$here/../lib/cluster.sh"

db=bemi_extension_install
trap 'bemi_drop_capture_db $db none' EXIT
bemi_drop_capture_db $db none
q() { psql -X -q -A -t -v ON_ERROR_STOP=1 -d $db "$@"; }
psql -X -q -d postgres -c "CREATE DATABASE $db" >/dev/null

# The role is cluster-wide and may exist from earlier tests: a fresh install is one that
# finds it without a comment (as it is right after the script's first part created it).
psql -X -q -d postgres -c "DO \$\$ BEGIN IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'bemi_reader') THEN
    COMMENT ON ROLE bemi_reader IS NULL; END IF; END \$\$" >/dev/null
q -c "CREATE EXTENSION bemi" >/dev/null
comment=$(q -c "SELECT shobj_description('bemi_reader'::regrole, 'pg_authid')")
[[ -n $comment ]] || bemi_fail "bemi_reader has no comment after CREATE EXTENSION"
echo "ok: bemi_reader: $comment"

locks() { # SQL: the DDL to run; prints the locks it holds on bemi.replica_identity_schemas
    q -c "BEGIN" -c "$1" -c "SELECT count(*) FROM pg_locks WHERE pid = pg_backend_pid()
          AND relation = 'bemi.replica_identity_schemas'::regclass" -c "COMMIT"
}
n=$(locks "CREATE TABLE public.plain (id int PRIMARY KEY)")
[[ $n == 0 ]] || bemi_fail "CREATE TABLE with no schema recorded holds $n lock(s) on bemi.replica_identity_schemas"
n=$(locks "ALTER TABLE public.plain ADD COLUMN note text")
[[ $n == 0 ]] || bemi_fail "ALTER TABLE with no schema recorded holds $n lock(s) on bemi.replica_identity_schemas"
echo "ok: DDL takes no lock on bemi.replica_identity_schemas while no schema is recorded"

q -c "CREATE SCHEMA app" -c "SELECT bemi.set_replica_identity_full('app', true)" >/dev/null
q -c "CREATE TABLE app.later (id int PRIMARY KEY)" >/dev/null
[[ $(q -c "SELECT relreplident FROM pg_class WHERE oid = 'app.later'::regclass") == f ]] ||
    bemi_fail "a new table of a recorded schema did not get REPLICA IDENTITY FULL"
[[ $(q -c "SELECT relreplident FROM pg_class WHERE oid = 'public.plain'::regclass") == d ]] ||
    bemi_fail "a table outside the recorded schema changed identity"
q -c "SELECT bemi.stop_replica_identity_full('app')" >/dev/null
q -c "CREATE TABLE app.after_stop (id int PRIMARY KEY)" >/dev/null
[[ $(q -c "SELECT relreplident FROM pg_class WHERE oid = 'app.after_stop'::regclass") == d ]] ||
    bemi_fail "a new table got REPLICA IDENTITY FULL after its schema was no longer recorded"
n=$(locks "CREATE TABLE public.plain2 (id int PRIMARY KEY)")
[[ $n == 0 ]] || bemi_fail "after the last schema was removed, DDL holds $n lock(s) on bemi.replica_identity_schemas"
echo "ok: recording a schema still gives its new tables REPLICA IDENTITY FULL, and removing it stops that"
