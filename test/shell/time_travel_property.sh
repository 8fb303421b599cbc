#!/usr/bin/env bash
# Randomized property test of time travel (issue 7, docs/time-travel.md):
#
#   tables  tt_a: composite key (region int, code text), REPLICA IDENTITY DEFAULT, columns of
#                 several types (int, numeric, timestamptz, jsonb, nullable text, and `big`, an
#                 out-of-line TOASTed text that updates often leave unchanged);
#           tt_b: one text key `sku`, REPLICA IDENTITY FULL, the same columns;
#           tt_p: partitioned by LIST (grp), key (grp, id), partitions tt_p_1 (1) and tt_p_23
#                 (2, 3): key changes move rows between partitions or within one; a TRUNCATE
#                 is of the whole table or of one partition.
#           tt_c: key id, REPLICA IDENTITY DEFAULT, written only in phase 2, whose baseline
#                 (bemi.backfill) is taken while the phase 2 sessions write it.
#   baseline  rows inserted before CREATE EXTENSION, then bemi.backfill() of tt_a, tt_b, tt_p.
#   phase 1   one session: random transactions of inserts, upserts, updates, key changes,
#             deletes, delete + re-insert, multi-row statements, occasional TRUNCATE (each
#             statement in a subtransaction, some of which fail and roll back); after each
#             commit it records, in a new REPEATABLE READ transaction, clock_timestamp(),
#             pg_current_snapshot() and the exact contents of the tables (jsonb of the rows,
#             ordered by key) into an UNLOGGED side table (never decoded, so never captured).
#   phase 2   BEMI_TT_SESSIONS concurrent sessions doing the same (and writing tt_c), each
#             recording after each of its commits; the first one takes tt_c's baseline
#             (bemi.backfill('tt_c')) a third of the way, while the others write it.
#   checks    after bemi.sync(), for each table, walking the stored commit order with an
#             independent replay (written here: after images applied by key in commit order,
#             unchanged TOAST values taken from the previous version, key changes followed,
#             TRUNCATE empties the table or the partition) over the contents recorded right
#             after the baseline:
#             - every recorded snapshot's contents = the replay of exactly the transactions
#               visible in that snapshot (pg_visible_in_snapshot) (checks the oracle, and that
#               bemi.changes holds every change exactly once);
#             - phase 1: recorded contents at instant T = bemi.as_of(NULL::t, T) = the rows of
#               bemi.versions(NULL::t) valid at T = the replay of the prefix for T;
#             - every instant T (both phases): bemi.as_of(NULL::t, T) = the replay of the longest
#               prefix of the commit order whose commit times are all <= T (computed here from
#               committed_at, not from bemi's effective_at), and so are versions valid at T;
#             - every stored commit position P of the table: bemi.as_of(NULL::t, P::pg_lsn) =
#               the replay up to and including that transaction;
#             (for tt_c: the instants after bemi.backfill('tt_c') returned and the positions
#             after its transaction; the replay covers tt_c's whole capture, from the rows it
#             had before CREATE EXTENSION, unwritten until phase 2);
#             - effective_at, when bemi.changes has it, = the running maximum of committed_at;
#             - bemi.versions(NULL::t, T1, T2) = the versions of the whole run overlapping [T1, T2).
#             A mismatch prints the instant / position / snapshot and a row-level diff.
#
# Environment: BEMI_TT_SEED (default random; printed), BEMI_TT_TX1 (phase 1 transactions, 200),
# BEMI_TT_SESSIONS (3), BEMI_TT_TX2 (transactions per session in phase 2, 50),
# BEMI_TT_ORACLE_ONLY=1 (check only the oracle against the recordings: no bemi time-travel call;
# for debugging this test), BEMI_TT_CORRUPT=1 (alter one stored change before the checks: the
# test must then fail), BEMI_TT_BASELINE=created (create the tables and their first rows after
# CREATE EXTENSION: a `created` baseline instead of bemi.backfill), BEMI_TT_SKIP_VERSIONS=1 (do
# not check bemi.versions). The defaults check everything.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=../lib/cluster.sh
source "$here/../lib/cluster.sh"

DB=bemi_tt_property
SEED=${BEMI_TT_SEED:-$(( (RANDOM << 15 | RANDOM) % 1000000 ))}
TX1=${BEMI_TT_TX1:-200}
SESSIONS=${BEMI_TT_SESSIONS:-3}
TX2=${BEMI_TT_TX2:-50}
ORACLE_ONLY=${BEMI_TT_ORACLE_ONLY:-0}
BASELINE=${BEMI_TT_BASELINE:-backfill}
SKIP_VERSIONS=${BEMI_TT_SKIP_VERSIONS:-0}
[[ $BASELINE == backfill || $BASELINE == created ]] || bemi_fail "BEMI_TT_BASELINE must be backfill or created"
for v in SEED TX1 SESSIONS TX2; do
    [[ ${!v} =~ ^[0-9]+$ ]] || bemi_fail "$v must be a non-negative integer, got '${!v}'"
done
echo "time_travel_property: BEMI_TT_SEED=$SEED (phase 1: $TX1 transactions; phase 2: $SESSIONS sessions x $TX2; baseline: $BASELINE)"

BG=()
cleanup() {
    local p
    for p in "${BG[@]}"; do kill "$p" 2>/dev/null || true; done
    bemi_drop_capture_db "$DB" none
}
trap cleanup EXIT
bemi_require_preload "the ingestion worker fills bemi.changes"
bemi_drop_capture_db "$DB" none
psql -X -q -c "CREATE DATABASE $DB" >/dev/null || bemi_fail "CREATE DATABASE $DB"

q() { psql -X -q -A -t -v ON_ERROR_STOP=1 -d "$DB" "$@"; }

