#!/usr/bin/env bash
# What one statement that changes many rows costs the trail: the bytes bemi.changes (all its
# partitions, indexes and TOAST included) grows by when a single UPDATE with an application
# context and its captured SQL changes BENCH_ROWS rows, per change and in total, and the part
# of it the context column takes (issue 9: "a 1M-row UPDATE must not store its SQL 1M times").
#
#   bench/bulk_update_size.sh          1M rows (about 2 minutes)
#   bench/bulk_update_size.sh --help   this text
#
#   BENCH_ROWS=100000 bench/bulk_update_size.sh   a quick run
#
# Run as root (the server runs as the `postgres` OS user) or as postgres. Starts its own
# throw-away cluster (test/lib/bench.sh's server, fsync off: sizes do not depend on it) and
# removes it on exit. Installs nothing: build and install bemi first.
#
# Table: bulk (id int PRIMARY KEY, note text, n int), BENCH_ROWS rows loaded before
# CREATE EXTENSION bemi (so they are not in the trail). The statement, in one transaction:
#   SELECT bemi_set_context('{"user_id": 187234, "endpoint": "/bulk", "method": "POST"}', true);
#   UPDATE "bulk" SET "n" = ("bulk"."n" + 1) WHERE "bulk"."id" IN (SELECT U0."id" FROM "bulk" U0
#    WHERE U0."n" >= 0)     (how Django writes a queryset's .update(), 118 characters)
# with bemi.capture_sql on (the default), so every stored change carries the context and the SQL.
#
# Environment: PG_CONFIG [/usr/lib/postgresql/15/bin/pg_config], BENCH_ROWS [1000000],
# BENCH_PORT, BENCH_KEEP_TMP=1 keeps the temp dir.

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source-path=SCRIPTDIR source=../test/lib/bench.sh
source "$ROOT/test/lib/bench.sh"
bemi_bench_start bulk_update_size "$0" "$@"
BENCH_ROWS=${BENCH_ROWS:-1000000}
bemi_bench_positive BENCH_ROWS
bemi_bench_prereqs psql
bemi_bench_bemi_server "fsync = off"
bemi_bench_cluster bemi-bulk-size

q() { sqldb bench "$1"; }
# Every relation of the trail: the table or its partitions, with indexes and TOAST
# (pg_partition_tree lists nothing for a table that is not partitioned).
TRAIL_BYTES="SELECT sum(pg_total_relation_size(r))
               FROM (SELECT relid FROM pg_partition_tree('bemi.changes') UNION SELECT 'bemi.changes'::regclass) t (r)"

sql "CREATE DATABASE bench" >/dev/null
q "CREATE TABLE bulk (id int PRIMARY KEY, note text, n int);
   INSERT INTO bulk SELECT g, 'row ' || g, 0 FROM generate_series(1, $BENCH_ROWS) g"
q "CREATE EXTENSION bemi" >/dev/null
[[ $(q "SELECT bemi.sync('60 s')") == t ]] || die "capture did not start"
before=$(q "$TRAIL_BYTES")

t0=$(date +%s.%N)
psql -X -q -v ON_ERROR_STOP=1 -d bench >/dev/null <<'SQL'
BEGIN;
SELECT bemi_set_context('{"user_id": 187234, "endpoint": "/bulk", "method": "POST"}', true);
UPDATE "bulk" SET "n" = ("bulk"."n" + 1) WHERE "bulk"."id" IN (SELECT U0."id" FROM "bulk" U0 WHERE U0."n" >= 0);
COMMIT;
SQL
[[ $(q "SELECT bemi.sync('1 hour')") == t ]] || die "not stored within an hour"
t1=$(date +%s.%N)
q "VACUUM ANALYZE bemi.changes" >/dev/null # settle the free space map so sizes are comparable run to run
after=$(q "$TRAIL_BYTES")

read -r stored context_bytes sql_len < <(q "SELECT count(*), sum(pg_column_size(context)),
                                                   max(length(context->>'SQL'))
                                              FROM bemi.changes WHERE \"table\" = 'bulk'" | tr '|' ' ')
[[ $stored == "$BENCH_ROWS" ]] || die "stored $stored changes, expected $BENCH_ROWS"
awk -v n="$stored" -v b="$before" -v a="$after" -v c="$context_bytes" -v s="$sql_len" -v w="$(echo "$t1 - $t0" | bc)" 'BEGIN {
    printf "bulk_update_size: one UPDATE of %d rows with context and SQL (%d characters), stored in %.1f s\n", n, s, w
    printf "  bemi.changes grew by %.1f MB = %.0f bytes per change (table, TOAST and every index)\n", (a-b)/1048576, (a-b)/n
    printf "  of which the context column holds %.1f MB = %.0f bytes per change\n", c/1048576, c/n
}'
