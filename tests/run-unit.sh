#!/bin/sh
# Runs each Check unit-test binary given as an argument. Check prints its own
# summary ("100%: Checks: N, Failures: F, Errors: E"); this adds them up.
# Standalone (make unit) it ends with "N passed, M failed"; under run-all.sh
# (SHARDPIPE_TALLY set to a file) it appends "passed failed skipped" there.
set -u
# As in run-all.sh: no test may reach the real metadata or container endpoints.
export AWS_EC2_METADATA_DISABLED=true
unset AWS_CONTAINER_CREDENTIALS_RELATIVE_URI AWS_CONTAINER_CREDENTIALS_FULL_URI AWS_EC2_METADATA_SERVICE_ENDPOINT
passed=0 failed=0
out=$(mktemp)
trap 'rm -f "$out"' EXIT

for bin in "$@"; do
    [ -x "$bin" ] || { echo "run-unit: $bin: not built, counted as 1 failed"; failed=$((failed + 1)); continue; }
    echo "-- $bin"
    # A hung test must not hang CI; Check's own per-test timeout needs fork mode.
    timeout -k 5 600 "$bin" >"$out" 2>&1
    rc=$?
    cat "$out"
    line=$(grep -E '^[0-9]+%: Checks: [0-9]+, Failures: [0-9]+, Errors: [0-9]+' "$out" | tail -n 1)
    if [ -z "$line" ]; then
        echo "run-unit: $bin printed no Check summary (exit $rc): counted as 1 failed"
        failed=$((failed + 1))
        continue
    fi
    n=$(echo "$line" | sed -E 's/.*Checks: ([0-9]+).*/\1/')
    f=$(echo "$line" | sed -E 's/.*Failures: ([0-9]+).*/\1/')
    e=$(echo "$line" | sed -E 's/.*Errors: ([0-9]+).*/\1/')
    passed=$((passed + n - f - e))
    failed=$((failed + f + e))
    if [ "$rc" -ne 0 ] && [ $((f + e)) -eq 0 ]; then
        echo "run-unit: $bin exited $rc although Check saw no failure: counted as 1 failed"
        failed=$((failed + 1))
    fi
done

if [ -n "${SHARDPIPE_TALLY:-}" ]; then
    echo "$passed $failed 0" >>"$SHARDPIPE_TALLY"
    exit 0
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
