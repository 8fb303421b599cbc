#!/usr/bin/env bash
# Issue 6, reproductions 1 and 2c: no code a non-superuser controls runs inside decoding.
#   - escalation: a type owner's json cast runs COPY ... TO PROGRAM that would make the owner
#     superuser. Neither the ingestion worker (bemi.sync) nor a superuser reading a bemi slot
#     runs it: the program never ran, the role is not superuser, and the values (a column, an
#     array, a composite) are the type's text with fallback "untrusted_cast";
#   - a superuser-owned cast is still used, exactly, without a fallback entry;
#   - a type owner's cast that writes (which would end every decoding with "output plugin
#     used XID") does not stall capture: later changes are stored.
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=../lib/cluster.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/cluster.sh"

DB=bemi_untrusted_cast
SLOT=bemi_untrusted_cast_reader
test_cleanup() { psql -X -q -c "DROP ROLE IF EXISTS bemi_attacker" >/dev/null 2>&1; }
bemi_capture_test "$DB" "$SLOT" "the ingestion worker decodes as the bootstrap superuser"
test_cleanup || true
psql -X -q -c "CREATE ROLE bemi_attacker LOGIN NOSUPERUSER" >/dev/null
q() { psql -X -q -A -t -v ON_ERROR_STOP=1 -d "$DB" -c "$1"; }
as_attacker() { psql -X -q -A -t -v ON_ERROR_STOP=1 -d "$DB" -U bemi_attacker -c "$1"; }

q "GRANT CREATE ON SCHEMA public TO bemi_attacker" >/dev/null
q "SELECT 1 FROM pg_create_logical_replication_slot('$SLOT', 'bemi')" >/dev/null

datadir=$(q "SHOW data_directory")
marker="$datadir/bemi_cast_ran.$$" # unique: an earlier run may have left one
psql_bin="$(bemi_pg_bindir)/psql"
sockdir=$(q "SHOW unix_socket_directories" | cut -d, -f1)
port=$(q "SHOW port")
program="touch '$marker'; '$psql_bin' -X -h '$sockdir' -p $port -U postgres -d postgres -c 'ALTER ROLE bemi_attacker SUPERUSER'"

# The attacker's migration: a type, a cast to json that runs a program as whoever calls it,
# and a tracked table using the type directly, in an array and in a composite.
as_attacker "CREATE TYPE public.mood AS ENUM ('happy', 'sad')" >/dev/null
as_attacker "CREATE TYPE public.mood_box AS (m public.mood, n integer)" >/dev/null
as_attacker "CREATE FUNCTION public.mood_to_json(public.mood) RETURNS json LANGUAGE plpgsql AS \$f\$
BEGIN
    EXECUTE format('COPY (SELECT 1) TO PROGRAM %L', \$p\$$program\$p\$);
    RETURN json_build_object('mood', \$1::text);
END \$f\$" >/dev/null
as_attacker "CREATE CAST (public.mood AS json) WITH FUNCTION public.mood_to_json(public.mood)" >/dev/null
as_attacker "CREATE TABLE public.diary (id int PRIMARY KEY, m public.mood, ma public.mood[], mb public.mood_box,
             note text)" >/dev/null
# A superuser-owned cast (as an extension installs one) stays in use.
q "CREATE TYPE public.colour AS ENUM ('red', 'blue')" >/dev/null
q "CREATE FUNCTION public.colour_to_json(public.colour) RETURNS json LANGUAGE sql IMMUTABLE STRICT
   AS \$\$ SELECT pg_catalog.json_build_object('colour', \$1::text) \$\$" >/dev/null
q "CREATE CAST (public.colour AS json) WITH FUNCTION public.colour_to_json(public.colour)" >/dev/null
q "CREATE TABLE public.paint (id int PRIMARY KEY, c public.colour, ca public.colour[])" >/dev/null

as_attacker "INSERT INTO public.diary VALUES (1, 'happy', '{sad,happy}', ROW('sad', 7), 'hello')" >/dev/null
q "INSERT INTO public.paint VALUES (1, 'blue', '{red}')" >/dev/null

