#!/usr/bin/env bash
# Decoding throughput and memory benchmark for the bemi output plugin.
#
#   bench/decode_bench.sh            throughput: bemi vs wal2json vs test_decoding vs pgoutput
#   bench/decode_bench.sh --big      memory boundedness: one huge transaction, spilled, decoded by bemi
#
# Run as root (the server then runs as the `postgres` OS user) or as postgres. Starts its
# own throw-away cluster with the shared test helpers (test/lib/cluster.sh: initdb into a
# mktemp dir, a free port, unix socket in that dir) and stops and removes it on exit. Installs nothing: bemi, wal2json
# (Debian: postgresql-15-wal2json) and test_decoding must already be installed.
#
# Throughput mode. One table with a mix of column types, REPLICA IDENTITY FULL. Slots for
# every plugin are created BEFORE the workload, then the workload runs: BENCH_TXNS
# transactions, each one pg_logical_emit_message(true, '_bemi', ...) followed by
# BENCH_INSERTS inserted rows, BENCH_UPDATES updated rows and BENCH_DELETES deleted rows
# (one set-based statement each, every row its own change; a plpgsql procedure with COMMIT
# inside, and deterministic data: every run decodes the same WAL content). Then, for
# BENCH_ROUNDS rounds, plugins interleaved round by round, each plugin's slot is peeked
# from the start:
#     SELECT count(*) FROM pg_logical_slot_peek_changes(slot, NULL, NULL, <opts>)
# (pgoutput: pg_logical_slot_peek_binary_changes with proto_version 1 and a publication),
# timed on the server with clock_timestamp(). changes/s = row changes of the workload
# (known, not counted from output rows: wal2json and test_decoding also print BEGIN,
# COMMIT and the message) / seconds. Peak RSS (VmHWM) of the decoding backend is read
# from /proc/self/status by the same backend right after the peek; each peek runs in a
# fresh connection. The peek functions put their output in a tuplestore (work_mem 4MB, so
# it goes to a temp file) that count(*) reads back: that cost grows with output bytes.
# Then BENCH_RECV_ROUNDS rounds through the replication protocol: each plugin's slot is
# copied (pg_copy_logical_replication_slot, so the original stays at the workload's start)
# and the copy is streamed by pg_recvlogical --start --endpos=<end of workload> into a pipe
# that only counts lines; wall-clock time, connection included.
#
# Big mode. logical_decoding_work_mem = 64kB so the server spills to disk; one
# transaction inserts BENCH_BIG_ROWS rows; bemi decodes it with
# pg_logical_slot_peek_changes while this script samples the backend's VmRSS / VmHWM
# from /proc every BENCH_SAMPLE_SEC seconds.
#
# Environment (defaults in brackets):
#   PG_CONFIG             [/usr/lib/postgresql/15/bin/pg_config]
#   BENCH_TXNS            transactions in the workload [17647 -> 299,999 row changes]
#   BENCH_INSERTS         inserts per transaction [10]
#   BENCH_UPDATES         updates per transaction [5]  (rows of the previous transaction)
#   BENCH_DELETES         deletes per transaction [2]  (rows of the previous transaction)
#   BENCH_ROUNDS          decoding rounds through the SQL interface [5]
#   BENCH_RECV_ROUNDS     rounds through a walsender, pg_recvlogical as the consumer [3]; 0: skip
#   BENCH_PLUGINS         plugins to measure, in round order [bemi wal2json test_decoding pgoutput]
#   BENCH_BIG_ROWS        rows of the single transaction in --big [2000000]
#   BENCH_SAMPLE_SEC      RSS sampling interval in --big [0.5]
#   BENCH_PERF=1          also `perf record --call-graph dwarf` two extra bemi peeks (needs perf) and
#                         print the top of `perf report`; output kept in BENCH_PERF_DIR
#   BENCH_PERF_DIR        where perf.data and the report go [./bench-perf-<timestamp>]
#   BENCH_CALLGRIND=1     finally also count instructions (valgrind --tool=callgrind) of one
#                         peek per plugin, in single-user mode: a figure that other load on the
#                         machine does not skew. ~1 min per 50k changes for wal2json: use it
#                         with a smaller workload, e.g. BENCH_TXNS=3000.
#   BENCH_CALLGRIND_DIR   where the callgrind.<plugin>.out files go [./bench-callgrind-<timestamp>]
#   BENCH_PORT            TCP port to use instead of a free random one
#   BENCH_KEEP_TMP=1      keep the temp dir (data directory, server log)
#
# Exit status: 0 on success, 1 on any failure (missing plugin, server error, a plugin
# emitting a different number of records than expected).

