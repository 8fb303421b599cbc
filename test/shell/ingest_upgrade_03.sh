#!/usr/bin/env bash
# ALTER EXTENSION bemi UPDATE from 0.2 to 0.3 under capture (sql/0.3/10-trail.sql):
#  - rows stored by 0.2 get effective_at, the running maximum of committed_at in the order
#    (capture, commit_position, seq) with rows written by hand (capture NULL) first, and keep
#    every other value; the fill is not recorded in the trail (a table rewrite, not an UPDATE);
#  - bemi.watermarks starts at the last stored commit of the current capture;
#  - capture goes on while a session writes through the upgrade: every change is stored once,
#    with effective_at and, for partitions, root_schema/root_table.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=../lib/cluster.sh
source "$here/../lib/cluster.sh"
# shellcheck source-path=SCRIPTDIR source=../lib/upgrade.sh
source "$here/../lib/upgrade.sh"

DB=bemi_ingest_upgrade_03
cleanup() {
    bemi_upgrade_writer_stop
    bemi_drop_capture_db "$DB" none
}
trap cleanup EXIT
bemi_require_preload "the ingestion worker fills bemi.changes"
cleanup
q() { psql -X -q -A -t -v ON_ERROR_STOP=1 -d "$DB" -c "$1"; }

bemi_upgrade_db "$DB" 0.2
# Changes under 0.2: a plain table, a partitioned one, transactions of several rows.
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" >/dev/null <<'SQL'
INSERT INTO public.t SELECT g, 'old' FROM generate_series(1, 10) g;
BEGIN;
INSERT INTO public.p VALUES (1, 1), (2000, 2);
UPDATE public.t SET note = 'older' WHERE id < 5;
COMMIT;
INSERT INTO public.t VALUES (11, 'x');
INSERT INTO public.t VALUES (12, 'y');
SQL
[[ $(q "SELECT bemi.sync()") == t ]] || bemi_fail "sync under 0.2"
# A commit time out of order (as a clock stepping back would leave): the transaction of t's
# row 11 gets a time an hour ahead, so row 12's transaction, after it in the order, must get
# that time as effective_at. And a row written by hand (capture NULL), with a late time: it
# sorts first, so every stored row's effective_at is at least its time. Both edits are
# recorded (superuser edits of the trail are), which is fine: they are rows of the trail too.
q "UPDATE bemi.changes SET committed_at = committed_at + interval '1 hour' WHERE \"table\" = 't' AND primary_key = '11'" >/dev/null
q "INSERT INTO bemi.changes (primary_key, before, after, context, database, schema, \"table\", operation,
                             committed_at, transaction_id, seq, position, commit_position)
   VALUES ('h', '{}', '{}', '{}', current_database(), 'public', 'hand', 'CREATE',
           (SELECT min(committed_at) FROM bemi.changes) + interval '1 minute', 1, 0, 999999999999, 999999999999)" >/dev/null
[[ $(q "SELECT bemi.sync()") == t ]] || bemi_fail "sync after the edits"

cols="id, primary_key, before, after, context, database, schema, \"table\", operation, committed_at,
      transaction_id, seq, position, commit_position, created_at, previous_primary_key, unchanged_toast,
      actor, fallback, capture"
old=$(q "SELECT count(*) || ' ' || md5(string_agg(($cols)::text, '|' ORDER BY id)) FROM bemi.changes")
last_old_id=$(q "SELECT max(id) FROM bemi.changes")

