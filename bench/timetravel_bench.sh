#!/usr/bin/env bash
# Time travel speed (issue 7, section 5): bemi's as_of / history / revert, side by side with
# the periods extension's SYSTEM VERSIONING (t__as_of) on the same workload.
#
#   bench/timetravel_bench.sh            the whole benchmark
#   BENCH_ROWS=20000 BENCH_CHANGES=2000 bench/timetravel_bench.sh     a quick smoke run
#   bench/timetravel_bench.sh --help     this text
#
# Run as root (the server runs as the `postgres` OS user) or as postgres. Starts its own
# throw-away cluster with the shared test helpers (test/lib/cluster.sh: initdb into a mktemp
# dir, a free port, unix socket in that dir) and stops and removes it on exit.
# Needs bemi installed for PG_CONFIG (make install) and the periods extension (Debian:
# apt-get install postgresql-15-periods) with btree_gist (contrib). When PG_CONFIG is not the
# system's and lacks periods, its files are copied from /usr/lib/postgresql/15/lib and
# /usr/share/postgresql/15/extension when there (BENCH_COPY_PERIODS=0 refuses instead).
#
# Server: cluster.sh's settings (wal_level=logical, bemi preloaded, ...) plus
# shared_buffers=512MB, max_wal_size=4GB, logical_decoding_work_mem=64MB, jit=off (JIT
# compile times would add noise to both sides), and fsync / synchronous_commit per
# BENCH_FSYNC. Time travel reads write no WAL and flush nothing, so fsync only changes how
# long the load takes; the revert runs in a transaction that is rolled back (no commit
# flush). So the figures are measured once, with fsync on by default (BENCH_FSYNC=off for a
# CPU-bound run: fsync=off, synchronous_commit=off).
#
# Workload, identical in both databases (same seeds, deterministic):
#   acct (id bigint PRIMARY KEY, owner int, balance numeric(14,2), status text, note text,
#   updated_at timestamptz), REPLICA IDENTITY DEFAULT (BENCH_REPLICA_IDENTITY), BENCH_ROWS rows;
#   bench_bemi:    loaded before CREATE EXTENSION bemi, then bemi.backfill('acct') (the
#                  baseline);
#   bench_periods: periods.add_system_time_period + add_system_versioning before the load,
#                  an index on acct_history (id) (periods creates none; without it every
#                  history lookup scans);
#   T_oldest := clock_timestamp() (right after the baseline / load);
#   BENCH_CHANGES changes spread over all rows: transactions of 10 to 100 changes (about 90%
#   updates of random rows, 5% inserts, 5% deletes), each with its own context
#   {"request_id": "req-N"} in bench_bemi;
#   T_recent := clock_timestamp();
#   one request {"request_id": "bench-revert"}: BENCH_REVERT changes in one transaction
#   (80% updates, 10% inserts, 10% deletes of distinct rows);
#   50 more changes of rows the request left alone (so that the request can be reverted
#   without conflicts and every instant is followed by stored commits), bemi.sync(),
#   VACUUM ANALYZE.
#
# Measured (each BENCH_REPEAT times after one warm-up, median printed with every run's ms,
# timed on the server with clock_timestamp(); the revert from psql around the call):
#   as_of at T_recent and at T_oldest:
#       bemi:    SELECT count(*), sum(balance), ... FROM bemi.as_of(NULL::acct, T)
#       periods: the same FROM acct__as_of(T)
#     both must return the same count and sums (checked: the two databases hold the same data);
#   history of one record (the id with the most changes):
#       bemi:    SELECT count(*) FROM bemi.history('acct'::regclass, 'ID')
#       periods: SELECT count(*) FROM (acct_history WHERE id = ID UNION ALL acct WHERE id = ID)
#   revert of the BENCH_REVERT-change request (bemi only; periods has none):
#       BEGIN; SELECT count(*) FROM bemi.revert(context => '{"request_id": "bench-revert"}'); ROLLBACK
#   then BENCH_UNRELATED x BENCH_CHANGES changes of another table are added to bemi.changes
#   (transactions of 1000 updates) and the bemi figures are measured again: the cost must
#   not grow with the total size of bemi.changes.
#
# Environment (defaults in brackets):
#   PG_CONFIG           [/usr/lib/postgresql/15/bin/pg_config]
#   BENCH_ROWS          rows of acct [1000000]
#   BENCH_CHANGES       changes of acct [100000]
#   BENCH_REVERT        changes of the reverted request [1000]
#   BENCH_UNRELATED     unrelated history, in multiples of BENCH_CHANGES [10]
#   BENCH_REPEAT        measured runs per figure [5]
#   BENCH_FSYNC         on | off [on]
#   BENCH_REPLICA_IDENTITY  default | full: acct's replica identity in bench_bemi [default]
#   BENCH_COPY_PERIODS  0: do not copy periods into PG_CONFIG's directories [1]
#   BENCH_KEEP_TMP=1    keep the temp dir (data directory, server log)
#
# Exit status: 0 on success (the targets are reported, not enforced), 1 on any failure (a
# query error, or bemi and periods disagreeing on a state).

