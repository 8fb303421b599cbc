#!/usr/bin/env bash
# Runs every bemi test; the single test command of this repository.
#
#   build  ->  make install  ->  Catch2 unit tests  ->  throw-away cluster
#   ->  make installcheck (pg_regress)  ->  test/shell/*.sh
#
#   test/run_tests.sh                 everything
#   test/run_tests.sh NAME...         build, install, then only the shell tests test/shell/NAME.sh
#
# Works as root (the server then runs as the `postgres` OS user) or as a
# non-root user who can write the tree (make install then goes through sudo).
# The last line of output is always exactly "N passed, M failed"; the exit
# status is non-zero if anything failed or crashed.  No server is left running.
#
# Environment:
#   PG_CONFIG                 default /usr/lib/postgresql/15/bin/pg_config
#   BEMI_KEEP_TMP=1           keep the temp dir (data dir, server log, test output)
#   BEMI_TEST_PORT            use this TCP port instead of a random free one
#   BEMI_SHARED_PRELOAD       override shared_preload_libraries (see below)
#   BEMI_TEST_EXTRA_CONF      extra postgresql.conf lines
#   BEMI_SHELL_TEST_TIMEOUT   seconds per shell test (default 300)
#   BEMI_SKIP_SHELL_TESTS     "name=reason;name=reason": shell tests not to run, each reported
#                             as SKIP with its reason and counted as skipped (test/sanitize.sh)
#   BEMI_FUZZ_SECONDS         seconds per fuzz target in the smoke run (default 3)
#
# Shell tests get PGHOST (unix socket dir), PGPORT, PGUSER=postgres,
# PGDATABASE=postgres, BEMI_TEST_DATADIR, BEMI_TEST_TMPDIR (a scratch dir of
# their own, writable by them and by the server), BEMI_TEST_SERVER_LOG,
# BEMI_TEST_SRCDIR (repo root), and PATH starting with the PostgreSQL bindir.
# They can `source "$BEMI_TEST_SRCDIR/test/lib/cluster.sh"` for bemi_fail/bemi_sql.

set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT" || exit 1

export PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}

# >>> shared_preload_libraries of the test server.  Set to 'bemi' once the
# >>> extension part of the library needs to be preloaded.
SHARED_PRELOAD_LIBRARIES='bemi'
export BEMI_SHARED_PRELOAD=${BEMI_SHARED_PRELOAD-$SHARED_PRELOAD_LIBRARIES}

# shellcheck source-path=SCRIPTDIR source=lib/cluster.sh
source "$ROOT/test/lib/cluster.sh"

# Stray libpq settings from the caller's environment must not redirect us.
unset PGHOSTADDR PGSERVICE PGSERVICEFILE PGOPTIONS PGDATA PGSSLMODE PGREQUIRESSL

PASSED=0
FAILED=0
SKIPPED=0
FAILED_NAMES=()
CRASHED=0
TMP=
CHILD_PID=

section() { printf '\n==== %s ====\n' "$*"; }
pass() { PASSED=$((PASSED + 1)); echo "PASS: $1"; }
fail() { FAILED=$((FAILED + 1)); FAILED_NAMES+=("$1"); echo "FAIL: $1"; }
# A step that could not run to completion (build, server, harness, ...).
crash() { CRASHED=1; fail "$1"; }

# shellcheck disable=SC2317  # invoked via trap
finish() {
    local rc=$? name
    trap - EXIT INT TERM
    if [[ -n $CHILD_PID ]]; then
        kill -TERM "$CHILD_PID" 2>/dev/null
        wait "$CHILD_PID" 2>/dev/null
    fi
    if [[ -n $TMP ]]; then
        bemi_cluster_stop
        if { [[ $FAILED -gt 0 || $CRASHED -ne 0 || $rc -ne 0 ]]; } && [[ -s ${BEMI_TEST_SERVER_LOG:-} ]]; then
            section "server log (last 60 lines of $BEMI_TEST_SERVER_LOG)"
            tail -n 60 "$BEMI_TEST_SERVER_LOG"
        fi
        if [[ ${BEMI_KEEP_TMP:-0} == 1 ]]; then
            echo "BEMI_KEEP_TMP=1: kept $TMP"
        else
            rm -rf "$TMP"
        fi
    fi
    if [[ $FAILED -gt 0 ]]; then
        section "failures"
        for name in "${FAILED_NAMES[@]}"; do echo "  $name"; done
    fi
    echo
    if [[ $SKIPPED -gt 0 ]]; then
        echo "$PASSED passed, $FAILED failed, $SKIPPED skipped"
    else
        echo "$PASSED passed, $FAILED failed"
    fi
    if [[ $FAILED -gt 0 || $CRASHED -ne 0 || $rc -ne 0 ]]; then
        exit 1
    fi
    exit 0
}
trap finish EXIT
trap 'echo "interrupted" >&2; crash "interrupted"; exit 130' INT TERM