# A writer through the upgrade: single-row transactions, each numbered.
n_writes=400
bemi_upgrade_writer_start "$DB" $n_writes "${BEMI_TEST_TMPDIR:-/tmp}/upgrade_03_writes.sql"
sleep 0.3
start=$(date +%s%N)
# Checked in the upgrade's transaction, before any batch of 0.3 moved it (the worker waits for
# the lock the upgrade holds on bemi.changes): the seeded watermark of the current capture.
seeded=$(psql -X -q -A -t -v ON_ERROR_STOP=1 -d "$DB" -c "BEGIN" -c "ALTER EXTENSION bemi UPDATE TO '0.3'" \
    -c "SELECT count(*) || ' ' ||
               bool_and(w.capture = bemi._current_capture('bemi_' || d.oid)
                        AND w.last_commit_position = (SELECT max(commit_position) FROM bemi.changes WHERE capture = w.capture)
                        AND w.max_committed_at = (SELECT max(effective_at) FROM bemi.changes WHERE capture = w.capture)
                        AND w.stored_through = pg_replication_origin_progress('bemi_ingest_' || d.oid, false))
          FROM bemi.watermarks w, pg_database d WHERE d.datname = current_database()" -c "COMMIT") ||
    bemi_fail "ALTER EXTENSION bemi UPDATE"
[[ $seeded == "1 true" ]] || bemi_fail "the watermark the upgrade seeds: $seeded"
echo "upgrade took $(( ($(date +%s%N) - start) / 1000000 )) ms"
upgraded_at=$(q "SELECT clock_timestamp()")
bemi_upgrade_writer_wait
[[ $(q "SELECT extversion FROM pg_extension WHERE extname = 'bemi'") == 0.3 ]] || bemi_fail "not at 0.3"
[[ $(q "SELECT bemi.sync()") == t ]] || bemi_fail "sync after the upgrade"

# The old rows: every old value unchanged, effective_at filled as the running maximum.
[[ $(q "SELECT count(*) || ' ' || md5(string_agg(($cols)::text, '|' ORDER BY id)) FROM bemi.changes WHERE id <= $last_old_id") == "$old" ]] ||
    bemi_fail "the upgrade changed stored rows"
got=$(q "SELECT count(*) FILTER (WHERE effective_at IS NULL) || ' ' ||
                count(*) FILTER (WHERE effective_at IS DISTINCT FROM running) || ' ' ||
                count(*) FILTER (WHERE effective_at > committed_at)
           FROM (SELECT effective_at, committed_at,
                        max(committed_at) OVER (ORDER BY capture NULLS FIRST, commit_position) AS running
                   FROM bemi.changes WHERE id <= $last_old_id) c")
read -r missing wrong raised <<<"$got"
[[ $missing == 0 && $wrong == 0 ]] || bemi_fail "effective_at of the old rows: $missing missing, $wrong not the running maximum"
[[ $raised -gt 0 ]] || bemi_fail "no old row has effective_at > committed_at: the out-of-order commit time was not carried"
[[ $(q "SELECT (SELECT effective_at FROM bemi.changes WHERE \"table\" = 't' AND primary_key = '12')
             = (SELECT committed_at FROM bemi.changes WHERE \"table\" = 't' AND primary_key = '11')") == t ]] ||
    bemi_fail "row 12 does not carry the later commit time of row 11's transaction"
[[ $(q "SELECT count(*) FROM bemi.changes WHERE root_table IS NOT NULL AND id <= $last_old_id") == 0 ]] ||
    bemi_fail "old rows got a root (0.2 did not store it)"
# Nothing of the upgrade itself is in the trail: no row of bemi's tables after the old ones.
[[ $(q "SELECT count(*) FROM bemi.changes WHERE id > $last_old_id AND schema = 'bemi'") == 0 ]] ||
    bemi_fail "the upgrade was recorded: $(q "SELECT string_agg(DISTINCT \"table\" || ' ' || operation, ', ') FROM bemi.changes WHERE id > $last_old_id AND schema = 'bemi'")"
[[ $(q "SELECT count(*) FROM pg_class WHERE relname = '_effective_at_fill'") == 0 ]] || bemi_fail "the fill helper was left"
echo "ok: old rows kept, effective_at filled as the running maximum, the upgrade not recorded"

# Every change of the writer stored exactly once, the new ones with effective_at and roots.
want_p=$((n_writes / 3))
got=$(q "SELECT count(*) FILTER (WHERE \"table\" = 't' AND note_during) || ' ' ||
                count(DISTINCT primary_key) FILTER (WHERE \"table\" = 't' AND note_during) || ' ' ||
                count(*) FILTER (WHERE \"table\" IN ('p_low', 'p_high') AND (after->>'id')::int > 5000)
           FROM (SELECT *, after->>'note' = 'during' AS note_during FROM bemi.changes) c")
[[ $got == "$n_writes $n_writes $want_p" ]] || bemi_fail "expected $n_writes $n_writes $want_p (t rows, distinct keys, p rows), got $got"
[[ $(q "SELECT count(*) FROM (SELECT transaction_id, seq FROM bemi.changes WHERE capture IS NOT NULL
                                GROUP BY 1, 2 HAVING count(*) > 1) d") == 0 ]] || bemi_fail "duplicates"
[[ $(q "SELECT count(*) FROM bemi.changes WHERE fallback IS NOT NULL") == 0 ]] || bemi_fail "marker rows after the upgrade"
[[ $(q "SELECT coalesce(stalled_at::text, 'none') FROM bemi.status") == none ]] || bemi_fail "stalled"
got=$(q "SELECT count(*) FILTER (WHERE effective_at < previous) || ' ' ||
                count(*) FILTER (WHERE capture IS NOT NULL AND effective_at IS NULL) || ' ' ||
                count(*) FILTER (WHERE created_at > '$upgraded_at' AND \"table\" LIKE 'p\\_%'
                                   AND (root_schema, root_table) IS DISTINCT FROM ('public', 'p')) || ' ' ||
                (count(*) FILTER (WHERE (root_schema, root_table) = ('public', 'p')) > 0)
           FROM (SELECT *, lag(effective_at) OVER (ORDER BY capture NULLS FIRST, commit_position, seq) AS previous
                   FROM bemi.changes WHERE capture IS NOT NULL) c")
[[ $got == "0 0 0 true" ]] ||
    bemi_fail "after the upgrade (decreasing, without effective_at, partitions stored by 0.3 without root, any root): $got"
before=$(q "SELECT count(*) FROM bemi.changes WHERE after->>'note' = 'during' AND id <= (SELECT max(id) FROM bemi.changes WHERE created_at <= '$upgraded_at')")
echo "(the writer's changes: $before of $n_writes in t stored before the upgrade committed)"
echo "ok: $n_writes + $want_p changes written through the upgrade stored once, with effective_at and roots"

# The watermark: the current capture at its last stored commit.
got=$(q "SELECT count(*) || ' ' ||
                bool_and(w.capture = bemi._current_capture('bemi_' || d.oid)
                         AND w.last_commit_position = (SELECT max(commit_position) FROM bemi.changes WHERE capture = w.capture)
                         AND w.max_committed_at = (SELECT max(effective_at) FROM bemi.changes WHERE capture = w.capture)
                         AND w.stored_through = pg_replication_origin_progress('bemi_ingest_' || d.oid, false))
           FROM bemi.watermarks w, pg_database d WHERE d.datname = current_database()")
[[ $got == "1 true" ]] || bemi_fail "watermark after the upgrade: $got"
echo "ok: bemi.watermarks at the last stored commit"
