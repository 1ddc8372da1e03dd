#!/usr/bin/env bash
# Scaffolds a C plugin folder of one of the four kinds, with a working example and
# its test (the C counterpart of `millrace plugin new`):
#
#   guest-sdk/c/new.sh DIR [--kind dofn|combine|window|trigger]
#
# then `cd DIR && make test` (the test, natively) and `make` (DIR/NAME.wasm), or
# guest-sdk/c/build.sh DIR DIR/NAME.wasm.
set -euo pipefail

sdk=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
template=.c.in
# shellcheck source=../scaffold.sh
. "$sdk/../scaffold.sh" "$@"
fill "$sdk/templates/$kind.c.in" >"$dir/plugin.c"
fill "$sdk/templates/${kind}_test.c.in" >"$dir/test_plugin.c"
fill "$sdk/templates/Makefile.in" >"$dir/Makefile"
printf 'build/\n*.wasm\n' >"$dir/.gitignore"
echo "$dir/plugin.c"
echo "$dir/test_plugin.c"
echo "$dir/Makefile"
