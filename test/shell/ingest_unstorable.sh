#!/usr/bin/env bash
# No record stalls capture (docs/ingestion.md, "Records that cannot be stored"):
#  1. a record the table refuses (here a BEFORE INSERT trigger a superuser put on bemi.changes
#     raises for one row) becomes a marker row with its identity and fallback "unstorable";
#     every other change of the same batch and transaction is stored, and capture goes on;
#  2. a record that neither it nor its marker can store with an error nobody can fix from SQL
#     (the trigger raises io_error) stalls ingestion at its transaction: every transaction
#     before it is stored, bemi.status shows its commit position and error, and
#     bemi.skip_transaction() (superuser only, only that position) skips it, recorded in
#     bemi.capture_history, without dropping the slot; capture then goes on.
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=../lib/cluster.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/cluster.sh"

DB=bemi_ingest_unstorable
test_cleanup() { # before the database is dropped
    psql -X -q -d "$DB" -c "DROP TRIGGER IF EXISTS refuse ON bemi.changes" >/dev/null 2>&1
    psql -X -q -c "DROP ROLE IF EXISTS bemi_unstorable_app" >/dev/null 2>&1
}
test_cleanup || true
bemi_capture_test "$DB"
q() { psql -X -q -A -t -v ON_ERROR_STOP=1 -d "$DB" -c "$1"; }
slot_before=$(q "SELECT slot_name || ' ' || restart_lsn FROM pg_replication_slots WHERE database = current_database()")
q "CREATE TABLE public.r (id int PRIMARY KEY, note text)" >/dev/null
q "CREATE FUNCTION public.refuse() RETURNS trigger LANGUAGE plpgsql AS \$\$
BEGIN
    IF NEW.after->>'note' = 'bad' THEN RAISE EXCEPTION 'refused row %', NEW.after->>'id'; END IF;
    IF NEW.after->>'note' = 'disk' OR NEW.before->>'note' = 'disk' THEN
        RAISE EXCEPTION 'could not write block' USING ERRCODE = 'io_error';
    END IF;
    RETURN NEW;
END \$\$" >/dev/null
q "CREATE TRIGGER refuse BEFORE INSERT ON bemi.changes FOR EACH ROW EXECUTE FUNCTION public.refuse()" >/dev/null

# 1. One batch: a transaction of three rows whose middle one is refused, and one after it.
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" -c "BEGIN" -c "INSERT INTO public.r VALUES (1, 'ok'), (2, 'bad'), (3, 'ok')" \
    -c "UPDATE public.r SET note = 'fine' WHERE id = 1" -c "COMMIT" >/dev/null
q "INSERT INTO public.r VALUES (4, 'ok')" >/dev/null
[[ $(q "SELECT bemi.sync('30 seconds')") == t ]] || bemi_fail "sync after an unstorable record (capture stalled?)"
got=$(q "SELECT string_agg(format('%s:%s:%s', coalesce(after->>'id', '-'), operation,
                                  coalesce(fallback->0->>'reason', '')), ' ' ORDER BY capture, commit_position, seq)
           FROM bemi.changes WHERE \"table\" = 'r'")
[[ $got == "1:CREATE: -:CREATE:unstorable 3:CREATE: 1:UPDATE: 4:CREATE:" ]] ||
    bemi_fail "expected the refused row as a marker and every other change stored, got: $got"
read -r marker_ok <<<"$(q "SELECT m.before = '{}' AND m.after = '{}' AND m.context = '{}'
        AND m.fallback->0->>'error' = 'refused row 2' AND m.seq = 1
        AND m.transaction_id = o.transaction_id AND m.commit_position = o.commit_position
        AND m.capture = bemi._current_capture('bemi_' || (SELECT oid FROM pg_database WHERE datname = current_database()))
      FROM bemi.changes m JOIN bemi.changes o ON o.after->>'id' = '3'
     WHERE m.fallback->0->>'reason' = 'unstorable'")"
[[ $marker_ok == t ]] || bemi_fail "the marker row lacks its identity or error"
[[ $(q "SELECT count(*) FROM bemi.changes WHERE \"table\" = 'r' AND fallback IS NOT NULL") == 1 ]] ||
    bemi_fail "more than one marker"
[[ $(q "SELECT coalesce(stalled_at::text, 'none') FROM bemi.status") == none ]] || bemi_fail "stalled after a marker?"
echo "ok: the refused record is a marker row; the 4 other changes of the batch and transaction are stored"

