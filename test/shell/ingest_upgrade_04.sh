#!/usr/bin/env bash
# ALTER EXTENSION bemi UPDATE from 0.3 to 0.4 under capture (sql/0.4/20-layout.sql): the trail
# becomes a partitioned bemi.changes, the 0.3 table one of its partitions.
#  - every row stored by 0.3 keeps every value (a full dump of the trail's columns, compared
#    before and after), the hand-written one included (moved to the default partition), and
#    the upgrade records nothing;
#  - a session writes (a plain and a partitioned table) through the upgrade: every change is
#    stored exactly once, in the range partition of its effective_at, none in the default one;
#  - the id sequence goes on after the old ids; time travel still answers.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=../lib/cluster.sh
source "$here/../lib/cluster.sh"
# shellcheck source-path=SCRIPTDIR source=../lib/upgrade.sh
source "$here/../lib/upgrade.sh"

DB=bemi_ingest_upgrade_04
cleanup() {
    bemi_upgrade_writer_stop
    bemi_drop_capture_db "$DB" none
}
trap cleanup EXIT
bemi_require_preload "the ingestion worker fills bemi.changes"
cleanup
q() { psql -X -q -A -t -v ON_ERROR_STOP=1 -d "$DB" -c "$1"; }

bemi_upgrade_db "$DB" 0.3
# Changes under 0.3: a plain table, a partitioned one, transactions of several rows.
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" >/dev/null <<'SQL'
INSERT INTO public.t SELECT g, 'old' FROM generate_series(1, 50) g;
BEGIN;
INSERT INTO public.p VALUES (1, 1), (2000, 2);
UPDATE public.t SET note = 'older' WHERE id < 5;
COMMIT;
DELETE FROM public.t WHERE id = 50;
SQL
q "INSERT INTO bemi.changes (primary_key, before, after, context, database, schema, \"table\", operation,
                             committed_at, transaction_id, seq, position, commit_position)
   VALUES ('h', '{}', '{}', '{}', current_database(), 'public', 'hand', 'CREATE', now(), 1, 0, 0, 0)" >/dev/null
[[ $(q "SELECT bemi.sync()") == t ]] || bemi_fail "sync under 0.3"
# Time travel to the last stored instant (answerable once a later commit is stored: poke).
poke() { q "CREATE TABLE IF NOT EXISTS public.poke (i int); INSERT INTO public.poke VALUES (1)" >/dev/null; [[ $(q "SELECT bemi.sync()") == t ]]; }
as_of_digest="SELECT count(*) || ' ' || md5(string_agg(r::text, '|' ORDER BY r.id)) FROM bemi.as_of(NULL::public.t, :'at') r"
instant_before=$(q "SELECT max(effective_at) FROM bemi.changes")
poke || bemi_fail "sync after poke"
as_of_at() { psql -X -q -A -t -v ON_ERROR_STOP=1 -d "$DB" -v at="$1" <<<"$as_of_digest"; }
as_of_before=$(as_of_at "$instant_before")

# Every column of 0.3's trail, every row.
cols="id, primary_key, before, after, context, database, schema, \"table\", operation, committed_at,
      transaction_id, seq, position, commit_position, created_at, previous_primary_key, unchanged_toast,
      actor, fallback, capture, root_schema, root_table, effective_at"
digest="SELECT count(*) || ' ' || md5(string_agg(($cols)::text, '|' ORDER BY id)) FROM bemi.changes"
old=$(q "$digest")
last_old_id=$(q "SELECT max(id) FROM bemi.changes")

