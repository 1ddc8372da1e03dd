#!/usr/bin/env bash
# Runs the Go SDK's tests natively (no WebAssembly): the SDK's own unit tests, a
# type check of its WebAssembly glue (GOOS=wasip1), and the unit tests of every
# plugin folder under plugins/go/, or only the unit tests of the folders given.
#
#   guest-sdk/go/test.sh [PLUGIN_DIR...]
set -euo pipefail

sdk=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$sdk/../.." && pwd)
# shellcheck source=toolchain.sh
. "$sdk/toolchain.sh"

go=$(find_go)
if [ -z "$go" ]; then
    echo "test.sh: Go ($go_version) is not installed: run guest-sdk/go/setup.sh (or scripts/setup), or: $go_install_command" >&2
    exit 1
fi
go_environment
# Tests read go.mod as it is: a plugin folder whose go.mod is not complete fails.
export GOFLAGS=-mod=readonly

failed=0
run() { # FOLDER: vet and test the module there
    echo "== ${1#"$root"/}"
    if ! (cd "$1" && "$go" vet ./... && "$go" test ./...); then
        failed=1
    fi
}

if [ $# -gt 0 ]; then
    for dir in "$@"; do
        [ -f "$dir/go.mod" ] || { echo "test.sh: $dir has no go.mod" >&2; exit 1; }
        run "$(cd "$dir" && pwd)"
    done
else
    run "$sdk"
    echo "== guest-sdk/go (GOOS=wasip1)"
    # The glue converts the host's addresses to pointers on purpose: vet's unsafeptr
    # check is off for it.
    (cd "$sdk" && GOOS=wasip1 GOARCH=wasm "$go" build ./... && GOOS=wasip1 GOARCH=wasm "$go" vet -unsafeptr=false ./...) || failed=1
    for dir in "$root"/plugins/go/*/; do
        [ -f "$dir/go.mod" ] && run "${dir%/}"
    done
fi
if [ "$failed" -ne 0 ]; then
    echo "test.sh: some tests failed (above)" >&2
    exit 1
fi
