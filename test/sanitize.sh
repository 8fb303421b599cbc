#!/usr/bin/env bash
# The whole suite (pg_regress and shell tests) against a bemi.so built with AddressSanitizer and
# UndefinedBehaviorSanitizer. Slow; not part of test/run_tests.sh.
#
#   PG_CONFIG=/path/to/pg_config bash test/sanitize.sh
#
# 1. builds and installs bemi.so with BEMI_SANITIZE=1 (gcc's libasan and libubsan);
# 2. canary: starts a scratch server and checks, from inside a backend (/proc/self/maps), that
#    the runtime and the instrumented bemi.so are mapped, then calls a test-only function of
#    the sanitizer build that reads past a stack array and requires ASan's report in the log;
#    otherwise nothing below would prove a thing;
# 3. runs test/run_tests.sh with the runtime in the server's LD_PRELOAD (or, where that hangs,
#    loaded with bemi.so: see below), leak detection off
#    (PostgreSQL frees by memory context and process exit) and every report fatal, so a report
#    crashes the backend and fails the test that caused it; then scans the server log for
#    reports all the same;
# 4. rebuilds and reinstalls the normal bemi.so.
# Exit status 0 only if all of that passed.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT" || exit 1
export PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
start=$(date +%s)

asan_runtime=$(readlink -f "$(gcc -print-file-name=libasan.so)")
[[ -f $asan_runtime ]] || { echo "sanitize.sh: gcc's libasan not found" >&2; exit 1; }
export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:print_stacktrace=1:detect_odr_violation=0
export UBSAN_OPTIONS=print_stacktrace=1:abort_on_error=1:halt_on_error=1

rebuild() { # rebuild [BEMI_SANITIZE=1]
    make -s clean PG_CONFIG="$PG_CONFIG" >/dev/null &&
        env "$@" make -s -j2 PG_CONFIG="$PG_CONFIG" >/dev/null &&
        env "$@" make -s install PG_CONFIG="$PG_CONFIG" >/dev/null
}

echo "==== sanitizer build of bemi.so"
rebuild BEMI_SANITIZE=1 || { echo "sanitize.sh: build failed" >&2; exit 1; }
so=$("$PG_CONFIG" --pkglibdir)/bemi.so
symbols=$(nm -D "$so")
grep -q ' U __asan_report_load8' <<<"$symbols" || { echo "sanitize.sh: $so is not instrumented" >&2; exit 1; }

echo "==== how the server gets the runtime"
bindir=$("$PG_CONFIG" --bindir)
# The ASan runtime belongs in the server's LD_PRELOAD. On Debian 12 (glibc 2.36, gcc 12's
# libasan and clang 14's runtime alike) every PostgreSQL binary (postgres, psql, initdb) hangs
# with it preloaded, before main, in glibc's gettext lock; libgcrypt, which they load through
# libsystemd, gnutls and libldap, is enough to provoke it (LD_PRELOAD="libasan.so.8
# libgcrypt.so.20" ls --version hangs too). There the runtime comes in with bemi.so itself,
# which needs it (ASan then starts when shared_preload_libraries loads bemi.so, and checks
# stack and global accesses and undefined behaviour in bemi's code, but not heap accesses:
# malloc and new were bound to glibc's before the runtime came).
if timeout 20 env LD_PRELOAD="$asan_runtime" "$bindir/postgres" -V >/dev/null 2>&1; then
    export BEMI_SERVER_PRELOAD=$asan_runtime
    mode="LD_PRELOAD=$asan_runtime"
else
    unset BEMI_SERVER_PRELOAD
    export ASAN_OPTIONS=$ASAN_OPTIONS:verify_asan_link_order=0
    mode="loaded with bemi.so (postgres hangs with the runtime in LD_PRELOAD on this machine)"
fi
echo "runtime: $mode"