# 2. A stall: the transaction of row 11 cannot be stored at all.
q "INSERT INTO public.r VALUES (10, 'ok')" >/dev/null
stalled_commit=$(q "BEGIN; INSERT INTO public.r VALUES (11, 'ok'), (12, 'disk'); COMMIT;
                    SELECT pg_current_wal_insert_lsn()")
q "INSERT INTO public.r VALUES (13, 'ok')" >/dev/null
stalled=
for _ in $(seq 1 150); do
    stalled=$(q "SELECT coalesce(stalled_at::text, '') FROM bemi.status")
    [[ -n $stalled ]] && break
    sleep 0.1
done
[[ -n $stalled ]] || bemi_fail "no stalled_at in bemi.status"
[[ $(q "SELECT '$stalled'::pg_lsn < '$stalled_commit'::pg_lsn AND last_error LIKE '%could not write block%'
          FROM bemi.status") == t ]] || bemi_fail "stalled_at or last_error wrong: $(q "SELECT stalled_at, last_error FROM bemi.status")"
[[ $(q "SELECT string_agg(after->>'id', ',' ORDER BY commit_position, seq) FROM bemi.changes
         WHERE \"table\" = 'r' AND (after->>'id')::int >= 10") == 10 ]] ||
    bemi_fail "the transaction before the stalled one is not stored (or the stalled one partly is)"
# (0.3) The watermark stops at that transaction too, committed with it.
[[ $(q "SELECT w.last_commit_position = c.commit_position AND w.max_committed_at = c.effective_at
          FROM bemi.watermarks w JOIN bemi.changes c ON c.capture = w.capture AND c.after->>'id' = '10'") == t ]] ||
    bemi_fail "bemi.watermarks is not at the last stored transaction before the stall"
echo "ok: stalled at $stalled, shown in bemi.status with its error; the transaction before it is stored"

# Only a superuser, and only the position shown.
q "CREATE ROLE bemi_unstorable_app LOGIN" >/dev/null
out=$(psql -X -q -A -t -d "$DB" -U bemi_unstorable_app -c "SELECT bemi.skip_transaction('$stalled')" 2>&1) &&
    bemi_fail "a non-superuser could skip a transaction"
[[ $out == *"permission denied"* ]] || bemi_fail "unexpected error for a non-superuser: $out"
out=$(q "SELECT bemi.skip_transaction('$stalled'::pg_lsn + 8)" 2>&1) && bemi_fail "skipped another position"
[[ $out == *"not stalled at"*"HINT"* || $out == *"not stalled at"* ]] || bemi_fail "unexpected error: $out"

skipped=
for _ in $(seq 1 50); do
    skipped=$(q "SELECT bemi.skip_transaction('$stalled')" 2>/dev/null) && break
    sleep 0.2   # the worker may hold the slot for a moment
done
[[ -n $skipped ]] || bemi_fail "bemi.skip_transaction failed: $(q "SELECT bemi.skip_transaction('$stalled')" 2>&1)"
[[ $(q "SELECT bemi.sync('30 seconds')") == t ]] || bemi_fail "sync after the skip"
q "INSERT INTO public.r VALUES (14, 'ok')" >/dev/null
[[ $(q "SELECT bemi.sync('30 seconds')") == t ]] || bemi_fail "sync after the skip"
got=$(q "SELECT string_agg(after->>'id', ',' ORDER BY commit_position, seq) FROM bemi.changes
          WHERE \"table\" = 'r' AND (after->>'id')::int >= 10")
[[ $got == 10,13,14 ]] || bemi_fail "after the skip expected 10,13,14 got $got"
[[ $(q "SELECT count(*) FROM bemi.capture_history WHERE event = 'transaction_skipped' AND gap_from = '$stalled'
          AND recorded_by = 'postgres' AND detail LIKE '%could not write block%'") == 1 ]] ||
    bemi_fail "the skip is not recorded in bemi.capture_history"
[[ $(q "SELECT gaps = 1 AND stalled_at IS NULL FROM bemi.status") == t ]] || bemi_fail "bemi.status after the skip"
[[ $(q "SELECT slot_name || ' ' || restart_lsn FROM pg_replication_slots WHERE database = current_database()") == "${slot_before%% *} "* ]] ||
    bemi_fail "the slot was replaced"
[[ $(q "SELECT count(*) FROM bemi.capture_history WHERE event <> 'transaction_skipped'") == 1 ]] ||
    bemi_fail "the slot was recreated (history has more than capture_started)"
echo "ok: bemi.skip_transaction skipped only the stalled transaction, recorded it, and capture went on with the same slot"
