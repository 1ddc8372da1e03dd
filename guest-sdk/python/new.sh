#!/usr/bin/env bash
# Scaffolds a Python plugin folder of one of the four kinds, with a working example
# and its test (the Python counterpart of `millrace plugin new`):
#
#   guest-sdk/python/new.sh DIR [--kind dofn|combine|window|trigger]
#
# then `cd DIR && python3 -m unittest` and `guest-sdk/python/build.sh DIR DIR/NAME.wasm`.
set -euo pipefail

die() {
    echo "new.sh: $*" >&2
    exit 1
}

[ $# -ge 1 ] || die "usage: new.sh DIR [--kind dofn|combine|window|trigger]"
dir=$1
kind=dofn
if [ $# -eq 3 ] && [ "$2" = --kind ]; then
    kind=$3
elif [ $# -ne 1 ]; then
    die "usage: new.sh DIR [--kind dofn|combine|window|trigger]"
fi
sdk=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
[ -f "$sdk/templates/$kind.py.in" ] || die "no kind $kind: dofn, combine, window or trigger"
name=$(basename "$dir")
[[ $name =~ ^[A-Za-z][A-Za-z0-9_-]*$ ]] ||
    die "\"$name\" cannot name a plugin: use letters, digits, - and _, starting with a letter"
if [ -d "$dir" ] && [ -n "$(ls -A "$dir")" ]; then
    die "$dir already exists and is not empty"
fi
# my-plugin → MyPlugin
type=$(echo "$name" | sed -E 's/(^|[-_])([a-z])/\U\2/g; s/[-_]//g')
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
fill() {
    sed -e "s|{{name}}|$name|g" -e "s|{{type}}|$type|g" -e "s|{{dir}}|$dir|g" -e "s|{{sdk}}|$sdk|g" "$1"
}
fill "$sdk/templates/$kind.py.in" >"$dir/plugin.py"
fill "$sdk/templates/${kind}_test.py.in" >"$dir/test_plugin.py"
printf '__pycache__/\n*.wasm\n' >"$dir/.gitignore"
echo "$dir/plugin.py"
echo "$dir/test_plugin.py"
