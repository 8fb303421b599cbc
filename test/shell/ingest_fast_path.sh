#!/usr/bin/env bash
# The worker's fast path (src/pg/ingest/batch_store.cpp) stores exactly what bemi._ingest
# stores, and falls back to it for everything unusual:
#   - a varied workload (wide types, NULLs, TOAST, unchanged_toast, a key change, partitions,
#     context with "SQL", actor, json_not_jsonb fallbacks, lineage rows) replayed on two copies
#     of the worker's slot, once with bemi._store_batch (the worker's code: fast path) and once
#     with bemi._ingest, gives the same rows, every column but id, created_at and capture; the
#     worker's own rows agree with both (but for effective_at, whose seed differs);
#   - a trigger on bemi.changes forces the SQL path, which still stores everything;
#   - a record the table refuses (a CHECK constraint) makes the fast path fail: the SQL path
#     stores the batch and a marker row for that record;
#   - a record with \u0000 goes to the SQL path (bemi._record_jsonb);
#   - bemi.status counts the worker's batches that left the fast path and says why the last one
#     did (fast_path_fallbacks, last_fallback).
#
# Run by test/run_tests.sh with PGHOST/PGPORT/PGUSER set and shared_preload_libraries = 'bemi'.
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=../lib/cluster.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/cluster.sh"

DB=bemi_ingest_fast_path
CAP_FAST=00000000-0000-4000-8000-00000000fa57
CAP_SQL=00000000-0000-4000-8000-000000005a1e
export PGDATABASE=postgres

q() { psql -X -q -A -t -v ON_ERROR_STOP=1 -d "$DB" -c "$1"; }
check() { # check DESCRIPTION GOT EXPECTED
    [[ $2 == "$3" ]] || bemi_fail "$1: expected [$3], got [$2]"
    echo "ok: $1"
}

test_cleanup() { # before the database is dropped
    local s
    for s in bemi_fp_fast bemi_fp_sql bemi_fp_dup bemi_fp_none bemi_fp_fb; do
        psql -X -q -d "$DB" -c "SELECT pg_drop_replication_slot('$s') FROM pg_replication_slots WHERE slot_name = '$s'" \
            >/dev/null 2>&1 || true
    done
    psql -X -q -c "DROP ROLE IF EXISTS bemi_fp_nobody" >/dev/null 2>&1 || true
    psql -X -q -c "SELECT pg_replication_origin_drop(roname) FROM pg_replication_origin WHERE roname LIKE 'bemi_ingest_fp_%'" \
        >/dev/null 2>&1 || true
}
test_cleanup
bemi_capture_test "$DB"
SLOT=bemi_$(q "SELECT oid FROM pg_database WHERE datname = current_database()")

# replay SLOT ORIGIN CAPTURE UPTO CALL: stores SLOT's records up to UPTO under CAPTURE in a
# session with a fresh origin ORIGIN (bemi_ingest_*: not captured again), starting from a low
# effective_at seed so that effective_at is each transaction's own running maximum. CALL is
# "store" (bemi._store_batch) or "ingest" (bemi._ingest); PROGRESS, if given, is where the
# origin says everything is stored. Prints "fast=... stored=...".
replay() {
    local slot=$1 origin=$2 capture=$3 upto=$4 call=$5 progress=${6:-} fn advance=
    [[ -z $progress ]] || advance="SELECT pg_replication_origin_advance('$origin', '$progress');"
    if [[ $call == store ]]; then
        fn="SELECT 'fast=' || b.fast || ' stored=' || b.inserted FROM bemi._store_batch('$slot', '$origin', '$upto', '$capture') b"
    else
        fn="SELECT 'fast=false stored=' || b.inserted FROM bemi._ingest('$slot', '$origin', '$upto', '$capture') b"
    fi
    psql -X -q -A -t -v ON_ERROR_STOP=1 -d "$DB" <<SQL | grep -E '^fast='
SELECT pg_replication_origin_create('$origin');
$advance
SELECT pg_replication_origin_session_setup('$origin');
BEGIN;
UPDATE bemi.watermarks SET max_committed_at = '-infinity';
$fn;
COMMIT;
SELECT pg_replication_origin_session_reset();
SELECT pg_replication_origin_drop('$origin');
SELECT pg_drop_replication_slot('$slot');
SQL
}