# ------------------------------------------------------------------ schema, workload, oracle
# Everything here exists before CREATE EXTENSION bemi: the baseline rows predate capture
# (BEMI_TT_BASELINE=created: the tables and their rows come after it).
TABLES_SQL=$(cat <<'SQL'
CREATE TABLE tt_a (
    region int NOT NULL,
    code   text NOT NULL,
    qty    int,
    price  numeric,
    at     timestamptz,
    doc    jsonb,
    note   text,
    big    text,
    PRIMARY KEY (region, code)
);
CREATE TABLE tt_b (
    sku    text PRIMARY KEY,
    qty    int,
    price  numeric,
    at     timestamptz,
    doc    jsonb,
    note   text,
    big    text
);
ALTER TABLE tt_b REPLICA IDENTITY FULL;
CREATE TABLE tt_p (
    grp    int NOT NULL,
    id     int NOT NULL,
    qty    int,
    price  numeric,
    at     timestamptz,
    doc    jsonb,
    note   text,
    big    text,
    PRIMARY KEY (grp, id)
) PARTITION BY LIST (grp);
CREATE TABLE tt_p_1 PARTITION OF tt_p FOR VALUES IN (1);
CREATE TABLE tt_p_23 PARTITION OF tt_p FOR VALUES IN (2, 3);
CREATE TABLE tt_c (
    id     int PRIMARY KEY,
    qty    int,
    price  numeric,
    at     timestamptz,
    doc    jsonb,
    note   text,
    big    text
);
SQL
)
BASE_ROWS_SQL=$(cat <<'SQL'
SELECT setseed(0.5);
INSERT INTO tt_a SELECT r.* FROM generate_series(1, 30) g,
    LATERAL jsonb_populate_record(NULL::tt_a, tt_newkey('tt_a') || tt_vals(true) || jsonb_build_object('_', g)) r ON CONFLICT DO NOTHING;
INSERT INTO tt_b SELECT r.* FROM generate_series(1, 25) g,
    LATERAL jsonb_populate_record(NULL::tt_b, tt_newkey('tt_b') || tt_vals(true) || jsonb_build_object('_', g)) r ON CONFLICT DO NOTHING;
INSERT INTO tt_p SELECT r.* FROM generate_series(1, 25) g,
    LATERAL jsonb_populate_record(NULL::tt_p, tt_newkey('tt_p') || tt_vals(true) || jsonb_build_object('_', g)) r ON CONFLICT DO NOTHING;
INSERT INTO tt_c SELECT r.* FROM generate_series(1, 20) g,
    LATERAL jsonb_populate_record(NULL::tt_c, tt_newkey('tt_c') || tt_vals(true) || jsonb_build_object('_', g)) r ON CONFLICT DO NOTHING;
SQL
)
if [[ $BASELINE == backfill ]]; then q -c "$TABLES_SQL" >/dev/null || bemi_fail "create the tables"; fi

q >/dev/null <<'SQL'
SET client_min_messages = warning;

-- The recordings: UNLOGGED, so nothing written here is decoded or captured.
CREATE UNLOGGED TABLE tt_rec (
    id      bigserial PRIMARY KEY,
    session int NOT NULL,      -- 0 baseline, 1 phase 1, 10+ phase 2 sessions
    n       int NOT NULL,
    t       timestamptz NOT NULL,
    snap    pg_snapshot NOT NULL,
    contents jsonb NOT NULL     -- {"tt_a": [rows ordered by key], "tt_b": [...], "tt_p": [...]}
);
CREATE UNLOGGED TABLE tt_stats (session int, op text, n int);
CREATE UNLOGGED TABLE tt_bf (xid int8, t timestamptz);   -- tt_c's concurrent backfill

CREATE FUNCTION tt_keycols(tab text) RETURNS text[] LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE tab WHEN 'tt_a' THEN ARRAY['region', 'code'] WHEN 'tt_p' THEN ARRAY['grp', 'id'] WHEN 'tt_c' THEN ARRAY['id']
                    ELSE ARRAY['sku'] END $$;

-- jsonb of a table's rows, ordered by key (what is recorded and compared)
CREATE FUNCTION tt_contents(tab text) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE r jsonb;
BEGIN
    EXECUTE format('SELECT coalesce(jsonb_agg(to_jsonb(x) ORDER BY %s), ''[]'') FROM %I x',
                   (SELECT string_agg(format('x.%I', c), ', ') FROM unnest(tt_keycols(tab)) c), tab) INTO r;
    RETURN r;
END $$;

CREATE FUNCTION tt_rint(lo int, hi int) RETURNS int LANGUAGE sql VOLATILE AS
    $$ SELECT lo + floor(random() * (hi - lo + 1))::int $$;

CREATE FUNCTION tt_newkey(tab text) RETURNS jsonb LANGUAGE sql VOLATILE AS $$
    SELECT CASE tab
        WHEN 'tt_a' THEN jsonb_build_object('region', tt_rint(1, 4),
            'code', (ARRAY['a', 'b', 'c', 'd', 'e', 'f', 'x y', 'q"t', 'back\slash', 'ünï', '', 'g'])[tt_rint(1, 12)])
        WHEN 'tt_p' THEN jsonb_build_object('grp', tt_rint(1, 3), 'id', tt_rint(1, 25))
        WHEN 'tt_c' THEN jsonb_build_object('id', tt_rint(1, 30))
        ELSE jsonb_build_object('sku', CASE WHEN random() < 0.9 THEN 's' || tt_rint(1, 36)
                                            ELSE (ARRAY['[1,"a"]', 'null', 'sp ace', '"'])[tt_rint(1, 4)] END)
    END $$;

