#!/usr/bin/env bash
# bemi.history(rel, key) lists the changes of rel's records only (and versions() its versions): not those of an earlier table
# that had rel's name, whether it was dropped or renamed away before rel was created (under the
# name both had, the trail holds both tables' records).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=../lib/cluster.sh
source "$here/../lib/cluster.sh"

DB=bemi_history_same_name
trap 'bemi_drop_capture_db "$DB" none' EXIT

bemi_drop_capture_db "$DB" none
bemi_new_capture_db "$DB"

q() { psql -X -q -A -t -v ON_ERROR_STOP=1 -d "$DB" -c "$1"; }

# history(rel, key) as "operation after" lines, after capture has stored everything.
history() {
    [[ $(q "SELECT bemi.sync()") == t ]] || bemi_fail "bemi.sync()"
    q "SELECT operation || ' ' || after::text FROM bemi.history('$1', '$2')"
}

expect() {
    local what=$1 got=$2 want=$3
    [[ $got == "$want" ]] || bemi_fail "$what:"$'\n'"expected:"$'\n'"$want"$'\n'"got:"$'\n'"$got"
}

# A dropped table of the same name.
q "CREATE TABLE t (id int PRIMARY KEY, v text)"
q "INSERT INTO t VALUES (1, 'old')"
q "UPDATE t SET v = 'old 2' WHERE id = 1"
q "DROP TABLE t"
q "CREATE TABLE t (id int PRIMARY KEY, v text)"
q "INSERT INTO t VALUES (1, 'new')"
expect "history of the new t" "$(history t 1)" 'CREATE {"v": "new", "id": 1}'
# versions() reads the chain from the new t's baseline: the old t's records were never in it.
expect "versions of the new t" "$(q "SELECT primary_key || ' ' || (\"row\").v FROM bemi.versions(NULL::t)")" '1 new'

# A table of the same name renamed away: each keeps its own records.
q "CREATE TABLE r (id int PRIMARY KEY, v text)"
q "INSERT INTO r VALUES (1, 'first')"
q "ALTER TABLE r RENAME TO r_first"
q "CREATE TABLE r (id int PRIMARY KEY, v text)"
q "INSERT INTO r VALUES (1, 'second')"
expect "history of the new r" "$(history r 1)" 'CREATE {"v": "second", "id": 1}'
expect "history of r_first" "$(history r_first 1)" 'CREATE {"v": "first", "id": 1}'

# Dropped and created again in one transaction, the new table written in it: the place of the
# created entry, not the commit, separates the two tables.
q "CREATE TABLE c (id int PRIMARY KEY, v text)"
q "INSERT INTO c VALUES (1, 'dropped')"
q "BEGIN; UPDATE c SET v = 'dropped 2'; DROP TABLE c; CREATE TABLE c (id int PRIMARY KEY, v text);
   INSERT INTO c VALUES (1, 'same transaction'); COMMIT"
q "UPDATE c SET v = 'later' WHERE id = 1"
expect "history of c created again in one transaction" "$(history c 1)" 'CREATE {"v": "same transaction", "id": 1}
UPDATE {"v": "later", "id": 1}'
