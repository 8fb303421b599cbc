# shellcheck shell=bash
# Helpers for the bemi test suite: a throw-away PostgreSQL cluster, plus small
# utilities for test/shell/*.sh scripts.  Source it; it has no side effects.
#
# Cluster functions (used by test/run_tests.sh):
#   bemi_cluster_init  TMPDIR          initdb into TMPDIR/data, write config
#   bemi_cluster_start                 pick a free port, start, export PG* vars
#   bemi_cluster_stop                  immediate stop (idempotent, never fails)
#   bemi_cluster_stop_fast             clean stop; fails if pg_ctl could not (then stops anyway)
#   bemi_cluster_running               true if the postmaster is alive
#
# Scripts with a throw-away cluster of their own (bench/*.sh):
#   bemi_check_os_user                 root with a `postgres` OS user, or postgres; else fails
#   bemi_scratch_dir PREFIX            prints a new /tmp/PREFIX.XXXXXX the cluster owner can use
#   bemi_scratch_remove NAME DIR KEEP  stops the cluster; removes DIR unless KEEP is 1
#   bemi_bench_args NAME SCRIPT ARG... --help prints SCRIPT's header and exits; other ARGs are errors
#
# A test's own cluster instead of the suite's (it kills or restarts the server, or needs
# other settings; BEMI_SHARED_PRELOAD and BEMI_TEST_EXTRA_CONF as below):
#   bemi_own_cluster_start DIR         empty DIR, initdb and start there; PG* then point at it
#   bemi_own_test_cluster NAME [CONF]  the usual start of such a test: bemi preloaded, CONF in
#                                      postgresql.conf, in $BEMI_TEST_TMPDIR/NAME-cluster; PATH
#                                      starts with the server's bindir; the EXIT trap (below)
#                                      stops it
#
# The usual start of a test on the suite's server (each sets the EXIT trap, which runs the
# test's own test_cleanup function first, if it defines one, then drops what they created, and
# first drops what an earlier run left):
#   bemi_capture_test DB [SLOT] [WHY]  fails the test unless bemi is preloaded (WHY: what needs
#                                      it); creates DB with the extension, captured
#                                      (bemi_new_capture_db); at exit drops DB and SLOT, a slot
#                                      of the test's own (bemi_drop_capture_db), and the
#                                      databases in BEMI_TEST_OTHER_DBS
#   bemi_capture_test_db DB [SLOT] [WHY]  the same with DB created empty (no extension)
#
# Extra clusters (a test that needs a second server, or one configured otherwise):
#   bemi_extra_cluster_start DIR       initdb into DIR/data, start; prints the port (socket in DIR)
#   bemi_extra_cluster_restart DIR PORT
#   bemi_extra_cluster_stop DIR        immediate stop and rm -rf DIR (idempotent, never fails)
#
# Test helpers (used by test/shell/*.sh, need PGHOST/PGPORT/... in env):
#   bemi_fail MSG...                   print "FAIL: MSG" to stderr and exit 1
#   bemi_sql  SQL                      run SQL, print unaligned tuples-only result
#
# Environment knobs:
#   PG_CONFIG               pg_config to use (default /usr/lib/postgresql/15/bin/pg_config)
#   BEMI_TEST_PORT          force this TCP port instead of picking a free one
#   BEMI_SHARED_PRELOAD     value for shared_preload_libraries (default empty)
#   BEMI_TEST_EXTRA_CONF    extra lines appended verbatim to postgresql.conf
#   BEMI_TEST_BASE_CONF     suite (default): the test suite's server settings (more slots,
#                           prepared transactions, a small logical_decoding_work_mem so that
#                           transactions spill, fsync off); initdb: initdb's defaults and only
#                           what bemi needs (wal_level, output_plugin_libraries,
#                           shared_preload_libraries), for benchmarks that state their settings
#   BEMI_SERVER_PRELOAD     LD_PRELOAD for what runs as the cluster's owner (the server)

: "${PG_CONFIG:=/usr/lib/postgresql/15/bin/pg_config}"

bemi_pg_bindir() {
    "$PG_CONFIG" --bindir
}