MAKE_ARGS=(PG_CONFIG="$PG_CONFIG")

# Named shell tests only (a developer's loop; CI runs everything).
ONLY=("$@")
for name in "${ONLY[@]}"; do
    [[ -f $ROOT/test/shell/$name.sh ]] || { echo "no such shell test: test/shell/$name.sh" >&2; exit 2; }
done
only() { [[ ${#ONLY[@]} -eq 0 ]] || printf '%s\n' "${ONLY[@]}" | grep -qx "$1"; }

# ---------------------------------------------------------------- build
section "build"
BUILD_OK=0
if make -j2 "${MAKE_ARGS[@]}"; then
    BUILD_OK=1
else
    crash "build (make)"
fi

if [[ $BUILD_OK == 1 ]]; then
    section "install"
    if [[ $EUID -eq 0 ]] || { [[ -w $("$PG_CONFIG" --pkglibdir) && -w $("$PG_CONFIG" --sharedir)/extension ]]; }; then
        make install "${MAKE_ARGS[@]}" || { crash "install (make install)"; BUILD_OK=0; }
    elif command -v sudo >/dev/null 2>&1; then
        sudo make install "${MAKE_ARGS[@]}" || { crash "install (sudo make install)"; BUILD_OK=0; }
    else
        echo "make install needs root: run as root or install sudo" >&2
        crash "install (not root and no sudo)"
        BUILD_OK=0
    fi
fi

# ---------------------------------------------------------------- unit tests
# Independent of the server build, so they run even if the build failed.
section "unit tests (Catch2)"
if [[ ${#ONLY[@]} -gt 0 ]]; then
    echo "(named shell tests only)"
elif make unittest "${MAKE_ARGS[@]}"; then
    pass "unit tests (Catch2)"
else
    fail "unit tests (Catch2)"
fi

# ---------------------------------------------------------------- fuzz smoke
# Each libFuzzer target for a few seconds from its seed corpus (make fuzz runs longer), so a
# regression on a known-bad input or a quick new crash fails the suite.
section "fuzz smoke (libFuzzer)"
for target in $([[ ${#ONLY[@]} -gt 0 ]] || make -s --no-print-directory print-fuzz-targets "${MAKE_ARGS[@]}"); do
    if make fuzz FUZZ_TARGETS="$target" FUZZ_SECONDS="${BEMI_FUZZ_SECONDS:-3}" "${MAKE_ARGS[@]}"; then
        pass "fuzz: $target"
    else
        fail "fuzz: $target"
    fi
done

[[ $BUILD_OK == 1 ]] || exit 1

# ---------------------------------------------------------------- cluster
section "test cluster"
BINDIR=$(bemi_pg_bindir) || { crash "pg_config ($PG_CONFIG)"; exit 1; }
export PATH="$BINDIR:$PATH"

# Under /tmp (not $TMPDIR): short enough for the unix socket path and
# reachable by the postgres user.
TMP=$(mktemp -d /tmp/bemi-test.XXXXXX) || { crash "mktemp"; exit 1; }
if [[ $EUID -eq 0 ]]; then
    chown postgres: "$TMP" || { crash "chown postgres $TMP"; exit 1; }
fi
bemi_cluster_init "$TMP" || { crash "initdb"; exit 1; }
bemi_cluster_start || { crash "server start"; exit 1; }
echo "server running: PGHOST=$PGHOST PGPORT=$PGPORT (tcp 127.0.0.1:$PGPORT), data $BEMI_TEST_DATADIR"

# Size of the server log now, to look for crashes in what comes after.
log_size() { stat -c %s "$BEMI_TEST_SERVER_LOG" 2>/dev/null || echo 0; }

# server_problem OFFSET: print why the server is unhealthy (dead, or a backend
# crashed according to the log after byte OFFSET); false if it is healthy.
server_problem() {
    local crashes
    if ! bemi_cluster_running; then
        echo "server is not running"
        return 0
    fi
    crashes=$(tail -c "+$(($1 + 1))" "$BEMI_TEST_SERVER_LOG" | grep -E 'terminated by (signal|exception)|PANIC:')
    if [[ -n $crashes ]]; then
        echo "server log shows a crash:"
        head -n 5 <<<"$crashes"
        return 0
    fi
    return 1
}

# ---------------------------------------------------------------- pg_regress
section "pg_regress (make installcheck)"
# Stale output of an earlier run (possibly by another user) must not be reused.
if [[ ${#ONLY[@]} -gt 0 ]]; then
    echo "(named shell tests only)"
elif ! rm -rf results regression.diffs regression.out; then
    echo "cannot remove results/ or regression.* from an earlier run (owned by another user?)" >&2
    crash "pg_regress (stale output not removable)"
else
    REGRESS_LOG=$TMP/installcheck.log
    offset=$(log_size)
    make installcheck "${MAKE_ARGS[@]}" 2>&1 | tee "$REGRESS_LOG"
    regress_rc=${PIPESTATUS[0]}
    regress_failed=0
    regress_seen=0
    while IFS= read -r line; do
        # PG <= 15:  "test foo   ... ok   12 ms", "     foo ... FAILED", "... failed (ignored)"
        # PG >= 16:  "ok 1   - foo   12 ms", "not ok 2   + foo ..."
        if [[ $line =~ ^(test[[:space:]]+)?[[:space:]]*([^[:space:]]+)[[:space:]]+\.\.\.[[:space:]]+(ok|FAILED|failed) ]]; then
            name=${BASH_REMATCH[2]}
            result=${BASH_REMATCH[3]}
        elif [[ $line =~ ^(not[[:space:]]+)?ok[[:space:]]+[0-9]+[[:space:]]+[-+][[:space:]]+([^[:space:]]+) ]]; then
            name=${BASH_REMATCH[2]}
            if [[ -n ${BASH_REMATCH[1]} ]]; then result=FAILED; else result=ok; fi
        else
            continue
        fi
        regress_seen=$((regress_seen + 1))
        if [[ $result == ok ]]; then
            PASSED=$((PASSED + 1))
        else
            regress_failed=$((regress_failed + 1))
            FAILED=$((FAILED + 1))
            FAILED_NAMES+=("pg_regress: $name")
        fi
    done <"$REGRESS_LOG"
    echo "pg_regress: $regress_seen tests, $regress_failed failed (exit status $regress_rc)"
    if [[ $regress_rc -ne 0 && $regress_failed -eq 0 ]]; then
        crash "pg_regress (exit status $regress_rc without a failed test)"
    fi
    if [[ -s regression.diffs && ( $regress_failed -gt 0 || $regress_rc -ne 0 ) ]]; then
        section "regression.diffs"
        cat regression.diffs
    fi
    if problem=$(server_problem "$offset"); then
        echo "$problem"
        crash "pg_regress (server crashed or died)"
    fi
fi

# ---------------------------------------------------------------- shell tests
section "shell tests"
shopt -s nullglob
for t in "$ROOT"/test/shell/*.sh; do
    name=$(basename "$t" .sh)
    only "$name" || continue
    skip_reason=$(tr ';' '\n' <<<"${BEMI_SKIP_SHELL_TESTS:-}" | sed -n "s/^$name=//p")
    if [[ -n $skip_reason ]]; then
        SKIPPED=$((SKIPPED + 1))
        echo "SKIP: shell: $name ($skip_reason)"
        continue
    fi
    if ! bemi_cluster_running; then
        crash "shell: $name (not run: server not running)"
        continue
    fi
    scratch=$TMP/shell/$name
    mkdir -p "$scratch"
    [[ $EUID -eq 0 ]] && chown postgres: "$TMP/shell" "$scratch"
    out=$TMP/shell/$name.out
    echo "--- $name"
    offset=$(log_size)
    # In the background + wait, so that an interrupt is handled at once (and
    # finish() kills the test's whole process group through `timeout`).
    BEMI_TEST_TMPDIR=$scratch BEMI_TEST_SRCDIR=$ROOT \
        timeout "${BEMI_SHELL_TEST_TIMEOUT:-300}" bash "$t" >"$out" 2>&1 </dev/null &
    CHILD_PID=$!
    wait "$CHILD_PID"
    rc=$?
    CHILD_PID=
    if problem=$(server_problem "$offset"); then
        echo "$problem" >>"$out"
        sed 's/^/    /' "$out"
        crash "shell: $name (server crashed or died)"
    elif [[ $rc -eq 0 ]]; then
        pass "shell: $name"
    else
        [[ $rc -eq 124 ]] && echo "(timed out after ${BEMI_SHELL_TEST_TIMEOUT:-300}s)" >>"$out"
        sed 's/^/    /' "$out"
        fail "shell: $name (exit status $rc)"
    fi
done
shopt -u nullglob

exit 0
