#!/usr/bin/env bash
# bemi.backfill under concurrent writers (docs/time-travel.md, "Baselines"): while pgbench
# clients commit inserts, updates, key changes and deletes, baselines are taken under READ
# COMMITTED and under REPEATABLE READ (a transaction whose snapshot is older than the call).
# Afterwards, for each baseline, the baseline rows plus, in commit order, every captured change
# of the table in the baseline's capture whose transaction is not visible in the baseline's
# snapshot must give exactly the table's contents once the writers stop: no row missed or
# counted twice. The replay is written in SQL below.
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=../lib/cluster.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/cluster.sh"

DB=bemi_tt_backfill
export PGDATABASE=postgres
tmp=${BEMI_TEST_TMPDIR:-$(mktemp -d)}
bemi_capture_test "$DB" none "the ingestion worker stores the captured changes"
export PGDATABASE=$DB
q() { psql -X -q -A -t -v ON_ERROR_STOP=1 -c "$1"; }

q "CREATE TABLE acc (id int PRIMARY KEY, v int NOT NULL, note text, payload jsonb)"
q "INSERT INTO acc SELECT g, g, 'seed', jsonb_build_object('g', g) FROM generate_series(1, 3000) g"

# Writers: one row per transaction or several in one, every kind of change, key changes too.
cat > "$tmp/writers.sql" <<'SQL'
\set a random(1, 4000)
\set b random(1, 4000)
\set c random(1, 4000)
\set k random(1, 1000000)
INSERT INTO acc VALUES (:a, 1, 'new', '{"n": 1}') ON CONFLICT (id) DO UPDATE SET v = acc.v + 1, note = 'upsert';
UPDATE acc SET v = v + 100, payload = payload || '{"u": true}' WHERE id = :b;
DELETE FROM acc WHERE id = :c;
BEGIN;
UPDATE acc SET id = 10000000 + 4 * :k + :client_id WHERE id = :a AND NOT EXISTS (SELECT FROM acc WHERE id = 10000000 + 4 * :k + :client_id);
INSERT INTO acc VALUES (:c, 7, 'reinserted', NULL) ON CONFLICT (id) DO NOTHING;
COMMIT;
SQL
chmod a+r "$tmp/writers.sql"

# The new key of a key change is the client's own (4 * k + client_id): two clients' NOT EXISTS
# checks cannot both pass for one key, which pgbench would not retry (a unique violation).
# A key change and a reinsert in one transaction can deadlock with another client's pair:
# pgbench (15+) retries such a transaction instead of aborting the client.
pgbench -n -c 4 -T 12 --max-tries=100 -f "$tmp/writers.sql" "$DB" >"$tmp/pgbench.log" 2>&1 &
bench=$!
sleep 2
# READ COMMITTED: the statement's snapshot.
rc_baseline=$(q "SELECT bemi.backfill('acc')")
sleep 1
# REPEATABLE READ: the transaction's snapshot, taken before the call; the writers go on meanwhile.
rr_baseline=$(psql -X -q -A -t -v ON_ERROR_STOP=1 <<'SQL' | tail -n 1
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT count(*) FROM acc \g /dev/null
SELECT pg_sleep(1) \g /dev/null
SELECT bemi.backfill('acc');
COMMIT;
SQL
)
sleep 1
# Several baselines in one transaction: bemi.backfill_all after a fresh table.
q "CREATE TABLE side (id int PRIMARY KEY, v int)"
q "INSERT INTO side SELECT g, g FROM generate_series(1, 100) g"
wait $bench || { cat "$tmp/pgbench.log"; bemi_fail "pgbench failed"; }
grep -E "number of transactions actually processed|aborted" "$tmp/pgbench.log" || true
[[ $(q "SELECT bemi.sync('180 seconds')") == t ]] || bemi_fail "bemi.sync did not finish"

[[ -n $rc_baseline && -n $rr_baseline && $rc_baseline != "$rr_baseline" ]] ||
    bemi_fail "backfill returned '$rc_baseline' and '$rr_baseline'"