-- random values for the non-key columns (a random subset of them unless all)
CREATE FUNCTION tt_vals(all_cols bool) RETURNS jsonb LANGUAGE plpgsql VOLATILE AS $$
DECLARE v jsonb := '{}';
BEGIN
    IF all_cols OR random() < 0.5 THEN
        v := v || jsonb_build_object('qty', CASE WHEN random() < 0.1 THEN NULL ELSE tt_rint(-1000, 100000) END);
    END IF;
    IF all_cols OR random() < 0.4 THEN
        v := v || jsonb_build_object('price', CASE tt_rint(1, 6)
            WHEN 1 THEN NULL
            WHEN 2 THEN '123456789012345678901234567890.000100'::numeric
            WHEN 3 THEN round((random() * 100)::numeric, 0)
            ELSE round((random() * 10000 - 5000)::numeric, tt_rint(1, 6)) END);
    END IF;
    IF all_cols OR random() < 0.3 THEN
        v := v || jsonb_build_object('at', CASE tt_rint(1, 8)
            WHEN 1 THEN NULL
            WHEN 2 THEN 'infinity'::timestamptz
            ELSE timestamptz '2020-01-01 00:00:00+00' + random() * interval '2000 days' END);
    END IF;
    IF all_cols OR random() < 0.3 THEN
        v := v || jsonb_build_object('doc', CASE tt_rint(1, 5)
            WHEN 1 THEN NULL
            WHEN 2 THEN jsonb_build_array(1, 'two', 3.50, true, NULL)
            ELSE jsonb_build_object('n', tt_rint(0, 99), 's', 'é☃ "q" \ ' || tt_rint(0, 9),
                                    'nested', jsonb_build_object('f', random() < 0.5, 'x', 1.0e-3)) END);
    END IF;
    IF all_cols OR random() < 0.4 THEN
        v := v || jsonb_build_object('note', CASE tt_rint(1, 6)
            WHEN 1 THEN NULL WHEN 2 THEN '' WHEN 3 THEN E'line\nbreak\ttab \'quote\' "dq" \\'
            ELSE 'note ' || tt_rint(0, 999) END);
    END IF;
    IF all_cols OR random() < 0.15 THEN
        -- about 3 kB of hex: pglz cannot shrink it, so it is stored out of line (TOAST)
        v := v || jsonb_build_object('big', CASE WHEN random() < 0.3 THEN NULL
            ELSE (SELECT string_agg(md5(random()::text), '') FROM generate_series(1, 95)) END);
    END IF;
    RETURN v;
END $$;

CREATE FUNCTION tt_pred(tab text, r jsonb) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT string_agg(format('%I = (jsonb_populate_record(NULL::%I, %L)).%I', c, tab, r, c), ' AND ')
    FROM unnest(tt_keycols(tab)) c $$;

CREATE FUNCTION tt_collist(cols text[]) RETURNS text LANGUAGE sql IMMUTABLE AS
    $$ SELECT string_agg(quote_ident(c), ', ') FROM unnest(cols) c $$;

-- one random statement (or two) on tab
CREATE FUNCTION tt_op(tab text, concurrent bool) RETURNS text LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    r jsonb; v jsonb; cols text[]; x float8 := random(); k text[] := tt_keycols(tab);
    trunc_below float8 := CASE WHEN concurrent THEN 0.975 ELSE 0.985 END;
BEGIN
    EXECUTE format('SELECT to_jsonb(x) FROM %I x ORDER BY random() LIMIT 1', tab) INTO r;
    IF r IS NULL OR x < 0.22 THEN
        v := tt_newkey(tab) || tt_vals(true);
        IF random() < 0.5 THEN
            EXECUTE format('INSERT INTO %I SELECT * FROM jsonb_populate_record(NULL::%I, $1) ON CONFLICT DO NOTHING', tab, tab) USING v;
            RETURN 'insert';
        END IF;
        EXECUTE format('INSERT INTO %I SELECT * FROM jsonb_populate_record(NULL::%I, $1) ON CONFLICT (%s) DO UPDATE SET qty = EXCLUDED.qty, note = EXCLUDED.note',
                       tab, tab, tt_collist(k)) USING v;
        RETURN 'upsert';
    ELSIF x < 0.52 THEN
        v := tt_vals(false);
        SELECT array_agg(key) INTO cols FROM jsonb_object_keys(v) key;
        IF cols IS NULL THEN v := '{"qty": 7}'; cols := ARRAY['qty']; END IF;
        EXECUTE format('UPDATE %I SET (%s) = (SELECT %s FROM jsonb_populate_record(NULL::%I, $1)) WHERE %s',
                       tab, tt_collist(cols), tt_collist(cols), tab, tt_pred(tab, r)) USING v;
        RETURN 'update';
    ELSIF x < 0.64 THEN
        v := tt_newkey(tab);
        IF random() < 0.3 THEN v := v || tt_vals(false); END IF;
        SELECT array_agg(key) INTO cols FROM jsonb_object_keys(v) key;
        EXECUTE format('UPDATE %I SET (%s) = (SELECT %s FROM jsonb_populate_record(NULL::%I, $1)) WHERE %s',
                       tab, tt_collist(cols), tt_collist(cols), tab, tt_pred(tab, r)) USING v;
        RETURN 'key change';
    ELSIF x < 0.74 THEN
        EXECUTE format('DELETE FROM %I WHERE %s', tab, tt_pred(tab, r));
        RETURN 'delete';
    ELSIF x < 0.80 THEN
        -- delete and re-insert the same key, other values
        EXECUTE format('DELETE FROM %I WHERE %s', tab, tt_pred(tab, r));
        EXECUTE format('INSERT INTO %I SELECT * FROM jsonb_populate_record(NULL::%I, $1)', tab, tab)
            USING r || tt_vals(false);
        RETURN 'delete+insert';
    ELSIF x < 0.87 THEN
        EXECUTE format('UPDATE %I SET qty = coalesce(qty, 0) + 1, at = CASE WHEN at IS NULL THEN NULL ELSE at + interval ''1 microsecond'' END WHERE random() < 0.25', tab);
        RETURN 'update many';
    ELSIF x < 0.93 THEN
        FOR i IN 1..3 LOOP
            EXECUTE format('INSERT INTO %I SELECT * FROM jsonb_populate_record(NULL::%I, $1) ON CONFLICT DO NOTHING', tab, tab)
                USING tt_newkey(tab) || tt_vals(true);
        END LOOP;
        RETURN 'insert 3';
    ELSIF x < 0.97 THEN
        EXECUTE format('DELETE FROM %I WHERE random() < 0.15', tab);
        RETURN 'delete many';
    ELSIF x < trunc_below THEN
        IF tab = 'tt_p' AND random() < 0.5 THEN
            tab := (ARRAY['tt_p_1', 'tt_p_23'])[tt_rint(1, 2)];
            EXECUTE format('TRUNCATE %I', tab);
            RETURN 'truncate partition';
        END IF;
        EXECUTE format('TRUNCATE %I', tab);
        RETURN 'truncate';
    ELSE
        EXECUTE format('UPDATE %I SET note = note WHERE %s', tab, tt_pred(tab, r));   -- no-op update
        RETURN 'same-value update';
    END IF;
