#!/usr/bin/env bash
# Scaffolds a JavaScript plugin folder of one of the four kinds, with a working example
# and its test (the JavaScript counterpart of `millrace plugin new`):
#
#   guest-sdk/js/new.sh DIR [--kind dofn|combine|window|trigger]
#
# then `cd DIR && node --test` and `guest-sdk/js/build.sh DIR DIR/NAME.wasm`. The SDK
# is linked into DIR/node_modules/millrace (as `npm install` of the package.json's
# "file:" dependency would link it), so that Node.js finds "millrace".
set -euo pipefail

sdk=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
template=.js.in
# shellcheck source=../scaffold.sh
. "$sdk/../scaffold.sh" "$@"
fill "$sdk/templates/$kind.js.in" >"$dir/plugin.js"
fill "$sdk/templates/${kind}.test.js.in" >"$dir/plugin.test.js"
fill "$sdk/templates/package.json.in" >"$dir/package.json"
printf 'node_modules/\n*.wasm\n' >"$dir/.gitignore"
mkdir -p "$dir/node_modules"
ln -sfn "$sdk" "$dir/node_modules/millrace"
echo "$dir/plugin.js"
echo "$dir/plugin.test.js"
echo "$dir/package.json"