# ------------------------------------------------------------------ the same rows
q "SELECT pg_copy_logical_replication_slot('$SLOT', 'bemi_fp_fast')" >/dev/null
q "SELECT pg_copy_logical_replication_slot('$SLOT', 'bemi_fp_sql')" >/dev/null
q "SELECT pg_copy_logical_replication_slot('$SLOT', 'bemi_fp_dup')" >/dev/null
q "SELECT pg_copy_logical_replication_slot('$SLOT', 'bemi_fp_none')" >/dev/null
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" >/dev/null <<'SQL'
CREATE TYPE public.mood AS ENUM ('sad', 'ok', 'happy');
CREATE TABLE public.wide (
    id int PRIMARY KEY, i2 smallint, i8 bigint, r real, d double precision, n numeric, b boolean,
    t text, vc varchar(10), c char(3), by bytea, j json, jb jsonb, u uuid, ts timestamp,
    tz timestamptz, dt date, tm time, iv interval, ar int[], tr text[], m mood, ip inet,
    rg int4range, pt point, big text);
ALTER TABLE public.wide REPLICA IDENTITY FULL;
INSERT INTO public.wide VALUES
    (1, 2, 9007199254740993, 1.5, 0.1, 123456789.123456789, true, 'a "quoted" text', 'vc', 'c',
     '\xdeadbeef', '{"k": [1, 2.50, "x"]}', '{"k": {"n": null}}', gen_random_uuid(),
     '2024-01-02 03:04:05.123456', '2024-01-02 03:04:05+02', '2024-02-29', '12:34:56', '1 day 2 hours',
     ARRAY[1, NULL, 3], ARRAY['a', NULL, 'c"d'], 'happy', '10.0.0.1/8', '[1,5)', '(1,2)', 'small'),
    (2, NULL, NULL, 'NaN', '-Infinity', 'NaN', NULL, NULL, NULL, NULL, NULL, 'null', 'null', NULL,
     'infinity', '-infinity', '-infinity', NULL, NULL, '{}', '{}', NULL, NULL, 'empty', NULL, NULL),
    (3, 0, 0, -0, 1e300, 1e-20, false, E'tab\tnewline\nuni é ☃', '', '', '', '"s"', '[]', NULL,
     NULL, NULL, '0001-01-01 BC', NULL, '-1 mons', ARRAY[[1, 2], [3, 4]], NULL, 'sad', '::1', NULL, NULL,
     repeat('toasted value ', 50000));
UPDATE public.wide SET t = 'changed', n = n * 2 WHERE id IN (1, 3);
-- json that jsonb refuses (without \u0000): written as strings, listed in "fallback"
INSERT INTO public.wide (id, j) VALUES (4, '{"n": 1e999999}'), (5, '["\ud800"]');

-- unchanged TOAST under the default replica identity; a key change (previous_primary_key)
CREATE TABLE public.toasty (id int PRIMARY KEY, note text, doc text);
INSERT INTO public.toasty VALUES (1, 'n', repeat('x', 300000)), (2, 'n', repeat('y', 300000));
UPDATE public.toasty SET note = 'unchanged doc' WHERE id = 1;
UPDATE public.toasty SET id = 20 WHERE id = 2;
DELETE FROM public.toasty WHERE id = 20;

-- partitions: root_schema / root_table
CREATE TABLE public.parted (id int, region text, v int, PRIMARY KEY (id, region)) PARTITION BY LIST (region);
CREATE TABLE public.parted_eu PARTITION OF public.parted FOR VALUES IN ('eu');
CREATE TABLE public.parted_us PARTITION OF public.parted FOR VALUES IN ('us')
    PARTITION BY RANGE (id);
CREATE TABLE public.parted_us_low PARTITION OF public.parted_us FOR VALUES FROM (0) TO (1000);
INSERT INTO public.parted VALUES (1, 'eu', 1), (2, 'us', 2);
UPDATE public.parted SET region = 'eu' WHERE id = 2;

