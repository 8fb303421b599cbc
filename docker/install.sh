#!/usr/bin/env bash
# Installs what bemi needs from Debian's packages, then builds and installs bemi.so into the
# PostgreSQL found by pg_config. Run as root on Debian 12 (bookworm). Used by CI, by the
# Dockerfile and by the quickstart, so all three install the same way.
#
#   docker/install.sh            runtime + build dependencies, build, install
#   docker/install.sh --tests    also what the test suite and benchmarks need
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
pg_major=${PG_MAJOR:-15}
packages=(build-essential "postgresql-$pg_major" "postgresql-server-dev-$pg_major" nlohmann-json3-dev clang-14 llvm-14)
if [[ "${1:-}" == "--tests" ]]; then
    # clang-14 (above) with libfuzzer-14-dev builds the fuzz targets and the sanitizer build.
    packages+=(catch2 "postgresql-$pg_major-wal2json" "postgresql-contrib" pgbouncer python3-psycopg2 python3-django
               libfuzzer-14-dev libclang-rt-14-dev)
    # The ORM recipes' tests (examples/recipes): SQLAlchemy, psycopg 3, ActiveRecord (with
    # ActionPack for the Rails controller's around_action); Node.js comes from Debian only where
    # the machine has none (its packages come from the npm registry).
    packages+=(python3-sqlalchemy python3-psycopg ruby-activerecord ruby-pg ruby-actionpack)
    command -v npm >/dev/null 2>&1 || packages+=(nodejs npm)
    # The Django app's tests install clients/django offline into a venv over Debian's Django.
    packages+=(python3-venv python3-pip python3-setuptools python3-wheel)
fi

if [[ $(id -u) -ne 0 ]]; then
    echo "docker/install.sh: run as root (it installs Debian packages and writes to PostgreSQL's lib directory)" >&2
    exit 1
fi

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    # bemi's tests and demo run their own clusters: don't let the package create one, and
    # keep package scripts from starting services (postgresql, pgbouncer) meanwhile.
    if [[ ! -e /etc/postgresql-common/createcluster.conf ]]; then
        mkdir -p /etc/postgresql-common
        echo "create_main_cluster = false" >/etc/postgresql-common/createcluster.conf
    fi
    policy=/usr/sbin/policy-rc.d
    if [[ ! -e $policy ]]; then
        printf '#!/bin/sh\n# temporary, from bemi docker/install.sh\nexit 101\n' >"$policy"
        chmod 755 "$policy"
        trap 'rm -f "$policy"' EXIT
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

pg_config=${PG_CONFIG:-/usr/lib/postgresql/$pg_major/bin/pg_config}
make -C "$root" -j"$(nproc)" PG_CONFIG="$pg_config"
make -C "$root" install PG_CONFIG="$pg_config" >/dev/null
echo "bemi installed into $("$pg_config" --pkglibdir)"
