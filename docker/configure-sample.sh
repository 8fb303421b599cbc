#!/usr/bin/env bash
# Appends the settings bemi needs to a postgresql.conf (or the sample new clusters copy).
# output_plugin_libraries exists only on servers that restrict output plugins (15.19+ here);
# older servers refuse to start with an unknown setting, so it is added only where known.
set -euo pipefail
conf=$1
postgres=${POSTGRES_BIN:-$(dirname "$(command -v pg_config || echo /usr/lib/postgresql/15/bin/pg_config)")/postgres}
[[ -x "$postgres" ]] || postgres=/usr/lib/postgresql/${PG_MAJOR:-15}/bin/postgres
{
    echo ""
    echo "# bemi"
    echo "wal_level = logical"
    echo "shared_preload_libraries = 'bemi'"
    # grep reads everything: with -q it could exit first and fail the pipe (SIGPIPE).
    if "$postgres" --describe-config 2>/dev/null | grep '^output_plugin_libraries' >/dev/null; then
        echo "output_plugin_libraries = 'pgoutput, test_decoding, bemi'"
    fi
} >>"$conf"