set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=../test/lib/bench.sh
source "$(dirname "${BASH_SOURCE[0]}")/../test/lib/bench.sh"
MODE=throughput
ARGS=()
for arg in "$@"; do
    if [[ $arg == --big ]]; then MODE=big; else ARGS+=("$arg"); fi
done
bemi_bench_start decode_bench "$0" ${ARGS[@]+"${ARGS[@]}"}

BENCH_TXNS=${BENCH_TXNS:-17647}
BENCH_INSERTS=${BENCH_INSERTS:-10}
BENCH_UPDATES=${BENCH_UPDATES:-5}
BENCH_DELETES=${BENCH_DELETES:-2}
BENCH_ROUNDS=${BENCH_ROUNDS:-5}
BENCH_RECV_ROUNDS=${BENCH_RECV_ROUNDS:-3}
BENCH_PLUGINS=${BENCH_PLUGINS:-bemi wal2json test_decoding pgoutput}
BENCH_BIG_ROWS=${BENCH_BIG_ROWS:-2000000}
BENCH_SAMPLE_SEC=${BENCH_SAMPLE_SEC:-0.5}
BENCH_PERF=${BENCH_PERF:-0}

bemi_bench_whole BENCH_TXNS BENCH_INSERTS BENCH_UPDATES BENCH_DELETES BENCH_ROUNDS BENCH_RECV_ROUNDS BENCH_BIG_ROWS
((BENCH_TXNS > 0 && BENCH_ROUNDS > 0 && BENCH_BIG_ROWS > 0)) || die "BENCH_TXNS, BENCH_ROUNDS and BENCH_BIG_ROWS must be > 0"
((BENCH_INSERTS >= BENCH_UPDATES && BENCH_INSERTS >= BENCH_DELETES)) ||
    die "BENCH_UPDATES and BENCH_DELETES must not exceed BENCH_INSERTS (they touch rows of the previous transaction)"
((BENCH_UPDATES + BENCH_DELETES <= BENCH_INSERTS)) ||
    die "BENCH_UPDATES + BENCH_DELETES must not exceed BENCH_INSERTS (updated and deleted rows are distinct)"

# ------------------------------------------------------------------ prerequisites

# Which build was measured: BEMI_SO_ID (the installed library, not the work tree's).
bemi_bench_prereqs initdb pg_ctl psql pg_recvlogical
for f in wal2json test_decoding pgoutput; do
    if [[ ! -f $PKGLIBDIR/$f.so ]]; then
        case $f in
        wal2json) hint="install the Debian package postgresql-15-wal2json" ;;
        *) hint="it ships with the PostgreSQL server package (postgresql-15)" ;;
        esac
        die "$PKGLIBDIR/$f.so is missing: $hint"
    fi
done
BENCH_CALLGRIND=${BENCH_CALLGRIND:-0}
if [[ $BENCH_CALLGRIND == 1 ]]; then
    command -v valgrind >/dev/null 2>&1 || die "BENCH_CALLGRIND=1 needs valgrind (Debian: apt-get install valgrind)"
    [[ -x $BINDIR/postgres ]] || die "$BINDIR/postgres is missing"
fi
if [[ $BENCH_PERF == 1 ]]; then
    command -v perf >/dev/null 2>&1 || die "BENCH_PERF=1 needs perf (Debian: apt-get install linux-perf)"
    ((EUID == 0)) || die "BENCH_PERF=1 needs root (perf attaches to a server backend)"
fi

# ------------------------------------------------------------------ cluster

if [[ $MODE == big ]]; then
    WORK_MEM_SETTING=64kB
else
    WORK_MEM_SETTING=256MB
fi

export BEMI_TEST_BASE_CONF=initdb BEMI_SHARED_PRELOAD=
export BEMI_TEST_EXTRA_CONF="# ---- bench/decode_bench.sh ----
max_replication_slots = 10
max_wal_senders = 10
shared_buffers = 256MB
logical_decoding_work_mem = $WORK_MEM_SETTING
fsync = off
synchronous_commit = off
full_page_writes = off
max_wal_size = 8GB
checkpoint_timeout = 30min
autovacuum = off"
bemi_bench_cluster bemi-bench

# ------------------------------------------------------------------ schema

