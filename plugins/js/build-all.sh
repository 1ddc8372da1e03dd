#!/usr/bin/env bash
# Builds every JavaScript example plugin into plugins/js/target/NAME.wasm, after its
# native tests.
#
#   plugins/js/build-all.sh [NAME…]
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
sdk=$here/../../guest-sdk/js
[ $# -gt 0 ] || set -- dedup faulty parse-json sum threshold
folders=()
for name in "$@"; do folders+=("$here/$name"); done
"$sdk/test.sh" --test-reporter=dot "${folders[@]}"
for name in "$@"; do
    "$sdk/build.sh" "$here/$name" "$here/target/$name.wasm"
done
