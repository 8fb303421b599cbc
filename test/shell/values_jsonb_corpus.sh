#!/usr/bin/env bash
# Issue 6, reproduction 2: no value and no context can stall capture. A corpus of values that
# the json and text types accept and jsonb does not (numbers beyond numeric's limits and at
# them, \u0000, lone surrogates, bytes that are not UTF-8, NUL) goes into one transaction
# between two ordinary rows:
#   - every record the plugin emits for it casts to jsonb;
#   - each substitute value is flagged in "fallback" with its image, column and reason, and
#     text is kept losslessly (hex);
#   - the worker stores every change of the transaction and capture goes on;
#   - a context with 1e999999 is refused by SET, bemi_set_context() and the comment, and a
#     _bemi message carrying it gives the invalid-context marker instead of a stall.
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=../lib/cluster.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/cluster.sh"

DB=bemi_jsonb_corpus
SLOT=bemi_jsonb_corpus_reader
bemi_capture_test "$DB" "$SLOT"
q() { psql -X -q -A -t -v ON_ERROR_STOP=1 -d "$DB" -c "$1"; }
q "SELECT 1 FROM pg_create_logical_replication_slot('$SLOT', 'bemi')" >/dev/null

# Text that is not UTF-8 cannot be typed in a UTF-8 database; C code can make it (a buggy
# extension, PostgreSQL's own regress.so). A binary-coercible cast from bytea, made by the
# superuser in this throw-away database only, does the same.
q "CREATE CAST (bytea AS text) WITHOUT FUNCTION" >/dev/null
q "CREATE TABLE public.corpus (id int PRIMARY KEY, j json, t text)" >/dev/null
q "CREATE TABLE public.keyed (k text PRIMARY KEY, n int)" >/dev/null

# id | json value | text value (as bytea) | expected fallback entries, "column:reason" sorted
cat > /tmp/bemi_corpus.$$ <<'CORPUS'
2	1e999999	\x6f6b	j:json_not_jsonb
3	1e-999999	\x6f6b	j:json_not_jsonb
4	'1' || repeat('0', 131071)	\x6f6b	
5	'1' || repeat('0', 131072)	\x6f6b	j:json_not_jsonb
6	'0.' || repeat('1', 16383)	\x6f6b	
7	'0.' || repeat('1', 16384)	\x6f6b	j:json_not_jsonb
8	'{"a": [1, "\u0000"]}'	\x6f6b	j:json_not_jsonb
9	'"\ud800"'	\x6f6b	j:json_not_jsonb
10	'{"\udc00": 1}'	\x6f6b	j:json_not_jsonb
11	'"\ud83d\ude00 fine"'	\x636166c3c0646362	t:invalid_text
12	'[0e999999, 1e131071]'	\x636166c30064636261	t:invalid_text
13	'2'	\x610062	t:invalid_text
14	'\x22c322'::bytea::text::json	\xc3	j:invalid_text t:invalid_text
CORPUS

sql="BEGIN; INSERT INTO public.corpus VALUES (1, '{\"first\": true}', 'first');"
while IFS=$'\t' read -r id json bytes _; do
    case $json in
        "'"*) expr=$json ;;
        *) expr="'$json'" ;;
    esac
    sql+=" INSERT INTO public.corpus VALUES ($id, ($expr)::json, '$bytes'::bytea::text);"
done < /tmp/bemi_corpus.$$
sql+=" INSERT INTO public.keyed VALUES ('caf' || '\\xc3'::bytea::text, 1);"
sql+=" UPDATE public.keyed SET k = 'fine' WHERE n = 1;"
sql+=" INSERT INTO public.corpus VALUES (99, '{\"last\": true}', 'last'); COMMIT;"
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" -c "$sql" >/dev/null 2>/tmp/bemi_corpus_err.$$ ||
    bemi_fail "inserting the corpus: $(cat /tmp/bemi_corpus_err.$$)"

# Every record, as emitted, casts to jsonb. bemi's own records (the lineage entries of the
# CREATE TABLEs above) are left out by the schema at the start of the record's text: a record
# that may not cast cannot be read as jsonb to filter it.
q "CREATE TABLE public.emitted AS SELECT data FROM pg_logical_slot_peek_changes('$SLOT', NULL, NULL)
    WHERE data !~ '^\\{\"database\":\"(?:[^\"\\\\]|\\\\.)*\",\"schema\":\"bemi\",'" >/dev/null
q "CREATE FUNCTION public.casts_to_jsonb(t text) RETURNS boolean LANGUAGE plpgsql AS
   \$\$ BEGIN PERFORM t::jsonb; RETURN true; EXCEPTION WHEN others THEN RETURN false; END \$\$" >/dev/null
got=$(q "SELECT count(*) FILTER (WHERE public.casts_to_jsonb(data)) || '/' || count(*) FROM public.emitted")
[[ $got == "17/17" ]] || bemi_fail "records that cast to jsonb: $got (expected 17/17)"
echo "ok: all 17 records of the corpus cast to jsonb"

