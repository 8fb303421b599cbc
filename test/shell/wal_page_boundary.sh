#!/usr/bin/env bash
# bemi.sync() flushes and waits to the end of the last WAL record written. When that record
# ends exactly at a WAL page boundary, pg_current_wal_insert_lsn() (GetXLogInsertRecPtr) points
# past the next page's header, where no record is yet: flushing to it failed with "xlog flush
# request ... is not satisfied". Non-transactional logical messages of computed sizes put the
# insert position exactly on a page boundary; the test asserts it stands there right before
# bemi.sync() runs, and that bemi.sync() succeeds. Five times.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=../lib/cluster.sh
source "$here/../lib/cluster.sh"

db=bemi_page_boundary
bemi_drop_capture_db $db none
psql -X -q -d postgres -c "CREATE DATABASE $db" >/dev/null
trap 'bemi_drop_capture_db $db none' EXIT
export PGDATABASE=$db
q() { psql -X -q -A -t -v ON_ERROR_STOP=1 -c "$1"; }

q "CREATE EXTENSION bemi" >/dev/null
[[ $(q "SELECT bemi.sync()") == t ]] || bemi_fail "first sync"

# Returns 'boundary <lsn> sync <result>' when bemi.sync() ran with the insert position on a
# page boundary, 'missed' when other WAL writers got in the way every time.
q "$(cat <<'SQL'
CREATE FUNCTION public.sync_on_page_boundary() RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    before pg_lsn;
    after pg_lsn;
    overhead int;
    room int;
    at_boundary pg_lsn;
BEGIN
    -- A message record is MAXALIGN(overhead + length) bytes: measure the overhead with a
    -- length that makes the sum a multiple of 8 (no padding), within one page.
    FOR i IN 1..100 LOOP
        before := pg_current_wal_insert_lsn();
        PERFORM pg_logical_emit_message(false, 'bemi_test_filler', repeat('a', 305));
        after := pg_current_wal_insert_lsn();
        IF div(before - '0/0', 8192) = div(after - '0/0', 8192) THEN
            overhead := (after - before)::int - 305;
            EXIT;
        END IF;
    END LOOP;
    IF overhead IS NULL THEN
        RETURN 'no overhead';
    END IF;
    FOR i IN 1..100 LOOP
        room := 8192 - ((pg_current_wal_insert_lsn() - '0/0') % 8192)::int;
        IF room < overhead + 300 THEN
            -- Too little room for one long-header record: go to the next page.
            PERFORM pg_logical_emit_message(false, 'bemi_test_filler', repeat('a', 1000));
            CONTINUE;
        END IF;
        PERFORM pg_logical_emit_message(false, 'bemi_test_filler', repeat('a', room - overhead));
        at_boundary := pg_current_wal_insert_lsn();
        -- On a page boundary the insert position is the page start plus a short page header
        -- (24 bytes), and nothing was flushed past the page start.
        IF (at_boundary - '0/0') % 8192 = 24 THEN
            RETURN 'boundary ' || at_boundary || ' sync ' || bemi.sync('30 seconds');
        END IF;
    END LOOP;
    RETURN 'missed';
END
$$
SQL
)" >/dev/null

hits=0
for attempt in $(seq 1 10); do
    out=$(q "SELECT public.sync_on_page_boundary()") || bemi_fail "attempt $attempt: bemi.sync() failed on a page boundary"
    case $out in
        "boundary "*" sync true") hits=$((hits + 1)); echo "ok: $out" ;;
        "boundary "*) bemi_fail "attempt $attempt: bemi.sync() did not return true on a page boundary: $out" ;;
        *) echo "attempt $attempt: $out (another WAL writer got in the way)" ;;
    esac
    [[ $hits -ge 5 ]] && break
done
[[ $hits -ge 5 ]] || bemi_fail "reached a page boundary only $hits times"

# The worker stores what came after, as usual.
q "CREATE TABLE public.t (id int PRIMARY KEY)" >/dev/null
q "INSERT INTO public.t VALUES (1)" >/dev/null
[[ $(q "SELECT bemi.sync()") == t ]] || bemi_fail "sync after the boundaries"
[[ $(q "SELECT count(*) FROM bemi.changes WHERE \"table\" = 't'") == 1 ]] || bemi_fail "the insert after the boundaries was not stored"
echo "ok: bemi.sync() succeeded $hits times with the insert position on a WAL page boundary"
