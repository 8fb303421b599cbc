#!/usr/bin/env bash
# The record keys that appear only sometimes reach bemi.changes too: previous_primary_key on
# a key change, and unchanged_toast for out-of-line values the WAL did not carry.
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=../lib/cluster.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/cluster.sh"

DB=bemi_ingest_extras
bemi_capture_test "$DB"
got=$(psql -X -q -A -t -F '|' -v ON_ERROR_STOP=1 -d "$DB" <<'SQL'
CREATE TABLE t (id int PRIMARY KEY, big text, n int);
ALTER TABLE t ALTER big SET STORAGE EXTERNAL;
INSERT INTO t SELECT 1, string_agg(md5(i::text), ''), 0 FROM generate_series(1, 200) i;
UPDATE t SET n = 1;
UPDATE t SET id = 2;
SELECT bemi.sync() \g /dev/null
SELECT operation, primary_key, coalesce(previous_primary_key, '-'), coalesce(unchanged_toast::text, '-'),
       after ? 'big'
FROM bemi.changes WHERE "table" = 't' ORDER BY id;
SQL
)
expected='CREATE|1|-|-|t
UPDATE|1|-|{big}|f
UPDATE|2|1|{big}|f'
[[ $got == "$expected" ]] || bemi_fail "bemi.changes rows differ:
$got
expected:
$expected"
echo "ok: previous_primary_key and unchanged_toast stored"
