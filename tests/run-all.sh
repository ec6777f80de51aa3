#!/bin/sh
# Runs every test (called by `make check` once shardpipe, build/tests/check_*
# and build/tools/* are built): Check unit tests, the SigV4 cross-check against
# botocore, the fake server's self-test, then tests/integration/test_*.py.
# Adds up test cases across all of them and ends with exactly one line
# "N passed, M failed" (", K skipped" when some were). A skip is never a pass.
# Exit status: non-zero if anything failed or if no test ran at all.
set -u
cd "$(dirname "$0")/.." || exit 1
PY=/usr/bin/python3          # Debian's, which has python3-botocore
PY_TIMEOUT=${SHARDPIPE_TEST_TIMEOUT:-1800}   # seconds per Python module
tally=$(mktemp) out=$(mktemp) rcf=$(mktemp)
trap 'rm -f "$tally" "$out" "$rcf"' EXIT
export PYTHONDONTWRITEBYTECODE=1
# Tests never reach anything but loopback: no test may fall through the
# credential chain to the real instance-metadata or container endpoints
# (tests of those sources point them at loopback fakes in their own env).
export AWS_EC2_METADATA_DISABLED=true
unset AWS_CONTAINER_CREDENTIALS_RELATIVE_URI AWS_CONTAINER_CREDENTIALS_FULL_URI
unset AWS_EC2_METADATA_SERVICE_ENDPOINT AWS_WEB_IDENTITY_TOKEN_FILE AWS_ROLE_ARN

# run_py FILE...: one Python process per module, output shown as it comes.
run_py() {
    { timeout -k 10 "$PY_TIMEOUT" "$PY" tests/lib/runtests.py "$@" 2>&1; echo $? >"$rcf"; } | tee "$out"
    line=$(grep -E '^\[python\] passed=[0-9]+ failed=[0-9]+ skipped=[0-9]+$' "$out" | tail -n 1)
    if [ -z "$line" ]; then
        echo "run-all: $* ended without a result (exit $(cat "$rcf")): counted as 1 failed"
        echo "0 1 0" >>"$tally"
    else
        echo "$line" | sed -E 's/.*passed=([0-9]+) failed=([0-9]+) skipped=([0-9]+)/\1 \2 \3/' >>"$tally"
    fi
}

echo "== unit tests (Check)"
set -- build/tests/check_*
[ -e "$1" ] || set --          # no unit tests built yet
SHARDPIPE_TALLY="$tally" sh tests/run-unit.sh "$@"

echo "== SigV4: shardpipe's signer against botocore"
if [ -f tests/sigv4_botocore.py ]; then
    { timeout -k 10 "$PY_TIMEOUT" "$PY" tests/sigv4_botocore.py build/tools/sigv4_sign 2>&1; echo $? >"$rcf"; } | tee "$out"
    rc=$(cat "$rcf")
    # Its own count if it prints one we know, else the exit status as one test.
    if line=$(grep -E '^\[python\] passed=[0-9]+ failed=[0-9]+ skipped=[0-9]+$' "$out" | tail -n 1) && [ -n "$line" ]; then
        echo "$line" | sed -E 's/.*passed=([0-9]+) failed=([0-9]+) skipped=([0-9]+)/\1 \2 \3/' >>"$tally"
    elif line=$(grep -E '^([A-Za-z0-9_.-]+: )?[0-9]+ passed, [0-9]+ failed' "$out" | tail -n 1) && [ -n "$line" ]; then
        p=$(echo "$line" | sed -E 's/^([A-Za-z0-9_.-]+: )?([0-9]+) passed.*/\2/')
        f=$(echo "$line" | sed -E 's/.* ([0-9]+) failed.*/\1/')
        s=0
        case $line in *skipped*) s=$(echo "$line" | sed -E 's/.* ([0-9]+) skipped.*/\1/') ;; esac
        [ "$rc" -ne 0 ] && [ "$f" -eq 0 ] && f=1
        echo "$p $f $s" >>"$tally"
    elif [ "$rc" -eq 0 ]; then
        echo "1 0 0" >>"$tally"
    else
        echo "run-all: tests/sigv4_botocore.py exited $rc: counted as 1 failed"
        echo "0 1 0" >>"$tally"
    fi
else
    echo "SKIPPED: tests/sigv4_botocore.py does not exist yet"
    echo "0 0 1" >>"$tally"
fi

echo "== fake Kinesis server self-test"
run_py tests/fake/test_fake_server.py

for t in tests/integration/test_*.py; do
    [ -f "$t" ] || continue
    echo "== $t"
    run_py "$t"
done

# shellcheck disable=SC2046  # three numbers, split on purpose
set -- $(awk '{p += $1; f += $2; s += $3} END {print p+0, f+0, s+0}' "$tally")
summary="$1 passed, $2 failed"
[ "$3" -gt 0 ] && summary="$summary, $3 skipped"
echo "$summary"
[ "$2" -eq 0 ] && [ "$1" -gt 0 ]