# Run a command as the OS user that owns the cluster: `postgres` when we are
# root (the server refuses to run as root), otherwise the invoking user.
# Runs from the cluster's temp dir so that the postgres user never needs
# access to our current directory.
# With BEMI_SERVER_PRELOAD set (test/sanitize.sh: the ASan runtime), what runs this way, the
# server included, gets it as LD_PRELOAD.
bemi_as_pg() {
    local preload=()
    [[ -n ${BEMI_SERVER_PRELOAD:-} ]] && preload=(env "LD_PRELOAD=$BEMI_SERVER_PRELOAD")
    if [[ $EUID -eq 0 ]]; then
        (cd "${BEMI_TEST_TMPROOT:-/}" && runuser -u postgres -- "${preload[@]}" "$@")
    else
        (cd "${BEMI_TEST_TMPROOT:-/}" && "${preload[@]}" "$@")
    fi
}

# Is a TCP port on 127.0.0.1 free? (Something that accepts a connection means no.)
_bemi_port_free() {
    local port=$1
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
        return 1
    fi
    return 0
}

# Print a TCP port that looks free, chosen at random in 20000..59999.
_bemi_pick_port() {
    local i port
    for i in $(seq 1 200); do
        port=$(( 20000 + (RANDOM * 32768 + RANDOM) % 40000 ))
        if _bemi_port_free "$port"; then
            echo "$port"
            return 0
        fi
    done
    echo "cluster.sh: could not find a free TCP port" >&2
    return 1
}

# bemi_cluster_init TMPDIR
# TMPDIR must exist and (when root) belong to postgres.  Sets and exports
# BEMI_TEST_TMPROOT, BEMI_TEST_DATADIR, BEMI_TEST_SOCKDIR, BEMI_TEST_SERVER_LOG.
bemi_cluster_init() {
    local tmp=$1 bindir locale_opt
    bindir=$(bemi_pg_bindir) || return 1
    export BEMI_TEST_TMPROOT=$tmp
    export BEMI_TEST_DATADIR=$tmp/data
    export BEMI_TEST_SOCKDIR=$tmp
    export BEMI_TEST_SERVER_LOG=$tmp/server.log

    # C.UTF-8 is built into Debian 12's glibc; fall back to C elsewhere.
    if locale -a 2>/dev/null | grep -qiE '^c\.utf-?8$'; then
        locale_opt=C.UTF-8
    else
        locale_opt=C
    fi
    if ! bemi_as_pg "$bindir/initdb" -D "$BEMI_TEST_DATADIR" --auth=trust -U postgres \
            --encoding=UTF8 --locale="$locale_opt" --no-sync >"$tmp/initdb.log" 2>&1; then
        echo "cluster.sh: initdb failed:" >&2
        cat "$tmp/initdb.log" >&2
        return 1
    fi

    local suite_conf
    case ${BEMI_TEST_BASE_CONF:-suite} in
    suite)
        suite_conf="max_replication_slots = 20
max_wal_senders = 10
max_prepared_transactions = 10
logical_decoding_work_mem = 64kB
fsync = off"
        ;;
    initdb) suite_conf="# (initdb's defaults otherwise)" ;;
    *)
        echo "cluster.sh: BEMI_TEST_BASE_CONF must be suite or initdb" >&2
        return 1
        ;;
    esac
    # Port and listen_addresses are passed on the pg_ctl command line at start
    # (so a retry can pick another port); everything else lives here.
    # Written through bemi_as_pg so the files keep the cluster owner.
    # This server build lets only the libraries listed in output_plugin_libraries be output
    # plugins (default 'pgoutput, test_decoding').
    bemi_as_pg tee -a "$BEMI_TEST_DATADIR/postgresql.conf" >/dev/null <<EOF

# ---- bemi test suite (test/lib/cluster.sh) ----
unix_socket_directories = '$BEMI_TEST_SOCKDIR'
wal_level = logical
output_plugin_libraries = 'pgoutput, test_decoding, wal2json, bemi'
shared_preload_libraries = '${BEMI_SHARED_PRELOAD:-}'
log_line_prefix = '%m [%p] %q%a '
$suite_conf
${BEMI_TEST_EXTRA_CONF:-}
EOF
    bemi_as_pg tee "$BEMI_TEST_DATADIR/pg_hba.conf" >/dev/null <<'EOF'
