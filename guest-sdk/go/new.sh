#!/usr/bin/env bash
# Scaffolds a Go plugin folder of one of the four kinds, with a working example and
# its test (the Go counterpart of `millrace plugin new`):
#
#   guest-sdk/go/new.sh DIR [--kind dofn|combine|window|trigger]
#
# then `cd DIR && go test` and `guest-sdk/go/build.sh DIR DIR/NAME.wasm`. The
# folder's go.mod points at this SDK (a replace directive with its absolute path).
set -euo pipefail

sdk=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
template=.go.in
# shellcheck source=../scaffold.sh
. "$sdk/../scaffold.sh" "$@"
fill "$sdk/templates/$kind.go.in" >"$dir/plugin.go"
fill "$sdk/templates/${kind}_test.go.in" >"$dir/plugin_test.go"
fill "$sdk/templates/go.mod.in" >"$dir/go.mod"
printf '*.wasm\n' >"$dir/.gitignore"
echo "$dir/plugin.go"
echo "$dir/plugin_test.go"
echo "$dir/go.mod"
