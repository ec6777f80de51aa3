#!/bin/sh
# `make demo`: a whole round trip on this machine, nothing leaves it.
# Starts kinesalite on a free 127.0.0.1 port, creates a 2-shard stream "demo"
# (with botocore), pipes sample lines into `shardpipe put`, then shows
# `shardpipe describe` and `shardpipe get`. The server stops on exit.
set -eu
cd "$(dirname "$0")/.."
PY=/usr/bin/python3

work=$(mktemp -d)
emu_pid=
cleanup() {
    [ -n "$emu_pid" ] && kill "$emu_pid" 2>/dev/null && wait "$emu_pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

[ -x ./shardpipe ] || { echo "demo: ./shardpipe is not built (run make)" >&2; exit 1; }

node tests/emu/kinesalite.js 0 >"$work/kinesalite.log" 2>&1 &
emu_pid=$!
port=
for _ in $(seq 100); do
    port=$(sed -n 's/^listening \([0-9]*\)$/\1/p' "$work/kinesalite.log")
    [ -n "$port" ] && break
    kill -0 "$emu_pid" 2>/dev/null || break
    sleep 0.1
done
if [ -z "$port" ]; then
    echo "demo: kinesalite did not start:" >&2
    cat "$work/kinesalite.log" >&2
    exit 1
fi
# Refuse to go on if the emulator listens anywhere but loopback.
if ss -ltnpH | grep "pid=$emu_pid," | awk '{print $4}' | grep -qv '^127\.0\.0\.1:'; then
    echo "demo: kinesalite listens on a non-loopback address; stopping" >&2
    exit 1
fi
endpoint="http://127.0.0.1:$port"
echo "kinesalite listening on $endpoint"

# botocore creates the stream (an independent client), and waits for ACTIVE.
PYTHONPATH=tests/lib "$PY" -c '
import sys, emulators
c = emulators.make_client(sys.argv[1])
c.create_stream(StreamName="demo", ShardCount=2)
emulators.wait_active(c, "demo")
' "$endpoint"

# Dummy credentials: kinesalite checks only that a signature is present.
unset AWS_PROFILE AWS_SESSION_TOKEN AWS_DEFAULT_PROFILE
export AWS_ACCESS_KEY_ID=AKIDEXAMPLE AWS_SECRET_ACCESS_KEY=demo-not-a-secret
sp() { ./shardpipe "$@" --region us-east-1 --endpoint-url "$endpoint"; }

echo
echo "\$ (20 sample lines) | shardpipe put -s demo"
i=1
while [ "$i" -le 20 ]; do
    printf '2025-11-27T10:%02d:00Z host-%d GET /api/items/%d 200 %dms\n' "$i" $((i % 3)) "$i" $((i * 7))
    i=$((i + 1))
done | sp put -s demo

echo
echo "\$ shardpipe describe demo"
sp describe demo

echo
echo "\$ shardpipe get demo --iterator trim-horizon"
sp get demo --iterator trim-horizon
