#!/usr/bin/env bash
# Builds every Go example plugin into plugins/go/target/NAME.wasm (a few seconds
# each once Go's build cache is warm; about 4.7 MB each), and runs each one's native
# tests first.
#
#   plugins/go/build-all.sh [NAME…]
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
sdk=$here/../../guest-sdk/go
. "$sdk/toolchain.sh"
go=$(find_go)
[ -n "$go" ] || { echo "build-all.sh: Go is not installed: run guest-sdk/go/setup.sh" >&2; exit 1; }
go_environment
[ $# -gt 0 ] || set -- dedup faulty parse-json sum threshold
for name in "$@"; do
    (cd "$here/$name" && GOFLAGS=-mod=readonly "$go" test ./... | tail -1)
    "$sdk/build.sh" "$here/$name" "$here/target/$name.wasm"
done