while IFS=$'\t' read -r id _ _ want; do
    got=$(q "SELECT coalesce(string_agg(e->>'column' || ':' || (e->>'reason'), ' ' ORDER BY e->>'column'), '')
             FROM public.emitted, jsonb_array_elements(coalesce(data::jsonb->'fallback', '[]')) e
             WHERE data::jsonb->>'table' = 'corpus' AND data::jsonb->>'primary_key' = '$id'")
    [[ $got == "$want" ]] || bemi_fail "row $id: fallback '$got', expected '$want'"
    # the image of every entry is "after"
    [[ $(q "SELECT count(*) FROM public.emitted, jsonb_array_elements(coalesce(data::jsonb->'fallback', '[]')) e
            WHERE data::jsonb->>'primary_key' = '$id' AND e->>'image' <> 'after'") == 0 ]] ||
        bemi_fail "row $id: an entry not for the after image"
done < /tmp/bemi_corpus.$$
echo "ok: each substitute value has its fallback entry, rows at the limits have none"

# Lossless: the bytes in hex, the json text as a string; exact values untouched.
got=$(q "SELECT string_agg(data::jsonb->'after'->>'t', ' ' ORDER BY (data::jsonb->>'primary_key')::int)
         FROM public.emitted WHERE data::jsonb->>'primary_key' IN ('11', '13', '14')")
[[ $got == '\x636166c3c0646362 \x610062 \xc3' ]] || bemi_fail "text in hex: $got"
got=$(q "SELECT (data::jsonb->'after'->'j')::text FROM public.emitted WHERE data::jsonb->>'primary_key' = '2'")
[[ $got == '"1e999999"' ]] || bemi_fail "json kept as a string: $got"
got=$(q "SELECT (data::jsonb->'after'->'j' = (SELECT j::jsonb FROM public.corpus WHERE id = 4))::text
         FROM public.emitted WHERE data::jsonb->>'primary_key' = '4'")
[[ $got == true ]] || bemi_fail "131072 digits are exact: $got"
echo "ok: substitutes are lossless, values at the limits exact"

# Keys: the primary key and the previous one.
got=$(q "SELECT string_agg(coalesce(data::jsonb->>'previous_primary_key', '-') || ' ' || (data::jsonb->>'primary_key')
                           || ' ' || (data::jsonb->'fallback')::text, '; ')
         FROM public.emitted WHERE data::jsonb->>'table' = 'keyed'")
want='- \x636166c3 [{"image": "primary_key", "column": "k", "reason": "invalid_text"}, {"image": "after", "column": "k", "reason": "invalid_text"}]; \x636166c3 fine [{"image": "previous_primary_key", "column": "k", "reason": "invalid_text"}, {"image": "before", "column": "k", "reason": "invalid_text"}]'
[[ $got == "$want" ]] || bemi_fail "keys: got '$got', want '$want'"
echo "ok: keys that are not UTF-8 are written in hex, flagged primary_key / previous_primary_key"

# The worker stores the whole transaction, and capture goes on.
[[ $(q "SELECT bemi.sync('30 seconds')") == t ]] || bemi_fail "the worker stalled on the corpus"
got=$(q "SELECT count(*) || ' ' || count(fallback) FROM bemi.changes WHERE \"table\" IN ('corpus', 'keyed')")
[[ $got == "17 13" ]] || bemi_fail "stored rows, rows with fallback: $got (expected 17 13)"
q "INSERT INTO public.corpus VALUES (100, '1', 'after the corpus')" >/dev/null
[[ $(q "SELECT bemi.sync('30 seconds')") == t ]] || bemi_fail "sync after the corpus"
[[ $(q "SELECT count(*) FROM bemi.changes WHERE \"table\" = 'corpus' AND after->>'id' = '100'") == 1 ]] ||
    bemi_fail "capture did not go on"
echo "ok: the worker stored every change of the transaction, and capture goes on"

# Context: the same rules, at the door.
out=$(psql -X -q -d "$DB" -c "SET bemi.context = '{\"n\": 1e999999}'" 2>&1 || true)
[[ $out == *ERROR*numeric* && $out == *HINT* ]] || bemi_fail "SET bemi.context accepted 1e999999: $out"
out=$(psql -X -q -d "$DB" -c "SET bemi.context = '{\"s\": \"\\ud800\"}'" 2>&1 || true)
[[ $out == *ERROR* ]] || bemi_fail "SET bemi.context accepted a lone surrogate: $out"
out=$(psql -X -q -d "$DB" -c "SELECT bemi_set_context('{\"n\": 1e999999}')" 2>&1 || true)
[[ $out == *ERROR* ]] || bemi_fail "bemi_set_context accepted 1e999999: $out"
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" -c "INSERT INTO public.corpus VALUES (101, '1', 'comment') /*Bemi {\"n\": 1e999999} Bemi*/" \
    >/dev/null 2>&1 || bemi_fail "a statement with a bad comment failed"
# Anyone may emit a _bemi message. The hooks emit theirs when the statement starts (it names
# the author), so a message emitted while the statement runs is the one in force for its row.
q "INSERT INTO public.corpus
   SELECT 102, '1', 'message' FROM (SELECT pg_logical_emit_message(true, '_bemi', '{\"n\": 1e999999}')) AS m" >/dev/null
[[ $(q "SELECT bemi.sync('30 seconds')") == t ]] || bemi_fail "the worker stalled on a context"
got=$(q "SELECT string_agg(after->>'id' || ':' || (context ? '_invalid_comment' OR context ? '_invalid_context')::text
                           || ':' || (context ? 'n')::text, ' ' ORDER BY after->>'id')
         FROM bemi.changes WHERE \"table\" = 'corpus' AND after->>'id' IN ('101', '102')")
[[ $got == "101:true:false 102:true:false" ]] || bemi_fail "contexts with 1e999999: $got"
echo "ok: a context beyond numeric is refused by SET and bemi_set_context, and marked invalid in a comment or message"
rm -f /tmp/bemi_corpus.$$ /tmp/bemi_corpus_err.$$
