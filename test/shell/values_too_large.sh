#!/usr/bin/env bash
# Issue 6, "no input can stall capture": a value jsonb cannot hold because of its size. A
# record's jsonb form is limited to 256 MiB, and JSON structure takes up to six times its text
# there, so the decoder weighs each value as it writes it; the one that would take the record
# past the budget is written as null and flagged "too_large". Asserted:
#   - every record casts to jsonb, and the worker stores every change of the transaction;
#   - a 100 MiB text stays exact; a 250 MiB text and a 50 MiB json array of numbers (about
#     300 MiB as jsonb) are null with a too_large entry; the rest of their rows is exact.
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=../lib/cluster.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/cluster.sh"

DB=bemi_too_large
SLOT=bemi_too_large_reader
bemi_capture_test "$DB" "$SLOT"
q() { psql -X -q -A -t -v ON_ERROR_STOP=1 -d "$DB" -c "$1"; }
q "SELECT 1 FROM pg_create_logical_replication_slot('$SLOT', 'bemi')" >/dev/null
q "CREATE TABLE public.big (id int PRIMARY KEY, t text, j json, n int)" >/dev/null

mib=$((1024 * 1024))
q "BEGIN;
   INSERT INTO public.big VALUES (1, repeat('x', 100 * $mib), '{}', 1);
   INSERT INTO public.big VALUES (2, repeat('y', 250 * $mib), '{}', 2);
   INSERT INTO public.big VALUES (3, 'small', ('[' || repeat('1,', 25 * $mib) || '1]')::json, 3);
   INSERT INTO public.big VALUES (4, 'last', '{\"ok\": true}', 4);
   COMMIT;" >/dev/null

# Each record as the plugin writes it: it casts to jsonb, and says what fell back.
got=$(q "SELECT string_agg(r->'after'->>'id' || ':' || coalesce(length(r->'after'->>'t'), -1) || ':'
                           || coalesce(jsonb_typeof(r->'after'->'j'), 'null') || ':' || (r->'after'->>'n')
                           || ':' || coalesce(r->>'fallback', '-'), ' ' ORDER BY r->'after'->>'id')
         FROM (SELECT data::jsonb AS r FROM pg_logical_slot_get_changes('$SLOT', NULL, NULL)) AS c
        WHERE r->>'table' = 'big'")
want="1:104857600:object:1:- 2:-1:object:2:[{\"image\": \"after\", \"column\": \"t\", \"reason\": \"too_large\"}] 3:5:null:3:[{\"image\": \"after\", \"column\": \"j\", \"reason\": \"too_large\"}] 4:4:object:4:-"
[[ $got == "$want" ]] || bemi_fail "records: got '$got', want '$want'"
echo "ok: every record casts to jsonb; the values past the budget are null and flagged too_large"

[[ $(q "SELECT bemi.sync('120 seconds')") == t ]] || bemi_fail "the worker stalled on large values"
got=$(q "SELECT string_agg(after->>'id' || ':' || coalesce(fallback->0->>'reason', '-'), ' ' ORDER BY after->>'id')
         FROM bemi.changes WHERE \"table\" = 'big'")
[[ $got == "1:- 2:too_large 3:too_large 4:-" ]] || bemi_fail "stored: $got"
q "INSERT INTO public.big VALUES (5, 'after', NULL, 5)" >/dev/null
[[ $(q "SELECT bemi.sync('60 seconds')") == t ]] || bemi_fail "sync after the large values"
[[ $(q "SELECT count(*) FROM bemi.changes WHERE \"table\" = 'big' AND after->>'id' = '5'") == 1 ]] ||
    bemi_fail "capture did not go on"
echo "ok: the worker stored every change of the transaction, and capture goes on"