END $$;

CREATE PROCEDURE tt_record(sess int, n int) LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO tt_rec(session, n, t, snap, contents)
    SELECT sess, n, clock_timestamp(), pg_current_snapshot(),
           jsonb_build_object('tt_a', tt_contents('tt_a'), 'tt_b', tt_contents('tt_b'), 'tt_p', tt_contents('tt_p'),
                              'tt_c', tt_contents('tt_c'));
END $$;

-- sess: 1 = phase 1 (one session), 10.. = phase 2 sessions
-- backfill_at > 0: after that many transactions, take tt_c's baseline (bemi.backfill) and
-- note its transaction id and an instant right after its commit in tt_bf
CREATE PROCEDURE tt_work(sess int, ntx int, seed int, backfill_at int DEFAULT 0) LANGUAGE plpgsql AS $$
DECLARE op text; nops int; tab text; x float8;
BEGIN
    PERFORM setseed(((seed + sess * 7919) % 1000003)::float8 / 1000003);
    FOR n IN 1..ntx LOOP
        nops := tt_rint(1, 5);
        FOR i IN 1..nops LOOP
            x := random();
            tab := CASE WHEN sess >= 10 AND x < 0.3 THEN 'tt_c'
                        WHEN x < 0.45 THEN 'tt_a' WHEN x < 0.75 THEN 'tt_b' ELSE 'tt_p' END;
            BEGIN
                op := tt_op(tab, sess >= 10);
                INSERT INTO tt_stats VALUES (sess, op, 1);
            EXCEPTION WHEN unique_violation OR deadlock_detected OR lock_not_available
                           OR serialization_failure OR query_canceled THEN
                INSERT INTO tt_stats VALUES (sess, 'failed: ' || SQLERRM, 1);
            END;
        END LOOP;
        IF random() < 0.05 THEN
            ROLLBACK;                       -- a rolled-back transaction is never stored
            INSERT INTO tt_stats VALUES (sess, 'rolled back', 1);
        END IF;
        COMMIT;
        SET TRANSACTION ISOLATION LEVEL REPEATABLE READ;
        -- TRUNCATE is not MVCC-safe: a snapshot taken while one runs, read after it commits,
        -- sees the table empty. Locking first (LOCK takes no snapshot) waits for it instead.
        LOCK TABLE tt_a, tt_b, tt_p, tt_c IN ACCESS SHARE MODE;
        CALL tt_record(sess, n);
        COMMIT;
        IF n = backfill_at THEN
            PERFORM bemi.backfill('tt_c');
            INSERT INTO tt_bf (xid) SELECT txid_current();
            COMMIT;
            UPDATE tt_bf SET t = clock_timestamp();
            COMMIT;
        END IF;
    END LOOP;
END $$;

SQL
if [[ $BASELINE == backfill ]]; then q -c "$BASE_ROWS_SQL" >/dev/null || bemi_fail "baseline rows"; fi

# ------------------------------------------------------------------ capture and baseline
q -c "CREATE EXTENSION bemi" >/dev/null || bemi_fail "CREATE EXTENSION bemi"
[[ $(q -c "SELECT bemi.sync()") == t ]] || bemi_fail "bemi.sync() after CREATE EXTENSION"
if [[ $BASELINE == created ]]; then
    q -c "$TABLES_SQL" >/dev/null || bemi_fail "create the tables"
    q -c "$BASE_ROWS_SQL" >/dev/null || bemi_fail "first rows"
elif [[ $ORACLE_ONLY != 1 ]]; then
    q -c "SELECT bemi.backfill('tt_a'), bemi.backfill('tt_b'), bemi.backfill('tt_p')" >/dev/null || bemi_fail "bemi.backfill"
fi
q -c "BEGIN ISOLATION LEVEL REPEATABLE READ" -c "CALL tt_record(0, 0)" -c "COMMIT" >/dev/null
if [[ $BASELINE == backfill ]]; then
    n0=$(q -c "SELECT count(*) FROM bemi.changes WHERE schema = 'public' AND coalesce(root_table, \"table\") IN ('tt_a', 'tt_b', 'tt_p', 'tt_c')")
    [[ $n0 == 0 ]] || bemi_fail "changes of the tables stored before the workload: $n0"
fi
echo "ok: baseline of $(q -c "SELECT jsonb_array_length(contents -> 'tt_a') || ' + ' || jsonb_array_length(contents -> 'tt_b') || ' + ' || jsonb_array_length(contents -> 'tt_p') || ' rows; tt_c ' || jsonb_array_length(contents -> 'tt_c') FROM tt_rec") rows"

# ------------------------------------------------------------------ phase 1: one session
start=$SECONDS
q -c "SET deadlock_timeout = '50ms'" -c "CALL tt_work(1, $TX1, $SEED)" >/dev/null || bemi_fail "phase 1 workload"
echo "ok: phase 1: $TX1 transactions in $((SECONDS - start)) s"

# ------------------------------------------------------------------ phase 2: concurrent sessions
start=$SECONDS
for s in $(seq 1 "$SESSIONS"); do
    q -c "SET deadlock_timeout = '20ms'" -c "SET lock_timeout = '5s'" \
      -c "CALL tt_work($((9 + s)), $TX2, $SEED, $([[ $s == 1 && $ORACLE_ONLY != 1 ]] && echo $((TX2 / 3 + 1)) || echo 0))" \
      >"$BEMI_TEST_TMPDIR/tt_sess_$s.log" 2>&1 &
    BG+=($!)
done
for i in "${!BG[@]}"; do
    wait "${BG[$i]}" || bemi_fail "phase 2 session $((i + 1)) failed: $(cat "$BEMI_TEST_TMPDIR/tt_sess_$((i + 1)).log")"
done
BG=()
echo "ok: phase 2: $SESSIONS sessions x $TX2 transactions in $((SECONDS - start)) s"
q -c "SELECT op || ': ' || sum(n) FROM tt_stats GROUP BY op ORDER BY op" | tr '\n' ';' | sed 's/;$/\n/;s/;/; /g'

# one more stored commit after every recorded instant, so that every instant is answerable
q -c "CREATE TABLE tt_tick (id int)" -c "INSERT INTO tt_tick VALUES (1)" >/dev/null
[[ $(q -c "SELECT bemi.sync()") == t ]] || bemi_fail "bemi.sync() after the workload"

