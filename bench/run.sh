#!/bin/sh
# `make bench`: shardpipe put against the limit-enforcing fake Kinesis server
# (run after the binary is built and tests/deps.sh ran). Prints a markdown
# table; extra arguments go to bench/bench.py (see its --help).
set -eu
cd "$(dirname "$0")/.."
export PYTHONDONTWRITEBYTECODE=1
exec /usr/bin/python3 bench/bench.py "$@"