n_writes=300
bemi_upgrade_writer_start "$DB" $n_writes "${BEMI_TEST_TMPDIR:-/tmp}/upgrade_04_writes.sql"
sleep 0.3
start=$(date +%s%N)
q "ALTER EXTENSION bemi UPDATE TO '0.4'" >/dev/null || bemi_fail "ALTER EXTENSION bemi UPDATE TO '0.4'"
echo "upgrade took $(( ($(date +%s%N) - start) / 1000000 )) ms"
bemi_upgrade_writer_wait
[[ $(q "SELECT extversion FROM pg_extension WHERE extname = 'bemi'") == 0.4 ]] || bemi_fail "not at 0.4"
[[ $(q "SELECT bemi.sync()") == t ]] || bemi_fail "sync after the upgrade"

[[ $(q "SELECT relkind FROM pg_class WHERE oid = 'bemi.changes'::regclass") == p ]] || bemi_fail "bemi.changes is not partitioned"
[[ $(q "$digest WHERE id <= $last_old_id") == "$old" ]] || bemi_fail "the upgrade changed stored rows"
[[ $(q "SELECT tableoid::regclass FROM bemi.changes WHERE \"table\" = 'hand'") == bemi.changes_default ]] ||
    bemi_fail "the hand-written row is not in the default partition"
[[ $(q "SELECT count(*) FROM bemi.changes WHERE id > $last_old_id AND schema = 'bemi'") == 0 ]] ||
    bemi_fail "the upgrade was recorded: $(q "SELECT string_agg(DISTINCT \"table\" || ' ' || operation, ', ') FROM bemi.changes WHERE id > $last_old_id AND schema = 'bemi'")"
[[ $(q "SELECT count(*) FROM pg_class WHERE relname = '_upgrade_04_saved'") == 0 ]] || bemi_fail "the upgrade's helper was left"
echo "ok: old rows kept value for value (the hand-written one in the default partition), the upgrade not recorded"

read -r t_total t_distinct p_total p_distinct <<<"$(psql -X -A -t -F ' ' -d "$DB" -c "
    SELECT count(*) FILTER (WHERE \"table\" = 't'), count(DISTINCT primary_key) FILTER (WHERE \"table\" = 't'),
           count(*) FILTER (WHERE root_table = 'p'), count(DISTINCT primary_key) FILTER (WHERE root_table = 'p')
      FROM bemi.changes WHERE id > $last_old_id")"
[[ $t_total == "$n_writes" && $t_distinct == "$n_writes" && $p_total == $((n_writes / 3)) && $p_distinct == $((n_writes / 3)) ]] ||
    bemi_fail "changes written through the upgrade: t $t_total ($t_distinct distinct), p $p_total ($p_distinct distinct); expected $n_writes and $((n_writes / 3))"
[[ $(q "SELECT count(*) FROM bemi.changes c
          WHERE c.effective_at IS NOT NULL
            AND NOT EXISTS (SELECT FROM bemi._trail_partitions() p
                             WHERE p.partition = c.tableoid AND c.effective_at >= p.lower AND c.effective_at < p.upper)") == 0 ]] ||
    bemi_fail "rows outside the range partition of their effective_at"
[[ $(q "SELECT count(*) FROM bemi.changes_default") == 1 ]] || bemi_fail "stored rows in the default partition"
[[ $(q "SELECT bool_and(id > $last_old_id) FROM bemi.changes WHERE after->>'note' = 'during'") == t ]] ||
    bemi_fail "ids of new rows do not continue after the old ones"
echo "ok: $n_writes + $((n_writes / 3)) changes through the upgrade stored once each, in range partitions"

# Time travel answers, the same as before for the instant before the upgrade.
[[ $(as_of_at "$instant_before") == "$as_of_before" ]] ||
    bemi_fail "as_of before the upgrade answers differently: $(as_of_at "$instant_before") vs $as_of_before"
instant_after=$(q "SELECT max(effective_at) FROM bemi.changes")
poke || bemi_fail "sync after poke"
[[ $(as_of_at "$instant_after") == "$((49 + n_writes)) "* ]] ||
    bemi_fail "as_of after the writes: $(as_of_at "$instant_after")"
echo "ok: time travel answers across the upgrade"
