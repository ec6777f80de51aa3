#!/bin/sh
# `make bench` (run after the binary is built and tests/deps.sh ran): first
# the cost table (bench/cost.py: CPU per GB, MB/s, RSS against the C sink,
# callgrind, boto3 baselines), then the behaviour under the write limits
# (bench/bench.py: the limit-enforcing Python fake, one and two agents).
# Markdown on stdout, progress on stderr.
#   sh bench/run.sh                 both (about 15 minutes on 2 cores)
#   sh bench/run.sh cost [ARGS]     the cost table only (see bench/cost.py --help)
#   sh bench/run.sh limits [ARGS]   the limits table only (see bench/bench.py --help)
#   sh bench/run.sh --only ...      old form: bench/bench.py with these arguments
set -eu
cd "$(dirname "$0")/.."
export PYTHONDONTWRITEBYTECODE=1 AWS_EC2_METADATA_DISABLED=true
case "${1:-}" in
cost) shift; exec /usr/bin/python3 bench/cost.py "$@" ;;
limits) shift; exec /usr/bin/python3 bench/bench.py "$@" ;;
"") echo "## Cost"; echo
    /usr/bin/python3 bench/cost.py
    echo; echo "## Behaviour under the write limits"; echo
    exec /usr/bin/python3 bench/bench.py ;;
*) exec /usr/bin/python3 bench/bench.py "$@" ;;
esac
