# shellcheck shell=bash
# A PgBouncer in front of the test cluster, for the tests of context behind transaction
# pooling. Source after cluster.sh.
#
#   bemi_pgbouncer_start DIR DB POOL_SIZE   PgBouncer on a free 127.0.0.1 port, transaction pooling,
#                                           POOL_SIZE server connections to DB as postgres; sets
#                                           BEMI_PGBOUNCER_PORT; fails the test if it does not answer
#   bemi_pgbouncer_stop DIR                 stops the one started in DIR (never fails)

bemi_pgbouncer_start() {
    local dir=$1 db=$2 pool_size=$3 port
    port=$(_bemi_pick_port) || bemi_fail "no free port for PgBouncer"
    chmod 777 "$dir"
    # No reset query: in transaction pooling a server connection goes from client to client
    # after every transaction, which is what the tests are about.
    cat >"$dir/pgbouncer.ini" <<INI
[databases]
$db = host=$PGHOST port=$PGPORT dbname=$db user=postgres
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $port
unix_socket_dir =
auth_type = trust
auth_file = $dir/userlist.txt
pool_mode = transaction
default_pool_size = $pool_size
max_client_conn = 100
server_reset_query =
logfile = $dir/pgbouncer.log
pidfile = $dir/pgbouncer.pid
INI
    echo '"postgres" ""' >"$dir/userlist.txt"
    chmod 644 "$dir/pgbouncer.ini" "$dir/userlist.txt"
    bemi_as_pg /usr/sbin/pgbouncer -d "$dir/pgbouncer.ini" || bemi_fail "PgBouncer did not start"
    for _ in $(seq 1 50); do
        psql -X -q -h 127.0.0.1 -p "$port" -U postgres -d "$db" -c "SELECT 1" >/dev/null 2>&1 && {
            export BEMI_PGBOUNCER_PORT=$port
            return 0
        }
        sleep 0.1
    done
    bemi_fail "PgBouncer does not answer on port $port (see $dir/pgbouncer.log)"
}

bemi_pgbouncer_stop() {
    local pid
    pid=$(cat "$1/pgbouncer.pid" 2>/dev/null) || return 0
    [[ $pid =~ ^[0-9]+$ ]] && kill "$pid" 2>/dev/null
    return 0
}
