# shellcheck shell=bash
# Helpers of the ALTER EXTENSION bemi UPDATE tests (test/shell/ingest_upgrade_0*.sh): a
# captured database at an older version with the tables the tests write to, and a session
# that writes through the upgrade. Source it after test/lib/cluster.sh; no side effects.
#
#   bemi_upgrade_db DB VERSION      creates DB with the extension at VERSION (capture started)
#                                   and the tables public.t (id, note) and public.p, range
#                                   partitioned by id into p_low (< 1000) and p_high
#   bemi_upgrade_writer_start DB N FILE
#                                   a background psql writing N single-row transactions into t
#                                   (ids 1001.., note 'during') and, every third, one into p
#                                   (ids 5001..), 4 ms apart; the SQL goes to FILE. Sets
#                                   BEMI_UPGRADE_WRITER_PID
#   bemi_upgrade_writer_wait        waits for it; fails the test when it failed. Idempotent
#   bemi_upgrade_writer_stop        kills it if it runs (cleanup traps)

bemi_upgrade_db() {
    local db=$1 version=$2
    psql -X -q -c "CREATE DATABASE $db" >/dev/null || bemi_fail "CREATE DATABASE $db"
    psql -X -q -v ON_ERROR_STOP=1 -d "$db" -c "CREATE EXTENSION bemi VERSION '$version'" >/dev/null ||
        bemi_fail "CREATE EXTENSION bemi VERSION '$version'"
    [[ $(psql -X -q -A -t -d "$db" -c "SELECT bemi.sync()") == t ]] ||
        bemi_fail "sync after CREATE EXTENSION bemi VERSION '$version'"
    [[ $(psql -X -q -A -t -d "$db" -c "SELECT bemi.version()") == "$version" ]] || bemi_fail "not at $version"
    psql -X -q -v ON_ERROR_STOP=1 -d "$db" >/dev/null <<'SQL' || bemi_fail "the tables of the upgrade test"
CREATE TABLE public.t (id int PRIMARY KEY, note text);
CREATE TABLE public.p (id int PRIMARY KEY, v int) PARTITION BY RANGE (id);
CREATE TABLE public.p_low PARTITION OF public.p FOR VALUES FROM (MINVALUE) TO (1000);
CREATE TABLE public.p_high PARTITION OF public.p FOR VALUES FROM (1000) TO (MAXVALUE);
SQL
}

BEMI_UPGRADE_WRITER_PID=
bemi_upgrade_writer_start() {
    local db=$1 n=$2 file=$3 i
    for i in $(seq 1 "$n"); do
        echo "INSERT INTO public.t VALUES ($((1000 + i)), 'during');"
        [[ $((i % 3)) -ne 0 ]] || echo "INSERT INTO public.p VALUES ($((5000 + i)), $i);"
        echo "SELECT pg_sleep(0.004);"
    done >"$file"
    psql -X -q -v ON_ERROR_STOP=1 -d "$db" -f "$file" >/dev/null &
    BEMI_UPGRADE_WRITER_PID=$!
}

bemi_upgrade_writer_wait() {
    [[ -n $BEMI_UPGRADE_WRITER_PID ]] || return 0
    wait "$BEMI_UPGRADE_WRITER_PID" || { BEMI_UPGRADE_WRITER_PID=; bemi_fail "the writer failed"; }
    BEMI_UPGRADE_WRITER_PID=
}

bemi_upgrade_writer_stop() {
    [[ -z $BEMI_UPGRADE_WRITER_PID ]] || kill "$BEMI_UPGRADE_WRITER_PID" 2>/dev/null || true
    BEMI_UPGRADE_WRITER_PID=
}
