#!/usr/bin/env bash
# Streams changes through the bemi plugin with pg_recvlogical (the walsender
# path, not the SQL interface) and checks the records: one JSON object per
# line, with the contract's keys, and CREATE/UPDATE/DELETE for our table. A
# column's type has a trusted (superuser-owned) json cast in PL/pgSQL: a walsender
# decodes with no active snapshot, which SPI needs, and the value must still be
# the cast's (not its text form with a cast_failed fallback).
#
# Run by test/run_tests.sh with PGHOST/PGPORT/PGUSER/PGDATABASE set.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=../lib/cluster.sh
source "$here/../lib/cluster.sh"

SLOT=recv_test
TABLE=recvlogical_t
own_work=
if [[ -n ${BEMI_TEST_TMPDIR:-} ]]; then
    work=$BEMI_TEST_TMPDIR
else
    work=$(mktemp -d)
    own_work=$work
fi
out=$work/recvlogical.out
rm -f "$out"
# Backslash, double quote, tab and non-ASCII: must survive JSON encoding and loading.
TRICKY=$'back\\slash "quoted"\ttab \xc3\xbc\xe2\x82\xac'
export PGCLIENTENCODING=UTF8

# The walsender may take a moment to release the slot after pg_recvlogical exits.
drop_slot() {
    for _ in $(seq 1 100); do
        case $(bemi_sql "SELECT active FROM pg_replication_slots WHERE slot_name = '$SLOT'") in
            "") return 0 ;;
            f) bemi_sql "SELECT pg_drop_replication_slot('$SLOT')" >/dev/null && return 0 ;;
        esac
        sleep 0.1
    done
    return 1
}

cleanup() {
    drop_slot >/dev/null 2>&1 || true
    psql -X -q -c "DROP TABLE IF EXISTS public.$TABLE" -c "DROP TYPE IF EXISTS public.recv_colour CASCADE" \
        -c "DROP FUNCTION IF EXISTS public.recv_colour_json(public.recv_colour)" >/dev/null 2>&1 || true
    [[ -z $own_work ]] || rm -rf "$own_work"
}
trap cleanup EXIT

cleanup
psql -X -q -v ON_ERROR_STOP=1 >/dev/null <<SQL
CREATE TYPE public.recv_colour AS ENUM ('red', 'blue');
CREATE FUNCTION public.recv_colour_json(public.recv_colour) RETURNS json LANGUAGE plpgsql IMMUTABLE STRICT
    AS \$\$ BEGIN RETURN json_build_object('colour', \$1::text); END \$\$;
CREATE CAST (public.recv_colour AS json) WITH FUNCTION public.recv_colour_json(public.recv_colour);
CREATE TABLE public.$TABLE (id int PRIMARY KEY, name text, colour public.recv_colour);
SQL
bemi_sql "SELECT pg_create_logical_replication_slot('$SLOT', 'bemi')" >/dev/null \
    || bemi_fail "could not create logical slot '$SLOT' with plugin bemi"

# Three transactions: INSERT, UPDATE, DELETE.
psql -X -q -v ON_ERROR_STOP=1 -v tricky="$TRICKY" <<SQL
INSERT INTO public.$TABLE VALUES (1, :'tricky', 'red');
UPDATE public.$TABLE SET name = 'updated' WHERE id = 1;
DELETE FROM public.$TABLE WHERE id = 1;
SQL

endpos=$(bemi_sql "SELECT pg_current_wal_insert_lsn()")
echo "streaming slot $SLOT up to $endpos"
timeout 60 pg_recvlogical -d "$PGDATABASE" -S "$SLOT" --start -E "$endpos" --no-loop -f "$out" \
    || bemi_fail "pg_recvlogical failed or timed out (exit status $?)"
[[ -s $out ]] || bemi_fail "pg_recvlogical wrote no output"
echo "--- pg_recvlogical output:"
cat "$out"
echo "---"

# Load the lines verbatim into a temp table (CSV with quote/delimiter bytes
# that never occur in JSON text, so backslashes and quotes are not
# interpreted; the file is psql's stdin) and check them in SQL.  Every check
# prints "ERROR: ..." lines; any such line fails the test.
cat >"$work/check.sql" <<'SQL'
CREATE TEMP TABLE raw (n serial, line text);
\copy raw(line) FROM pstdin WITH (FORMAT csv, QUOTE e'\x01', DELIMITER e'\x02')

