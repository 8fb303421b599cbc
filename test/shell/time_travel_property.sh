#!/usr/bin/env bash
# AS OF as a property (issue 7, section 6; docs/time-travel.md "The order and the instant").
#
# 1. One session commits many random transactions (inserts, updates, key changes, deletes and
#    re-inserts, TRUNCATE, updates that leave a TOASTed value unchanged) on a table with a
#    composite key and records, after each commit, the table's contents and the instant. Then
#    bemi.as_of at every instant equals the recorded contents, and bemi.versions over the
#    whole run reproduces every recorded state.
# 2. Several pgbench clients commit concurrently while a baseline is taken (bemi.backfill) and an
#    observer records, under REPEATABLE READ, the table's contents with pg_current_snapshot().
#    The oracle: a replay in SQL of the baseline rows plus the captured changes of exactly the
#    transactions visible in an observation's snapshot (and not in the baseline's) gives the
#    observed contents. Then bemi.as_of(position) at commit positions, and bemi.as_of(instant) at
#    their effective_at, equal the replay of the prefix of the commit order they promise; and
#    as_of after the last commit equals the table.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=../lib/cluster.sh
source "$here/../lib/cluster.sh"

DB=bemi_tt_property
export PGDATABASE=postgres
tmp=${BEMI_TEST_TMPDIR:-$(mktemp -d)}
cleanup() { bemi_drop_capture_db "$DB" none; }
trap cleanup EXIT
bemi_require_preload "the ingestion worker stores the captured changes"
cleanup
bemi_new_capture_db "$DB"
export PGDATABASE=$DB
q() { psql -X -q -A -t -v ON_ERROR_STOP=1 -c "$1"; }

# ---------------------------------------------------------------------------------------------
# 1. One session, random transactions, contents after each commit.
out=$(psql -X -q -A -t -v ON_ERROR_STOP=1 <<'SQL'
SET client_min_messages = warning;
CREATE TABLE prop (a int, b text, v int, note text, big text, PRIMARY KEY (a, b));
CREATE TABLE tick (n int);
CREATE TEMP TABLE seen (n serial PRIMARY KEY, at timestamptz, state jsonb);
CREATE FUNCTION pg_temp.big(seed int) RETURNS text LANGUAGE sql AS $$
    SELECT string_agg(md5((seed * 100000 + i)::text), '') FROM generate_series(1, 1000) i
$$;
SELECT setseed(0.42);
DO $$
DECLARE
    i int;
    j int;
    r float8;
    ka int; kb text;
BEGIN
    FOR i IN 1 .. 120 LOOP
        FOR j IN 1 .. 1 + (random() * 3)::int LOOP
            r := random();
            ka := (random() * 12)::int;
            kb := chr(97 + (random() * 2)::int);
            IF r < 0.30 THEN
                INSERT INTO prop VALUES (ka, kb, i, 'n' || i, CASE WHEN random() < 0.3 THEN pg_temp.big(i) END)
                    ON CONFLICT (a, b) DO UPDATE SET v = excluded.v, note = 'upsert' || i;
            ELSIF r < 0.55 THEN
                UPDATE prop SET v = v + 1, note = 'u' || i WHERE a = ka;        -- big unchanged
            ELSIF r < 0.70 THEN
                UPDATE prop SET a = a + 20 WHERE a = ka AND b = kb
                   AND NOT EXISTS (SELECT FROM prop p WHERE p.a = ka + 20 AND p.b = kb);  -- key change
                UPDATE prop SET a = a - 20 WHERE a >= 20 AND random() < 0.5
                   AND NOT EXISTS (SELECT FROM prop p WHERE p.a = prop.a - 20 AND p.b = prop.b);
            ELSIF r < 0.85 THEN
                DELETE FROM prop WHERE a = ka;
            ELSIF r < 0.97 THEN
                UPDATE prop SET big = pg_temp.big(i + 1000) WHERE a = ka AND b = kb;
            ELSE
                TRUNCATE prop;
            END IF;
        END LOOP;
        COMMIT;
        INSERT INTO seen (at, state)
        SELECT clock_timestamp(), coalesce(jsonb_agg(to_jsonb(p) ORDER BY p.a, p.b), '[]') FROM prop p;
    END LOOP;
END
$$;
INSERT INTO tick VALUES (1);
SELECT bemi.sync();
SELECT format('%s %s %s %s',
    count(*),
    count(*) FILTER (WHERE (SELECT coalesce(jsonb_agg(to_jsonb(x) ORDER BY x.a, x.b), '[]')
                              FROM bemi.as_of(NULL::prop, s.at) x) = s.state),
    count(*) FILTER (WHERE (SELECT coalesce(jsonb_agg(to_jsonb(v."row") ORDER BY (v."row").a, (v."row").b), '[]')
                              FROM bemi.versions(NULL::prop) v
                             WHERE v.valid_from <= s.at AND (v.valid_to IS NULL OR v.valid_to > s.at)) = s.state),
    (SELECT count(*) FROM bemi.changes WHERE "table" = 'prop' AND unchanged_toast IS NOT NULL))
  FROM seen s;
SQL
)
read -r n as_of_ok versions_ok toast_updates <<<"$(tail -n 1 <<<"$out")"
echo "phase 1: $n commits, as_of equal at $as_of_ok, versions equal at $versions_ok, $toast_updates updates with unchanged TOAST"
[[ $n -eq 120 ]] || bemi_fail "phase 1 recorded $n states, expected 120"
[[ $as_of_ok -eq $n ]] || bemi_fail "phase 1: as_of differs from the recorded contents at $((n - as_of_ok)) instants"
[[ $versions_ok -eq $n ]] || bemi_fail "phase 1: versions differ from the recorded contents at $((n - versions_ok)) instants"
[[ $toast_updates -gt 0 ]] || bemi_fail "phase 1: no update left a TOAST value out (the test did not test it)"