OURS="schema = 'public' AND coalesce(root_table, \"table\") IN ('tt_a', 'tt_b', 'tt_p', 'tt_c')"
n_toast=$(q -c "SELECT count(*) FROM bemi.changes WHERE $OURS AND unchanged_toast IS NOT NULL")
n_keych=$(q -c "SELECT count(*) FROM bemi.changes WHERE $OURS AND previous_primary_key IS NOT NULL")
n_trunc=$(q -c "SELECT count(*) FROM bemi.changes WHERE $OURS AND operation = 'TRUNCATE'")
n_moved=$(q -c "SELECT count(*) FROM bemi.changes d JOIN bemi.changes c ON c.capture = d.capture AND c.commit_position = d.commit_position AND c.seq = d.seq + 1
                WHERE d.root_table = 'tt_p' AND d.operation = 'DELETE' AND c.operation = 'CREATE' AND c.\"table\" <> d.\"table\"")
echo "stored: $(q -c "SELECT count(*) FROM bemi.changes WHERE $OURS") changes of the tables; $n_toast with unchanged TOAST, $n_keych key changes, $n_trunc truncates, $n_moved rows moved between partitions"
((n_toast > 0)) || bemi_fail "the workload stored no UPDATE with an unchanged TOAST value: the test does not cover it"
((n_keych > 0)) || bemi_fail "the workload stored no key change: the test does not cover it"
((n_moved > 0 || TX1 < 100)) || bemi_fail "the workload moved no row between partitions: the test does not cover it"

# BEMI_TT_CORRUPT=1 (a check of this test itself): alter one stored change; the test must fail.
if [[ ${BEMI_TT_CORRUPT:-0} == 1 ]]; then
    q -c "UPDATE bemi.changes SET after = jsonb_set(after, '{qty}', '-424242') WHERE id = (SELECT max(id) FROM bemi.changes WHERE \"table\" = 'tt_a' AND operation = 'UPDATE')" >/dev/null
    echo "BEMI_TT_CORRUPT=1: one stored change of tt_a altered, the checks below must fail"
fi

# ------------------------------------------------------------------ the checks
q >/dev/null <<'SQL'
SET client_min_messages = warning;
-- Stored transactions, in the stored commit order, and the running maximum of their commit times.
CREATE UNLOGGED TABLE tt_tx AS
SELECT row_number() OVER w AS ord, capture, commit_position, transaction_id, committed_at,
       max(committed_at) OVER (w ROWS UNBOUNDED PRECEDING) AS runmax
FROM (SELECT capture, commit_position, min(transaction_id) AS transaction_id, min(committed_at) AS committed_at
      FROM bemi.changes GROUP BY capture, commit_position) x
WINDOW w AS (ORDER BY commit_position);
CREATE UNIQUE INDEX ON tt_tx (ord);
-- the changes of the tables under test, numbered by transaction
CREATE UNLOGGED TABLE tt_ch AS
SELECT t.ord, c.id, coalesce(c.root_table, c."table") AS "table", c."table" AS leaf, c.seq, c.operation, c.before, c.after, c.unchanged_toast
FROM bemi.changes c JOIN tt_tx t ON t.capture IS NOT DISTINCT FROM c.capture AND t.commit_position = c.commit_position
WHERE c.schema = 'public' AND coalesce(c.root_table, c."table") IN ('tt_a', 'tt_b', 'tt_p', 'tt_c');
CREATE INDEX ON tt_ch (ord, "table");

CREATE FUNCTION tt_key(tab text, img jsonb) RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
    SELECT jsonb_agg(img -> c ORDER BY i) FROM unnest(tt_keycols(tab)) WITH ORDINALITY u(c, i) $$;

-- applies the stored changes of tab in transaction number ord to the state table st (k, r, leaf)
CREATE FUNCTION tt_apply(tab text, st regclass, tx_ord bigint) RETURNS void LANGUAGE plpgsql AS $$
DECLARE c record; oldk jsonb; newk jsonb; prev jsonb; nrow jsonb; col text; hit int;
BEGIN
    FOR c IN SELECT ch.* FROM tt_ch ch WHERE ch.ord = tx_ord AND ch."table" = tab ORDER BY ch.seq LOOP
        IF c.operation = 'TRUNCATE' THEN
            -- the table itself (all rows) or one partition (its rows)
            EXECUTE format('DELETE FROM %s WHERE $1 = $2 OR leaf = $1', st) USING c.leaf, tab;
        ELSIF c.operation = 'CREATE' THEN
            newk := tt_key(tab, c.after);
            EXECUTE format('INSERT INTO %s VALUES ($1, $2, $3) ON CONFLICT DO NOTHING', st) USING newk, c.after, c.leaf;
            GET DIAGNOSTICS hit = ROW_COUNT;
            IF hit = 0 THEN RAISE EXCEPTION 'replay: CREATE of existing key % (change %)', newk, c.id; END IF;
        ELSIF c.operation = 'UPDATE' THEN
            newk := tt_key(tab, c.after);
            oldk := CASE WHEN c.before ?& tt_keycols(tab) THEN tt_key(tab, c.before) ELSE newk END;
            EXECUTE format('DELETE FROM %s WHERE k = $1 RETURNING r', st) USING oldk INTO prev;
            IF prev IS NULL THEN RAISE EXCEPTION 'replay: UPDATE of missing key % (change %)', oldk, c.id; END IF;
            nrow := c.after;
            FOREACH col IN ARRAY coalesce(c.unchanged_toast, '{}') LOOP
                nrow := nrow || jsonb_build_object(col, prev -> col);
            END LOOP;
            EXECUTE format('INSERT INTO %s VALUES ($1, $2, $3) ON CONFLICT DO NOTHING', st) USING newk, nrow, c.leaf;
            GET DIAGNOSTICS hit = ROW_COUNT;
            IF hit = 0 THEN RAISE EXCEPTION 'replay: UPDATE onto existing key % (change %)', newk, c.id; END IF;
        ELSIF c.operation = 'DELETE' THEN
            oldk := tt_key(tab, c.before);
            EXECUTE format('DELETE FROM %s WHERE k = $1', st) USING oldk;
            GET DIAGNOSTICS hit = ROW_COUNT;
            IF hit = 0 THEN RAISE EXCEPTION 'replay: DELETE of missing key % (change %)', oldk, c.id; END IF;
        ELSE
            RAISE EXCEPTION 'replay: unexpected operation % (change %)', c.operation, c.id;
        END IF;
    END LOOP;