# bemi test suite: trust everything local, including replication.
local   all             all                          trust
local   replication     all                          trust
host    all             all         127.0.0.1/32     trust
host    replication     all         127.0.0.1/32     trust
EOF
}

# bemi_cluster_start
# Starts the cluster on BEMI_TEST_PORT or a free random port (retrying with a
# new port if the chosen one was taken in the meantime).  Exports PGHOST
# (the unix socket dir), PGPORT, PGUSER=postgres, PGDATABASE=postgres.
bemi_cluster_start() {
    local bindir port loglines
    bindir=$(bemi_pg_bindir) || return 1
    for _ in 1 2 3 4 5; do
        loglines=$({ wc -l <"$BEMI_TEST_SERVER_LOG"; } 2>/dev/null || echo 0)
        if [[ -n ${BEMI_TEST_PORT:-} ]]; then
            port=$BEMI_TEST_PORT
        else
            port=$(_bemi_pick_port) || return 1
        fi
        if bemi_as_pg "$bindir/pg_ctl" -D "$BEMI_TEST_DATADIR" -l "$BEMI_TEST_SERVER_LOG" \
                -o "-c port=$port -c listen_addresses=127.0.0.1" -w -t 60 start >/dev/null; then
            export PGHOST=$BEMI_TEST_SOCKDIR PGPORT=$port PGUSER=postgres PGDATABASE=postgres
            export BEMI_TEST_PORT_USED=$port
            return 0
        fi
        # pg_ctl may give up while a postmaster is still around: make sure not.
        bemi_cluster_stop
        if [[ -z ${BEMI_TEST_PORT:-} ]] && tail -n "+$((loglines + 1))" "$BEMI_TEST_SERVER_LOG" 2>/dev/null |
                grep -qE 'could not (bind|create listen socket)|Address already in use'; then
            echo "cluster.sh: port $port was taken, retrying with another one" >&2
            continue
        fi
        break
    done
    echo "cluster.sh: server failed to start, see $BEMI_TEST_SERVER_LOG" >&2
    return 1
}

bemi_cluster_running() {
    local pid
    [[ -n ${BEMI_TEST_DATADIR:-} && -f $BEMI_TEST_DATADIR/postmaster.pid ]] || return 1
    pid=$(head -n 1 "$BEMI_TEST_DATADIR/postmaster.pid" 2>/dev/null) || return 1
    [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null
}

# Immediate shutdown.  Falls back to SIGQUIT (= immediate shutdown) on the
# postmaster from postmaster.pid, then SIGKILL, if pg_ctl cannot do it.
bemi_cluster_stop() {
    _bemi_cluster_stop immediate
}

# A clean shutdown (a shutdown checkpoint: single-user mode or a restart then finds nothing to
# recover); when pg_ctl cannot do it, stops the server as bemi_cluster_stop does and fails.
bemi_cluster_stop_fast() {
    _bemi_cluster_stop fast
}

_bemi_cluster_stop() {
    local bindir pid i mode=$1 wait=30 clean=0
    [[ $mode == fast ]] && wait=60
    [[ -n ${BEMI_TEST_DATADIR:-} && -d $BEMI_TEST_DATADIR ]] || return 0
    bemi_cluster_running || return 0
    pid=$(head -n 1 "$BEMI_TEST_DATADIR/postmaster.pid" 2>/dev/null)
    bindir=$(bemi_pg_bindir 2>/dev/null) || bindir=
    if [[ -n $bindir ]] && bemi_as_pg "$bindir/pg_ctl" -D "$BEMI_TEST_DATADIR" -m "$mode" -w -t "$wait" stop >/dev/null 2>&1; then
        clean=1
    fi
    [[ $mode == fast ]] || clean=1 # only a clean stop can fail
    for i in $(seq 1 50); do
        kill -0 "$pid" 2>/dev/null || return $((1 - clean))
        [[ $i -eq 1 ]] && kill -QUIT "$pid" 2>/dev/null
        [[ $i -eq 30 ]] && kill -KILL "$pid" 2>/dev/null
        sleep 0.2
    done
    echo "cluster.sh: WARNING: postmaster $pid is still running" >&2
    return 0
}

# ---------------------------------------------------------------- scripts' own clusters

# bemi_check_os_user -- the server cannot run as root: a script run as root runs it (and
# everything that touches its files) as `postgres`, through runuser (bemi_as_pg).
bemi_check_os_user() {
    if [[ $EUID -eq 0 ]]; then
        id postgres >/dev/null 2>&1 || { echo "running as root needs a 'postgres' OS user to run the server" >&2; return 1; }
        command -v runuser >/dev/null 2>&1 || { echo "runuser is needed when running as root" >&2; return 1; }
    elif [[ $(id -un) != postgres ]]; then
        echo "run as root or as the postgres OS user (running as $(id -un))" >&2
        return 1
    fi
}

# bemi_scratch_dir PREFIX -- prints a new directory /tmp/PREFIX.XXXXXX for bemi_cluster_init,
# readable by everyone (a pipe or a file read by psql) and owned by the cluster's owner.
bemi_scratch_dir() {
    local dir
    dir=$(mktemp -d "/tmp/$1.XXXXXX") || return 1
    chmod 755 "$dir"
    if [[ $EUID -eq 0 ]]; then chown postgres: "$dir"; fi
    echo "$dir"
}

# bemi_bench_args NAME SCRIPT ARG... -- a benchmark's command line: -h or --help prints SCRIPT's
# header comment (its lines 2 up to the first empty line, without the "# ") and exits 0; any
# other argument is an error (exit 1, reported as NAME).
bemi_bench_args() {
    local name=$1 script=$2 arg
    shift 2
    for arg in "$@"; do
        case $arg in
        -h | --help)
            sed -n '2,/^$/p' "$script" | sed 's/^# \{0,1\}//'
            exit 0
            ;;
        *)
            echo "$name: unknown argument: $arg (try --help)" >&2
            exit 1
            ;;
        esac
    done
}

