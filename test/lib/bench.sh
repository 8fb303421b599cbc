# shellcheck shell=bash
# What the benchmarks (bench/*.sh) share on top of test/lib/cluster.sh: their command line,
# their checks of the installed build, and their throw-away cluster. Sources cluster.sh and
# worker.sh itself; defining functions and a few variables is all it does when sourced.
#
#   bemi_bench_start NAME SCRIPT ARG...  first: SCRIPT's command line (bemi_bench_args: --help
#                                        prints its header). Sets PG_CONFIG (default: the system's
#                                        PostgreSQL 15) and LOAD_BEFORE (the load average now);
#                                        defines die MSG (exit 1, as NAME) and log MSG (stderr,
#                                        with the time)
#   bemi_bench_whole VAR...              dies unless each VAR is a whole number (0 allowed)
#   bemi_bench_positive VAR...           dies unless each VAR is a whole number > 0
#   bemi_bench_prereqs TOOL...           dies unless pg_config, bemi.so (and bemi.control) are
#                                        installed, each TOOL is in the server's bindir and the OS
#                                        user can run the server; sets BINDIR, PKGLIBDIR, SHAREDIR,
#                                        PG_VERSION_STR, BEMI_SO_ID (bemi_bench_so_id: which build is
#                                        measured) and CLK_TCK; puts BINDIR first on PATH
#   bemi_bench_so_id                     prints the installed bemi.so's hash and install time
#   bemi_bench_bemi_server [CONF]        the server most benchmarks measure bemi on: initdb's
#                                        defaults except wal_level=logical, shared_preload_libraries=
#                                        'bemi', output_plugin_libraries, max_connections=100,
#                                        shared_buffers=256MB, then CONF (postgresql.conf lines);
#                                        sets BEMI_TEST_* for bemi_bench_cluster, and SETTINGS (what
#                                        differs from initdb's defaults, for the report). Add
#                                        "; why" to SETTINGS yourself for CONF
#   bemi_bench_cluster PREFIX            a scratch dir TMP (/tmp/PREFIX.XXXXXX), an EXIT trap (and
#                                        INT, TERM), initdb and start with the BEMI_TEST_* settings
#                                        on BENCH_PORT or a free port; dies if it does not start.
#                                        Defines PSQL (psql, tuples only, stop on error), sql SQL
#                                        (in postgres), sqldb DB SQL, now_epoch, fsub A B (A - B)
#
# At exit, the trap thaws a worker stopped with bemi_worker_freeze, kills the pids in the array
# BG_PIDS, runs the script's bench_cleanup function if it has one, stops the cluster and
# removes TMP unless BENCH_KEEP_TMP=1; the exit status is the script's.

# shellcheck source-path=SCRIPTDIR source=worker.sh
source "$(dirname "${BASH_SOURCE[0]}")/worker.sh"

bemi_bench_start() {
    BEMI_BENCH_NAME=$1
    bemi_bench_args "$@"
    PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
    LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
}

die() {
    echo "${BEMI_BENCH_NAME:-bench}: ERROR: $*" >&2
    exit 1
}

log() { printf '[%s] %s\n' "$(date +%T)" "$*" >&2; }

bemi_bench_whole() {
    local v
    for v in "$@"; do
        [[ ${!v} =~ ^[0-9]+$ ]] || die "$v must be a non-negative integer, got '${!v}'"
    done
}

bemi_bench_positive() {
    local v
    for v in "$@"; do
        [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer, got '${!v}'"
    done
}

bemi_bench_so_id() {
    echo "$(sha256sum "$PKGLIBDIR/bemi.so" | cut -c1-12) $(date -u -r "$PKGLIBDIR/bemi.so" '+installed %Y-%m-%d %H:%M:%S UTC')"
}

bemi_bench_prereqs() {
    local b
    [[ -x $PG_CONFIG ]] || command -v "$PG_CONFIG" >/dev/null 2>&1 || die "pg_config not found: $PG_CONFIG (set PG_CONFIG)"
    BINDIR=$("$PG_CONFIG" --bindir)
    PKGLIBDIR=$("$PG_CONFIG" --pkglibdir)
    SHAREDIR=$("$PG_CONFIG" --sharedir)
    PG_VERSION_STR=$("$PG_CONFIG" --version)
    [[ -f $PKGLIBDIR/bemi.so ]] || die "$PKGLIBDIR/bemi.so is missing: build and install it first (make && make install, as root)"
    [[ -f $SHAREDIR/extension/bemi.control ]] || die "$SHAREDIR/extension/bemi.control is missing: make install"
    BEMI_SO_ID=$(bemi_bench_so_id)
    for b in "$@"; do
        [[ -x $BINDIR/$b ]] || die "$BINDIR/$b is missing"
    done
    bemi_check_os_user || die "cannot run the server"
    export PATH="$BINDIR:$PATH"
    CLK_TCK=$(getconf CLK_TCK)
}

bemi_bench_bemi_server() {
    SETTINGS="wal_level=logical, shared_preload_libraries='bemi', output_plugin_libraries='pgoutput, test_decoding, wal2json, bemi', max_connections=100, shared_buffers=256MB"
    export BEMI_TEST_BASE_CONF=initdb BEMI_SHARED_PRELOAD=bemi
    export BEMI_TEST_EXTRA_CONF="# ---- $BEMI_BENCH_NAME: initdb defaults except these ----
max_connections = 100
shared_buffers = 256MB${1:+
$1}"
}

BG_PIDS=()
_bemi_bench_exit() {
    local rc=$? p
    trap - EXIT INT TERM
    bemi_worker_thaw
    for p in "${BG_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    if declare -F bench_cleanup >/dev/null; then bench_cleanup || true; fi
    bemi_scratch_remove "$BEMI_BENCH_NAME" "$TMP" "${BENCH_KEEP_TMP:-0}"
    exit "$rc"
}

bemi_bench_cluster() {
    unset BEMI_TEST_DATADIR # bemi_cluster_init sets it: until then there is no cluster to stop
    TMP=$(bemi_scratch_dir "$1") || die "mktemp failed"
    trap _bemi_bench_exit EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    if [[ -n ${BENCH_PORT:-} ]]; then export BEMI_TEST_PORT=$BENCH_PORT; else unset BEMI_TEST_PORT; fi
    log "initdb into $TMP/data"
    bemi_cluster_init "$TMP" || die "initdb failed"
    bemi_cluster_start || {
        tail -n 30 "$BEMI_TEST_SERVER_LOG" >&2 || true
        die "the server failed to start"
    }
    unset PGHOSTADDR PGSERVICE PGSERVICEFILE PGOPTIONS PGDATA PGAPPNAME
    log "server up on port $PGPORT (${PG_VERSION_STR:-$("$PG_CONFIG" --version)}), bemi.so ${BEMI_SO_ID:-$(bemi_bench_so_id)}"
    PSQL=(psql -X -q -A -t -v ON_ERROR_STOP=1)
}

sql() { "${PSQL[@]}" -d postgres -c "$1"; }
sqldb() { "${PSQL[@]}" -d "$1" -c "$2"; }
now_epoch() { date +%s.%N; }
fsub() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.3f", a-b}'; }