# A realistic row: ~300 bytes, no TOAST (so every plugin sees whole tuples).
sql "
CREATE TABLE bench_todo (
    id          bigint PRIMARY KEY,
    title       text NOT NULL,
    body        text,
    owner_id    integer NOT NULL,
    priority    integer,
    amount      numeric(12,2),
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz,
    done        boolean NOT NULL,
    attrs       jsonb
);
ALTER TABLE bench_todo REPLICA IDENTITY FULL;
CREATE PUBLICATION bench_pub FOR TABLE bench_todo;

-- Rows lo..hi, deterministic: the same workload on every run. A set-returning SQL
-- function, so that the planner inlines it.
CREATE FUNCTION bench_rows(lo bigint, hi bigint, gen int) RETURNS SETOF bench_todo LANGUAGE sql IMMUTABLE AS \$\$
    SELECT n,
           'Task ' || n || ': review the quarterly report for team ' || (n % 97),
           'Notes for item ' || n || E' - line one\nline two with \"quotes\" and a tab\tand unicode: caf\u00e9 '
               || repeat('lorem ipsum ', 1 + (n % 5)::int),
           (n % 1000)::int,
           (n % 5)::int + gen,
           ((n * 7919) % 1000000) / 100.0 + gen,
           timestamptz '2024-01-01 00:00:00+00' + make_interval(secs => n * 37.123456),
           CASE WHEN gen = 0 THEN NULL ELSE timestamptz '2024-06-01 12:00:00+00' + make_interval(secs => n + gen) END,
           (n + gen) % 3 = 0,
           jsonb_build_object('tags', jsonb_build_array('work', 'q' || (n % 4)), 'estimate', n % 13,
                              'source', 'web', 'rev', gen)
      FROM generate_series(lo, hi) n
\$\$;
"

# ------------------------------------------------------------------ throughput mode

median() { sort -g | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else printf "%.6f\n", (a[NR/2]+a[NR/2+1])/2}'; }

plugin_query() { # the peek for plugin $1 on its slot, as SQL text
    case $1 in
    bemi) echo "SELECT count(*) FROM pg_logical_slot_peek_changes('bench_bemi', NULL, NULL)" ;;
    wal2json) echo "SELECT count(*) FROM pg_logical_slot_peek_changes('bench_wal2json', NULL, NULL, 'format-version', '2')" ;;
    test_decoding) echo "SELECT count(*) FROM pg_logical_slot_peek_changes('bench_test_decoding', NULL, NULL, 'skip-empty-xacts', '1')" ;;
    pgoutput) echo "SELECT count(*) FROM pg_logical_slot_peek_binary_changes('bench_pgoutput', NULL, NULL, 'proto_version', '1', 'publication_names', 'bench_pub')" ;;
    *) die "unknown plugin '$1' in BENCH_PLUGINS (known: bemi wal2json test_decoding pgoutput)" ;;
    esac
}

# Runs the peek in a fresh backend; prints "rows seconds vmhwm_kB".
timed_peek() {
    local q
    q=$(plugin_query "$1")
    sql "
DO \$\$
DECLARE
    t0 timestamptz;
    n bigint;
    hwm text;
BEGIN
    t0 := clock_timestamp();
    EXECUTE \$q\$$q\$q\$ INTO n;
    hwm := substring(pg_read_file('/proc/self/status') FROM 'VmHWM:\\s*([0-9]+) kB');
    RAISE NOTICE 'BENCH % % %', n, extract(epoch FROM clock_timestamp() - t0), coalesce(hwm, '-');
END
\$\$;" >"$TMP/peek.log" 2>&1 || {
        cat "$TMP/peek.log" >&2
        die "the peek of $1 failed"
    }
    sed -n 's/^NOTICE:  BENCH //p' "$TMP/peek.log"
}

