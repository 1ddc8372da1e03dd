#!/usr/bin/env bash
# Builds every Python example plugin into plugins/python/target/NAME.wasm (about 20 s
# and 19 MB each), and runs each one's native tests first.
#
#   plugins/python/build-all.sh [NAME…]
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
build=$here/../../guest-sdk/python/build.sh
[ $# -gt 0 ] || set -- dedup faulty parse-json sum threshold
for name in "$@"; do
    (cd "$here/$name" && python3 -m unittest --quiet 2>&1 | tail -1)
    "$build" "$here/$name" "$here/target/$name.wasm"
done