-- names and keys the record escapes (quote, backslash, tab) or carries raw (non-ASCII); the
-- fast path unescapes its top-level strings itself
CREATE SCHEMA "sch ""q"" \ é";
CREATE TABLE "sch ""q"" \ é"."tab	le ☃" (k1 text, k2 int, v text, PRIMARY KEY (k1, k2));
INSERT INTO "sch ""q"" \ é"."tab	le ☃" VALUES (E'a"b\\c\td\x01', 1, 'x'), ('é', 2, NULL)
    /*Bemi {"who": "\u00e9 \"q\" \\ \t \u0001"} Bemi*/;
UPDATE "sch ""q"" \ é"."tab	le ☃" SET k1 = 'plain' WHERE k2 = 2;

-- context with "SQL", and a context comment
SELECT bemi_set_context('{"user_id": 7, "endpoint": "/fast", "nested": {"a": [1, "two"]}}');
INSERT INTO public.toasty VALUES (3, 'with context', NULL);
SELECT bemi_clear_context();
UPDATE public.toasty SET note = 'commented' WHERE id = 3 /*Bemi {"request_id": "r-1"} Bemi*/;
TRUNCATE public.parted_eu;
-- many rows in one transaction: more than one multi-insert buffer
INSERT INTO public.toasty SELECT g, 'bulk ' || g, NULL FROM generate_series(100, 2600) g;
SQL
check "sync after the workload" "$(q "SELECT bemi.sync()")" t
UPTO=$(q "SELECT pg_current_wal_flush_lsn()")

FAST=$(replay bemi_fp_fast bemi_ingest_fp_fast $CAP_FAST "$UPTO" store)
SQLR=$(replay bemi_fp_sql bemi_ingest_fp_sql $CAP_SQL "$UPTO" ingest)
[[ $FAST == "fast=true stored="* ]] || bemi_fail "the replay should take the fast path, got [$FAST]"
check "both replays store the same number of rows" "${FAST#fast=true }" "${SQLR#fast=false }"
# Every column but id, created_at and capture; text forms compare jsonb by its canonical text.
COLS="primary_key, before::text, after::text, context::text, database, schema, \"table\", operation,
      committed_at, transaction_id, seq, position, commit_position, previous_primary_key,
      unchanged_toast, actor::text, fallback::text, root_schema, root_table"
diff_rows() { # diff_rows CAPTURE_A CAPTURE_B EXTRA_COLS: rows of A not in B and of B not in A
    q "SELECT count(*) FROM ((SELECT $COLS $3 FROM bemi.changes WHERE capture = '$1'
                              EXCEPT ALL SELECT $COLS $3 FROM bemi.changes WHERE capture = '$2')
                             UNION ALL
                             (SELECT $COLS $3 FROM bemi.changes WHERE capture = '$2'
                              EXCEPT ALL SELECT $COLS $3 FROM bemi.changes WHERE capture = '$1')) x"
}
check "fast path rows = bemi._ingest rows (every column but id, created_at, capture)" \
    "$(diff_rows $CAP_FAST $CAP_SQL ", effective_at")" 0
check "the same jsonb values, bit for bit" \
    "$(q "SELECT count(*) FROM bemi.changes f JOIN bemi.changes s USING (commit_position, seq)
           WHERE f.capture = '$CAP_FAST' AND s.capture = '$CAP_SQL'
             AND (jsonb_send(f.before) <> jsonb_send(s.before) OR jsonb_send(f.after) <> jsonb_send(s.after)
                  OR jsonb_send(f.context) <> jsonb_send(s.context)
                  OR jsonb_send(f.actor) IS DISTINCT FROM jsonb_send(s.actor)
                  OR jsonb_send(f.fallback) IS DISTINCT FROM jsonb_send(s.fallback)
                  OR f.effective_at IS DISTINCT FROM s.effective_at)")" 0
WORKER_CAP=$(q "SELECT bemi._current_capture('$SLOT')")
FIRST=$(q "SELECT min(commit_position) FROM bemi.changes WHERE capture = '$CAP_SQL'")
check "the worker stored the workload's rows" \
    "stored=$(q "SELECT count(*) FROM bemi.changes WHERE capture = '$WORKER_CAP' AND commit_position >= $FIRST")" \
    "${SQLR#fast=false }"