echo "==== canary: ASan reports from inside a backend"
# shellcheck source-path=SCRIPTDIR source=lib/cluster.sh
source "$ROOT/test/lib/cluster.sh"
export BEMI_SHARED_PRELOAD=bemi
canary_dir=$(mktemp -d /tmp/bemi-sanitize.XXXXXX)
[[ $EUID -eq 0 ]] && chown postgres: "$canary_dir"
canary_ok=0
if bemi_cluster_init "$canary_dir" && bemi_cluster_start; then
    maps=$("$bindir/psql" -X -A -t -c "SELECT pg_read_file('/proc/self/maps')" 2>&1)
    if grep -q "$(basename "$asan_runtime")" <<<"$maps" && grep -q '/bemi\.so' <<<"$maps"; then
        echo "ok: $(basename "$asan_runtime") and bemi.so are mapped in a backend"
        # A read one byte past a stack array in bemi.so (src/pg/sanitizer_canary.cpp).
        "$bindir/psql" -X -q -c "CREATE FUNCTION pg_temp.canary(int) RETURNS int AS 'bemi', 'bemi_sanitizer_canary' LANGUAGE C STRICT" \
            -c "SELECT pg_temp.canary(0)" >/dev/null 2>&1
        for _ in $(seq 1 50); do
            grep -q 'ERROR: AddressSanitizer: stack-buffer-overflow' "$BEMI_TEST_SERVER_LOG" && break
            sleep 0.2
        done
        if grep -q 'ERROR: AddressSanitizer: stack-buffer-overflow' "$BEMI_TEST_SERVER_LOG"; then
            canary_ok=1
            echo "ok: the canary's stack-buffer-overflow was reported:"
            grep -m 1 -A 3 'ERROR: AddressSanitizer' "$BEMI_TEST_SERVER_LOG"
        else
            echo "sanitize.sh: the canary's overflow went unreported" >&2
            tail -n 20 "$BEMI_TEST_SERVER_LOG" >&2
        fi
    else
        echo "sanitize.sh: the backend has no ASan runtime or no bemi.so:" >&2
        head -c 2000 <<<"$maps" >&2
    fi
fi
bemi_cluster_stop
rm -rf "$canary_dir"
unset BEMI_TEST_DATADIR BEMI_TEST_SERVER_LOG
if [[ $canary_ok != 1 ]]; then
    rebuild
    exit 1
fi

echo "==== the suite against the sanitizer build"
log=$(mktemp /tmp/bemi-sanitize-suite.XXXXXX.log)
# pg_upgrade's check LOADs every library into a backend of a server that did not preload it;
# where the runtime comes in with bemi.so that backend refuses it ("ASan runtime does not come
# first"), so the upgrade test can only run in the normal suite.
skip=
[[ -z ${BEMI_SERVER_PRELOAD:-} ]] &&
    skip="ingest_upgrade=pg_upgrade loads bemi.so into a running backend, which the sanitizer build cannot be without LD_PRELOAD (it runs in the normal suite)"
BEMI_SKIP_SHELL_TESTS=$skip BEMI_SANITIZE=1 BEMI_KEEP_TMP=1 bash test/run_tests.sh 2>&1 | tee "$log"
suite_rc=${PIPESTATUS[0]}
kept=$(sed -n 's/^BEMI_KEEP_TMP=1: kept //p' "$log" | tail -n 1)
reports=0
if [[ -n $kept && -f $kept/server.log ]]; then
    reports=$(grep -cE 'ERROR: AddressSanitizer|runtime error:' "$kept/server.log")
    grep -E -A 30 'ERROR: AddressSanitizer|runtime error:' "$kept/server.log" | head -n 120
    rm -rf "$kept"
fi

echo "==== normal build of bemi.so again"
rebuild || echo "sanitize.sh: the normal rebuild failed: run make install yourself" >&2

elapsed=$(($(date +%s) - start))
echo "sanitize.sh: runtime $mode; suite exit status $suite_rc, $reports sanitizer reports in the server log, $((elapsed / 60)) min $((elapsed % 60)) s"
[[ $suite_rc -eq 0 && $reports -eq 0 ]]