run_throughput() {
    local per_txn=$((BENCH_INSERTS + BENCH_UPDATES + BENCH_DELETES))
    local changes=$((BENCH_TXNS * per_txn))
    local p

    # Set-based statements (each row is still its own change in the WAL and to the plugins);
    # one statement per row in plpgsql would make the workload, not decoding, the long part.
    sql "
CREATE PROCEDURE bench_workload(txns int, ins int, upd int, del int) LANGUAGE plpgsql AS \$\$
DECLARE
    base bigint;
    prev bigint;
BEGIN
    FOR t IN 0 .. txns - 1 LOOP
        base := t::bigint * ins;   -- this transaction inserts ids base+1 .. base+ins
        prev := base - ins;        -- the previous one's (for t = 0: the seed rows, inserted before the slots)
        PERFORM pg_logical_emit_message(true, '_bemi', '{\"user_id\":123,\"endpoint\":\"/todo\",\"method\":\"POST\"}');
        INSERT INTO bench_todo SELECT * FROM bench_rows(base + 1, base + ins, 0);
        -- updates and deletes touch distinct rows of the previous transaction
        UPDATE bench_todo b SET (title, priority, amount, updated_at, done, attrs) =
               (r.title || ' (edited)', r.priority, r.amount, r.updated_at, r.done, r.attrs)
          FROM bench_rows(prev + 1, prev + upd, t + 1) r
         WHERE b.id = r.id;
        DELETE FROM bench_todo WHERE id > prev + ins - del AND id <= prev + ins;
        COMMIT;
    END LOOP;
END
\$\$;"

    # Seed rows (ids -ins+1 .. 0) for the first transaction's updates and deletes; written
    # before the slots exist, so never decoded.
    sql "INSERT INTO bench_todo SELECT * FROM bench_rows(1 - $BENCH_INSERTS, 0, 0)"
    for p in $BENCH_PLUGINS; do
        plugin_query "$p" >/dev/null
        sql "SELECT 1 FROM pg_create_logical_replication_slot('bench_$p', '$p')" >/dev/null
    done
    log "slots created for: $BENCH_PLUGINS"

    log "workload: $BENCH_TXNS transactions x (1 _bemi message + $BENCH_INSERTS INSERT + $BENCH_UPDATES UPDATE + $BENCH_DELETES DELETE) = $changes row changes"
    local t0 t1 lsn0 lsn1 wal_bytes
    lsn0=$(sql "SELECT pg_current_wal_insert_lsn()")
    t0=$(date +%s.%N)
    sql "CALL bench_workload($BENCH_TXNS, $BENCH_INSERTS, $BENCH_UPDATES, $BENCH_DELETES)"
    t1=$(date +%s.%N)
    lsn1=$(sql "SELECT pg_current_wal_insert_lsn()")
    wal_bytes=$(sql "SELECT pg_wal_lsn_diff('$lsn1', '$lsn0')::bigint")
    local rows_left
    rows_left=$(sql "SELECT count(*) FROM bench_todo")
    log "workload done in $(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b-a}') s; WAL $((wal_bytes / 1024 / 1024)) MiB; $rows_left rows left in bench_todo"
    sql "CHECKPOINT" >/dev/null

    # Expected output rows per plugin, to check that each decoded the whole workload.
    declare -A expect
    expect[bemi]=$changes
    # test_decoding: BEGIN, COMMIT and the message line per transaction
    expect[test_decoding]=$((changes + 3 * BENCH_TXNS))
    # wal2json v2: {"action":"B"}, {"action":"C"} and {"action":"M"} per transaction
    expect[wal2json]=$((changes + 3 * BENCH_TXNS))
    # pgoutput v1: B, C per transaction, plus one R (relation) per decoding session
    expect[pgoutput]=$((changes + 2 * BENCH_TXNS + 1))

    local dir=$TMP/results
    mkdir -p "$dir"
    local round rows secs hwm line
    for ((round = 1; round <= BENCH_ROUNDS; round++)); do
        for p in $BENCH_PLUGINS; do
            line=$(timed_peek "$p")
            [[ -n $line ]] || die "peek of $p returned nothing (see $BEMI_TEST_SERVER_LOG)"
            read -r rows secs hwm <<<"$line"
            if [[ $rows != "${expect[$p]}" ]]; then
                die "$p emitted $rows rows, expected ${expect[$p]} (workload of $changes changes)"
            fi
            echo "$secs" >>"$dir/$p.secs"
            echo "$hwm" >>"$dir/$p.hwm"
            log "round $round/$BENCH_ROUNDS  $(printf '%-14s' "$p") $(printf '%8.3f' "$secs") s  $(awk -v c="$changes" -v s="$secs" 'BEGIN{printf "%10.0f", c/s}') changes/s  VmHWM ${hwm} kB"
        done
    done

    if ((BENCH_RECV_ROUNDS > 0)); then
        for ((round = 1; round <= BENCH_RECV_ROUNDS; round++)); do
            for p in $BENCH_PLUGINS; do
                read -r rows secs <<<"$(timed_recvlogical "$p" "$lsn1")"
                # only JSON lines can be counted: pgoutput is binary and test_decoding
                # prints text values raw, line breaks included
                if [[ $p != pgoutput && $p != test_decoding && $rows != "${expect[$p]}" ]]; then
                    die "pg_recvlogical with $p received $rows lines, expected ${expect[$p]}"
                fi
                echo "$secs" >>"$dir/recv-$p.secs"
                log "recvlogical round $round/$BENCH_RECV_ROUNDS  $(printf '%-14s' "$p") $(printf '%8.3f' "$secs") s  $(awk -v c="$changes" -v s="$secs" 'BEGIN{printf "%10.0f", c/s}') changes/s"
            done
        done
    fi

    # Output volume, for reading the figures (one more peek per plugin, not timed).
    for p in $BENCH_PLUGINS; do
        plugin_query "$p" | sed 's/count(\*)/sum(octet_length(data))/' >"$TMP/q.sql"
        "${PSQL[@]}" -f "$TMP/q.sql" >"$dir/$p.bytes"
    done

    if [[ $BENCH_PERF == 1 ]]; then
        perf_bemi "$(plugin_query bemi)"
    fi
    if [[ $BENCH_CALLGRIND == 1 ]]; then
        callgrind_counts >"$TMP/callgrind.summary"
    fi

    echo
    echo "== bemi decoding benchmark: $PG_VERSION_STR, $(nproc) CPUs, $(uname -m)"
    echo "== workload: $BENCH_TXNS txns x ($BENCH_INSERTS ins + $BENCH_UPDATES upd + $BENCH_DELETES del + 1 _bemi message), REPLICA IDENTITY FULL, 10 columns"
    echo "== $changes row changes, $((wal_bytes / 1024 / 1024)) MiB of WAL; logical_decoding_work_mem=$WORK_MEM_SETTING"
    echo "== bemi.so: $BEMI_SO_ID"
    echo "== load average before the run: $LOAD_BEFORE; after: $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine skews the figures)"
    echo
    echo "-- SQL interface: SELECT count(*) FROM pg_logical_slot_peek_[binary_]changes(...), $BENCH_ROUNDS rounds, plugins interleaved"
    summary "" "VmHWM kB"
    if ((BENCH_RECV_ROUNDS > 0)); then
        echo
        echo "-- walsender: pg_recvlogical --start --endpos (on a copy of the slot) | wc -l, $BENCH_RECV_ROUNDS rounds, plugins interleaved"
        summary "recv-" ""
    fi
    if [[ $BENCH_CALLGRIND == 1 ]]; then
        echo
        cat "$TMP/callgrind.summary"
    fi
}