# ---------------------------------------------------------------------------------------------
# 2. Concurrent writers, a baseline taken meanwhile, an observer with snapshots.
q "CREATE TABLE conc (id int PRIMARY KEY, v int NOT NULL, note text)"
q "CREATE TABLE obs (n serial PRIMARY KEY, snap pg_snapshot, at timestamptz, state jsonb)"
# conc's first rows are not captured: its history starts at the baseline
q "INSERT INTO bemi.excluded_tables (pattern) VALUES ('public.conc')"
q "INSERT INTO conc SELECT g, g, 'seed' FROM generate_series(1, 500) g"
q "DELETE FROM bemi.excluded_tables WHERE pattern = 'public.conc'"
q "SELECT bemi.sync()" >/dev/null

cat > "$tmp/writers.sql" <<'SQL'
\set a random(1, 800)
\set b random(1, 800)
\set c random(1, 800)
\set k random(1, 1000000)
INSERT INTO conc VALUES (:a, 1, 'new') ON CONFLICT (id) DO UPDATE SET v = conc.v + 1, note = 'upsert';
UPDATE conc SET v = v + 100 WHERE id = :b;
DELETE FROM conc WHERE id = :c;
BEGIN;
UPDATE conc SET id = 2000000 + :k WHERE id = :a AND NOT EXISTS (SELECT FROM conc WHERE id = 2000000 + :k);
INSERT INTO conc VALUES (:c, 7, 'reinserted') ON CONFLICT (id) DO NOTHING;
COMMIT;
SQL
chmod a+r "$tmp/writers.sql"
pgbench -n -c 4 -T 6 -f "$tmp/writers.sql" "$DB" >"$tmp/pgbench.log" 2>&1 &
bench=$!
( for _ in $(seq 1 30); do
      psql -X -q -v ON_ERROR_STOP=1 -c "BEGIN ISOLATION LEVEL REPEATABLE READ;
          INSERT INTO obs (snap, at, state)
          SELECT pg_current_snapshot(), clock_timestamp(),
                 (SELECT coalesce(jsonb_agg(to_jsonb(c) ORDER BY c.id), '[]') FROM conc c);
          COMMIT;" || exit 1
      sleep 0.2
  done ) &
observer=$!
sleep 1
baseline=$(q "SELECT bemi.backfill('conc')")
wait "$observer" || bemi_fail "the observer failed"
wait "$bench" || { cat "$tmp/pgbench.log"; bemi_fail "pgbench failed"; }
q "INSERT INTO tick VALUES (2)"
[[ $(q "SELECT bemi.sync()") == t ]] || bemi_fail "sync after the writers"
q "INSERT INTO tick VALUES (3)"
[[ $(q "SELECT bemi.sync()") == t ]] || bemi_fail "sync after the tick"

# The replay: the baseline rows, then in commit order the captured changes of conc that the
# baseline's snapshot does not see and that `pick` selects; per key the last event wins (a key
# change removes the old key). Returns the contents in the observers' form.
psql -X -q -v ON_ERROR_STOP=1 <<SQL
CREATE FUNCTION replay(pick text) RETURNS jsonb LANGUAGE plpgsql AS \$\$
DECLARE
    r jsonb;
