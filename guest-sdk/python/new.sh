#!/usr/bin/env bash
# Scaffolds a Python plugin folder of one of the four kinds, with a working example
# and its test (the Python counterpart of `millrace plugin new`):
#
#   guest-sdk/python/new.sh DIR [--kind dofn|combine|window|trigger]
#
# then `cd DIR && python3 -m unittest` and `guest-sdk/python/build.sh DIR DIR/NAME.wasm`.
set -euo pipefail

sdk=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
template=.py.in
# shellcheck source=../scaffold.sh
. "$sdk/../scaffold.sh" "$@"
fill "$sdk/templates/$kind.py.in" >"$dir/plugin.py"
fill "$sdk/templates/${kind}_test.py.in" >"$dir/test_plugin.py"
printf '__pycache__/\n*.wasm\n' >"$dir/.gitignore"
echo "$dir/plugin.py"
echo "$dir/test_plugin.py"