# Instructions executed by one peek per plugin, counted by callgrind in a single-user
# backend (the server is stopped first). "base" is a backend that runs SELECT 1; "floor" is
# bemi excluding the table: reading the WAL and reassembling transactions, no output.
callgrind_counts() {
    local out=${BENCH_CALLGRIND_DIR:-$PWD/bench-callgrind-$(date +%Y%m%d-%H%M%S)}
    mkdir -p "$out"
    if ((EUID == 0)); then chown postgres: "$out"; fi
    bemi_cluster_stop_fast || die "the server did not stop cleanly (see $BEMI_TEST_SERVER_LOG)"
    local name q ir rows
    local -A instr
    local names="base $BENCH_PLUGINS"
    [[ " $BENCH_PLUGINS " == *" bemi "* ]] && names="base floor $BENCH_PLUGINS"
    for name in $names; do
        case $name in
        base) q="SELECT 1" ;;
        floor) q="SELECT count(*) FROM pg_logical_slot_peek_changes('bench_bemi', NULL, NULL, 'exclude-tables', 'public.bench_todo')" ;;
        *) q=$(plugin_query "$name") ;;
        esac
        echo "$q;" >"$TMP/cg_$name.sql"
        chmod 644 "$TMP/cg_$name.sql"
        log "callgrind: $name"
        bemi_as_pg valgrind --tool=callgrind --callgrind-out-file="$out/callgrind.$name.out" \
            "$BINDIR/postgres" --single -D "$BEMI_TEST_DATADIR" postgres <"$TMP/cg_$name.sql" >"$TMP/cg_$name.log" 2>&1 ||
            die "callgrind run for $name failed: $(tail -n 5 "$TMP/cg_$name.log")"
        ir=$(sed -n 's/.*Collected : \([0-9]*\).*/\1/p' "$TMP/cg_$name.log")
        [[ -n $ir ]] || die "callgrind: no instruction count for $name (see $TMP/cg_$name.log)"
        rows=$(sed -n 's/.*count = "\([0-9]*\)".*/\1/p' "$TMP/cg_$name.log")
        if [[ $name != base && $name != floor && $rows != "${expect[$name]}" ]]; then
            die "callgrind: $name emitted $rows rows, expected ${expect[$name]}"
        fi
        instr[$name]=$ir
    done
    echo "-- instructions (callgrind Ir) of one peek, less a backend running SELECT 1; files in $out"
    printf '%-14s %16s %16s %18s\n' plugin "instructions" "per change" "over floor/change"
    for name in ${names#base }; do
        [[ -n ${instr[floor]:-} ]] || instr[floor]=${instr[base]}
        printf '%-14s %16s %16s %18s\n' "$name" "$((instr[$name] - instr[base]))" \
            "$(((instr[$name] - instr[base]) / changes))" "$(((instr[$name] - instr[floor]) / changes))"
    done
    if [[ -n ${instr[bemi]:-} && -n ${instr[wal2json]:-} ]]; then
        echo "ratio wal2json/bemi instructions: $(awk -v a="$((instr[wal2json] - instr[base]))" -v b="$((instr[bemi] - instr[base]))" 'BEGIN{printf "%.2f", a/b}')"
    fi
    if [[ -n ${instr[pgoutput]:-} && -n ${instr[wal2json]:-} ]]; then
        echo "ratio wal2json/pgoutput instructions: $(awk -v a="$((instr[wal2json] - instr[base]))" -v b="$((instr[pgoutput] - instr[base]))" 'BEGIN{printf "%.2f", a/b}')"
    fi
}