END $$;

-- the state table's rows as the table's rows: jsonb ordered by key, like tt_contents
CREATE FUNCTION tt_state(tab text, st regclass) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE res jsonb;
BEGIN
    EXECUTE format('SELECT coalesce(jsonb_agg(to_jsonb(x) ORDER BY %s), ''[]'') FROM (SELECT (jsonb_populate_record(NULL::%I, r)).* FROM %s) x',
                   (SELECT string_agg(format('x.%I', c), ', ') FROM unnest(tt_keycols(tab)) c), tab, st) INTO res;
    RETURN res;
END $$;

-- a readable diff of two row lists (jsonb arrays of row objects)
CREATE FUNCTION tt_diff(tab text, expected jsonb, got jsonb) RETURNS text LANGUAGE sql AS $$
    WITH e AS (SELECT tt_key(tab, x) k, x FROM jsonb_array_elements(expected) x),
         g AS (SELECT tt_key(tab, x) k, x FROM jsonb_array_elements(got) x),
         d AS (
        SELECT coalesce(e.k, g.k) k,
               CASE WHEN g.k IS NULL THEN 'missing row ' || left(e.x::text, 300)
                    WHEN e.k IS NULL THEN 'extra row   ' || left(g.x::text, 300)
                    ELSE 'differs: ' || (SELECT string_agg(format('%s expected %s got %s', c, left(coalesce(e.x -> c, 'null')::text, 80),
                                                                  left(coalesce(g.x -> c, 'null')::text, 80)), '; ')
                                         FROM (SELECT jsonb_object_keys(e.x) UNION SELECT jsonb_object_keys(g.x)) kk(c)
                                         WHERE e.x -> c IS DISTINCT FROM g.x -> c) END AS what
        FROM e FULL JOIN g ON e.k = g.k
        WHERE e.x IS DISTINCT FROM g.x)
    SELECT coalesce(string_agg('    key ' || k::text || ': ' || what, E'\n' ORDER BY k::text), '    (same rows, other order or duplicates)')
    FROM d $$;

CREATE UNLOGGED TABLE tt_fail (tab text, what text, detail text);

-- versions of the whole run, as jsonb, filled by tt_check when bemi.versions is checked
CREATE UNLOGGED TABLE tt_ver (tab text, valid_from timestamptz, valid_to timestamptz, r jsonb);

CREATE FUNCTION tt_asof_t(tab text, t timestamptz) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE res jsonb;
BEGIN
    EXECUTE format('SELECT coalesce(jsonb_agg(to_jsonb(x) ORDER BY %s), ''[]'') FROM bemi.as_of(NULL::%I, $1) x',
                   (SELECT string_agg(format('x.%I', c), ', ') FROM unnest(tt_keycols(tab)) c), tab) USING t INTO res;
    RETURN res;
END $$;
CREATE FUNCTION tt_asof_p(tab text, p pg_lsn) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE res jsonb;
BEGIN
    EXECUTE format('SELECT coalesce(jsonb_agg(to_jsonb(x) ORDER BY %s), ''[]'') FROM bemi.as_of(NULL::%I, $1) x',
                   (SELECT string_agg(format('x.%I', c), ', ') FROM unnest(tt_keycols(tab)) c), tab) USING p INTO res;
    RETURN res;
END $$;
CREATE FUNCTION tt_versions_at(tab text, t timestamptz) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE res jsonb;
BEGIN
    EXECUTE format('SELECT coalesce(jsonb_agg(x ORDER BY %s), ''[]'') FROM (SELECT r x FROM tt_ver WHERE tab = $1 AND valid_from <= $2 AND (valid_to IS NULL OR valid_to > $2)) v',
                   (SELECT string_agg(format('x -> %L', c), ', ') FROM unnest(tt_keycols(tab)) c)) USING tab, t INTO res;
    RETURN res;
END $$;

CREATE FUNCTION tt_report(tab text, what text, expected jsonb, got jsonb) RETURNS void LANGUAGE sql AS $$
    INSERT INTO tt_fail VALUES (tab, what, tt_diff(tab, expected, got)) $$;