set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=../test/lib/bench.sh
source "$(dirname "${BASH_SOURCE[0]}")/../test/lib/bench.sh"
bemi_bench_start timetravel_bench "$0" "$@"
export PG_CONFIG
BENCH_ROWS=${BENCH_ROWS:-1000000}
BENCH_CHANGES=${BENCH_CHANGES:-100000}
BENCH_REVERT=${BENCH_REVERT:-1000}
BENCH_UNRELATED=${BENCH_UNRELATED:-10}
BENCH_REPEAT=${BENCH_REPEAT:-5}
BENCH_FSYNC=${BENCH_FSYNC:-on}
BENCH_COPY_PERIODS=${BENCH_COPY_PERIODS:-1}
BENCH_REPLICA_IDENTITY=${BENCH_REPLICA_IDENTITY:-default}
case $BENCH_REPLICA_IDENTITY in default | full) ;; *) die "BENCH_REPLICA_IDENTITY must be default or full" ;; esac

bemi_bench_whole BENCH_ROWS BENCH_CHANGES BENCH_REVERT BENCH_UNRELATED BENCH_REPEAT
((BENCH_ROWS >= 1000 && BENCH_CHANGES >= 100 && BENCH_REPEAT >= 1)) ||
    die "BENCH_ROWS >= 1000, BENCH_CHANGES >= 100 and BENCH_REPEAT >= 1 please"
((BENCH_REVERT >= 10 && BENCH_REVERT * 2 <= BENCH_ROWS)) || die "BENCH_REVERT must be 10 .. BENCH_ROWS / 2"
case $BENCH_FSYNC in
on) FSYNC_CONF=$'fsync = on\nsynchronous_commit = on' ;;
off) FSYNC_CONF=$'fsync = off\nsynchronous_commit = off' ;;
*) die "BENCH_FSYNC must be on or off" ;;
esac

# ------------------------------------------------------------------ prerequisites

bemi_bench_prereqs initdb pg_ctl psql
[[ -f $SHAREDIR/extension/btree_gist.control ]] || die "btree_gist (contrib) is missing in $SHAREDIR/extension"
if [[ ! -f $SHAREDIR/extension/periods.control ]]; then
    SYS_SHARE=/usr/share/postgresql/15/extension SYS_LIB=/usr/lib/postgresql/15/lib
    if [[ $BENCH_COPY_PERIODS == 1 && -f $SYS_SHARE/periods.control && -f $SYS_LIB/periods.so ]]; then
        log "copying the periods extension from $SYS_SHARE and $SYS_LIB into $SHAREDIR and $PKGLIBDIR"
        cp "$SYS_SHARE"/periods.control "$SYS_SHARE"/periods--*.sql "$SHAREDIR/extension/" &&
            cp "$SYS_LIB/periods.so" "$PKGLIBDIR/" || die "could not copy periods (run as root?)"
    else
        die "the periods extension is not installed for $PG_CONFIG (Debian: apt-get install -y postgresql-15-periods)"
    fi