# summary PREFIX HWM_HEADER: the table of $dir/PREFIX<plugin>.secs, and the ratios.
summary() {
    local prefix=$1 hwm_header=$2 p med best hwm_max bytes
    local -A med_rate best_rate
    printf '%-14s %10s %10s %13s %13s %12s %10s\n' plugin "median s" "best s" "median ch/s" "best ch/s" "bytes/ch" "${hwm_header}"
    for p in $BENCH_PLUGINS; do
        med=$(median <"$dir/$prefix$p.secs")
        best=$(sort -g "$dir/$prefix$p.secs" | head -n 1)
        hwm_max=
        [[ -n $hwm_header ]] && hwm_max=$(sort -n "$dir/$p.hwm" | tail -n 1)
        bytes=$(cat "$dir/$p.bytes")
        med_rate[$p]=$(awk -v c="$changes" -v s="$med" 'BEGIN{printf "%.0f", c/s}')
        best_rate[$p]=$(awk -v c="$changes" -v s="$best" 'BEGIN{printf "%.0f", c/s}')
        printf '%-14s %10.3f %10.3f %13s %13s %12s %10s\n' "$p" "$med" "$best" "${med_rate[$p]}" \
            "${best_rate[$p]}" "$(awk -v b="$bytes" -v c="$changes" 'BEGIN{printf "%.0f", b/c}')" "$hwm_max"
    done
    ratio() { awk -v a="${med_rate[$1]}" -v b="${med_rate[$2]}" 'BEGIN{printf "%.2f", a/b}'; }
    if [[ -n ${med_rate[bemi]:-} && -n ${med_rate[wal2json]:-} ]]; then
        echo "ratio bemi/wal2json (median changes/s): $(ratio bemi wal2json)   (target >= 2.00)"
        echo "ratio bemi/wal2json (best changes/s):   $(awk -v a="${best_rate[bemi]}" -v b="${best_rate[wal2json]}" 'BEGIN{printf "%.2f", a/b}')"
    fi
    if [[ -n ${med_rate[pgoutput]:-} && -n ${med_rate[wal2json]:-} ]]; then
        echo "ratio pgoutput/wal2json (median changes/s): $(ratio pgoutput wal2json)"
    fi
    if [[ -n ${med_rate[bemi]:-} && -n ${med_rate[test_decoding]:-} ]]; then
        echo "ratio bemi/test_decoding (median changes/s): $(ratio bemi test_decoding)"
    fi
    if [[ -n ${med_rate[bemi]:-} && -n ${med_rate[pgoutput]:-} ]]; then
        echo "ratio bemi/pgoutput (median changes/s): $(ratio bemi pgoutput)"
    fi
}