check "the worker's rows = bemi._ingest rows (but effective_at)" \
    "$(q "SELECT count(*) FROM ((SELECT $COLS FROM bemi.changes WHERE capture = '$WORKER_CAP' AND commit_position >= $FIRST
                                 EXCEPT ALL SELECT $COLS FROM bemi.changes WHERE capture = '$CAP_SQL')
                                UNION ALL
                                (SELECT $COLS FROM bemi.changes WHERE capture = '$CAP_SQL'
                                 EXCEPT ALL SELECT $COLS FROM bemi.changes WHERE capture = '$WORKER_CAP' AND commit_position >= $FIRST)) x")" 0
check "the workload's features are in the compared rows" \
    "$(q "SELECT string_agg(CASE WHEN x THEN 't' ELSE 'f' END, '') FROM (VALUES
            ((SELECT count(*) FROM bemi.changes WHERE capture = '$CAP_FAST' AND unchanged_toast IS NOT NULL) > 0),
            ((SELECT count(*) FROM bemi.changes WHERE capture = '$CAP_FAST' AND previous_primary_key IS NOT NULL) > 0),
            ((SELECT count(*) FROM bemi.changes WHERE capture = '$CAP_FAST' AND root_table = 'parted') > 0),
            ((SELECT count(*) FROM bemi.changes WHERE capture = '$CAP_FAST' AND fallback::text LIKE '%json_not_jsonb%') = 2),
            ((SELECT count(*) FROM bemi.changes WHERE capture = '$CAP_FAST' AND context ? 'SQL' AND context->>'user_id' = '7') = 1),
            ((SELECT count(*) FROM bemi.changes WHERE capture = '$CAP_FAST' AND context->>'request_id' = 'r-1') = 1),
            ((SELECT count(*) FROM bemi.changes WHERE capture = '$CAP_FAST' AND actor IS NOT NULL) > 0),
            ((SELECT count(*) FROM bemi.changes WHERE capture = '$CAP_FAST' AND operation = 'TRUNCATE') = 1),
            ((SELECT count(*) FROM bemi.changes WHERE capture = '$CAP_FAST' AND octet_length(after->>'big') > 100000) = 2),
            ((SELECT count(*) FROM bemi.changes WHERE capture = '$CAP_FAST' AND primary_key IS NULL) > 0)) v(x)")" tttttttttt
# Re-delivery under the worker's own capture with an origin that does not cover it: the fast
# path's insert hits the unique key, and bemi._ingest's ON CONFLICT leaves the rows alone.
check "a duplicate batch falls back and stores nothing" \
    "$(replay bemi_fp_dup bemi_ingest_fp_dup "$WORKER_CAP" "$UPTO" store)" "fast=false stored=0"
# Re-delivery with an origin that covers it: the fast path skips every transaction.
check "a batch the origin covers stores nothing" \
    "$(replay bemi_fp_none bemi_ingest_fp_none $CAP_FAST "$UPTO" store "$UPTO")" "fast=true stored=0"
# (max_committed_at of the fast replay's capture was lowered by the second replay's seed.)
check "the fast path moved its watermark like bemi._ingest" \
    "$(q "SELECT (SELECT (stored_through, last_commit_position) FROM bemi.watermarks WHERE capture = '$CAP_FAST')
               = (SELECT (stored_through, last_commit_position) FROM bemi.watermarks WHERE capture = '$CAP_SQL')")" t
q "DELETE FROM bemi.changes WHERE capture IN ('$CAP_FAST', '$CAP_SQL');
   DELETE FROM bemi.watermarks WHERE capture IN ('$CAP_FAST', '$CAP_SQL')" >/dev/null
check "sync after the clean-up" "$(q "SELECT bemi.sync()")" t

# ------------------------------------------------------------------ fallbacks
before=$(q "SELECT count(*) FROM bemi.changes")
# fallback_seen WHAT REASON: bemi.status counts more fallbacks than last time (FALLBACKS), the
# last one for REASON (a LIKE pattern).
FALLBACKS=$(q "SELECT fast_path_fallbacks FROM bemi.status")
fallback_seen() {
    local now
    now=$(q "SELECT fast_path_fallbacks FROM bemi.status")
    check "$1: bemi.status counts the fallback" "$((now > FALLBACKS))" 1
    check "$1: bemi.status says why" \
        "$(q "SELECT last_fallback LIKE '$2' AND last_fallback_at IS NOT NULL FROM bemi.status")" t
    FALLBACKS=$now
}
q "SELECT pg_copy_logical_replication_slot('$SLOT', 'bemi_fp_fb')" >/dev/null
# A trigger on bemi.changes: the SQL path runs it for every row.
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" >/dev/null <<'SQL'
CREATE TABLE public.seen (n int);
CREATE FUNCTION public.count_row() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE public.seen SET n = n + 1;
    RETURN NEW;
