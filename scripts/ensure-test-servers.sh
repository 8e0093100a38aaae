#!/bin/sh
# Server programs the tests start on loopback that do not come from PyPI: PostgreSQL's
# initdb/pg_ctl (tests/peers.py). Installs the Debian package when missing and root.
set -eu
if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing PostgreSQL server binaries for the tests (Debian package postgresql)" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    exit 0
fi
echo "the tests need PostgreSQL server binaries (initdb, pg_ctl): install the postgresql package" >&2
exit 1