# bemi_scratch_remove NAME DIR KEEP -- at the end of a script: stops its cluster, then removes
# DIR, or with KEEP=1 keeps it (data directory, server log) and says so as NAME.
bemi_scratch_remove() {
    bemi_cluster_stop
    if [[ $3 == 1 ]]; then
        echo "$1: kept $2 (server log: $2/server.log)" >&2
    else
        rm -rf "$2"
    fi
}

# ---------------------------------------------------------------- a test's own cluster

# bemi_fresh_dir DIR -- DIR, emptied, owned by the cluster's owner.
bemi_fresh_dir() {
    rm -rf "$1"
    mkdir -p "$1"
    if [[ $EUID -eq 0 ]]; then chown postgres: "$1"; fi
}

# bemi_own_cluster_start DIR -- the test's own cluster in DIR, on a free port: from here on
# bemi_cluster_stop and PGHOST/PGPORT refer to it (the suite's server is left alone). Fails the
# test when it does not start.
bemi_own_cluster_start() {
    bemi_fresh_dir "$1"
    unset BEMI_TEST_PORT
    bemi_cluster_init "$1" || bemi_fail "initdb"
    bemi_cluster_start || bemi_fail "server start"
}

bemi_own_test_cluster() {
    PATH="$(bemi_pg_bindir):$PATH"
    export PATH
    : "${BEMI_TEST_TMPDIR:=$(mktemp -d "/tmp/bemi-$1.XXXXXX")}"
    _BEMI_TEST_OWN_CLUSTER=1
    trap _bemi_test_exit EXIT
    export BEMI_SHARED_PRELOAD=bemi
    export BEMI_TEST_EXTRA_CONF=${2:-}
    bemi_own_cluster_start "$BEMI_TEST_TMPDIR/$1-cluster"
}

# ---------------------------------------------------------------- a test's databases

_BEMI_TEST_DB=
_BEMI_TEST_SLOT=none
_BEMI_TEST_OWN_CLUSTER=0
_bemi_test_exit() {
    if declare -F test_cleanup >/dev/null; then test_cleanup || true; fi
    _bemi_test_drop
    if [[ $_BEMI_TEST_OWN_CLUSTER == 1 ]]; then bemi_cluster_stop; fi
}