BEGIN
    EXECUTE format(\$q\$
        WITH b AS (SELECT * FROM bemi.baselines WHERE id = '$baseline'),
        ch AS (
            SELECT c.* FROM bemi.changes c, b
             WHERE c.schema = 'public' AND c."table" = 'conc'
               AND c.capture = (SELECT p.capture FROM bemi._place(b.lineage) p)
               AND NOT pg_visible_in_snapshot(c.transaction_id::text::xid8, b.snapshot)
               AND (%s)
        ), ev AS (
            SELECT br.primary_key AS k, -1::int8 AS cp, 0 AS seq, 0 AS sub, br."row" AS img
              FROM bemi.baseline_rows br, b WHERE br.baseline = b.id
            UNION ALL
            SELECT primary_key, commit_position, seq, 1, after FROM ch WHERE operation IN ('CREATE', 'UPDATE')
            UNION ALL
            SELECT previous_primary_key, commit_position, seq, 0, NULL FROM ch
             WHERE operation = 'UPDATE' AND previous_primary_key IS NOT NULL AND previous_primary_key <> primary_key
            UNION ALL
            SELECT primary_key, commit_position, seq, 1, NULL FROM ch WHERE operation = 'DELETE'
        ), last AS (
            SELECT DISTINCT ON (k) * FROM ev ORDER BY k, cp DESC, seq DESC, sub DESC
        )
        SELECT coalesce(jsonb_agg(img ORDER BY (img->>'id')::int), '[]') FROM last WHERE img IS NOT NULL
    \$q\$, pick) INTO r;
    RETURN r;
END
\$\$;
SQL

read -r nobs obs_ok <<<"$(q "SELECT count(*), count(*) FILTER (WHERE replay(format('pg_visible_in_snapshot(c.transaction_id::text::xid8, %L::pg_snapshot)', o.snap)) = o.state)
                             FROM obs o, bemi.baselines b
                            WHERE b.id = '$baseline' AND o.at > b.taken_at + interval '0.5 second'" | tr '|' ' ')"
echo "phase 2: replay of the visible transactions equals $obs_ok of $nobs observations after the baseline"
[[ $nobs -gt 5 ]] || bemi_fail "phase 2: only $nobs observations after the baseline"
[[ $obs_ok -eq $nobs ]] || bemi_fail "phase 2: the replay differs from $((nobs - obs_ok)) observations (the trail or the replay is wrong)"

# Changes committed before the baseline's anchor but after its snapshot (they count after the
# baseline's rows): informational, they depend on timing.
echo "phase 2: $(q "SELECT count(*) FROM bemi.changes c, bemi.baselines b CROSS JOIN LATERAL bemi._place(b.lineage) p
                     WHERE b.id = '$baseline' AND c.\"table\" = 'conc' AND c.capture = p.capture
                       AND c.commit_position < p.commit_position
                       AND NOT pg_visible_in_snapshot(c.transaction_id::text::xid8, b.snapshot)") changes between the baseline's snapshot and its anchor"

# as_of at commit positions after the anchor (a sample of 60) and at their instants.
read -r npos pos_ok at_ok <<<"$(q "
    WITH b AS (SELECT bl.*, p.capture, p.commit_position AS acp FROM bemi.baselines bl, bemi._place(bl.lineage) p
                WHERE bl.id = '$baseline'),
    commits AS (
        SELECT DISTINCT c.commit_position, c.effective_at FROM bemi.changes c, b
         WHERE c.\"table\" = 'conc' AND c.capture = b.capture AND c.commit_position > b.acp
    ), sample AS (SELECT * FROM commits ORDER BY md5(commit_position::text) LIMIT 60)
    SELECT count(*),
           count(*) FILTER (WHERE (SELECT coalesce(jsonb_agg(to_jsonb(x) ORDER BY x.id), '[]')
                                     FROM bemi.as_of(NULL::conc, pg_lsn(s.commit_position::numeric)) x)
                                  = replay(format('c.commit_position <= %s', s.commit_position))),
           count(*) FILTER (WHERE (SELECT coalesce(jsonb_agg(to_jsonb(x) ORDER BY x.id), '[]')
                                     FROM bemi.as_of(NULL::conc, s.effective_at) x)
                                  = replay(format('c.effective_at <= %L::timestamptz', s.effective_at)))
      FROM sample s" | tr '|' ' ')"
echo "phase 2: as_of(position) equal at $pos_ok, as_of(instant) equal at $at_ok of $npos sampled commits"
[[ $npos -ge 60 ]] || bemi_fail "phase 2: only $npos commits after the baseline"
[[ $pos_ok -eq $npos ]] || bemi_fail "phase 2: as_of(position) differs from the replay at $((npos - pos_ok)) commits"
[[ $at_ok -eq $npos ]] || bemi_fail "phase 2: as_of(instant) differs from the replay at $((npos - at_ok)) commits"

# after the writers (the instant of tick 2, which committed after them) = the table now
[[ $(q "SELECT (SELECT coalesce(jsonb_agg(to_jsonb(x) ORDER BY x.id), '[]')
                  FROM bemi.as_of(NULL::conc, (SELECT effective_at FROM bemi.changes
                                                WHERE \"table\" = 'tick' AND after->>'n' = '2')) x)
             = (SELECT coalesce(jsonb_agg(to_jsonb(c) ORDER BY c.id), '[]') FROM conc c)") == t ]] ||
    bemi_fail "phase 2: as_of after the writers differs from the table"
echo "ok"
