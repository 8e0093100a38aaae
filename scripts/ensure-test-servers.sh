#!/bin/sh
# Programs the tests need that do not come from PyPI: PostgreSQL's initdb/pg_ctl
# (tests/peers.py), the shells the sh target is tested under (dash, bash, busybox),
# systemd-analyze, which checks the generated timers' calendar expressions, and Info-ZIP's
# zip and unzip, which the archive:os and archive:external drivers run, sqlite3, which
# the shell artifact's opt-in SQLite mirror runs, and Graphviz's dot, which must accept what
# `aetherflow graph --format dot` writes (tests/test_graph.py).
# Installs the Debian packages that are missing when running as root.
set -eu
missing=
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! command -v initdb >/dev/null 2>&1; then
    missing="$missing postgresql"
fi
for program in dash bash busybox zip unzip sqlite3; do
    command -v "$program" >/dev/null 2>&1 || missing="$missing $program"
done
command -v systemd-analyze >/dev/null 2>&1 || missing="$missing systemd"
# `ip` brings up the loopback of the network namespace the air-gapped test runs in.
command -v ip >/dev/null 2>&1 || missing="$missing iproute2"
# faketime runs one process with its clock ahead (the PostgreSQL lock tests).
command -v faketime >/dev/null 2>&1 || missing="$missing faketime"
# Graphviz's dot renders `aetherflow graph --format dot` (tests/test_graph.py).
command -v dot >/dev/null 2>&1 || missing="$missing graphviz"
# GNU time measures the artifacts' peak memory in bench/run.py (tests/test_bench.py).
[ -x /usr/bin/time ] || missing="$missing time"
[ -n "$missing" ] || exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing test programs (Debian packages):$missing" >&2
    apt-get update -qq
    # shellcheck disable=SC2086  # one word per package
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
    exit 0
fi
echo "the tests need these programs:$missing (install the Debian packages of the same names)" >&2
exit 1
