#!/usr/bin/env bash
# Runs natively (no WebAssembly), with Node.js's own test runner, the unit tests of
# plugin folders: the folders given, or else the SDK's own tests and every plugin
# folder under plugins/js/.
#
#   guest-sdk/js/test.sh [node --test options…] [PLUGIN_DIR…]
#
# Options start with "-" (give their values as --option=value). A plugin imports
# "millrace" from its node_modules, which a fresh clone has not got: each folder's
# node_modules/millrace is linked to this SDK when missing, as new.sh (or
# `npm install` of the package.json's "file:" dependency) links it.
set -euo pipefail

die() {
    echo "test.sh: $*" >&2
    exit 1
}

sdk=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
command -v node >/dev/null 2>&1 || die "Node.js is not installed: run scripts/setup (or guest-sdk/js/setup.sh)"

options=()
dirs=()
for arg in "$@"; do
    case $arg in
        -*) options+=("$arg") ;;
        *) dirs+=("${arg%/}") ;;
    esac
done
files=()
if [ ${#dirs[@]} -eq 0 ]; then
    shopt -s nullglob
    files=("$sdk"/tests/*.test.js)
    for dir in "$sdk"/../../plugins/js/*/; do
        # Other folders (target/) hold no plugin.
        [ -f "$dir/plugin.js" ] && dirs+=("${dir%/}")
    done
    shopt -u nullglob
fi
for dir in "${dirs[@]}"; do
    [ -f "$dir/plugin.test.js" ] || die "$dir has no plugin.test.js"
    if [ ! -e "$dir/node_modules/millrace/package.json" ]; then
        mkdir -p "$dir/node_modules"
        ln -sfn "$sdk" "$dir/node_modules/millrace"
    fi
    files+=("$dir/plugin.test.js")
done
[ ${#files[@]} -gt 0 ] || die "no tests to run"
exec node --test ${options[@]+"${options[@]}"} "${files[@]}"
