#!/bin/sh
# Installs what the build and the tests need, only when it is missing, so that
# a fresh machine (and CI) gets everything from `make check` alone. Quiet when
# nothing is missing. Run from anywhere; works on the repository it lives in.
set -eu
cd "$(dirname "$0")/.."

# --- Debian packages -------------------------------------------------------
debs="pkg-config libcurl4-openssl-dev libssl-dev libjson-c-dev zlib1g-dev check
python3-botocore python3-yaml systemd nodejs iproute2 python3-boto3 time valgrind openssl"
missing=""
for p in $debs; do
    if ! dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q ' installed$'; then
        missing="$missing $p"
    fi
done
# npm: some nodejs builds (NodeSource) bundle it and conflict with Debian's npm
# package, so ask for Debian's only when there is no npm command at all.
command -v npm >/dev/null 2>&1 || missing="$missing npm"

if [ -n "$missing" ]; then
    echo "deps: installing Debian packages:$missing"
    if [ "$(id -u)" != 0 ]; then
        echo "deps: not root; run: apt-get install$missing" >&2
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >/dev/null
    # shellcheck disable=SC2086  # word splitting of the list is wanted
    apt-get install -y -q --no-install-recommends $missing >/dev/null
fi

# --- npm packages (the Kinesis emulators) -----------------------------------
# Versions are pinned in tests/npm/package-lock.json; .deps/npm is a copy of
# that directory plus node_modules. Reinstall when the lock file changed.
dst=.deps/npm
if ! cmp -s tests/npm/package-lock.json "$dst/package-lock.json" ||
   ! cmp -s tests/npm/package.json "$dst/package.json" ||
   [ ! -f "$dst/node_modules/kinesalite/index.js" ] ||
   [ ! -f "$dst/node_modules/kinesis-local/main.js" ]; then
    echo "deps: installing npm packages into $dst (kinesalite, kinesis-local)"
    mkdir -p "$dst"
    rm -f "$dst/package-lock.json"
    cp tests/npm/package.json tests/npm/package-lock.json "$dst/"
    # leveldown's native build is not needed (the tests use the in-memory
    # store), so npm's warning about its install script is harmless.
    if ! (cd "$dst" && npm ci --no-audit --no-fund --loglevel=error) >"$dst/install.log" 2>&1; then
        cat "$dst/install.log" >&2
        rm -f "$dst/package-lock.json"   # so that the next run tries again
        echo "deps: npm install failed" >&2
        exit 1
    fi
fi