-- Walks the commit order once for tab; with_bemi: also ask bemi.as_of / bemi.versions.
-- bemi is asked only from ask_from (the baseline's transaction, a commit-order number) and
-- ask_from_t (an instant after it) on
CREATE FUNCTION tt_check(tab text, with_bemi bool, with_versions bool, from_empty bool,
                         ask_from bigint, ask_from_t timestamptz) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    base tt_rec; rec record; tx record; got jsonb; want jsonb; recd jsonb; maxord bigint;
    n_snap int := 0; n_t int := 0; n_p int := 0; first_ord bigint;
BEGIN
    CREATE TEMP TABLE st_main (k jsonb PRIMARY KEY, r jsonb NOT NULL, leaf text);
    CREATE TEMP TABLE st_tmp (k jsonb PRIMARY KEY, r jsonb NOT NULL, leaf text);
    SELECT * INTO base FROM tt_rec WHERE session = 0;
    -- backfill: the replay starts from the rows recorded right after the baseline (no stored
    -- change of the table is visible to that recording); created: from the empty table
    IF NOT from_empty THEN
        INSERT INTO st_main
        SELECT tt_key(tab, x), x, CASE WHEN tab <> 'tt_p' THEN tab WHEN (x ->> 'grp')::int = 1 THEN 'tt_p_1' ELSE 'tt_p_23' END
        FROM jsonb_array_elements(base.contents -> tab) x;
    END IF;

    -- transactions of this table, and for each recording: the prefix of the table's
    -- transactions it sees whole, and the instant's prefix of the commit order
    CREATE TEMP TABLE tx_tab AS
        SELECT t.* FROM tt_tx t WHERE EXISTS (SELECT FROM tt_ch c WHERE c.ord = t.ord AND c."table" = tab);
    CREATE UNIQUE INDEX ON tx_tab (ord);
    -- the baseline recording must see none of them
    IF NOT from_empty AND EXISTS (SELECT FROM tx_tab WHERE pg_visible_in_snapshot(transaction_id::text::xid8, base.snap)) THEN
        RAISE EXCEPTION 'a stored transaction of % is visible in the baseline recording', tab;
    END IF;
    CREATE TEMP TABLE rec_at AS
        SELECT r.id, r.session, r.n, r.t, r.snap, r.contents -> tab AS contents,
               coalesce((SELECT max(ord) FROM tt_tx WHERE runmax <= r.t), 0) AS t_ord,
               coalesce((SELECT min(ord) FROM tx_tab WHERE NOT pg_visible_in_snapshot(transaction_id::text::xid8, r.snap)) - 1,
                        (SELECT max(ord) FROM tt_tx)) AS s_ord
        FROM tt_rec r;
    CREATE INDEX ON rec_at (s_ord);
    CREATE INDEX ON rec_at (t_ord);
    ANALYZE rec_at, tx_tab;
    SELECT max(ord) INTO maxord FROM tt_tx;
    SELECT min(ord) INTO first_ord FROM tx_tab;

    FOR i IN 0..maxord LOOP
        IF i > 0 AND EXISTS (SELECT FROM tx_tab WHERE ord = i) THEN
            PERFORM tt_apply(tab, 'st_main', i);
            IF with_bemi AND i >= ask_from THEN
                SELECT * INTO tx FROM tt_tx WHERE ord = i;
                want := tt_state(tab, 'st_main');
                got := tt_asof_p(tab, '0/0'::pg_lsn + tx.commit_position);
                n_p := n_p + 1;
                IF got IS DISTINCT FROM want THEN
                    PERFORM tt_report(tab, format('as_of(NULL::%s, %s::pg_lsn) (transaction %s)', tab, '0/0'::pg_lsn + tx.commit_position, tx.transaction_id), want, got);
                END IF;
            END IF;
        END IF;
        -- recordings whose snapshot sees exactly the prefix up to i of this table's transactions (plus later visible ones)
        FOR rec IN SELECT * FROM rec_at WHERE s_ord = i ORDER BY id LOOP
            DELETE FROM st_tmp;
            INSERT INTO st_tmp SELECT * FROM st_main;
            FOR tx IN SELECT t.ord FROM tx_tab t
                      WHERE t.ord > i AND pg_visible_in_snapshot(t.transaction_id::text::xid8, rec.snap) ORDER BY t.ord LOOP
                PERFORM tt_apply(tab, 'st_tmp', tx.ord);
            END LOOP;
            want := tt_state(tab, 'st_tmp');
            n_snap := n_snap + 1;
            IF want IS DISTINCT FROM rec.contents THEN
                PERFORM tt_report(tab, format('ORACLE: recorded contents (session %s, after its transaction %s, snapshot %s) != replay of the transactions visible in that snapshot',
                                            rec.session, rec.n, rec.snap), rec.contents, want);
            END IF;
        END LOOP;
        -- instants whose prefix of the commit order ends at i
        FOR rec IN SELECT * FROM rec_at WHERE t_ord = i ORDER BY id LOOP
            want := tt_state(tab, 'st_main');
            IF rec.session <= 1 AND want IS DISTINCT FROM rec.contents THEN
                PERFORM tt_report(tab, format('ORACLE: one session: recorded contents at %s (transaction %s) != replay of the prefix up to it', rec.t, rec.n), rec.contents, want);
            END IF;
            IF with_bemi AND rec.t > ask_from_t THEN
                n_t := n_t + 1;
                got := tt_asof_t(tab, rec.t);
                IF got IS DISTINCT FROM want THEN
                    PERFORM tt_report(tab, format('as_of(NULL::%s, %L) (session %s after its transaction %s)', tab, rec.t, rec.session, rec.n), want, got);
                END IF;
                got := CASE WHEN with_versions THEN tt_versions_at(tab, rec.t) ELSE want END;
                IF got IS DISTINCT FROM want THEN
                    PERFORM tt_report(tab, format('versions(NULL::%s) valid at %L (session %s after its transaction %s)', tab, rec.t, rec.session, rec.n), want, got);
                END IF;
            END IF;
        END LOOP;
    END LOOP;
    RETURN format('%s: %s changes in %s transactions replayed; checked %s snapshots, %s instants, %s commit positions',
                  tab, (SELECT count(*) FROM tt_ch c WHERE c."table" = tab), (SELECT count(*) FROM tx_tab), n_snap, n_t, n_p);
END $$;
SQL

[[ $(q -c "SELECT count(DISTINCT capture) FROM tt_tx") == 1 ]] ||
    bemi_fail "the stored changes span several captures: this test orders them by commit_position alone"
fail=0
if [[ $ORACLE_ONLY != 1 ]]; then
    bf=$(q -c "SELECT (SELECT count(*) FROM tt_tx t WHERE t.transaction_id = b.xid) || ' ' ||
                      (SELECT count(DISTINCT ord) FROM tt_ch c WHERE c.\"table\" = 'tt_c' AND c.ord < (SELECT ord FROM tt_tx WHERE transaction_id = b.xid)) || ' ' ||
                      (SELECT count(DISTINCT ord) FROM tt_ch c WHERE c.\"table\" = 'tt_c' AND c.ord > (SELECT ord FROM tt_tx WHERE transaction_id = b.xid)) || ' ' ||
                      (SELECT count(DISTINCT c.ord) FROM tt_ch c JOIN tt_tx t USING (ord), bemi.baselines bl
                        WHERE c.\"table\" = 'tt_c' AND bl.\"table\" = 'tt_c' AND bl.snapshot IS NOT NULL
                          AND c.ord < (SELECT ord FROM tt_tx WHERE transaction_id = b.xid)
                          AND NOT pg_visible_in_snapshot(t.transaction_id::text::xid8, bl.snapshot))
               FROM tt_bf b")
    read -r bf_stored bf_before bf_after bf_between <<<"$bf"
    [[ $bf_stored == 1 ]] || bemi_fail "the transaction of bemi.backfill('tt_c') is not in bemi.changes (its lineage entry)"
    echo "tt_c's baseline under concurrent writes: $bf_before transactions of tt_c stored before its anchor ($bf_between of them committed after its snapshot), $bf_after after it"
    ((bf_after > 0)) || bemi_fail "no transaction of tt_c after its baseline: the concurrent backfill was not concurrent"
    # effective_at (if stored) must be the running maximum of committed_at over the commit order
    if [[ $(q -c "SELECT count(*) FROM pg_attribute WHERE attrelid = 'bemi.changes'::regclass AND attname = 'effective_at' AND NOT attisdropped") == 1 ]]; then
        bad=$(q -c "SELECT count(*) FROM bemi.changes c JOIN tt_tx t USING (capture, commit_position) WHERE c.effective_at IS DISTINCT FROM t.runmax")
        [[ $bad == 0 ]] || { echo "FAIL: $bad stored changes whose effective_at is not the running maximum of committed_at"; fail=1; }
        echo "ok: effective_at = running maximum of committed_at"
    fi
    # the versions of the whole run, and a window of them
    if [[ $SKIP_VERSIONS != 1 ]]; then
    q >/dev/null <<'SQL' || bemi_fail "bemi.versions"
INSERT INTO tt_ver SELECT 'tt_a', valid_from, valid_to, to_jsonb("row") FROM bemi.versions(NULL::tt_a);
INSERT INTO tt_ver SELECT 'tt_b', valid_from, valid_to, to_jsonb("row") FROM bemi.versions(NULL::tt_b);
INSERT INTO tt_ver SELECT 'tt_p', valid_from, valid_to, to_jsonb("row") FROM bemi.versions(NULL::tt_p);
INSERT INTO tt_ver SELECT 'tt_c', valid_from, valid_to, to_jsonb("row") FROM bemi.versions(NULL::tt_c, (SELECT t FROM tt_bf));
SQL
    win=$(q <<'SQL'
WITH c AS (SELECT count(*) AS n FROM tt_rec WHERE session = 1),
     w AS (SELECT (SELECT t FROM tt_rec WHERE session = 1 ORDER BY n OFFSET (c.n / 3) LIMIT 1) t1,
                  (SELECT t FROM tt_rec WHERE session = 1 ORDER BY n OFFSET (2 * c.n / 3) LIMIT 1) t2
           FROM c),
     want AS (SELECT valid_from, valid_to, r FROM tt_ver, w WHERE tab = 'tt_a' AND valid_from < w.t2 AND (valid_to IS NULL OR valid_to > w.t1)),
     got AS (SELECT valid_from, valid_to, to_jsonb("row") r FROM w, bemi.versions(NULL::tt_a, w.t1, w.t2))
SELECT (SELECT count(*) FROM want) || ' ' ||
       (SELECT count(*) FROM ((SELECT * FROM want EXCEPT ALL SELECT * FROM got) UNION ALL (SELECT * FROM got EXCEPT ALL SELECT * FROM want)) x)
       || (SELECT coalesce(string_agg(E'\n    ' || CASE WHEN r IS NULL THEN what ELSE format('%s [%s, %s) %s', what, valid_from, coalesce(valid_to::text, 'NULL'), left(r::text, 120)) END, '' ORDER BY r::text NULLS FIRST, what), '')
           FROM (SELECT * FROM (SELECT 'window [' || w.t1 || ', ' || w.t2 || ')' what, NULL::timestamptz valid_from, NULL::timestamptz valid_to, NULL::jsonb r FROM w
                 UNION ALL (SELECT 'only in the whole run:', * FROM want EXCEPT ALL SELECT 'only in the whole run:', * FROM got)
                 UNION ALL (SELECT 'only in the window call:', * FROM got EXCEPT ALL SELECT 'only in the window call:', * FROM want)) u
                 ORDER BY r::text NULLS FIRST, what LIMIT 21) x)
SQL
)
    read -r nwin ndiff <<<"$(head -n 1 <<<"$win")"
    if [[ $ndiff != 0 ]]; then
        echo "FAIL: bemi.versions(NULL::tt_a, t1, t2) differs from the whole run's versions overlapping [t1, t2) in $ndiff rows:"
        tail -n +2 <<<"$win"
        fail=1
    else
        echo "ok: versions window: $nwin versions"
    fi
    fi
fi
with_bemi=true
[[ $ORACLE_ONLY == 1 ]] && with_bemi=false
# the tables are checked in parallel sessions
start=$SECONDS
for tab in tt_a tt_b tt_p tt_c; do
    ask="0, '-infinity'"
    if [[ $tab == tt_c && $ORACLE_ONLY != 1 ]]; then
        ask="(SELECT t.ord FROM tt_tx t, tt_bf b WHERE t.transaction_id = b.xid), (SELECT t FROM tt_bf)"
    fi
    q -c "SELECT tt_check('$tab', $with_bemi, $([[ $SKIP_VERSIONS == 1 ]] && echo false || echo true), $([[ $BASELINE == created ]] && echo true || echo false), $ask)" \
        >"$BEMI_TEST_TMPDIR/tt_check_$tab.out" 2>&1 &
    BG+=($!)
done
for i in "${!BG[@]}"; do
    tab=$(sed -n "$((i + 1))p" <<<$'tt_a\ntt_b\ntt_p\ntt_c')
    wait "${BG[$i]}" || bemi_fail "check of $tab could not run (seed $SEED): $(cat "$BEMI_TEST_TMPDIR/tt_check_$tab.out")"
    cat "$BEMI_TEST_TMPDIR/tt_check_$tab.out"
done
BG=()
echo "checks done in $((SECONDS - start)) s"
nfail=$(q -c "SELECT count(*) FROM tt_fail")
if ((nfail > 0)); then
    echo "FAIL: $nfail mismatches (BEMI_TT_SEED=$SEED); the first 10:"
    q -c "SELECT tab || ': ' || what || E'\n' || detail FROM tt_fail LIMIT 10"
    fail=1
fi
((fail == 0)) || bemi_fail "time travel property test failed (BEMI_TT_SEED=$SEED)"
echo "ok: time travel property test (BEMI_TT_SEED=$SEED)"