# timed_recvlogical PLUGIN ENDPOS: streams a copy of the plugin's slot through a walsender
# to pg_recvlogical up to ENDPOS; prints "lines seconds" (wall clock, connection included).
timed_recvlogical() {
    local p=$1 endpos=$2 opts=() t0 t1 lines
    case $p in
    wal2json) opts=(-o format-version=2) ;;
    test_decoding) opts=(-o skip-empty-xacts=1) ;;
    pgoutput) opts=(-o proto_version=1 -o publication_names=bench_pub) ;;
    esac
    sql "SELECT 1 FROM pg_copy_logical_replication_slot('bench_$p', 'bench_recv_$p')" >/dev/null
    t0=$(date +%s.%N)
    lines=$("$BINDIR/pg_recvlogical" -d postgres -S "bench_recv_$p" --start --no-loop -E "$endpos" -F 0 -s 10 \
        "${opts[@]}" -f - 2>"$TMP/recv.err" | wc -l) || true
    t1=$(date +%s.%N)
    sql "SELECT pg_drop_replication_slot('bench_recv_$p')" >/dev/null
    if [[ -s $TMP/recv.err ]]; then
        cat "$TMP/recv.err" >&2
        die "pg_recvlogical with $p failed"
    fi
    echo "$lines $(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.6f", b-a}')"
}

# Finds the pid of the backend whose application_name is $1 (waits up to ~10 s).
backend_pid_of() {
    local pid
    for _ in $(seq 1 500); do
        pid=$(sql "SELECT pid FROM pg_stat_activity WHERE application_name = '$1' LIMIT 1")
        if [[ -n $pid ]]; then
            echo "$pid"
            return 0
        fi
        sleep 0.02
    done
    return 1
}

# perf record of two bemi peeks in one session: the backend sleeps 1 s first, while perf
# attaches. Reports: self time by symbol and by library, and time including callees.
perf_bemi() {
    local q=$1 out pid ppid perf_pid
    out=${BENCH_PERF_DIR:-$PWD/bench-perf-$(date +%Y%m%d-%H%M%S)}
    mkdir -p "$out"
    PGAPPNAME=bench_perf "${PSQL[@]}" -c "SELECT pg_sleep(1)" -c "$q" -c "$q" >/dev/null &
    ppid=$!
    pid=$(backend_pid_of bench_perf) || die "perf: backend not found"
    # DWARF unwinding: the server is built without frame pointers, so -g alone loses callers
    perf record -F 999 --call-graph dwarf,16384 -p "$pid" -o "$out/perf.data" >"$out/perf-record.log" 2>&1 &
    perf_pid=$!
    wait "$ppid"
    # perf stops by itself when the backend exits; give it a moment, then make sure
    for _ in $(seq 1 100); do kill -0 "$perf_pid" 2>/dev/null || break; sleep 0.1; done
    kill -INT "$perf_pid" 2>/dev/null || true
    wait "$perf_pid" 2>/dev/null || true
    local tidy='/^#/d; /^$/d; s/[[:space:]]*-[[:space:]]*-[[:space:]]*$//; s/[[:space:]]*$//'
    perf report -i "$out/perf.data" --no-children --sort dso,symbol --stdio -g none --percent-limit 0.3 \
        2>/dev/null | sed "$tidy" >"$out/report-self.txt" || true
    perf report -i "$out/perf.data" --children --sort symbol --stdio -g none --percent-limit 1 \
        2>/dev/null | sed "$tidy" >"$out/report-children.txt" || true
    perf report -i "$out/perf.data" --no-children --sort dso --stdio -g none \
        2>/dev/null | sed "$tidy" >"$out/report-dso.txt" || true
    echo
    echo "== perf: two bemi peeks, self time by symbol (top 40; full reports in $out)"
    head -n 40 "$out/report-self.txt"
    echo "== perf: self time by library"
    head -n 8 "$out/report-dso.txt"
    echo "== perf: time including callees, main parts"
    grep -E '\] (LogicalDecodingProcessRecord|bemi_pg::\(anonymous namespace\)::bemi_change|bemi_pg::write_row_record|bemi_pg::write_value|JsonbToCString|OutputPluginWrite|tuplestore_gettupleslot|WALRead|heap_deform_tuple)$' \
        "$out/report-children.txt" || true
}

# ------------------------------------------------------------------ big mode