CREATE FUNCTION pg_temp.try_jsonb(t text) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    RETURN t::jsonb;
EXCEPTION WHEN others THEN
    RETURN NULL;
END $$;

CREATE TEMP TABLE rec AS
    SELECT n, line, pg_temp.try_jsonb(line) AS j FROM raw;

SELECT format('ERROR: line %s is not a JSON object: %s', n, coalesce(line, '<empty>'))
  FROM rec WHERE j IS NULL OR jsonb_typeof(j) <> 'object' ORDER BY n;

SELECT format('ERROR: line %s lacks key %s', n, k)
  FROM rec
  CROSS JOIN unnest(ARRAY['database', 'schema', 'table', 'operation', 'primary_key', 'before',
                          'after', 'context', 'transaction_id', 'seq', 'position',
                          'commit_position', 'committed_at']) AS k
 WHERE jsonb_typeof(j) = 'object' AND NOT j ? k
 ORDER BY n, k;

SELECT format('ERROR: line %s: record for another table or database: %s', n, line)
  FROM rec
 WHERE jsonb_typeof(j) = 'object'
   AND (j->>'database' IS DISTINCT FROM current_database()
        OR j->>'schema' IS DISTINCT FROM 'public'
        OR j->>'table' IS DISTINCT FROM :'table')
 ORDER BY n;

CREATE TEMP TABLE ours AS
    SELECT row_number() OVER (ORDER BY n) AS i, n, j
      FROM rec
     WHERE jsonb_typeof(j) = 'object' AND j->>'schema' = 'public' AND j->>'table' = :'table';

SELECT format('ERROR: expected operations CREATE,UPDATE,DELETE for public.%s, got %s',
              :'table', coalesce(ops, '<none>'))
  FROM (SELECT string_agg(j->>'operation', ',' ORDER BY i) AS ops FROM ours) o
 WHERE ops IS DISTINCT FROM 'CREATE,UPDATE,DELETE';

SELECT format('ERROR: line %s (%s): %s', n, j->>'operation', problem)
  FROM ours,
  LATERAL (VALUES
     (CASE WHEN j->'primary_key' IS DISTINCT FROM '"1"'::jsonb
           THEN format('primary_key is %s, expected "1"', j->'primary_key') END),
     (CASE WHEN j->>'operation' = 'CREATE' AND j->'after'->>'id' IS DISTINCT FROM '1'
           THEN format('after.id is %s, expected 1', j->'after'->'id') END),
     (CASE WHEN j->>'operation' = 'CREATE' AND j->'after'->>'name' IS DISTINCT FROM :'tricky'
           THEN format('after.name is %s, expected %s', j->'after'->'name', to_jsonb(:'tricky'::text)) END),
     (CASE WHEN j->>'operation' = 'CREATE' AND j->'after'->'colour' IS DISTINCT FROM '{"colour": "red"}'::jsonb
           THEN format('after.colour is %s, expected the cast''s {"colour": "red"}', j->'after'->'colour') END),
     (CASE WHEN j ? 'fallback'
           THEN format('fallback %s, expected none', j->'fallback') END),
     (CASE WHEN j->>'operation' = 'UPDATE' AND j->'after'->>'name' IS DISTINCT FROM 'updated'
           THEN format('after.name is %s, expected "updated"', j->'after'->'name') END),
     (CASE WHEN j->>'operation' = 'DELETE' AND j->'before'->>'id' IS DISTINCT FROM '1'
           THEN format('before.id is %s, expected 1', j->'before'->'id') END)
  ) AS p(problem)
 WHERE problem IS NOT NULL
 ORDER BY n;

SELECT format('checked %s records', count(*)) FROM rec;
SQL
report=$(psql -X -q -A -t -v ON_ERROR_STOP=1 -v table="$TABLE" -v tricky="$TRICKY" \
              -f "$work/check.sql" <"$out") || bemi_fail "checking the output with psql failed"

echo "$report"
if grep -q '^ERROR: ' <<<"$report"; then
    bemi_fail "pg_recvlogical output does not match expectations (see ERROR lines above)"
fi

drop_slot || bemi_fail "could not drop slot $SLOT"
echo "recvlogical: ok"