END $$;
INSERT INTO public.seen VALUES (0);
CREATE TRIGGER count_row BEFORE INSERT ON bemi.changes FOR EACH ROW EXECUTE FUNCTION public.count_row();
SQL
q "INSERT INTO public.toasty SELECT g, 'trigger ' || g, NULL FROM generate_series(5000, 5099) g" >/dev/null
check "sync with a trigger on bemi.changes" "$(q "SELECT bemi.sync()")" t
check "the SQL path stored every row, through the trigger" \
    "$(q "SELECT (SELECT count(*) FROM bemi.changes WHERE after->>'note' LIKE 'trigger %') || ' ' || (SELECT n >= 100 FROM public.seen)::text")" \
    "100 true"
fallback_seen "a trigger on bemi.changes" "bemi.changes has triggers"
q "DROP TRIGGER count_row ON bemi.changes" >/dev/null

# A row the table refuses: the fast path's constraint check fails, bemi._ingest stores the
# batch and a marker row for that record.
q "ALTER TABLE bemi.changes ADD CONSTRAINT fp_refuse CHECK (primary_key IS DISTINCT FROM '7777') NOT VALID" >/dev/null
q "BEGIN; INSERT INTO public.toasty VALUES (7776, 'before the refused one', NULL), (7777, 'refused', NULL), (7778, 'after it', NULL); COMMIT" >/dev/null
check "sync with a refused record" "$(q "SELECT bemi.sync()")" t
check "the refused record is a marker, the others are stored" \
    "$(q "SELECT string_agg(coalesce(primary_key, 'marker:' || (fallback->0->>'reason')), ' ' ORDER BY seq) FROM bemi.changes
           WHERE \"table\" = 'toasty' AND transaction_id = (SELECT transaction_id FROM bemi.changes WHERE primary_key = '7776')")" \
    "7776 marker:unstorable 7778"
fallback_seen "a refused record" "the fast path failed: %fp_refuse%"
q "ALTER TABLE bemi.changes DROP CONSTRAINT fp_refuse" >/dev/null

# \u0000 in a json value: the batch goes to bemi._ingest (bemi._record_jsonb).
q "INSERT INTO public.wide (id, j) VALUES (6, '{\"a\": \"x\\u0000y\"}')" >/dev/null
check "sync with \\u0000" "$(q "SELECT bemi.sync()")" t
check "the \\u0000 record is stored as text" \
    "$(q "SELECT (after->>'j') || ' ' || (fallback->0->>'reason') FROM bemi.changes WHERE \"table\" = 'wide' AND primary_key = '6'")" \
    '{"a": "x\u0000y"} json_not_jsonb'
fallback_seen "\\u0000" 'a record holds \\u0000'

# The same three batches through bemi._store_batch on a copy: each one leaves the fast path.
UPTO=$(q "SELECT pg_current_wal_flush_lsn()")
q "CREATE TRIGGER count_row BEFORE INSERT ON bemi.changes FOR EACH ROW EXECUTE FUNCTION public.count_row()" >/dev/null
check "bemi._store_batch with a trigger: the SQL path" \
    "$(replay bemi_fp_fb bemi_ingest_fp_fb $CAP_FAST "$UPTO" store)" \
    "fast=false stored=$(q "SELECT count(*) - $before FROM bemi.changes WHERE capture = '$WORKER_CAP'")"
q "DROP TRIGGER count_row ON bemi.changes" >/dev/null
out=$(psql -X -q -A -t -d "$DB" -c "CREATE ROLE bemi_fp_nobody" -c "SET ROLE bemi_fp_nobody" \
          -c "SELECT 1 FROM bemi._store_batch('x', 'y', '0/0', NULL)" 2>&1 || true)
[[ $out == *"permission denied for function _store_batch"* ]] || bemi_fail "bemi._store_batch should be refused to PUBLIC, got: $out"
echo "ok: bemi._store_batch is not for PUBLIC"