# The writers really ran across the baselines: changes not visible in each snapshot exist,
# both before and after its anchor.
q "CREATE FUNCTION replay(baseline uuid) RETURNS TABLE (primary_key text, \"row\" jsonb)
   LANGUAGE plpgsql AS \$\$
   DECLARE
       b bemi.baselines;
       anchor record;
       c record;
   BEGIN
       SELECT * INTO b FROM bemi.baselines WHERE id = baseline;
       SELECT * INTO anchor FROM bemi._place(b.lineage);
       IF anchor.capture IS NULL THEN
           RAISE EXCEPTION 'the baseline''s lineage entry is not stored';
       END IF;
       CREATE TEMP TABLE state (pk text PRIMARY KEY, r jsonb) ON COMMIT DROP;
       INSERT INTO state SELECT r.primary_key, r.\"row\" FROM bemi.baseline_rows r WHERE r.baseline = b.id;
       FOR c IN
           SELECT * FROM bemi.changes ch
            WHERE ch.capture = anchor.capture AND ch.schema = b.schema AND ch.\"table\" = b.\"table\"
              AND NOT pg_visible_in_snapshot(ch.transaction_id::text::xid8, b.snapshot)
            ORDER BY ch.commit_position, ch.seq
       LOOP
           IF c.operation = 'CREATE' THEN
               INSERT INTO state VALUES (c.primary_key, c.after);  -- a duplicate key fails the test
           ELSIF c.operation = 'UPDATE' THEN
               DELETE FROM state WHERE pk = coalesce(c.previous_primary_key, c.primary_key);
               IF NOT FOUND THEN
                   RAISE EXCEPTION 'UPDATE of a row not in the state: %', coalesce(c.previous_primary_key, c.primary_key);
               END IF;
               INSERT INTO state VALUES (c.primary_key, c.after);
           ELSIF c.operation = 'DELETE' THEN
               DELETE FROM state WHERE pk = c.primary_key;
               IF NOT FOUND THEN
                   RAISE EXCEPTION 'DELETE of a row not in the state: %', c.primary_key;
               END IF;
           ELSIF c.operation = 'TRUNCATE' THEN
               DELETE FROM state;
           ELSE
               RAISE EXCEPTION 'unexpected change %', c.operation;
           END IF;
       END LOOP;
       RETURN QUERY SELECT s.pk, s.r FROM state s;
   END \$\$"

for b in "$rc_baseline" "$rr_baseline"; do
    stats=$(q "SELECT b.row_count, count(*) FILTER (WHERE NOT pg_visible_in_snapshot(c.transaction_id::text::xid8, b.snapshot)
                                               AND (c.commit_position, c.seq) < (p.commit_position, p.seq)) AS before_anchor,
                                 count(*) FILTER (WHERE NOT pg_visible_in_snapshot(c.transaction_id::text::xid8, b.snapshot)
                                               AND (c.commit_position, c.seq) > (p.commit_position, p.seq)) AS after_anchor,
                                 count(*) FILTER (WHERE pg_visible_in_snapshot(c.transaction_id::text::xid8, b.snapshot)) AS in_copy
               FROM bemi.baselines b, bemi._place(b.lineage) p, bemi.changes c
              WHERE b.id = '$b' AND c.capture = p.capture AND c.schema = 'public' AND c.\"table\" = 'acc'
              GROUP BY b.row_count")
    echo "baseline $b: rows, changes not in the snapshot before / after the anchor, changes in the copy: $stats"
    IFS='|' read -r rows before after in_copy <<<"$stats"
    ((rows > 1000 && after > 50 && in_copy > 50)) || bemi_fail "the writers did not run across baseline $b ($stats)"
    # every row as the table holds it now, as the plugin writes it
    diff=$(psql -X -q -A -t -v ON_ERROR_STOP=1 <<SQL
BEGIN;
SET LOCAL TimeZone = 'UTC';
WITH replayed AS (SELECT * FROM replay('$b')),
     actual AS (SELECT a.id::text AS primary_key, to_jsonb(a) AS "row" FROM acc a)
SELECT count(*) FILTER (WHERE r.primary_key IS NULL) || ' missing, '
       || count(*) FILTER (WHERE a.primary_key IS NULL) || ' extra, '
       || count(*) FILTER (WHERE r."row" <> a."row") || ' different of '
       || count(*)
  FROM replayed r FULL JOIN actual a ON a.primary_key = r.primary_key;
COMMIT;
SQL
)
    echo "baseline $b replayed against the table: $diff"
    [[ $diff =~ ^"0 missing, 0 extra, 0 different of "[0-9]+$ ]] || bemi_fail "replay of baseline $b: $diff"
done
echo "ok: baseline + changes not visible in its snapshot == the table, under READ COMMITTED and REPEATABLE READ"

# The baselines' rows never reached bemi.changes.
[[ $(q "SELECT count(*) FROM bemi.changes WHERE schema = 'bemi' AND \"table\" = 'baseline_rows'") == 0 ]] ||
    bemi_fail "baseline rows were captured"
# backfill_all: acc has a usable baseline, side has its created baseline: nothing to do.
[[ $(q "SELECT count(*) FROM bemi.backfill_all()") == 0 ]] || bemi_fail "backfill_all baselined again"
echo "ok: baseline rows are not captured; backfill_all finds nothing to do"