[[ $(q "SELECT bemi.sync('30 seconds')") == t ]] || bemi_fail "bemi.sync() did not finish"
records=$(q "SELECT count(*) FROM pg_logical_slot_get_changes('$SLOT', NULL, NULL)
             WHERE data::jsonb->>'table' IN ('diary', 'paint')")
[[ $records == 2 ]] || bemi_fail "a superuser reading the slot got $records records (expected 2)"

[[ $(q "SELECT (pg_stat_file('$marker', true)).size IS NULL") == t ]] ||
    bemi_fail "the attacker's cast ran: $marker exists"
[[ $(q "SELECT rolsuper FROM pg_roles WHERE rolname = 'bemi_attacker'") == f ]] ||
    bemi_fail "bemi_attacker became superuser"
echo "ok: the untrusted cast never ran, neither in the worker nor for a superuser reading a slot"

got=$(q "SELECT after->>'m' || ' ' || (after->'ma')::text || ' ' || (after->'mb')::text || ' ' || (fallback)::text
         FROM bemi.changes WHERE \"table\" = 'diary'")
want='happy "{sad,happy}" "(sad,7)" [{"image": "after", "column": "m", "reason": "untrusted_cast"}, {"image": "after", "column": "ma", "reason": "untrusted_cast"}, {"image": "after", "column": "mb", "reason": "untrusted_cast"}]'
[[ $got == "$want" ]] || bemi_fail "diary record: got '$got', want '$want'"
echo "ok: column, array and composite are the text form, flagged untrusted_cast"

got=$(q "SELECT (after = (SELECT to_jsonb(p) FROM public.paint p WHERE id = 1))::text || ' ' || (fallback IS NULL)::text
         FROM bemi.changes WHERE \"table\" = 'paint'")
[[ $got == "true true" ]] || bemi_fail "the superuser-owned cast was not used exactly (exact, no fallback: $got)"
echo "ok: a superuser-owned cast is still used, with no fallback entry"

# Reproduction 2c: a type owner's cast that writes. Run, it would end every decoding of this
# transaction with "output plugin used XID", and nothing could undo it (decoding sees the
# catalog as it was).
as_attacker "CREATE TABLE public.scratch (id int)" >/dev/null
as_attacker "INSERT INTO public.scratch VALUES (1)" >/dev/null # so that the DELETE assigns an xid
as_attacker "CREATE TYPE public.noisy AS ENUM ('loud')" >/dev/null
as_attacker "CREATE FUNCTION public.noisy_to_json(public.noisy) RETURNS json LANGUAGE plpgsql AS \$f\$
BEGIN
    DELETE FROM public.scratch;
    PERFORM pg_current_xact_id(); -- assigns an xid even where the DELETE did not
    RETURN to_json(\$1::text);
END \$f\$" >/dev/null
as_attacker "CREATE CAST (public.noisy AS json) WITH FUNCTION public.noisy_to_json(public.noisy)" >/dev/null
as_attacker "CREATE TABLE public.noise (id int PRIMARY KEY, v public.noisy)" >/dev/null
as_attacker "INSERT INTO public.noise VALUES (1, 'loud')" >/dev/null
q "INSERT INTO public.paint VALUES (2, 'red', '{}')" >/dev/null
[[ $(q "SELECT bemi.sync('30 seconds')") == t ]] || bemi_fail "capture stalled on a writing cast"
records=$(q "SELECT count(*) FROM pg_logical_slot_get_changes('$SLOT', NULL, NULL) WHERE data::jsonb->>'table' = 'noise'" 2>&1) ||
    bemi_fail "reading a slot over the writing cast failed: $records"
[[ $records == 1 ]] || bemi_fail "reading a slot over the writing cast: $records records (expected 1)"
got=$(q "SELECT (SELECT count(*) FROM bemi.changes WHERE \"table\" = 'noise' AND after->>'v' = 'loud'
                 AND fallback->0->>'reason' = 'untrusted_cast')::text || ' ' ||
                (SELECT count(*) FROM bemi.changes WHERE \"table\" = 'paint')::text")
[[ $got == "1 2" ]] || bemi_fail "after a writing cast: noise rows, paint rows = $got (expected 1 2)"
echo "ok: a writing cast owned by a non-superuser does not stall capture"

# Trust follows ownership: given away to a non-superuser (who could now replace it), the same
# cast is no longer run, decided again within one decoding session.
# One transaction, so that one decoding session sees both rows around the change.
q "BEGIN; INSERT INTO public.paint VALUES (3, 'red', '{red}');
   ALTER FUNCTION public.colour_to_json(public.colour) OWNER TO bemi_attacker;
   INSERT INTO public.paint VALUES (4, 'blue', '{blue}'); COMMIT" >/dev/null
[[ $(q "SELECT bemi.sync('30 seconds')") == t ]] || bemi_fail "sync after the owner change"
got=$(q "SELECT string_agg(after->>'id' || ':' || jsonb_typeof(after->'c') || ':' || coalesce(fallback->>0, '-'), ' '
                           ORDER BY after->>'id')
         FROM bemi.changes WHERE \"table\" = 'paint' AND after->>'id' IN ('3', '4')")
want='3:object:- 4:string:{"image": "after", "column": "c", "reason": "untrusted_cast"}'
[[ $got == "$want" ]] || bemi_fail "after the owner change: got '$got', want '$want'"
echo "ok: a cast given away to a non-superuser is no longer run"
