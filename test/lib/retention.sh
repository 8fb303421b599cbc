# Helpers of the retention tests (test/shell/retention*.sh), which run their own cluster and
# talk to one database, $DB, set by the test before calling them.

q() { psql -X -q -A -t -v ON_ERROR_STOP=1 -d "$DB" -c "$1"; }

set_conf() { # NAME VALUE: ALTER SYSTEM and reload (the worker reads them between turns)
    psql -X -q -c "ALTER SYSTEM SET $1 = '$2'" -c "SELECT pg_reload_conf()" >/dev/null
}

wait_for() { # SECONDS SQL: until SQL returns t
    local i
    for ((i = 0; i < $1 * 5; i++)); do
        [[ $(q "$2" 2>/dev/null) == t ]] && return 0
        sleep 0.2
    done
    return 1
}

synced() { [[ $(q "SELECT bemi.sync()") == t ]] || bemi_fail "sync ($1): $(q "SELECT state, last_error FROM bemi.status")"; }
