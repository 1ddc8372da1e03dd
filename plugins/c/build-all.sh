#!/usr/bin/env bash
# Builds every C example plugin into plugins/c/target/NAME.wasm (about 2 s each),
# after its native tests.
#
#   plugins/c/build-all.sh [NAME…]
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
sdk=$here/../../guest-sdk/c
[ $# -gt 0 ] || set -- dedup faulty parse-json sum threshold
folders=()
for name in "$@"; do folders+=("$here/$name"); done
"$sdk/test.sh" "${folders[@]}" | tail -1
for name in "$@"; do
    "$sdk/build.sh" "$here/$name" "$here/target/$name.wasm"
done
