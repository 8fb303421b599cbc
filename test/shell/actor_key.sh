#!/usr/bin/env bash
# The actor's signing key across server restarts, on a cluster of its own:
#   the postmaster creates bemi_actor.key (0600, 16 bytes) at start, before any session;
#   a restart keeps it, so changes made before a restart keep their actor when decoded after;
#   under another key (the file lost) the old messages do not verify: those changes have no
#   actor, but keep their context, and new changes are signed under the new key;
#   a key that cannot be used (wrong size) is a WARNING at start; writes go on, unattributed.
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=../lib/cluster.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/cluster.sh"

bemi_own_test_cluster actor_key
key=$BEMI_TEST_DATADIR/bemi_actor.key

q() { psql -X -q -A -t -v ON_ERROR_STOP=1 -c "$1"; }
stop() { # fast, so the slot's confirmed position is saved (bemi_cluster_stop is immediate)
    bemi_cluster_stop_fast || bemi_fail "pg_ctl stop"
}
restart() {
    bemi_as_pg pg_ctl -D "$BEMI_TEST_DATADIR" -l "$BEMI_TEST_SERVER_LOG" -w -t 60 restart -m fast >/dev/null ||
        bemi_fail "pg_ctl restart"
}
change() { # change ID: one insert with context, as application "key-test"
    PGAPPNAME=key-test psql -X -q -v ON_ERROR_STOP=1 \
        -c "INSERT INTO t VALUES ($1) /*Bemi {\"n\": $1} Bemi*/" >/dev/null
}
decoded() { # the decoded records as "id actor-or-none n" lines
    q "SELECT string_agg((r->'after'->>'id') || ' ' || coalesce(r->'actor'->>'application_name', 'none') || ' ' || (r->'context'->>'n'), ',' ORDER BY (r->>'seq')::int, r->>'commit_position')
       FROM (SELECT data::jsonb AS r FROM pg_logical_slot_get_changes('key_slot', NULL, NULL)) d WHERE r->>'table' = 't'"
}

[[ -f $key ]] || bemi_fail "the postmaster did not create $key"
perms=$(stat -c '%a %s' "$key")
[[ $perms == "600 16" ]] || bemi_fail "key file is '$perms', expected '600 16'"
first=$(od -An -tx1 "$key" | tr -d ' \n')

q "CREATE EXTENSION bemi" >/dev/null
q "CREATE TABLE t (id int PRIMARY KEY)"
q "SELECT pg_create_logical_replication_slot('key_slot', 'bemi')" >/dev/null

# 1. Signed before a restart, decoded after it: the same key is read back.
change 1
restart
[[ $(od -An -tx1 "$key" | tr -d ' \n') == "$first" ]] || bemi_fail "the restart replaced the key"
got=$(decoded)
echo "across a restart: $got"
[[ $got == "1 key-test 1" ]] || bemi_fail "a change made before the restart lost its actor: $got"

# 2. The key is lost: a new one is made at start; old messages no longer verify.
change 2
stop
rm -f "$key"
bemi_cluster_start || bemi_fail "server start"
[[ -f $key && $(od -An -tx1 "$key" | tr -d ' \n') != "$first" ]] || bemi_fail "no new key after the old one was removed"
change 3
got=$(decoded)
echo "under a new key: $got"
[[ $got == "2 none 2,3 key-test 3" ]] || bemi_fail "expected the old change unattributed and the new one signed: $got"

# 3. A key that cannot be used: WARNING at start, writes still work and carry no actor.
stop
bemi_as_pg sh -c "printf short > '$key'"
log_lines=$(wc -l <"$BEMI_TEST_SERVER_LOG")
bemi_cluster_start || bemi_fail "server start with a bad key"
change 4
got=$(decoded)
echo "with a bad key: $got"
[[ $got == "4 none 4" ]] || bemi_fail "a change under an unusable key: $got"
tail -n "+$((log_lines + 1))" "$BEMI_TEST_SERVER_LOG" | grep -q 'WARNING:  bemi: changes are recorded without their actor' ||
    bemi_fail "no WARNING about the unusable key in the server log"
q "SELECT pg_drop_replication_slot('key_slot')" >/dev/null
echo "ok: the key is made at start, kept across restarts, and nothing verifies under another"