_bemi_test_drop() {
    local db
    [[ -z $_BEMI_TEST_DB ]] || bemi_drop_capture_db "$_BEMI_TEST_DB" "$_BEMI_TEST_SLOT"
    for db in ${BEMI_TEST_OTHER_DBS:-}; do
        psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true
    done
}

bemi_capture_test_db() {
    _BEMI_TEST_DB=$1
    _BEMI_TEST_SLOT=${2:-none}
    trap _bemi_test_exit EXIT
    bemi_require_preload "${3:-the ingestion worker fills bemi.changes}"
    _bemi_test_drop
    psql -X -q -d postgres -c "CREATE DATABASE $1" >/dev/null || bemi_fail "CREATE DATABASE $1"
}

bemi_capture_test() {
    bemi_capture_test_db "$@"
    _bemi_add_extension "$1"
}

# ---------------------------------------------------------------- extra clusters
# Each runs in a subshell, so the main cluster's BEMI_TEST_* and PG* stay as they are. They
# take BEMI_SHARED_PRELOAD and BEMI_TEST_EXTRA_CONF like the main cluster (later lines of
# postgresql.conf win, so the extra conf can undo what bemi_cluster_init writes).
_bemi_extra_env() {
    export BEMI_TEST_TMPROOT=$1 BEMI_TEST_DATADIR=$1/data BEMI_TEST_SOCKDIR=$1 BEMI_TEST_SERVER_LOG=$1/server.log
}

bemi_extra_cluster_start() {
    local dir=$1
    bemi_fresh_dir "$dir"
    (
        unset BEMI_TEST_PORT
        bemi_cluster_init "$dir" >/dev/null || exit 1
        bemi_cluster_start >/dev/null || exit 1
        echo "$PGPORT"
    )
}

bemi_extra_cluster_restart() {
    (
        _bemi_extra_env "$1"
        export BEMI_TEST_PORT=$2
        bemi_cluster_stop
        bemi_cluster_start >/dev/null
    )
}

bemi_extra_cluster_stop() {
    [[ -d $1 ]] || return 0
    (
        _bemi_extra_env "$1"
        bemi_cluster_stop
    )
    rm -rf "$1"
    return 0
}

# ---------------------------------------------------------------- test helpers

bemi_fail() {
    echo "FAIL: $*" >&2
    exit 1
}

# bemi_sql SQL -- one statement (or several), errors are fatal for psql.
bemi_sql() {
    psql -X -q -A -t -v ON_ERROR_STOP=1 -c "$1"
}

# bemi_drop_capture_db DB SLOT -- drops a test database that has the extension and a slot of
# its own: the slot, then the extension (its worker leaves and drops its slot), then the
# database, retrying while the worker is still on its way out. Never fails.
bemi_drop_capture_db() {
    local db=$1 slot=$2
    psql -X -q -d "$db" -c "SELECT pg_drop_replication_slot('$slot') FROM pg_replication_slots WHERE slot_name = '$slot'" \
        >/dev/null 2>&1 || true
    psql -X -q -d "$db" -c "DROP EXTENSION IF EXISTS bemi" >/dev/null 2>&1 || true
    for _ in $(seq 1 50); do
        psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 && return 0
        sleep 0.2
    done
    return 0
}

# bemi_new_capture_db DB -- creates test database DB with the extension and waits until its
# worker captures (the caller dropped any earlier DB with bemi_drop_capture_db). Fails the test
# otherwise.
bemi_new_capture_db() {
    psql -X -q -d postgres -c "CREATE DATABASE $1" >/dev/null || bemi_fail "CREATE DATABASE $1"
    _bemi_add_extension "$1"
}

_bemi_add_extension() {
    psql -X -q -v ON_ERROR_STOP=1 -d "$1" -c "CREATE EXTENSION bemi" >/dev/null || bemi_fail "CREATE EXTENSION in $1"
    [[ $(psql -X -q -A -t -d "$1" -c "SELECT bemi.sync()") == t ]] || bemi_fail "sync after CREATE EXTENSION in $1"
}

# bemi_require_preload -- fails the test unless the server preloads bemi.
bemi_require_preload() {
    psql -X -A -t -c "SHOW shared_preload_libraries" | grep -qw bemi ||
        bemi_fail "this test needs shared_preload_libraries = 'bemi' ($1)"
}