fi

# ------------------------------------------------------------------ cluster

export BEMI_SHARED_PRELOAD=bemi
export BEMI_TEST_EXTRA_CONF="# ---- bench/timetravel_bench.sh ----
shared_buffers = 512MB
max_wal_size = 4GB
logical_decoding_work_mem = 64MB
jit = off
$FSYNC_CONF"
bemi_bench_cluster bemi-tt-bench
log "fsync $BENCH_FSYNC"
BEMI=bench_bemi
PER=bench_periods
sqldb postgres "CREATE DATABASE $BEMI" >/dev/null
sqldb postgres "CREATE DATABASE $PER" >/dev/null

# ------------------------------------------------------------------ schema and helpers (both)

COMMON_SQL=$(cat <<'SQL'
CREATE TABLE acct (
    id         bigint PRIMARY KEY,
    owner      int NOT NULL,
    balance    numeric(14,2) NOT NULL,
    status     text NOT NULL,
    note       text,
    updated_at timestamptz NOT NULL
);

-- n changes of acct in transactions of 10..100 changes; deterministic for a seed (the
-- context call draws no random number). Returns the changes made.
CREATE PROCEDURE bench_changes(n int, seed float8, with_context bool, INOUT made bigint DEFAULT 0)
LANGUAGE plpgsql AS $$
DECLARE k int; maxid bigint; x float8; c bigint; ids bigint[]; tx int := 0;
BEGIN
    PERFORM setseed(seed);
    made := 0;
    WHILE made < n LOOP
        tx := tx + 1;
        SELECT max(id) INTO maxid FROM acct;
        IF with_context THEN
            PERFORM bemi_set_context(jsonb_build_object('request_id', 'req-' || tx), true);
        END IF;
        k := least(10 + floor(random() * 91)::int, n - made);
        x := random();
        IF x < 0.05 THEN
            INSERT INTO acct SELECT maxid + g, (maxid + g) % 10000, 0, 'new', 'opened in ' || tx, clock_timestamp()
            FROM generate_series(1, k) g;
        ELSE
            ids := ARRAY(SELECT 1 + floor(random() * maxid)::bigint FROM generate_series(1, k));
            IF x < 0.10 THEN
                DELETE FROM acct WHERE id = ANY (ids);
            ELSE
                UPDATE acct SET balance = balance + 1 + (id % 7), status = CASE WHEN status = 'open' THEN 'active' ELSE 'open' END,
                                note = 'changed in ' || tx, updated_at = clock_timestamp()
                WHERE id = ANY (ids);
            END IF;
        END IF;
        GET DIAGNOSTICS c = ROW_COUNT;
        made := made + c;
        COMMIT;
    END LOOP;
END $$;

-- The request to revert: n changes in one transaction, distinct rows.
CREATE PROCEDURE bench_request(n int, with_context bool) LANGUAGE plpgsql AS $$
DECLARE maxid bigint; ids bigint[];
BEGIN
    PERFORM setseed(0.25);
    IF with_context THEN
        PERFORM bemi_set_context('{"request_id": "bench-revert", "user_id": 42}', true);
    END IF;
    SELECT max(id) INTO maxid FROM acct;
    -- rows that exist, spread over the table (no temporary table: its lineage entry would
    -- be captured with the request's context)
    ids := ARRAY(SELECT id FROM acct WHERE id % (SELECT greatest(1, count(*) / (n * 2)) FROM acct) = 0
                 ORDER BY id LIMIT n - n / 10);
    UPDATE acct a SET balance = balance - 5, status = 'reverted?', note = 'bench request', updated_at = clock_timestamp()
    FROM unnest(ids) WITH ORDINALITY p(id, i) WHERE a.id = p.id AND p.i % 9 <> 0;
    DELETE FROM acct a USING unnest(ids) WITH ORDINALITY p(id, i) WHERE a.id = p.id AND p.i % 9 = 0;
    INSERT INTO acct SELECT maxid + g, 1, 100, 'new', 'bench request', clock_timestamp() FROM generate_series(1, n / 10) g;
    COMMIT;
END $$;

-- A few changes after the request (so that T_recent is followed by stored commits), on
-- rows the request did not touch.
CREATE PROCEDURE bench_tail(with_context bool) LANGUAGE plpgsql AS $$
BEGIN
    IF with_context THEN
        PERFORM bemi_set_context('{"request_id": "tail"}', true);
    END IF;
    UPDATE acct SET note = 'tail ' || id, updated_at = clock_timestamp()
    WHERE id IN (SELECT id FROM acct WHERE note NOT LIKE 'bench request%' ORDER BY id LIMIT 50);
    COMMIT;
END $$;

-- median and every run, in ms, of a one-value query run `n` times after a warm-up; the
-- query's result must not change between runs
CREATE FUNCTION bench_time(q text, n int, OUT med numeric, OUT runs text, OUT result text)
LANGUAGE plpgsql AS $$
DECLARE t0 timestamptz; ms float8[] := '{}'; r text;
BEGIN
    EXECUTE q INTO result;
    FOR i IN 1..n LOOP
        t0 := clock_timestamp();
        EXECUTE q INTO r;
        ms := ms || 1000 * extract(epoch FROM clock_timestamp() - t0)::float8;
        IF r IS DISTINCT FROM result THEN
            RAISE EXCEPTION 'the result changed between runs: % then %', result, r;
        END IF;
    END LOOP;
    SELECT round(percentile_cont(0.5) WITHIN GROUP (ORDER BY x)::numeric, 3) INTO med FROM unnest(ms) x;
    runs := array_to_string(ARRAY(SELECT round(x::numeric, 2) FROM unnest(ms) x), ' ');
END $$;
SQL
)

sqldb "$PER" "CREATE EXTENSION btree_gist; CREATE EXTENSION periods" >/dev/null
sqldb "$PER" "$COMMON_SQL" >/dev/null
sqldb "$PER" "SET client_min_messages = warning; SELECT periods.add_system_time_period('acct'); SELECT periods.add_system_versioning('acct');" >/dev/null
sqldb "$PER" "CREATE INDEX ON acct_history (id)" >/dev/null
# bemi_set_context does not exist in bench_periods before CREATE EXTENSION; bench_bemi gets
# the same procedures
sqldb "$BEMI" "$COMMON_SQL" >/dev/null
sqldb "$BEMI" "ALTER TABLE acct REPLICA IDENTITY $BENCH_REPLICA_IDENTITY" >/dev/null

LOAD_SQL="INSERT INTO acct SELECT g, g % 10000, (g % 1000) / 4.0, 'open', 'row ' || g, timestamptz '2026-01-01 00:00:00+00'
          FROM generate_series(1, $BENCH_ROWS) g"
t0=$SECONDS
sqldb "$PER" "$LOAD_SQL" >/dev/null
sqldb "$PER" "VACUUM ANALYZE acct" >/dev/null
T_OLD_P=$(sqldb "$PER" "SELECT clock_timestamp()")
log "periods: $BENCH_ROWS rows loaded in $((SECONDS - t0)) s"

t0=$SECONDS
sqldb "$BEMI" "$LOAD_SQL" >/dev/null
sqldb "$BEMI" "VACUUM ANALYZE acct" >/dev/null
sqldb "$BEMI" "CREATE EXTENSION bemi" >/dev/null
[[ $(sqldb "$BEMI" "SELECT bemi.sync()") == t ]] || die "bemi.sync() after CREATE EXTENSION"
t1=$SECONDS
sqldb "$BEMI" "SELECT bemi.backfill('acct')" >/dev/null || die "bemi.backfill('acct')"
t2=$SECONDS
# the worker decodes (and skips) the WAL of the baseline's rows before it reaches the lineage entry
[[ $(sqldb "$BEMI" "SELECT bemi.sync('30 min')") == t ]] || die "bemi.sync() after backfill"
T_OLD_B=$(sqldb "$BEMI" "SELECT clock_timestamp()")
log "bemi: $BENCH_ROWS rows loaded in $((t1 - t0)) s, bemi.backfill took $((t2 - t1)) s, stored $((SECONDS - t2)) s later"

# ------------------------------------------------------------------ changes
MAIN=$((BENCH_CHANGES - BENCH_REVERT - 50))
((MAIN >= 50)) || die "BENCH_CHANGES must exceed BENCH_REVERT + 100"
t0=$SECONDS
made_p=$(sqldb "$PER" "CALL bench_changes($MAIN, 0.5, false)")
T_RECENT_P=$(sqldb "$PER" "SELECT clock_timestamp()")
sqldb "$PER" "CALL bench_request($BENCH_REVERT, false)" >/dev/null
sqldb "$PER" "CALL bench_tail(false)" >/dev/null
sqldb "$PER" "VACUUM ANALYZE acct, acct_history" >/dev/null
log "periods: $made_p + $BENCH_REVERT + 50 changes in $((SECONDS - t0)) s"

t0=$SECONDS
made_b=$(sqldb "$BEMI" "CALL bench_changes($MAIN, 0.5, true)")
T_RECENT_B=$(sqldb "$BEMI" "SELECT clock_timestamp()")
sqldb "$BEMI" "CALL bench_request($BENCH_REVERT, true)" >/dev/null
sqldb "$BEMI" "CALL bench_tail(true)" >/dev/null
t1=$SECONDS
[[ $(sqldb "$BEMI" "SELECT bemi.sync('10 min')") == t ]] || die "bemi.sync() after the changes"
sqldb "$BEMI" "VACUUM ANALYZE acct, bemi.changes" >/dev/null
log "bemi: $made_b + $BENCH_REVERT + 50 changes in $((t1 - t0)) s, all stored $((SECONDS - t1)) s later"
[[ $made_b == "$made_p" ]] || die "the two workloads differ ($made_b vs $made_p changes)"
REQ=$(sqldb "$BEMI" "SELECT count(*) FROM bemi.changes WHERE context @> '{\"request_id\": \"bench-revert\"}'")
[[ $REQ == "$BENCH_REVERT" ]] || die "bemi.changes holds $REQ changes of the request, not $BENCH_REVERT"
HID=$(sqldb "$BEMI" "SELECT primary_key FROM bemi.changes WHERE \"table\" = 'acct' GROUP BY primary_key ORDER BY count(*) DESC, primary_key LIMIT 1")
HN=$(sqldb "$BEMI" "SELECT count(*) FROM bemi.changes WHERE \"table\" = 'acct' AND primary_key = '$HID'")

# ------------------------------------------------------------------ measurements

AGG="count(*) || ' rows, balance ' || sum(balance) || ', ids ' || sum(id) || ', notes ' || sum(hashtext(coalesce(note, '-') || status))"
declare -A MED RUNS RES
measure() { # measure NAME DB QUERY
    local out
    out=$(sqldb "$2" "SELECT med || '|' || runs || '|' || result FROM bench_time(\$q\$$3\$q\$, $BENCH_REPEAT)") ||
        die "$1 failed: $3"
    MED[$1]=${out%%|*}
    out=${out#*|}
    RUNS[$1]=${out%%|*}
    RES[$1]=${out#*|}
    log "$1: median ${MED[$1]} ms (${RUNS[$1]}) -> ${RES[$1]}"
}
revert_once() { # prints the revert's ms; the transaction is rolled back
    "${PSQL[@]}" -d "$BEMI" <<SQL | tail -n 1
BEGIN;
SELECT clock_timestamp() AS t0 \gset
SELECT count(*) AS n FROM bemi.revert(context => '{"request_id": "bench-revert"}') \gset
SELECT round(1000 * extract(epoch FROM clock_timestamp() - :'t0'::timestamptz)::numeric, 3) || ' ' || :n;
ROLLBACK;
SQL
}
measure_revert() { # measure_revert NAME; a refused revert is reported, not fatal
    local out ms=() n=
    if ! out=$(revert_once 2>&1); then
        MED[$1]=failed
        RUNS[$1]=failed
        RES[$1]="ERROR: $(grep -m1 -o 'ERROR: .*' <<<"$out" | cut -c8-200)"
        log "$1: ${RES[$1]}"
        return 0
    fi
    for _ in $(seq 1 "$BENCH_REPEAT"); do
        out=$(revert_once) || die "bemi.revert failed"
        ms+=("${out% *}")
        n=${out#* }
    done
    MED[$1]=$(printf '%s\n' "${ms[@]}" | sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}')
    RUNS[$1]="${ms[*]}"
    RES[$1]="$n actions"
    log "$1: median ${MED[$1]} ms (${RUNS[$1]}) -> ${RES[$1]}"
}
bemi_round() { # bemi_round SUFFIX
    measure "bemi_recent$1" "$BEMI" "SELECT $AGG FROM bemi.as_of(NULL::acct, '$T_RECENT_B'::timestamptz)"
    measure "bemi_oldest$1" "$BEMI" "SELECT $AGG FROM bemi.as_of(NULL::acct, '$T_OLD_B'::timestamptz)"
    measure "bemi_history$1" "$BEMI" "SELECT count(*) FROM bemi.history('acct'::regclass, '$HID')"
    measure_revert "bemi_revert$1"
}

LOAD_MEASURE=$(cut -d' ' -f1-3 /proc/loadavg)
log "measuring ($BENCH_REPEAT runs per figure after a warm-up; load average $LOAD_MEASURE)"
measure per_recent "$PER" "SELECT $AGG FROM acct__as_of('$T_RECENT_P'::timestamptz)"
measure per_oldest "$PER" "SELECT $AGG FROM acct__as_of('$T_OLD_P'::timestamptz)"
measure per_history "$PER" "SELECT count(*) FROM (SELECT id FROM acct_history WHERE id = $HID UNION ALL SELECT id FROM acct WHERE id = $HID) h"
bemi_round ""
CH1=$(sqldb "$BEMI" "SELECT count(*) || ' rows, ' || pg_size_pretty(pg_total_relation_size('bemi.changes')) FROM bemi.changes")

# 10x unrelated history: changes of another table
UNREL=$((BENCH_UNRELATED * BENCH_CHANGES))
if ((UNREL > 0)); then
    t0=$SECONDS
    OROWS=$((BENCH_CHANGES < 100000 ? BENCH_CHANGES : 100000))
    sqldb "$BEMI" "CREATE TABLE other_t (id int PRIMARY KEY, v int NOT NULL, note text)" >/dev/null
    sqldb "$BEMI" "INSERT INTO other_t SELECT g, 0, 'other ' || g FROM generate_series(1, $OROWS) g" >/dev/null
    sqldb "$BEMI" "DO \$\$
DECLARE left_ int := $UNREL - $OROWS; k int;
BEGIN
    WHILE left_ > 0 LOOP
        k := least(1000, left_, $OROWS);
        UPDATE other_t SET v = v + 1 WHERE id IN (SELECT 1 + (g * 7919 + left_) % $OROWS FROM generate_series(1, k) g);
        left_ := left_ - k;
        COMMIT;
    END LOOP;
END \$\$" >/dev/null
    t1=$SECONDS
    [[ $(sqldb "$BEMI" "SELECT bemi.sync('30 min')") == t ]] || die "bemi.sync() after the unrelated history"
    sqldb "$BEMI" "VACUUM ANALYZE bemi.changes" >/dev/null
    CH2=$(sqldb "$BEMI" "SELECT count(*) || ' rows, ' || pg_size_pretty(pg_total_relation_size('bemi.changes')) FROM bemi.changes")
    log "unrelated history: $UNREL changes of other_t written in $((t1 - t0)) s, stored $((SECONDS - t1)) s later; bemi.changes: $CH2"
    bemi_round "_10x"
fi

# ------------------------------------------------------------------ report

[[ ${RES[bemi_recent]} == "${RES[per_recent]}" ]] || die "as_of at T_recent: bemi says ${RES[bemi_recent]}, periods ${RES[per_recent]}"
[[ ${RES[bemi_oldest]} == "${RES[per_oldest]}" ]] || die "as_of at T_oldest: bemi says ${RES[bemi_oldest]}, periods ${RES[per_oldest]}"
[[ ${RES[bemi_history]} == "$HN" ]] || die "bemi.history returned ${RES[bemi_history]} rows for id $HID, bemi.changes holds $HN"
ratio() { if [[ $1 == failed || $2 == failed ]]; then echo -; else awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; fi; }
verdict() { if [[ $1 == failed ]]; then echo "NOT MET (failed)"; else awk -v v="$1" -v lim="$2" 'BEGIN { print (v + 0 <= lim + 0) ? "met" : "NOT MET" }'; fi; }

echo
echo "== bench/timetravel_bench.sh: $BENCH_ROWS rows, $BENCH_CHANGES changes (transactions of 10-100), replica identity $BENCH_REPLICA_IDENTITY, fsync $BENCH_FSYNC, $(nproc) CPUs"
echo "   bemi.so $(sha256sum "$PKGLIBDIR/bemi.so" | cut -c1-12); medians of $BENCH_REPEAT runs after a warm-up, in ms"
echo "   load average: before $LOAD_BEFORE, when measuring started $LOAD_MEASURE, at the end $(cut -d' ' -f1-3 /proc/loadavg)"
echo "   as_of results equal in both databases: T_recent ${RES[bemi_recent]}; T_oldest ${RES[bemi_oldest]}"
echo "   bemi.changes: $CH1${CH2:+; after the unrelated history: $CH2}"
printf '%-44s %12s %12s %10s  %s\n' figure "bemi ms" "periods ms" ratio target
printf '%-44s %12s %12s %10s  %s\n' "as_of at a recent instant" "${MED[bemi_recent]}" "${MED[per_recent]}" "$(ratio "${MED[bemi_recent]}" "${MED[per_recent]}")" \
    "<= 1000 ms: $(verdict "${MED[bemi_recent]}" 1000); <= periods: $(verdict "${MED[bemi_recent]}" "${MED[per_recent]}")"
printf '%-44s %12s %12s %10s  %s\n' "as_of at the oldest instant" "${MED[bemi_oldest]}" "${MED[per_oldest]}" "$(ratio "${MED[bemi_oldest]}" "${MED[per_oldest]}")" \
    "<= 1000 ms: $(verdict "${MED[bemi_oldest]}" 1000); <= periods: $(verdict "${MED[bemi_oldest]}" "${MED[per_oldest]}")"
printf '%-44s %12s %12s %10s  %s\n' "history of one record ($HN changes)" "${MED[bemi_history]}" "${MED[per_history]}" "$(ratio "${MED[bemi_history]}" "${MED[per_history]}")" \
    "< 1 ms: $(verdict "${MED[bemi_history]}" 0.999)"
printf '%-44s %12s %12s %10s  %s\n' "revert of a $BENCH_REVERT-change request" "${MED[bemi_revert]}" - - \
    "< 1000 ms: $(verdict "${MED[bemi_revert]}" 999.999)"
echo "  revert: ${RES[bemi_revert]}"
if ((UNREL > 0)); then
    echo "after ${BENCH_UNRELATED}x unrelated history ($UNREL changes of another table):"
    for f in recent oldest history revert; do
        printf '%-44s %12s %12s %10s  %s\n' "  $f" "${MED[bemi_${f}_10x]}" - - \
            "x$(ratio "${MED[bemi_${f}_10x]}" "${MED[bemi_$f]}") of the 1x figure"
    done
fi
echo "every run (ms):"
for k in per_recent per_oldest per_history bemi_recent bemi_oldest bemi_history bemi_revert bemi_recent_10x bemi_oldest_10x bemi_history_10x bemi_revert_10x; do
    [[ -n ${RUNS[$k]:-} ]] && printf '  %-18s %s\n' "$k" "${RUNS[$k]}"
done
exit 0