run_big() {
    sql "SELECT 1 FROM pg_create_logical_replication_slot('bench_big', 'bemi')" >/dev/null
    log "inserting $BENCH_BIG_ROWS rows in ONE transaction (logical_decoding_work_mem=$WORK_MEM_SETTING)"
    local lsn0 lsn1 t0 t1
    lsn0=$(sql "SELECT pg_current_wal_insert_lsn()")
    t0=$(date +%s.%N)
    sql "BEGIN;
         SELECT pg_logical_emit_message(true, '_bemi', '{\"user_id\":123,\"endpoint\":\"/todo\",\"method\":\"POST\"}');
         INSERT INTO bench_todo SELECT * FROM bench_rows(1, $BENCH_BIG_ROWS, 0);
         COMMIT;" >/dev/null
    t1=$(date +%s.%N)
    lsn1=$(sql "SELECT pg_current_wal_insert_lsn()")
    local wal_mib
    wal_mib=$(sql "SELECT (pg_wal_lsn_diff('$lsn1', '$lsn0') / 1048576)::bigint")
    log "insert done in $(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b-a}') s, $wal_mib MiB of WAL"
    sql "CHECKPOINT" >/dev/null

    local q="SELECT count(*) FROM pg_logical_slot_peek_changes('bench_big', NULL, NULL)"
    local samples=$TMP/rss.samples out=$TMP/big.out ppid pid
    # The backend sleeps first so that sampling starts before decoding does.
    PGAPPNAME=bench_big "${PSQL[@]}" -c "SELECT pg_sleep(0.5)" -c "$q" >"$out" 2>"$TMP/big.err" &
    ppid=$!
    pid=$(backend_pid_of bench_big) || die "big: decoding backend not found"
    log "decoding with bemi in backend $pid, sampling VmRSS/VmHWM every ${BENCH_SAMPLE_SEC}s"
    local start now mem spill
    start=$(date +%s.%N)
    : >"$samples"
    while kill -0 "$ppid" 2>/dev/null; do
        # VmRSS VmHWM RssAnon (RssAnon: private memory; VmRSS also counts the shared
        # buffers this backend has touched)
        mem=$(awk '/^VmRSS:/{r=$2} /^VmHWM:/{h=$2} /^RssAnon:/{a=$2} END{if (r != "") print r, h, a}' \
            "/proc/$pid/status" 2>/dev/null || true)
        [[ -n $mem ]] || break
        spill=$(du -sk "$BEMI_TEST_DATADIR/pg_replslot/bench_big" 2>/dev/null | awk '{print $1}')
        now=$(date +%s.%N)
        echo "$(awk -v a="$start" -v b="$now" 'BEGIN{printf "%.2f", b-a}') $mem ${spill:-0}" >>"$samples"
        sleep "$BENCH_SAMPLE_SEC"
    done
    local rc=0
    wait "$ppid" || rc=$?
    ((rc == 0)) || {
        cat "$TMP/big.err" >&2
        die "big: the peek failed"
    }
    local rows elapsed
    rows=$(tail -n 1 "$out")
    elapsed=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN{printf "%.2f", b-a}')
    [[ $rows == "$BENCH_BIG_ROWS" ]] || die "big: bemi emitted $rows records, expected $BENCH_BIG_ROWS"

    echo
    echo "== bemi memory boundedness: $PG_VERSION_STR, $(nproc) CPUs"
    echo "== bemi.so: $BEMI_SO_ID"
    echo "== one transaction of $BENCH_BIG_ROWS INSERTs ($wal_mib MiB of WAL), logical_decoding_work_mem=$WORK_MEM_SETTING (spilled)"
    echo "decoded $rows records in ${elapsed} s (including the 0.5 s pg_sleep): $(awk -v r="$rows" -v e="$elapsed" 'BEGIN{printf "%.0f", r/(e-0.5)}') changes/s"
    local n
    n=$(wc -l <"$samples")
    echo "samples: $n (every ${BENCH_SAMPLE_SEC}s)"
    awk '{ if ($2 > m) m = $2; if ($3 > h) h = $3; if ($4 > a) a = $4; if ($5 > s) s = $5 } END {
            printf "max VmRSS %d kB (%.1f MiB), last VmHWM %d kB (%.1f MiB), max RssAnon %d kB (%.1f MiB), max spill dir %.1f MiB\n",
                   m, m/1024, h, h/1024, a, a/1024, s/1024 }' "$samples"
    printf '%-6s %8s %12s %12s %12s %14s\n' "at" "t (s)" "VmRSS kB" "VmHWM kB" "RssAnon kB" "spill dir kB"
    local pct idx
    for pct in 10 25 50 75 90 100; do
        idx=$(((n * pct + 99) / 100))
        ((idx < 1)) && idx=1
        sed -n "${idx}p" "$samples" | awk -v p="$pct%" '{printf "%-6s %8s %12s %12s %12s %14s\n", p, $1, $2, $3, $4, $5}'
    done
    if [[ ${BENCH_KEEP_TMP:-0} == 1 ]]; then
        echo "all samples (t VmRSS VmHWM RssAnon spill_kB): $samples"
    fi
}

if [[ $MODE == big ]]; then
    run_big
else
    run_throughput
fi
